"""Faults outside ddllm: the trace agent down, answering 500, or accepting and never answering;
DogStatsD with nobody listening. The application under ddtrace-run gets its answers, exits
0 without hanging (the subprocess time limit is only a guard), and no error of ddllm's shows."""

import socket
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_ddtrace_run import run_under_ddtrace_run


class _AnswersEverything500(BaseHTTPRequestHandler):
    def _fail(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _fail

    def log_message(self, *args):
        pass


class _NeverAnswers:
    """Accepts connections and holds them open without reading or answering, each for
    `HOLD_SECONDS`, then drops it unanswered. Held for ever, each connection would cost the
    run ddtrace's own send timeout (30 s in ddtrace 4's native trace exporter, which no
    setting shortens) at exit, and prove nothing more about ddllm, which sends nothing there
    itself and whose caller has its answers by then."""

    HOLD_SECONDS = 0.25

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.held = []
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)
            drop = threading.Timer(self.HOLD_SECONDS, connection.close)
            drop.daemon = True
            drop.start()

    def close(self):
        self.listener.close()
        for connection in self.held:
            connection.close()


def _closed_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["down", "answers-500", "never-answers"])
def broken_agent(request):
    if request.param == "down":
        yield types.SimpleNamespace(url="http://127.0.0.1:%d" % _closed_port())
    elif request.param == "answers-500":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _AnswersEverything500)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield types.SimpleNamespace(url="http://127.0.0.1:%d" % server.server_address[1])
        server.shutdown()
        server.server_close()
    else:
        server = _NeverAnswers()
        yield server
        server.close()


def test_application_runs_on_when_the_agent_and_dogstatsd_fail(broken_agent):
    completed = run_under_ddtrace_run(
        sys.executable,
        broken_agent,
        DD_DOGSTATSD_URL="udp://127.0.0.1:%d" % _closed_port(socket.SOCK_DGRAM),
        DD_TRACE_WRITER_INTERVAL_SECONDS="0.2",
    )
    ddllm_lines = [line for line in completed.stderr.splitlines() if "ddllm" in line]
    # at most the one warning that metrics cannot be delivered; never an error of ours
    assert all("cannot send metrics" in line for line in ddllm_lines), ddllm_lines
    assert "Traceback" not in completed.stderr or "ddllm" not in completed.stderr.split("Traceback", 1)[1]
