"""The life of a request and of its attempts: facts in, spans and metrics out.

The wrappers in `ddllm.instrument.patching` call these four steps around LiteLLM's own calls. Each step
is guarded: whatever fails here is reported once and the caller's call goes on untouched.
"""
import time

from ddllm.instrument import attempt_facts, cooldowns, llmobs, metrics, request_state, spans, streams
from ddllm.instrument.safety import guarded, report_once


class Attempt:
    """One attempt in flight: its facts, its span, and the request it belongs to."""

    __slots__ = (
        "facts", "span", "llmobs_span", "request", "kwargs", "started", "context_token", "saved_context",
        "stream_output",
    )

    def __init__(self, facts, request, kwargs, started):
        self.facts = facts
        self.request = request
        self.kwargs = kwargs
        self.started = started
        self.span = None
        self.llmobs_span = None
        self.context_token = None
        self.saved_context = None
        self.stream_output = None  # the chunks of its stream, for LLM Observability


def _request_resource(kwargs, args):
    model = kwargs.get("model")
    if model is None and args:
        model = args[0]
    return model if isinstance(model, str) else None


@guarded("request.start")
def begin_request(args, kwargs, router=None):
    """Start a logical request (of `router`, when a Router serves it). Returns its state, or
    None if ddllm could not."""
    trace_id = kwargs.get("litellm_trace_id")
    state = request_state.RequestState(
        _request_resource(kwargs, args), trace_id if isinstance(trace_id, str) else None, time.perf_counter()
    )
    state.args, state.kwargs, state.router = args, kwargs, router
    if router is not None:
        state.skipped = cooldowns.cooling_in_group(router, state.resource)
    if kwargs.get("stream") is True:  # only a streamed result needs the caller's context back
        state.saved_context = spans.save_active()
    state.span = spans.start_request_span(state.resource)
    request_state.enter(state)
    return state


def end_request(state, exc, cancelled=False):
    """Finish the request: its span always finishes, whatever else fails."""
    outcome = "cancelled" if cancelled else attempt_facts.outcome_of(exc)
    _finish_request_bookkeeping(state, outcome)
    _annotate_request_llmobs(state, outcome)
    try:
        spans.finish_request_span(state.span, state, outcome, exc)
    except Exception:
        report_once("request.span")
        _finish_quietly(state.span)


@guarded("request.finish")
def _finish_request_bookkeeping(state, outcome):
    request_state.leave(state)
    metrics.record_request(state, outcome, time.perf_counter() - state.started)


@guarded("request.llmobs")
def _annotate_request_llmobs(state, outcome):
    llmobs.annotate_request(state.span, state, outcome)


class _RequestStreamObserver(streams.StreamObserver):
    __slots__ = ("state",)

    def __init__(self, state):
        self.state = state

    def end(self, exc, cancelled):
        end_request(self.state, exc, cancelled)


def stream_request(state, stream):
    """The request's result is a stream: hand the caller a proxy, end the request with it."""
    try:
        request_state.leave_context(state)
        spans.restore_active(state.saved_context)
        return streams.TracedStream(stream, _RequestStreamObserver(state))
    except Exception:
        report_once("request.stream")
        end_request(state, None)
        return stream


def _finish_quietly(span):
    try:
        if span is not None and not span.finished:
            span.finish()
    except Exception:
        report_once("span.finish")


def _place_in_request(facts, state, kwargs, metadata):
    """Number, retry index, fallback depth and the previous attempt of this attempt.

    LiteLLM's own counters (Router metadata, `fallback_depth`) win where present; otherwise a
    change of model group (Router) or of model (`litellm.completion(fallbacks=...)`) is a
    fallback hop, and the same target again is a retry.
    """
    if state is None:
        facts.number, facts.retry, facts.fallback_depth = 1, 0, 0
        return
    state.attempts += 1
    facts.number = state.attempts
    if state.skipped and facts.deployment_id in state.skipped:  # tried after all: not skipped
        del state.skipped[facts.deployment_id]
    group = facts.model_group or facts.target
    first = state.attempts == 1
    litellm_depth = attempt_facts.litellm_fallback_depth(kwargs, metadata)
    if first:
        hop = False
        state.depth = litellm_depth or 0
    elif litellm_depth is not None:
        hop = litellm_depth != state.depth
    else:
        hop = group != state.last_model_group
    if hop:
        state.depth = litellm_depth if litellm_depth is not None else state.depth + 1
        state.retries_in_group = 0
        state.fallback_type = (
            "mid_stream" if state.last_error_mid_stream else attempt_facts.fallback_type_of(state.last_error_names)
        )
        state.fallback_used = True
    elif not first:
        state.retries_in_group += 1
    retry = attempt_facts.litellm_retry_index(metadata)
    facts.retry = retry if retry is not None else state.retries_in_group
    facts.fallback_depth = state.depth
    facts.is_fallback = state.depth > 0
    facts.fallback_hop = hop
    if not first:
        facts.fallback_from = state.last_target
        facts.fallback_reason = state.last_error_type
    if facts.is_fallback:
        facts.fallback_type = state.fallback_type or "default"
    state.last_model_group = group


@guarded("attempt.start")
def begin_attempt(kwargs, operation="chat"):
    facts = attempt_facts.AttemptFacts()
    facts.operation = operation
    metadata = attempt_facts.read_start(kwargs, facts)
    trace_id = kwargs.get("litellm_trace_id")
    state = request_state.find(trace_id if isinstance(trace_id, str) else None)
    _place_in_request(facts, state, kwargs, metadata)
    attempt = Attempt(facts, state, kwargs, time.perf_counter())
    if facts.stream:
        attempt.saved_context = spans.save_active()
    attempt.span, attempt.llmobs_span = spans.start_attempt_span(facts, state.span if state is not None else None)
    attempt.context_token = request_state.current_attempt.set(attempt.span)
    return attempt


def _leave_attempt_context(attempt):
    if attempt.context_token is None:
        return
    try:
        request_state.current_attempt.reset(attempt.context_token)
    except Exception:  # finished from another context (ValueError), or anything odd
        pass
    attempt.context_token = None


def end_attempt(attempt, response=None, exc=None):
    """Finish a non-streamed attempt: its span always finishes, whatever else fails."""
    _leave_attempt_context(attempt)
    _read_outcome(attempt, response, exc)
    if exc is not None and attempt.facts.stream:
        _close_leaked_spans(attempt, exc)
    _complete_attempt(attempt, exc, response)


@guarded("attempt.leaked_spans")
def _close_leaked_spans(attempt, exc):
    spans.close_spans_left_open_by_failed_stream(attempt.span, exc, attempt.kwargs)


def _complete_attempt(attempt, exc, response):
    _annotate_llmobs(attempt, response)
    try:
        spans.finish_attempt_span(attempt.span, attempt.facts, exc)
    except Exception:
        report_once("attempt.span")
        _finish_quietly(attempt.span)
    _record_attempt_metrics(attempt.facts)


@guarded("attempt.facts")
def _read_outcome(attempt, response, exc):
    facts = attempt.facts
    facts.duration = time.perf_counter() - attempt.started
    if exc is None:
        attempt_facts.read_response(response, facts)
    else:
        attempt_facts.read_error(exc, facts)
    _remember_in_request(attempt, exc)


@guarded("attempt.llmobs")
def _annotate_llmobs(attempt, response):
    llmobs.annotate_attempt(
        attempt.llmobs_span, attempt.facts, attempt.kwargs, response, attempt.request, attempt.stream_output)


@guarded("attempt.metrics")
def _record_attempt_metrics(facts):
    metrics.record_attempt(facts)


class _AttemptStreamObserver(streams.StreamObserver):
    """Time to first token, usage and the end of a streamed attempt."""

    __slots__ = ("attempt", "stream", "content_chunks", "text")

    def __init__(self, attempt, stream):
        self.attempt = attempt
        self.stream = stream
        self.content_chunks = 0

    def chunk(self, chunk):
        facts = self.attempt.facts
        if attempt_facts.chunk_has_content(chunk):
            if self.content_chunks == 0:
                facts.time_to_first_token = time.perf_counter() - self.attempt.started
            self.content_chunks += 1
        attempt_facts.read_chunk(chunk, facts)
        if self.attempt.stream_output is not None:
            self.attempt.stream_output.add(chunk)

    def end(self, exc, cancelled):
        attempt = self.attempt
        _read_stream_outcome(attempt, self.stream, exc, cancelled, self.content_chunks)
        _complete_attempt(attempt, exc, None)
        self.stream = None


@guarded("attempt.facts")
def _read_stream_outcome(attempt, stream, exc, cancelled, content_chunks):
    facts = attempt.facts
    facts.duration = time.perf_counter() - attempt.started
    if exc is not None:
        attempt_facts.read_error(exc, facts)
    else:
        attempt_facts.read_stream_end(stream, facts)
        if cancelled:
            facts.outcome = "cancelled"
    _remember_in_request(attempt, exc)
    if attempt.request is not None:
        attempt.request.last_error_mid_stream = exc is not None and content_chunks > 0


def stream_attempt(attempt, stream):
    """The attempt returned a stream: hand the caller a proxy that ends the attempt with it."""
    try:
        _leave_attempt_context(attempt)
        spans.restore_active(attempt.saved_context)
        attempt.stream_output = llmobs.stream_output(attempt)
        return streams.TracedStream(stream, _AttemptStreamObserver(attempt, stream))
    except Exception:
        report_once("attempt.stream")
        end_attempt(attempt, response=stream)
        return stream


def _remember_in_request(attempt, exc):
    state = attempt.request
    if state is None:
        return
    facts = attempt.facts
    state.last_target = facts.target
    state.final_provider = facts.provider
    state.final_model = facts.model
    if exc is None:
        state.last_error_type, state.last_error_names = None, frozenset()
    else:
        state.last_error_type = facts.error_type
        state.last_error_names = attempt_facts.exception_class_names(attempt_facts.provider_exception(exc))
