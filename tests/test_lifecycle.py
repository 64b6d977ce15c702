"""Lifecycle: forked workers (gunicorn-style) trace their own calls; the interpreter's exit
flushes what is left."""
import os
import subprocess
import sys

from spans_of import requests_with_attempts

APP = os.path.join(os.path.dirname(__file__), "apps", "router_app.py")
FORKING_APP = os.path.join(os.path.dirname(__file__), "apps", "forking_app.py")


def _run_app(agent, script, code=None):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHONPATH")}
    env["DD_TRACE_AGENT_URL"] = agent.url
    command = [sys.executable, "-c", code] if code else [sys.executable, script]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_forked_workers_emit_their_own_spans(agent):
    workers = {float(pid) for pid in _run_app(agent, FORKING_APP).split()}
    found = requests_with_attempts(agent.traces())
    assert len(found) == 2
    assert {request["metrics"].get("process_id") for request, _ in found} == workers
    assert all(len(attempts) == 2 for _, attempts in found)


def test_interpreter_exit_flushes(agent):
    """The app exits right after its last call; its spans still reach the agent."""
    _run_app(agent, None, "import ddllm; ddllm.patch(); import runpy; runpy.run_path(%r)" % APP)
    assert len(requests_with_attempts(agent.traces())) == 2
