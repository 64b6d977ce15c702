"""An attempt's span tells that attempt's truth and ends where its call ends: on the caller's
thread, before LiteLLM's result reaches the caller. What runs after it (LiteLLM's callbacks,
sync and async, the caller, another attempt) changes nothing on it, and an LLM call made in a
callback is a request of its own. ddllm's background thread only sends metrics."""

import asyncio
import contextlib
import contextvars
import gc
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import litellm
import pytest
from conftest import empty_litellm_callback_lists, flush
from ddtrace.trace import tracer
from litellm.integrations.custom_logger import CustomLogger
from spans_of import requests_with_attempts
from test_attempt_spans import MESSAGES, router_primary_rate_limited
from test_http_provider import OPENAI_MODEL, openai_params

from ddllm.instrument import background, request_state, tracing

CALLBACK_WAIT_SECONDS = 30  # a bound on a wait for a callback: it returns as soon as the callback ran


@pytest.fixture
def router():
    return router_primary_rate_limited(num_retries=0)


@contextlib.contextmanager
def background_thread_held():
    """ddllm's background thread cannot run what is queued while the block runs."""
    with background._run_lock:  # re-entrant for this thread only
        yield


def _end_ns(span):
    return span["start"] + span["duration"]


@contextlib.contextmanager
def finished_span_names():
    """The names of the spans finished while the block runs, in order (ddtrace's own event)."""
    from ddtrace.internal import core

    names = []

    def finished(span):
        names.append(span.name)

    core.on("trace.span_finish", finished, "test_span_endings.finished")
    try:
        yield names
    finally:
        core.reset_listeners("trace.span_finish", finished)


def test_spans_are_finished_before_the_call_returns(agent, patched, router):
    """Nothing of a returned call's spans waits for ddllm's background thread."""
    with background_thread_held(), finished_span_names() as finished:
        before = time.time_ns()
        with tracer.trace("app.request") as app:
            router.completion(model="primary", messages=MESSAGES)
            returned = time.time_ns()
            assert finished == ["llm.attempt", "llm.attempt", "llm.request"]
            assert tracer.current_span() is app  # the caller's context is its own at once
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert len(attempts) == 2
    for span in [request] + attempts:
        assert before <= span["start"] <= _end_ns(span) <= returned
    first, fallback = attempts
    assert _end_ns(first) <= fallback["start"]
    assert first.get("error") == 1 and fallback["metrics"]["gen_ai.usage.output_tokens"] > 0


def test_the_application_span_after_a_call_is_a_sibling_of_its_request(agent, patched, router):
    with tracer.trace("app.request") as app:
        router.completion(model="primary", messages=MESSAGES)
        with tracer.trace("app.next") as following:
            pass
    flush()
    assert following.parent_id == app.span_id
    [(request, _)] = requests_with_attempts(agent.traces())
    assert request["parent_id"] == app.span_id


def test_llm_observability_keeps_the_messages_as_they_were_sent(agent, patched, router):
    """A conversation appends the answer and its next turn to `messages` as soon as the call
    returns."""
    messages = [{"role": "user", "content": "Say hi"}]
    answer = router.completion(model="primary", messages=messages)
    messages.append({"role": "assistant", "content": answer.choices[0].message.content})
    messages.append({"role": "user", "content": "And again"})
    flush()
    events = [event for event in agent.llmobs_spans() if event["name"] in ("llm.request", "llm.attempt")]
    assert len(events) == 3
    for event in events:
        sent = json.dumps(event["meta"]["input"])
        assert "Say hi" in sent and "And again" not in sent, event["meta"]["input"]


def test_a_full_queue_drops_metric_records_not_a_dropped_streams_ending(agent, patched, router):
    """The thread stalled: metric records past the queue's bound are dropped, and the ending of
    a stream dropped after them still finishes its spans."""
    with background_thread_held():
        for _ in range(background.PENDING_METRICS + 10):
            background.defer(len, ())
        assert background.pending_count() == background.PENDING_METRICS
        stream = router.completion(model="backup", messages=MESSAGES, stream=True)
        next(iter(stream))
        del stream  # collected at once (no cycle): its finalizer queues its ending
        assert background.pending_count() > background.PENDING_METRICS
        background.run_pending()
        tracer.flush()
    [(request, [attempt])] = requests_with_attempts(agent.traces())
    assert attempt["meta"]["llm.outcome"] == "cancelled" and request["meta"]["llm.outcome"] == "cancelled"


# -- LiteLLM's callbacks --------------------------------------------------------------------


class _Teapot(BaseHTTPRequestHandler):
    """What a callback calls: an HTTP service that answers 418."""

    def do_GET(self):
        self.send_response(418)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def teapot_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Teapot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    server.server_close()


class HttpCallingCallback(CustomLogger):
    """A success callback that makes an HTTP call of its own (a webhook, an audit log)."""

    def __init__(self, url, run):
        super().__init__()
        self.url, self.run = url, run
        self.called = threading.Event()

    def _ours(self, kwargs):
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        return metadata.get("test_run") == self.run

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        if self._ours(kwargs):
            httpx.get(self.url)
            self.called.set()

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        if self._ours(kwargs):
            async with httpx.AsyncClient() as client:
                await client.get(self.url)
            self.called.set()


class JudgingCallback(HttpCallingCallback):
    """A success callback that asks another model about the answer (an LLM-as-judge)."""

    def __init__(self, provider, run):
        super().__init__(None, run)
        self.provider = provider

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        if self._ours(kwargs):
            litellm.completion(
                messages=[{"role": "user", "content": "Was it good?"}], **openai_params(self.provider, "gpt-4o")
            )
            self.called.set()

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        if self._ours(kwargs):
            await litellm.acompletion(
                messages=[{"role": "user", "content": "Was it good?"}], **openai_params(self.provider, "gpt-4o")
            )
            self.called.set()


def _call_with_callback(callback, use_async, call, acall, **params):
    """`call(**params)` (or `await acall(**params)`) with `callback` as LiteLLM's only callback,
    until the callback has run; then everything is flushed to the test agent."""
    with empty_litellm_callback_lists():
        litellm.callbacks = [callback]
        if use_async:

            async def call_and_wait():
                await acall(**params)
                # the callback runs on this loop: wait for it without blocking it
                await asyncio.wait_for(asyncio.to_thread(callback.called.wait), CALLBACK_WAIT_SECONDS)

            asyncio.run(call_and_wait())
        else:
            call(**params)
            assert callback.called.wait(CALLBACK_WAIT_SECONDS), "the callback never ran"
    flush()


def _completion_with_callback(callback, provider, use_async):
    _call_with_callback(
        callback,
        use_async,
        litellm.completion,
        litellm.acompletion,
        messages=MESSAGES,
        metadata={"test_run": callback.run},
        **openai_params(provider),
    )


def _attempts_by_model(agent):
    found = {}
    for trace in agent.traces():
        for span in trace:
            if span["name"] == "llm.attempt":
                found.setdefault(span["meta"]["gen_ai.request.model"], []).append(span)
    return found


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_callbacks_http_call_does_not_rewrite_the_attempt(agent, patched, provider, teapot_url, use_async):
    callback = HttpCallingCallback(teapot_url, run="http-%s" % use_async)
    _completion_with_callback(callback, provider, use_async)
    [attempt] = _attempts_by_model(agent)[OPENAI_MODEL]
    assert attempt["meta"]["http.status_code"] == "200"  # the provider's answer, not the callback's 418
    assert "llm.provider_calls" not in attempt["metrics"]  # one call to the provider
    assert attempt["meta"]["llm.outcome"] == "success"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_an_llm_call_made_in_a_callback_is_a_request_of_its_own(agent, patched, provider, use_async):
    callback = JudgingCallback(provider, run="judge-%s" % use_async)
    _completion_with_callback(callback, provider, use_async)
    attempts = _attempts_by_model(agent)
    [answered] = attempts[OPENAI_MODEL]
    [judged] = attempts["gpt-4o"]
    assert judged["span_id"] != answered["span_id"]
    assert judged["meta"]["llm.attempt.number"] == "1" and judged["meta"]["llm.outcome"] == "success"
    assert "llm.provider_calls" not in answered["metrics"]
    judge_events = [
        event
        for event in agent.llmobs_spans()
        if event["name"] == "llm.attempt" and event["meta"].get("model_name") == "gpt-4o"
    ]
    assert len(judge_events) == 1


class JudgingFailureCallback(JudgingCallback):
    """A failure callback that asks another model about the failed attempt, while the request
    it belongs to goes on to its fallback."""

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        JudgingCallback.log_success_event(self, kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        await JudgingCallback.async_log_success_event(self, kwargs, response_obj, start_time, end_time)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_an_llm_call_made_in_a_failure_callback_is_not_an_attempt_of_the_request(agent, patched, provider, use_async):
    from litellm import Router

    from ddllm.cli.fake_provider import Answer
    from test_http_provider import ANTHROPIC_MODEL, anthropic_params

    provider.script(OPENAI_MODEL, Answer.rate_limit())
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": openai_params(provider)},
            {"model_name": "backup", "litellm_params": anthropic_params(provider)},
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
        retry_after=0,
    )
    callback = JudgingFailureCallback(provider, run="failure-judge-%s" % use_async)
    _call_with_callback(
        callback,
        use_async,
        router.completion,
        router.acompletion,
        model="primary",
        messages=MESSAGES,
        metadata={"test_run": callback.run},
    )
    [request] = [span for trace in agent.traces() for span in trace if span["name"] == "llm.request"]
    attempts = sorted(
        (
            span
            for trace in agent.traces()
            for span in trace
            if span["name"] == "llm.attempt" and span["parent_id"] == request["span_id"]
        ),
        key=lambda span: span["meta"]["llm.attempt.number"],
    )
    assert [span["resource"] for span in attempts] == ["openai/" + OPENAI_MODEL, "anthropic/" + ANTHROPIC_MODEL]
    assert request["metrics"]["llm.attempts"] == 2
    # the judge's call is a request of its own, under the attempt whose failure it judged
    [judged] = _attempts_by_model(agent)["gpt-4o"]
    assert judged["meta"]["llm.attempt.number"] == "1" and judged["meta"]["llm.outcome"] == "success"
    assert judged["parent_id"] == attempts[0]["span_id"] and "llm.fallback.depth" in judged["meta"]
    assert judged["meta"]["llm.fallback.depth"] == "0" and "llm.model_group" not in judged["meta"]


class ContextKeepingCallback(CustomLogger):
    """A pre-call hook that keeps a copy of the attempt's context, as a task the attempt
    started would: it runs inside the attempt, before the provider is called."""

    def __init__(self):
        super().__init__()
        self.kept = []

    def log_pre_api_call(self, model, messages, kwargs):
        self.kept.append(contextvars.copy_context())


def test_a_context_kept_from_inside_an_attempt_keeps_nothing_of_it_alive(agent, patched, provider, router):
    """The markers in a context copied inside an attempt point at the attempt and its request
    weakly: once the call returned, the copy keeps neither (their arguments and spans) alive,
    and an LLM call made in it is a request of its own."""
    callback = ContextKeepingCallback()
    with empty_litellm_callback_lists():
        litellm.callbacks = [callback]
        router.completion(model="primary", messages=MESSAGES)
    assert callback.kept  # one copy per attempt
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, (tracing.Attempt, request_state.RequestState))]
    assert alive == []
    callback.kept[-1].run(lambda: litellm.completion(messages=MESSAGES, **openai_params(provider, "gpt-4o")))
    flush()
    [judged] = _attempts_by_model(agent)["gpt-4o"]
    assert judged["meta"]["llm.attempt.number"] == "1" and judged["meta"]["llm.outcome"] == "success"
