"""APM and LLM Observability spans for requests and attempts, as docs/design.md names them.

With LLM Observability on, the request span is a `workflow` and each attempt an `llm` span
(the APM span names stay `llm.request` and `llm.attempt`). ddtrace's own litellm and openai
integrations make `llm` spans of their own for the same provider call; `demote_nested_llm_span`
keeps theirs in APM but out of LLM Observability, so each provider call is exactly one
`llm` span, ours, with the right provider and the fallback facts.
"""

import collections
import linecache
from typing import Any

from ddtrace.constants import ERROR_MSG, ERROR_STACK, ERROR_TYPE, SPAN_KIND
from ddtrace.trace import tracer

from ddllm.instrument import cooldowns, request_state
from ddllm.instrument.safety import report_once
from ddllm.instrument.tags import normalize_tag_value
from ddllm.catalogue import ATTEMPT_SPAN, COMPONENT, REQUEST_SPAN

try:  # LLM Observability ships with every supported ddtrace, but it is optional here
    from ddtrace.llmobs import LLMObs
except Exception:  # pragma: no cover - ddtrace without llmobs
    LLMObs = None  # type: ignore[misc, assignment]

_LLM_SPAN_TYPE = "llm"
_DDTRACE_LITELLM_SPAN = "litellm.request"
_MEASURED_KEY = "_dd.measured"  # APM trace metrics per resource (per model)
_ERROR_OUTCOMES = ("error", "rate_limited", "timeout")


_STACK_FRAMES = 8  # the innermost frames: where the provider call failed
_MESSAGE_LIMIT = 2000


def set_error(span, exc):
    """Error tags like ddtrace's `set_exc_info`, at a small fraction of its cost: it formats
    the whole traceback with Python 3.11's caret anchors, more than the rest of ddllm's work
    on a call; we keep the innermost frames."""
    exc_type = type(exc)
    module = exc_type.__module__
    message = error_message(exc)
    span.error = 1
    span.set_tag(ERROR_TYPE, exc_type.__name__ if module == "builtins" else "%s.%s" % (module, exc_type.__name__))
    span.set_tag(ERROR_MSG, message)
    span.set_tag(
        ERROR_STACK,
        "Traceback (most recent call last):\n%s%s: %s"
        % (_innermost_frames(exc.__traceback__), exc_type.__name__, message),
    )


def error_message(exc):
    return str(exc)[:_MESSAGE_LIMIT]


def _innermost_frames(tb):
    """The innermost frames in the traceback module's layout, kept per failure place.

    A frame's line number is decoded from its code's line table on every read, dearly for
    LiteLLM's long functions (`StackSummary.extract` also stats every frame's file), and a
    LiteLLM 429 has many. A 429 storm fails at the same places over and over, so the text is
    kept per place, the code and instruction of each kept frame (bounded)."""
    kept = collections.deque(maxlen=_STACK_FRAMES)
    while tb is not None:
        kept.append(tb)
        tb = tb.tb_next
    codes = tuple(t.tb_frame.f_code for t in kept)
    # ids: a code object's own hash walks its constants; the entry keeps the codes alive,
    # so an id in a key is never reused while the key is there
    place = tuple(map(id, codes)) + tuple(t.tb_lasti for t in kept)
    entry = _stack_text_by_place.get(place)
    if entry is None:
        entry = (codes, _frames_text(kept))
        if len(_stack_text_by_place) >= _STACK_PLACES:
            _stack_text_by_place.clear()
        _stack_text_by_place[place] = entry
    return entry[1]


_STACK_PLACES = 256  # distinct failure places whose stack text is kept
_stack_text_by_place: dict[tuple, tuple] = {}  # (ids of the codes, their instructions) -> (the codes, the text)


def _frames_text(tracebacks):
    """Source lines already in linecache are read as they are (no stat of each file)."""
    lines = []
    for tb in tracebacks:
        frame, lineno = tb.tb_frame, tb.tb_lineno
        code = frame.f_code
        lines.append('  File "%s", line %s, in %s\n' % (code.co_filename, lineno, code.co_name))
        source = linecache.getline(code.co_filename, lineno or 0, frame.f_globals).strip()
        if source:
            lines.append("    %s\n" % source)
    return "".join(lines)


def llmobs_enabled() -> bool:
    return LLMObs is not None and bool(getattr(LLMObs, "enabled", False))


def _model_tag(value):
    """Model names as metric tags carry them (`ddllm.instrument.tags`), so spans and metrics join."""
    return normalize_tag_value(value) if value else value


def bool_tag(value):
    return "true" if value else "false"


def active_span() -> Any:
    return tracer.current_span()


def _finish_on_failure(span):
    """A span we started whose set-up failed: finished at once, so it is never left open or
    active in the caller's context."""
    try:
        span.finish()
    except Exception:
        pass


def start_request_span(resource: object) -> Any:
    if llmobs_enabled():
        span = LLMObs.workflow(name=REQUEST_SPAN)
    else:
        span = tracer.trace(REQUEST_SPAN)
    try:
        span.resource = resource if isinstance(resource, str) and resource else REQUEST_SPAN
        span.set_tag("component", COMPONENT)
    except BaseException:
        _finish_on_failure(span)
        raise
    return span


def tag_request_span(span: Any, state: Any, outcome: str, exc: BaseException | None) -> None:
    """The request's end facts on its span (`finish_at` finishes it)."""
    span.set_metric("llm.attempts", state.attempts)
    span.set_tag("llm.fallback.used", bool_tag(state.fallback_used))
    if state.final_provider:
        span.set_tag("llm.final.provider", state.final_provider)
    if state.final_model:
        span.set_tag("llm.final.model", state.final_model)
    span.set_tag("llm.outcome", outcome)
    set_caller_tags(span, state.caller_span_tags)
    if state.skipped:
        skipped, listed = cooldowns.skipped_tags(state.skipped)
        span.set_metric("llm.request.skipped_deployments", skipped)
        span.set_tag("llm.request.skipped", listed)
    if exc is not None and outcome in _ERROR_OUTCOMES:
        set_error(span, exc)


def finish_at(span: Any, finish_time: float | None = None) -> None:
    """Finish `span` at `finish_time` (seconds since the epoch; None: now), unless it is
    finished. Never raises."""
    try:
        if span is not None and not span.finished:
            span.finish(finish_time)
    except Exception:
        report_once("span.finish")


def set_caller_tags(span, caller_span_tags):
    """Who called, where LiteLLM's proxy says so (`attempt_facts.caller_span_tags`)."""
    for key, value in caller_span_tags:
        span.set_tag(key, value)


def _llmobs_context_provider():
    instance = getattr(LLMObs, "_instance", None) if llmobs_enabled() else None
    return getattr(instance, "_llmobs_context_provider", None)


def save_active() -> tuple[Any, Any]:
    """The active APM and LLM Observability contexts, to put back with `restore_active`."""
    provider = _llmobs_context_provider()
    return tracer.context_provider.active(), (provider.active() if provider is not None else None)


def restore_active(saved: tuple[Any, Any]) -> None:
    """Put back what was active before our span started, without finishing the span: a
    stream handed to the caller must not leave our span active in the caller's context."""
    apm, llmobs = saved
    context_provider = tracer.context_provider
    if context_provider.active() is not apm:  # finishing our span put its parent back already
        context_provider.activate(apm)
    provider = _llmobs_context_provider()
    if provider is not None and provider.active() is not llmobs:
        provider.activate(llmobs)


def _ensure_parent_active(parent):
    """An attempt on a thread or loop that lost the request's context gets it back, so the
    attempt span is a child of the request span, not the root of a trace of its own."""
    if parent is None or parent.finished:
        return
    active = tracer.current_span()
    if active is None or active.trace_id != parent.trace_id:
        tracer.context_provider.activate(parent)


def _enclosing_integration_llm_span():
    """ddtrace's litellm span when it wraps ours (ddtrace patched after ddllm): it is already
    this call's LLM Observability `llm` span, so ours stays APM-only and annotates it."""
    active = tracer.current_span()
    if (
        active is not None
        and active.span_type == _LLM_SPAN_TYPE
        and active.name == _DDTRACE_LITELLM_SPAN
        and not str(active.resource).startswith("router.")  # its Router span is a workflow
    ):
        return active
    return None


def start_attempt_span(facts: Any, parent: Any) -> tuple[Any, Any]:
    """Start the attempt's APM span. Returns (span, the span that is this call's LLM
    Observability `llm` span: ours, ddtrace's enclosing one, or None)."""
    _ensure_parent_active(parent)
    llmobs_span = None
    if llmobs_enabled():
        llmobs_span = _enclosing_integration_llm_span()
    if llmobs_enabled() and llmobs_span is None:
        start = LLMObs.embedding if facts.operation == "embeddings" else LLMObs.llm
        span = llmobs_span = start(model_name=_model_tag(facts.model), name=ATTEMPT_SPAN, model_provider=facts.provider)
    else:
        span = tracer.trace(ATTEMPT_SPAN)
    try:
        _set_attempt_start_tags(span, facts)
    except BaseException:
        _finish_on_failure(span)
        raise
    return span, llmobs_span


def _set_attempt_start_tags(span, facts):
    target = facts.target
    span.resource = target if isinstance(target, str) else ATTEMPT_SPAN  # else the trace cannot be sent
    span.set_tag(SPAN_KIND, "client")
    span.set_tag("component", COMPONENT)
    span.set_metric(_MEASURED_KEY, 1)
    for key, value in (
        ("llm.operation", facts.operation),  # gen_ai.operation.name is LLM Observability's span kind
        ("gen_ai.provider.name", facts.provider),
        ("peer.service", facts.provider),
        ("gen_ai.request.model", _model_tag(facts.model)),
        ("llm.model_group", _model_tag(facts.model_group)),
        ("llm.deployment.id", facts.deployment_id),
        ("out.host", facts.api_host),
        ("llm.attempt.number", str(facts.number)),
        ("llm.attempt.retry", str(facts.retry)),
        ("llm.fallback.depth", str(facts.fallback_depth)),
        ("llm.fallback.is_fallback", bool_tag(facts.is_fallback)),
        ("llm.fallback.from", _model_tag(facts.fallback_from)),
        ("llm.fallback.reason", facts.fallback_reason),
        ("llm.fallback.type", facts.fallback_type),
        ("llm.stream", bool_tag(facts.stream)),
    ):
        if value:
            span.set_tag(key, value)
    set_caller_tags(span, facts.caller_span_tags)


def tag_attempt_span(span: Any, facts: Any, exc: BaseException | None) -> None:
    """The attempt's end facts on its span (`finish_at` finishes it)."""
    span.set_tag("llm.outcome", facts.outcome)
    if facts.http_status is not None:
        span.set_tag("http.status_code", str(facts.http_status))
    if facts.response_model:
        span.set_tag("gen_ai.response.model", facts.response_model)  # a tag value already
    for key, value in (
        ("gen_ai.usage.input_tokens", facts.input_tokens),
        ("gen_ai.usage.output_tokens", facts.output_tokens),
        ("llm.time_to_first_token", facts.time_to_first_token),
        ("llm.ratelimit.remaining_requests", facts.remaining_requests),
        ("llm.ratelimit.remaining_tokens", facts.remaining_tokens),
        ("llm.ratelimit.limit_requests", facts.limit_requests),
        ("llm.ratelimit.limit_tokens", facts.limit_tokens),
        ("llm.cost_usd", facts.cost_usd),
        ("gen_ai.usage.reasoning_tokens", facts.reasoning_tokens),
        ("gen_ai.usage.cache_read_tokens", facts.cache_read_tokens),
        ("gen_ai.usage.cache_write_tokens", facts.cache_write_tokens),
        ("llm.provider_calls", facts.provider_calls if (facts.provider_calls or 0) > 1 else None),
        ("llm.embedding.inputs", facts.embedding_inputs),
        ("llm.embedding.dimensions", facts.embedding_dimensions),
        ("llm.audio.seconds", facts.audio_seconds),
        ("llm.transcript.characters", facts.transcript_characters),
        ("llm.speech.characters", facts.speech_characters),
        ("llm.speech.bytes", facts.speech_bytes),
    ):
        if value is not None:
            span.set_metric(key, value)
    if facts.response_id:
        span.set_tag("gen_ai.response.id", facts.response_id)
    if facts.speech_format:
        span.set_tag("llm.speech.format", facts.speech_format)
    if exc is not None and facts.outcome in _ERROR_OUTCOMES:
        set_error(span, exc)


_LLMOBS_STRUCT_KEY = "_llmobs"  # where ddtrace keeps a span's LLM Observability data
_demoted_span_ids: set[int] = set()


def _let_ddtrace_tag_its_llm_span(span, kwargs):
    """What ddtrace's integration would have written on its span had it finished it: its
    LLM Observability kind, model and provider (the enclosing span is the `llm` span, or the
    Router's `workflow`)."""
    try:
        import litellm

        integration = getattr(litellm, "_datadog_integration", None)
        if integration is not None:
            integration.llmobs_set_tags(
                span, args=[], kwargs=dict(kwargs or {}), response=None, operation=span.resource
            )
    except Exception:
        pass


def _is_ddtrace_litellm_span(span, router):
    """ddtrace's span of a LiteLLM call: its Router's (`router.*`) or a module function's."""
    return span.name == _DDTRACE_LITELLM_SPAN and str(span.resource).startswith("router.") == router


def close_spans_left_open_by_failed_stream(own_span, exc, kwargs, request=False):
    """ddtrace's litellm integration (3.19 to 4.16) never finishes its span when a
    `stream=True` call raises before returning a stream, and leaves it active: the next
    attempt nests inside it and the whole trace, the web framework's root span included, never
    reaches the agent. When our streamed attempt (or request) fails, we finish such spans:
    those left active inside ours (ddtrace patched first), and ddtrace's span of the same
    layer around ours (patched after): its `router.*` span around our request, its
    `completion` span around our attempt. Only when ddtrace's litellm integration is on,
    which the user chose (DD_TRACE_LITELLM_ENABLED=true). Never raises: our own span's tags
    and finish come after it."""
    try:
        inside = []
        span = tracer.current_span()
        while span is not None and span is not own_span:
            inside.append(span)
            span = getattr(span, "_parent", None)
        leaked = [s for s in inside if not s.finished] if span is own_span else []
        parent = getattr(own_span, "_parent", None)
        if parent is not None and not parent.finished and _is_ddtrace_litellm_span(parent, router=request):
            leaked.append(parent)
        for open_span in leaked:
            if open_span.name == _DDTRACE_LITELLM_SPAN and open_span.span_type == _LLM_SPAN_TYPE:
                # still an LLM Observability span (not demoted): it needs the kind ddtrace writes
                _let_ddtrace_tag_its_llm_span(open_span, kwargs)
            set_error(open_span, exc)
            open_span.finish()
    except Exception:
        report_once("span.leaked")


def demote_nested_llm_span(span):
    """`trace.span_start` listener: an LLM Observability `llm` span that another integration
    starts inside one of our attempts stays in APM but leaves LLM Observability."""
    try:
        attempt = request_state.running_attempt()
        if attempt is None or span is attempt.span or span.span_type != _LLM_SPAN_TYPE:
            return
        span.span_type = None
        _demoted_span_ids.add(span.span_id)
    except Exception:
        report_once("llmobs.demote")


def drop_demoted_llmobs_data(span):
    """`trace.span_finish` listener: a demoted span also loses the LLM Observability data its
    integration wrote on it, which would otherwise still ship with the APM span."""
    try:  # inside the guard: ddtrace calls it for every span of the process
        if _demoted_span_ids and span.span_id in _demoted_span_ids:
            _demoted_span_ids.discard(span.span_id)
            remove = getattr(span, "_remove_struct_tag", None)
            if remove is not None:
                remove(_LLMOBS_STRUCT_KEY)
    except Exception:
        report_once("llmobs.demote")


_LISTENERS = (("trace.span_start", demote_nested_llm_span), ("trace.span_finish", drop_demoted_llmobs_data))
_listening = False


def listen_for_nested_llm_spans():
    global _listening
    if _listening:
        return
    from ddtrace.internal import core

    for event, listener in _LISTENERS:
        core.on(event, listener, "ddllm." + listener.__name__)
    _listening = True


def stop_listening():
    global _listening
    if not _listening:
        return
    from ddtrace.internal import core

    for event, listener in _LISTENERS:
        core.reset_listeners(event, listener)
    _demoted_span_ids.clear()
    _listening = False
