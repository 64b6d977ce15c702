"""A call that returned ends on ddllm's background thread: its spans keep the times of the
call, the caller's context is its own again at once, and ddtrace's flushes send them.

The background thread is held for each test (its run lock taken on the test's thread), so
the endings wait for what the test does: a flush, or nothing."""
import contextlib
import json
import time

import pytest
from conftest import flush
from ddtrace.trace import tracer
from spans_of import requests_with_attempts
from test_attempt_spans import MESSAGES, router_primary_rate_limited

from ddllm.instrument import background


@pytest.fixture
def router():
    return router_primary_rate_limited(num_retries=0)


@contextlib.contextmanager
def background_thread_held():
    with background._run_lock:  # re-entrant for this thread: a flush here still runs the endings
        yield


def _end_ns(span):
    return span["start"] + span["duration"]


def test_spans_end_when_the_call_returned_not_when_they_are_finished(agent, patched, router):
    with background_thread_held():
        before = time.time_ns()
        with tracer.trace("app.request") as app:
            router.completion(model="primary", messages=MESSAGES)
            assert tracer.current_span() is app  # the caller's context is its own at once
        returned = time.time_ns()
        assert background.pending_count() > 0  # the endings wait for the thread
        background.run_pending()  # after `returned`: a span finished at its finishing time ends later
        tracer.flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert len(attempts) == 2
    for span in [request] + attempts:
        assert before <= span["start"] <= _end_ns(span) <= returned
    first, fallback = sorted(attempts, key=lambda span: span["start"])
    assert _end_ns(first) <= fallback["start"]
    assert first.get("error") == 1 and fallback["metrics"]["gen_ai.usage.output_tokens"] > 0


def test_a_tracer_flush_right_after_a_call_sends_its_spans(agent, patched, router):
    """A serverless handler or a worker that flushes and exits (`os._exit`) sends no span after
    its flush: ddtrace's flush ends what ddllm queued first."""
    with background_thread_held():
        router.completion(model="primary", messages=MESSAGES)
        tracer.flush()
        [(request, attempts)] = requests_with_attempts(agent.traces())
    assert request["meta"]["llm.outcome"] == "success" and len(attempts) == 2


def test_the_application_span_after_a_call_is_a_sibling_of_its_request(agent, patched, router):
    with background_thread_held():
        with tracer.trace("app.request") as app:
            router.completion(model="primary", messages=MESSAGES)
            with tracer.trace("app.next") as following:
                pass
        background.run_pending()
        tracer.flush()
    assert following.parent_id == app.span_id
    [(request, _)] = requests_with_attempts(agent.traces())
    assert request["parent_id"] == app.span_id


def test_llm_observability_keeps_the_messages_as_they_were_sent(agent, patched, router):
    """A conversation appends the answer and its next turn to `messages` as soon as the call
    returns, before the background thread annotates the spans."""
    messages = [{"role": "user", "content": "Say hi"}]
    with background_thread_held():
        answer = router.completion(model="primary", messages=messages)
        messages.append({"role": "assistant", "content": answer.choices[0].message.content})
        messages.append({"role": "user", "content": "And again"})
        flush()
    events = [event for event in agent.llmobs_spans() if event["name"] in ("llm.request", "llm.attempt")]
    assert len(events) == 3
    for event in events:
        sent = json.dumps(event["meta"]["input"])
        assert "Say hi" in sent and "And again" not in sent, event["meta"]["input"]


def test_a_full_queue_drops_metric_records_not_the_endings_queued_before_them(agent, patched, router):
    """The thread stalled: metric records past the queue's bound are dropped, and a call's
    ending queued before them still finishes its spans."""
    with background_thread_held():
        router.completion(model="primary", messages=MESSAGES)
        for _ in range(background.PENDING_ITEMS):
            background.defer(len, ())
        assert background.pending_count() < background.PENDING_ITEMS
        background.run_pending()
        tracer.flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert request["meta"]["llm.outcome"] == "success" and len(attempts) == 2
