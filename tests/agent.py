"""Datadog's official test agent (`ddapm-test-agent`), run by the test session on free
loopback ports. Tests assert on what it received: APM traces and LLM Observability events."""

import base64
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import msgpack

_LLMOBS_PATHS = ("/evp_proxy/v2/api/v2/llmobs", "/evp_proxy/v4/api/v2/llmobs")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestAgent:
    __test__ = False

    def __init__(self):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.process = None

    def start(self, attempts=5):
        """Start the agent; again on other ports if another process took one of them first
        (free_port() frees its port before the agent binds it, and pytest-xdist workers pick
        theirs at the same moment)."""
        for _ in range(attempts):
            if self._start_once():
                return self
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
        raise RuntimeError("test agent did not start in %d attempts" % attempts)

    def _start_once(self):
        command = [
            os.path.join(os.path.dirname(sys.executable), "ddapm-test-agent"),
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--otlp-http-port",
            str(free_port()),
            "--otlp-grpc-port",
            str(free_port()),
            "--web-ui-port",
            str(free_port()),
            "--disable-llmobs-data-forwarding",
            "--log-level",
            "WARNING",
        ]
        # The test agent forwards what it receives to DD_TRACE_AGENT_URL / DD_AGENT_URL when set:
        # under pytest-xdist a worker inherits the controller's agent URL and would forward to it.
        environment = {k: v for k, v in os.environ.items() if k not in ("DD_TRACE_AGENT_URL", "DD_AGENT_URL")}
        # Its /info carries this mark, so the agent found on the port is known to be this one.
        mark = "%d-%d" % (os.getpid(), self.port)
        environment["DD_AGENT_EXTRA_INFO"] = json.dumps({"ddllm_tests_agent": mark})
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
        return self._wait_until_listening(mark)

    def _wait_until_listening(self, mark, timeout=60.0):
        """True once the agent answers on its port with its mark; False if it exited (a port
        was taken) or another process answers there."""
        # Readiness of a child process, not synchronisation of the test: ask until it answers.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                info = json.loads(self._get("/info", timeout=0.5))
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            if info.get("ddllm_tests_agent") == mark:
                return True
            self.stop()
            return False
        raise RuntimeError("test agent did not listen on port %d" % self.port)

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def _get(self, path, timeout=30):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return response.read()

    def clear(self):
        self._get("/test/session/clear")

    def traces(self):
        """Every trace received: a list of traces, each a list of span dicts."""
        return json.loads(self._get("/test/session/traces"))

    def spans(self, name=None):
        found = [span for trace in self.traces() for span in trace]
        return [span for span in found if name is None or span.get("name") == name]

    def requests(self):
        return json.loads(self._get("/test/session/requests"))

    def llmobs_spans(self):
        """Every LLM Observability span event received."""
        events = []
        for request in self.requests():
            if request.get("url", "").split("?")[0].replace(self.url, "") not in _LLMOBS_PATHS:
                continue
            body = base64.b64decode(request["body"])
            headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            if "msgpack" in headers.get("content-type", ""):
                payload = msgpack.unpackb(body, raw=False)
            else:
                payload = json.loads(body)
            for item in payload if isinstance(payload, list) else [payload]:
                events.extend(item.get("spans", []))
        # The same span can come twice: posted by the tracer and rebuilt by the test agent
        # from the APM span's LLM Observability data.
        unique = {}
        for event in events:
            unique.setdefault(event.get("span_id"), event)
        return list(unique.values())
