"""Lifecycle: forked workers (gunicorn-style) trace their own calls; the interpreter's exit
flushes what is left."""

import os
import subprocess
import sys

import pytest
from spans_of import requests_with_attempts
from test_ddtrace_run import run_under_ddtrace_run

APP = os.path.join(os.path.dirname(__file__), "apps", "router_app.py")
FORKING_APP = os.path.join(os.path.dirname(__file__), "apps", "forking_app.py")


def _run_app(agent, script, code=None):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHONPATH")}
    env["DD_TRACE_AGENT_URL"] = agent.url
    env["DD_LLMOBS_ML_APP"] = "exit-app"
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


FORK_WITH_LOCKS_HELD = os.path.join(os.path.dirname(__file__), "apps", "fork_with_locks_held.py")


def test_a_worker_forked_while_another_thread_holds_ddllms_locks_serves(agent):
    code, worker = _run_app(agent, FORK_WITH_LOCKS_HELD).split()
    assert code == "0", "the worker ended with %s (3: stuck on a lock its parent's thread held)" % code
    served = [
        (request, attempts)
        for request, attempts in requests_with_attempts(agent.traces())
        if request["metrics"].get("process_id") == float(worker)
    ]
    assert sorted(request["meta"]["llm.outcome"] for request, _ in served) == ["cancelled", "success"]


# The last call before the exit, in each order of enabling LLM Observability and patching.
_ENABLE_LLMOBS = "from ddtrace.llmobs import LLMObs; LLMObs.enable(ml_app='exit-app', agentless_enabled=False)"
_PATCH = "import ddllm; ddllm.patch()"
_RUN_APP = "import runpy; runpy.run_path(%r)" % APP


@pytest.mark.parametrize(
    "first, second",
    [(_PATCH, _ENABLE_LLMOBS), (_ENABLE_LLMOBS, _PATCH)],
    ids=["patch-then-llmobs", "llmobs-then-patch"],
)
def test_the_last_call_before_exit_reaches_llm_observability_complete(agent, first, second):
    _run_app(agent, None, "; ".join((first, second, _RUN_APP)))
    assert_last_call_complete(agent)


def test_the_last_call_before_exit_under_ddtrace_run_reaches_llm_observability_complete(agent):
    run_under_ddtrace_run(sys.executable, agent)
    assert_last_call_complete(agent)


def assert_last_call_complete(agent):
    """The app's two requests (the last one async), each a 429 then a fallback: the `llm` event
    of each fallback holds its output, token counts and fallback tags. (With `LLMObs.enable()`
    outside ddtrace-run, ddtrace's litellm integration traces the calls too: the event is its
    span's, named as it names it, which ddllm annotates.)"""
    served = [
        event
        for event in agent.llmobs_spans()
        if (event["meta"].get("span") or {}).get("kind") == "llm" and "llm.fallback.depth:1" in event["tags"]
    ]
    assert len(served) == 2
    for event in served:
        assert event["meta"]["output"]["messages"][0]["content"] == "hello"
        assert event["metrics"]["output_tokens"] > 0 and event["metrics"]["input_tokens"] > 0
        assert "llm.fallback.reason:ratelimiterror" in [tag.lower() for tag in event["tags"]]


DROPPED_STREAM_APP = os.path.join(os.path.dirname(__file__), "apps", "dropped_stream_app.py")


def test_a_dropped_stream_ends_at_its_drop_in_a_process_with_no_other_call(agent):
    finished, ended, dropped = _run_app(agent, DROPPED_STREAM_APP).split()
    assert finished == "True", "the dropped stream's span was not finished"
    assert int(ended) <= int(dropped)  # it measures up to the drop, not up to its ending
