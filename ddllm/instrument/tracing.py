"""The life of a request and of its attempts: facts in, spans and metrics out.

Read top to bottom, one request's life and then one attempt's: the wrappers in
`ddllm.instrument.patching` call `begin_*` before LiteLLM's call and `*_returned` or `end_*`
after it. None of them raises: whatever fails here is reported once, and the caller's call
goes on untouched. The wrappers hold the request and the attempt (built before `begin_*`
runs), and close on every path what these steps started in them: spans, markers in the
caller's context, the request's entry in the request map. A streamed result ends with its
stream (`ddllm.instrument.streams`).

Each request and attempt ends in one function, `end_request` and `end_attempt`, read top to
bottom: its facts, LLM Observability, its span's tags and finish, its metrics. It runs on the
caller's thread, before LiteLLM's result reaches the caller, so that nothing that runs after
the call (LiteLLM's callbacks, the caller, the next attempt) can change what the span says.
Only the metric lines are sent later, from facts that no longer change; and a stream the
caller dropped is ended on ddllm's background thread, at the time of the drop.
"""

import time
import weakref
from typing import Any

from ddllm.catalogue import ATTEMPT_SPAN, REQUEST_SPAN
from ddllm.instrument import attempt_facts, cooldowns, llmobs, metrics, request_state, spans, streams
from ddllm.instrument.safety import guarded, report_once


class Attempt(streams.StreamObserver):
    """One attempt in flight: its facts, its span, and the request it belongs to. Built by the
    shell that wraps the call (`ddllm.instrument.patching`) with no code of ours (the defaults
    are the class's), so the shell holds whatever `begin_attempt` starts in it. When the
    attempt returns a stream, it is the stream's observer: `chunk` here, and the shell's `end`
    (which runs `end_attempt` and closes the attempt)."""

    facts = None
    span = None
    llmobs_span = None
    request = None
    kwargs = None
    started = None
    context_token = None  # of its marker in `request_state.current_attempt`
    saved_context = None
    stream_output = None  # the chunks of its stream, for LLM Observability
    stream = None  # LiteLLM's stream, when it returned one
    content_read = False  # a chunk with content reached the caller
    returned = False  # its call returned or raised: its marker marks nothing from then on
    closed = False  # its span finished (by the shell, which holds it)

    def chunk(self, chunk):
        """Each chunk the caller reads: the last one is kept (the stream's end reads its usage),
        and each goes to LLM Observability's output. Until the first one with content: the time
        to first token, and the model."""
        if not self.content_read:
            self._before_content(chunk)
        self.facts.last_chunk = chunk
        if self.stream_output is not None:
            self.stream_output.chunks.append(chunk)

    def _before_content(self, chunk):
        if attempt_facts.chunk_has_content(chunk):
            self.facts.time_to_first_token = time.perf_counter() - self.started
            self.content_read = True
        attempt_facts.read_chunk(chunk, self.facts)


@guarded("request.start")
def begin_request(
    state: Any, args: tuple, kwargs: dict, operation: str, positional: tuple[str, ...] = (), router: Any = None
) -> Any:
    """Start a logical request of `operation` (of `router`, when a Router serves it) in
    `state`, the shell's. Returns `state`, or None if ddllm could not; whatever it returns,
    the shell closes what was started in `state` (its span, its marker, its entry in the
    request map)."""
    kwargs = _call_kwargs(args, kwargs, positional)
    trace_id = kwargs.get("litellm_trace_id")  # the caller's own, if any; ddllm sets none
    model = kwargs.get("model")
    state.resource = model if isinstance(model, str) else None
    state.trace_id = trace_id if isinstance(trace_id, str) else None
    state.started = time.perf_counter()
    state.kwargs, state.router, state.operation = kwargs, router, operation
    state.caller = attempt_facts.proxy_caller(kwargs)
    state.caller_span_tags = attempt_facts.caller_span_tags(state.caller)
    state.saved_context = spans.save_active()  # put back when the request returns
    try:
        state.span = spans.start_request_span(state.resource)
        request_state.enter(state)
    except BaseException:
        _finish_left_active(REQUEST_SPAN)  # started, but not handed back to `state`
        raise
    return state


def _finish_left_active(name):
    """A start step that failed after its span started (or gave back something else than the
    span) left it active, out of our reach but for the context: finish it there, so it is not
    left open or active in the caller's context (spans of ours do not nest in one context)."""
    try:
        span = spans.active_span()
        if span is not None and span.name == name and not span.finished:
            span.finish()
    except Exception:
        report_once("span.finish")


def request_returned(state: Any, kwargs: dict, result: Any) -> Any:
    """The request's call returned `result`: what the caller gets (LiteLLM's result, or our
    proxy of its stream, which ends the request with it). Never raises."""
    state.returned = True
    try:
        if kwargs.get("stream") is True and streams.is_stream(result):
            return stream_request(state, result)
    except Exception:
        report_once("request.result")
    end_request(state)
    return result


def end_request(
    state: Any, exc: BaseException | None = None, cancelled: bool = False, dropped_at: tuple[float, float] | None = None
) -> None:
    """A request's end, top to bottom, as an attempt's: its outcome, LLM Observability, its
    span's tags and finish (the caller's context put back), its metrics. On the caller's thread when its call returned or
    raised, or its stream ended there; on the background thread when its stream was dropped
    (`dropped_at`, as `streams.StreamObserver.end` has it).
    Never raises; the shell finishes its span, if this could not."""
    state.returned = True
    try:
        ended_at, duration = _end_time(state.started, dropped_at)
        if state.attempts == 0:  # the Router tried nothing (every deployment cooling down, say)
            _read_skipped(state)
        outcome = _request_outcome(exc, cancelled)
        _annotate_request_llmobs(state, outcome)
        _finish_request_span(state, outcome, exc, ended_at)
        _record_request_metrics(state, outcome, duration)
    except Exception:
        report_once("request.end")


def _end_time(started, dropped_at):
    """(when the span ends, seconds since the epoch or None for now; the duration): a dropped
    stream's end is the moment it was dropped, not the moment the background thread ends it."""
    if dropped_at is None:
        return None, time.perf_counter() - started
    wall, counter = dropped_at
    return wall, counter - started


@guarded("request.span")
def _finish_request_span(state, outcome, exc, ended_at):
    """Its span's tags, then its finish, then the caller's context put back. A streamed
    request that failed may have left ddtrace's spans open around or inside ours: closed
    first, after LLM Observability's annotation, as an attempt's."""
    try:
        if exc is not None and state.kwargs is not None and state.kwargs.get("stream") is True:
            spans.close_spans_left_open_by_failed_stream(state.span, exc, state.kwargs, request=True)
        spans.tag_request_span(state.span, state, outcome, exc)
    finally:
        spans.finish_at(state.span, ended_at)
        if not state.streamed:  # a stream's proxy put the caller's context back already
            spans.restore_active(state.saved_context)


@guarded("request.outcome", default="error")
def _request_outcome(exc, cancelled):
    return "cancelled" if cancelled else attempt_facts.outcome_of(exc)


@guarded("request.metrics")
def _record_request_metrics(state, outcome, duration):
    metrics.record_request(state, outcome, duration)


@guarded("request.llmobs")
def _annotate_request_llmobs(state, outcome):
    llmobs.annotate_request(state.span, state, outcome)


def stream_request(state: Any, stream: Any) -> Any:
    """The request's result is a stream: hand the caller a proxy that ends the request with it.
    The shell's `state` is the stream's observer: its `end` (the shell's own) runs
    `end_request` and closes the request. A stream that is our proxy already (its attempt's,
    as `litellm.completion(fallbacks=...)` returns it) ends the request after its attempt,
    unwrapped again."""
    try:
        spans.restore_active(state.saved_context)
        if spans.llmobs_enabled() and state.kwargs is not None:
            state.kwargs = _arguments_as_called(state.kwargs)  # read when the stream ends
        if type(stream) is streams.TracedStream and stream.also_end(state):
            proxy = stream
        else:
            proxy = streams.TracedStream(stream, state)
        state.streamed = True
        return proxy
    except Exception:
        report_once("request.stream")
        end_request(state)
        return stream


def _read_skipped(state):
    """The requested group's deployments cooling down, read when the first attempt starts:
    after the Router's own cooldown read for its pick, which brings cooldowns that other
    instances wrote to a shared Redis into the Router's memory, where ddllm reads them."""
    if state.router is not None:
        state.skipped = cooldowns.cooling_in_group(state.router, state.resource)


def _place_in_request(facts, state, kwargs, metadata):
    """Number, retry index, fallback depth and the previous attempt of this attempt.

    The depth counts model-group changes: a change of model group (Router) or of model
    (`litellm.completion(fallbacks=...)`) is a fallback hop, and the same target again is a
    retry. LiteLLM's own depth also grows when its `order` failover moves to the next
    deployment of the same group: that is a fallback hop of type `order`, at the same depth.
    """
    if state is None:
        facts.number, facts.retry, facts.fallback_depth = 1, 0, 0
        return
    if state.attempts == 0:
        _read_skipped(state)
    state.attempts += 1
    facts.number = state.attempts
    if state.skipped and facts.deployment_id in state.skipped:  # tried after all: not skipped
        del state.skipped[facts.deployment_id]
    group = facts.model_group or facts.target
    first = state.attempts == 1
    litellm_depth = attempt_facts.litellm_fallback_depth(kwargs, metadata)
    hop = order_hop = False
    if first:
        state.depth = litellm_depth or 0
    else:
        hop = group != state.last_model_group
        order_hop = not hop and litellm_depth is not None and litellm_depth != state.litellm_depth
    if hop:
        state.depth += 1
        state.order_failover = False
        state.fallback_type = (
            "mid_stream" if state.last_error_mid_stream else attempt_facts.fallback_type_of(state.last_error_names)
        )
    elif order_hop:
        state.order_failover = True
        state.fallback_type = "order"
    if hop or order_hop:
        state.retries_in_group = 0
        state.fallback_used = True
    elif not first:
        state.retries_in_group += 1
    state.litellm_depth = litellm_depth
    retry = attempt_facts.litellm_retry_index(metadata)
    facts.retry = retry if retry is not None else state.retries_in_group
    facts.fallback_depth = state.depth
    facts.is_fallback = state.depth > 0 or state.order_failover
    facts.fallback_hop = hop or order_hop
    if not first:
        facts.fallback_from = state.last_target
        facts.fallback_reason = state.last_error_type
    if facts.is_fallback:
        facts.fallback_type = state.fallback_type or "default"
    state.last_model_group = group


def _call_kwargs(args, kwargs, positional):
    """The attempt's arguments as keywords: LiteLLM's functions take some positionally."""
    if not args:
        return kwargs
    merged = dict(kwargs)
    for name, value in zip(positional, args):
        merged.setdefault(name, value)
    return merged


@guarded("attempt.start")
def begin_attempt(
    attempt: Any, args: tuple, kwargs: dict, operation: str = "chat", positional: tuple[str, ...] = ()
) -> Any:
    """Start an attempt in `attempt`, the shell's. Returns `attempt`, or None if ddllm could
    not; whatever it returns, the shell closes what was started in `attempt`."""
    kwargs = _call_kwargs(args, kwargs, positional)
    facts: Any = attempt_facts.AttemptFacts()  # its members are of many kinds, read from LiteLLM
    facts.operation = operation
    metadata = attempt_facts.read_start(kwargs, facts)
    trace_id = kwargs.get("litellm_trace_id")
    trace_id = trace_id if isinstance(trace_id, str) else None
    if request_state.detached():  # a call of LiteLLM's callbacks: a request of its own
        state = None
    else:
        state = request_state.find(trace_id)
        if state is None:  # contextvars lost, and no trace id known: the active APM spans
            state = request_state.find_by_span(spans.active_span())
    if state is not None and state.trace_id is None and trace_id is not None:
        request_state.learn_trace_id(state, trace_id)
    _place_in_request(facts, state, kwargs, metadata)
    # who called: its request's caller (the same proxy call), read once per request
    if state is not None and state.caller:
        facts.caller, facts.caller_span_tags = state.caller, state.caller_span_tags
    else:
        facts.caller = attempt_facts.proxy_caller(kwargs)
        facts.caller_span_tags = attempt_facts.caller_span_tags(facts.caller)
    attempt.facts, attempt.request, attempt.kwargs, attempt.started = facts, state, kwargs, time.perf_counter()
    attempt.saved_context = spans.save_active()  # put back when the attempt returns or raises
    try:
        attempt.span, attempt.llmobs_span = spans.start_attempt_span(facts, state.span if state is not None else None)
        attempt.context_token = request_state.current_attempt.set(weakref.ref(attempt))
    except BaseException:
        _finish_left_active(ATTEMPT_SPAN)  # started, but not handed back to `attempt`
        raise
    return attempt


def _leave_attempt_context(attempt):
    if attempt.context_token is None:
        return
    try:
        request_state.current_attempt.reset(attempt.context_token)
    except Exception:  # finished from another context (ValueError), or anything odd
        pass
    attempt.context_token = None


def attempt_returned(attempt: Any, kwargs: dict, result: Any) -> Any:
    """The attempt's call returned `result`: what the caller gets (LiteLLM's result, or our
    proxy of its stream, which ends the attempt with it). Never raises."""
    attempt.returned = True
    try:
        if kwargs.get("stream") is True and streams.is_stream(result):
            return stream_attempt(attempt, result)
    except Exception:
        report_once("attempt.result")
    end_attempt(attempt, response=result)
    return result


def end_attempt(
    attempt: Any,
    response: Any = None,
    exc: BaseException | None = None,
    cancelled: bool = False,
    dropped_at: tuple[float, float] | None = None,
) -> None:
    """An attempt's end, top to bottom: its facts, LLM Observability, its span's tags and
    finish (the caller's context put back), its metrics. On the caller's thread when its call
    returned or raised, or its stream ended there; on the background thread when its stream
    was dropped (`dropped_at`, as `streams.StreamObserver.end` has it). From here on its
    markers mark nothing and its facts are final: what runs after it (LiteLLM's callbacks, the
    caller, the next attempt) changes nothing.
    Never raises; the shell finishes its span, if this could not."""
    attempt.returned = True
    try:
        _leave_attempt_context(attempt)
        ended_at, duration = _end_time(attempt.started, dropped_at)
        _read_end(attempt, response, exc, cancelled, duration)
        _annotate_llmobs(attempt, response)
        _finish_attempt_span(attempt, exc, ended_at)
        _record_attempt_metrics(attempt.facts)
    except Exception:
        report_once("attempt.end")


@guarded("attempt.facts")
def _read_end(attempt, response, exc, cancelled, duration):
    """What the attempt's answer says, and what its request keeps of it."""
    attempt.facts.duration = duration
    attempt_facts.read_end(attempt.facts, response, exc, attempt.stream, cancelled)
    _remember_in_request(attempt, exc)


@guarded("attempt.span")
def _finish_attempt_span(attempt, exc, ended_at):
    """Its span's tags, then its finish, then the caller's context put back. A stream that
    failed before LiteLLM handed it over may have left ddtrace's spans open inside ours:
    closed first, after LLM Observability's annotation (which refuses a finished span, and the
    span closed may be the `llm` span ours annotates: ddtrace's, enclosing ours)."""
    try:
        if exc is not None and attempt.facts.stream and attempt.stream is None:
            spans.close_spans_left_open_by_failed_stream(attempt.span, exc, attempt.kwargs)
        spans.tag_attempt_span(attempt.span, attempt.facts, exc)
    finally:
        spans.finish_at(attempt.span, ended_at)
        if attempt.stream is None:  # a stream's proxy put the caller's context back already
            spans.restore_active(attempt.saved_context)


@guarded("attempt.llmobs")
def _annotate_llmobs(attempt, response):
    llmobs.annotate_attempt(
        attempt.llmobs_span, attempt.facts, attempt.kwargs, response, attempt.request, attempt.stream_output
    )


@guarded("attempt.metrics")
def _record_attempt_metrics(facts):
    metrics.record_attempt(facts)


def stream_attempt(attempt: Any, stream: Any) -> Any:
    """The attempt returned a stream: hand the caller a proxy that ends the attempt with it
    (the shell's `attempt` is the stream's observer)."""
    try:
        _leave_attempt_context(attempt)
        spans.restore_active(attempt.saved_context)
        if attempt.llmobs_span is not None:
            attempt.kwargs = _arguments_as_called(attempt.kwargs)  # read when the stream ends
        attempt.stream_output = llmobs.stream_output(attempt)
        proxy = streams.TracedStream(stream, attempt)
        attempt.stream = stream
        return proxy
    except Exception:
        report_once("attempt.stream")
        end_attempt(attempt, response=stream)
        return stream


def _arguments_as_called(kwargs):
    """The call's arguments with the lists a caller goes on with copied, for LLM Observability
    to read when the stream ends: a conversation appends the answer (and the next turn) to its
    `messages` as soon as it has read it."""
    copied = dict(kwargs)
    for key in _CONVERSATION_ARGUMENTS:
        value = copied.get(key)
        if type(value) is list:
            copied[key] = list(value)
    return copied


# Where a call's conversation is: chat messages, a prompt, an embedding's or the Responses
# API's input, and the tools offered with it.
_CONVERSATION_ARGUMENTS = ("messages", "prompt", "input", "tools")


def _remember_in_request(attempt, exc):
    """What the next attempt of the request needs (its fallback facts), and the request's
    final provider and model."""
    state = attempt.request
    if state is None:
        return
    facts = attempt.facts
    state.last_target = facts.target
    state.final_provider = facts.provider
    state.final_model = facts.model
    state.last_error_mid_stream = exc is not None and attempt.content_read
    if exc is None:
        state.last_error_type, state.last_error_names = None, frozenset()
    else:
        state.last_error_type = facts.error_type
        state.last_error_names = attempt_facts.exception_class_names(attempt_facts.provider_exception(exc))
