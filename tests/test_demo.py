"""`ddllm demo` (and `make demo`): a few dozen requests against the embedded fake provider,
with no agent and no network. The figures it writes (computed from the DogStatsD samples it
captured) agree with the spans, which these tests collect on their own."""

import collections
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from ddtrace.trace import tracer

import ddllm
from ddllm.assets import files as assets
from ddllm.cli import main as cli, demo, demo_assets


class Collector:
    """A trace processor of the test's own, configured before the demo runs."""

    def __init__(self):
        self.spans = []

    def process_trace(self, trace):
        self.spans.extend(trace)
        return trace


@pytest.fixture
def collector():
    collector = Collector()
    tracer.configure(trace_processors=[collector])
    yield collector
    tracer.configure(trace_processors=[])


def _attempts_by_trace(spans):
    traces = collections.defaultdict(list)
    for span in spans:
        if span.name == "llm.attempt":
            traces[span.trace_id].append(span)
    return [sorted(attempts, key=lambda s: int(s.get_tag("llm.attempt.number"))) for attempts in traces.values()]


def _hops(spans):
    """Attempts that moved to another model group: the fallback depth changed from the previous
    attempt's. (`llm.fallback.is_fallback` is also true on a retry inside a fallback group.)"""
    hops = collections.Counter()
    for attempts in _attempts_by_trace(spans):
        for previous, span in zip(attempts, attempts[1:]):
            if span.get_tag("llm.fallback.depth") != previous.get_tag("llm.fallback.depth"):
                hops[
                    (
                        span.get_tag("llm.fallback.from"),
                        span.resource,
                        span.get_tag("llm.fallback.reason"),
                        span.get_tag("llm.fallback.type"),
                    )
                ] += 1
    return hops


def test_demo_json_agrees_with_the_spans(tmp_path, capsys, collector, patched):
    path = tmp_path / "demo.json"
    dogstatsd_url = os.environ["DD_DOGSTATSD_URL"]
    assert cli.main(["demo", "--requests", "40", "--json", str(path), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(path.read_text())
    attempt_spans = [span for span in collector.spans if span.name == "llm.attempt"]
    request_spans = [span for span in collector.spans if span.name == "llm.request"]

    assert summary["requests"] == len(request_spans) == summary["spans"]["requests"] == 40
    assert summary["metrics"]["ddllm.request.duration"] == 40
    assert summary["attempts"] == dict(collections.Counter(span.resource for span in attempt_spans))
    assert summary["spans"]["attempts"] == len(attempt_spans)
    assert {model: figures["count"] for model, figures in summary["latency"].items()} == summary["attempts"]
    assert summary["rate_limited"] == {
        model: sum(1 for s in attempt_spans if s.resource == model and s.get_tag("llm.outcome") == "rate_limited")
        for model in summary["attempts"]
    }
    metric_hops = {(hop["from"], hop["to"], hop["reason"], hop["type"]): hop["count"] for hop in summary["fallbacks"]}
    assert metric_hops == dict(_hops(collector.spans))
    reasons = collections.Counter()
    for (_, _, reason, _), count in metric_hops.items():
        reasons[reason] += count
    assert {"RateLimitError", "ContextWindowExceededError"} <= set(reasons)
    assert sum(summary["rate_limited"].values()) > 0 and summary["ttft_p95"]  # 429s happened; streams were read

    assert "Attempt trees" in out and "Fallback flow" in out and "openai/gpt-4o-mini" in out
    assert demo_assets.TITLE in out
    assert summary["would_push"] == demo_assets.shipped()
    # The process is as the demo found it: ddllm patched as before, sending where it did, and
    # the trace processors configured before still get every trace.
    assert ddllm.is_patched() and os.environ["DD_DOGSTATSD_URL"] == dogstatsd_url
    before = len(collector.spans)
    with tracer.trace("after.demo"):
        pass
    assert len(collector.spans) == before + 1


def test_the_demo_lists_every_dashboard_monitor_and_slo_push_would_create():
    listing = demo_assets.shipped()
    for kind, heading in demo_assets.HEADINGS:
        assert [entry["name"] for entry in listing[heading]] == [
            asset["name"] for asset in assets.load_assets() if asset["kind"] == kind
        ]
    kinds = {entry["name"]: entry.get("kind") for entries in listing.values() for entry in entries}
    assert kinds["ddllm: p95 latency of non-streamed attempts above its own normal per provider and model"] == "anomaly"
    assert kinds["ddllm: tokens headroom forecast to run out per provider and model"] == "forecast"
    assert kinds["ddllm: p95 end-to-end latency per team (LiteLLM proxy)"] == "threshold"
    assert kinds["ddllm: p95 request latency under 20 s per model group"] == "time_slice"
    text = demo_assets.render(listing)
    assert "16 monitors:" in text and "2 SLOs:" in text and "1 dashboard:" in text
    assert "  ddllm: requests that succeed per model group (metric)" in text.splitlines()


def test_counts_do_not_depend_on_timing():
    """Async requests run concurrently, yet each model sees the same attempts, run after run."""

    def counts():
        traces, samples = demo.run_demo(25, seed=11, progress=demo.Progress(25, stream=io.StringIO()))
        return collections.Counter(
            (s.name, s.tags.get("model"), s.tags.get("outcome"), s.tags.get("reason"))
            for s in samples
            if s.name in ("ddllm.attempt.duration", "ddllm.fallback")
        )

    assert counts() == counts()
    assert not ddllm.is_patched()


def test_make_demo_runs_on_its_own():
    completed = subprocess.run(
        [sys.executable, "-m", "ddllm.cli.demo", "--requests", "20"], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for heading in ("Attempt trees", "Per model", "Fallback flow", "Requests"):
        assert heading in completed.stdout
    assert "llm.request primary" in completed.stdout
    assert "20/20 requests" in completed.stderr  # the progress bar's last line, stderr not being a terminal
    assert "Traceback" not in completed.stderr


def test_demo_sends_to_a_real_agent(agent):
    completed = subprocess.run(
        [sys.executable, "-m", "ddllm.cli.demo", "--requests", "12", "--agent", agent.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Traces sent to the agent at %s" % agent.url in completed.stdout
    names = [span["name"] for trace in agent.traces() for span in trace]
    assert names.count("llm.request") == 12
    assert names.count("llm.attempt") >= 12


@pytest.mark.parametrize(
    "arguments, said",
    [
        (
            ["--json", "/nonexistent/dir/out.json"],
            "--json /nonexistent/dir/out.json: the folder /nonexistent/dir does not exist",
        ),
        (["--json", "{tmp}"], "is a folder; name a file in it"),
        (["--agent", "garbage"], "--agent garbage is not an http://, https:// or unix:// URL"),
        (["--agent", "http://localhost:http"], "the port is not a number from 1 to 65535"),
        (["--agent", "http://:8126"], "no host"),
        (["--agent", "unix://"], "no socket path"),
        (["--requests", "0"], "--requests must be at least 1"),
        (["--trees", "-1"], "--trees must be 0 or more"),
    ],
    ids=[
        "json-folder-missing",
        "json-is-a-folder",
        "agent-garbage",
        "agent-port",
        "agent-host",
        "agent-socket",
        "requests",
        "trees",
    ],
)
def test_bad_arguments_are_refused_before_any_request(capsys, collector, tmp_path, arguments, said):
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    assert cli.main(["demo", "--requests", "5"] + arguments) == 2
    captured = capsys.readouterr()
    assert "ddllm demo: " in captured.err and said in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert collector.spans == []  # no request was made
    assert list(tmp_path.iterdir()) == []


def test_an_agent_that_does_not_answer_is_refused_before_any_request(capsys, collector):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound_not_listening:
        bound_not_listening.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d" % bound_not_listening.getsockname()[1]
        assert cli.main(["demo", "--requests", "5", "--agent", url]) == 2
    captured = capsys.readouterr()
    assert "--agent %s: no Datadog agent answers there" % url in captured.err
    assert "Traces sent" not in captured.out and collector.spans == []


class AgentThatDropsTraces(http.server.BaseHTTPRequestHandler):
    """Answers /info as an agent does, and every trace payload with a 500."""

    def do_GET(self):
        body = json.dumps({"version": "7.60.0", "endpoints": ["/v0.4/traces", "/v0.5/traces"]}).encode()
        self.send_response(200 if self.path == "/info" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *args):
        pass


def test_traces_the_agent_does_not_take_are_a_failure():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AgentThatDropsTraces)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "ddllm.cli.demo", "--requests", "3", "--agent", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert "Traces sent" not in completed.stdout
    assert "ddllm demo: 3 requests made, but the traces did not reach the agent at %s" % url in completed.stderr
