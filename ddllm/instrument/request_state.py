"""The state of one logical request (a Router call, or `litellm.completion(fallbacks=...)`),
shared by its attempts.

Attempts find their request through a contextvar when they run in the request's context.
LiteLLM may run attempts on another thread or event loop, where contextvars are lost; there
an attempt finds its request through LiteLLM's `litellm_trace_id` (the same for every attempt
of a request: LiteLLM gives it, ddllm learns it from the first attempt that ran in the
request's context, and never sets it, so LiteLLM's callbacks see what they would without
ddllm), or else through the request span among the attempt's active APM spans (ddtrace's
context survives where contextvars do not).
"""

from __future__ import annotations

import contextvars
import sys
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from ddllm.instrument import forksafe

# The markers "this context runs inside that request / attempt": weak references to it.
# LiteLLM copies the context for its callbacks while an attempt runs, so a copy can outlive
# the call: a marker whose call has returned marks nothing (`running_request`,
# `running_attempt`), and being weak it keeps no ended attempt or request (its kwargs, its
# span) alive in a copy that lives on, such as a task the attempt started.
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("ddllm_current_request", default=None)
current_attempt: contextvars.ContextVar[Any] = contextvars.ContextVar("ddllm_current_attempt", default=None)


def _marked(marker: contextvars.ContextVar) -> Any:
    """What `marker` points at in this context: None if nothing, `_ENDED` if it is gone."""
    reference = marker.get()
    if reference is None:
        return None
    marked = reference()
    return marked if marked is not None else _ENDED


def running_attempt() -> Any:
    """The attempt this context runs inside, if its call has not returned: a LiteLLM call or
    an HTTP call made there is part of it."""
    attempt = _marked(current_attempt)
    return attempt if attempt is not None and not attempt.returned else None


def running_request() -> RequestState | None:
    """The request this context runs inside, if its call has not returned."""
    state = _marked(current_request)
    return state if state is not None and not state.returned else None


def detached() -> bool:
    """A call made in this context is a request of its own: the context is LiteLLM's callbacks',
    or a copy made inside an attempt that has returned since (a task the attempt started)."""
    attempt = _marked(current_attempt)
    return attempt is not None and attempt.returned


class _NoCallRunning:
    """An attempt that marks nothing: what `current_attempt` points at while LiteLLM runs its
    logging callbacks (they may run while the attempt they log is still returning, on another
    thread), and what a marker whose attempt or request is gone reads as."""

    returned = True


_LITELLM_CALLBACKS = _NoCallRunning()
_LITELLM_CALLBACKS_MARKER = weakref.ref(_LITELLM_CALLBACKS)
_ENDED = _NoCallRunning()


def detach() -> tuple[contextvars.Token, contextvars.Token]:
    """Enter LiteLLM's callbacks: no request or attempt runs here. Returns what `reattach`
    puts back."""
    return current_attempt.set(_LITELLM_CALLBACKS_MARKER), current_request.set(None)


def reattach(tokens: tuple[contextvars.Token, contextvars.Token]) -> None:
    attempt_token, request_token = tokens
    current_request.reset(request_token)
    current_attempt.reset(attempt_token)


class RequestState:
    """A request's facts. Built by the shell that wraps the call (`ddllm.instrument.patching`),
    with no code of ours (the defaults are the class's), so the shell holds whatever
    `tracing.begin_request` starts in it, and closes it on every path: its span, its marker in
    the caller's context, its entry in the request map (which only the shell takes out)."""

    span = None
    resource = None
    trace_id = None
    attempts = 0
    last_target = None
    last_model_group = None
    last_error_names: frozenset[str] = frozenset()
    last_error_type = None
    fallback_used = False
    final_provider = None
    final_model = None
    retries_in_group = 0
    depth = 0
    fallback_type = None
    litellm_depth = None  # LiteLLM's own fallback depth of the last attempt
    order_failover = False  # LiteLLM's `order` failover moved within the requested group
    last_error_mid_stream = False
    saved_context = None
    # {deployment id: `{provider}/{model}`} of the requested group cooling down when the
    # Router picked the first attempt's deployment, and not tried since
    # (`ddllm.instrument.cooldowns`); None when there is none.
    skipped = None
    caller = None  # who called, where LiteLLM's proxy says so (`attempt_facts.proxy_caller`)
    caller_span_tags: Sequence[tuple[str, str]] = ()  # `caller` as span tags
    started = None
    context_token: contextvars.Token | None = None  # of its marker in `current_request`
    attempt_context_token: contextvars.Token | None = None  # of `current_attempt` cleared in its context
    returned = False  # its call returned or raised (its stream, if any, may still be read)
    streamed = False  # its call returned a stream (whose proxy holds the request, not this)
    closed = False  # its span finished and out of the request map
    # For its LLM Observability span (`ddllm.instrument.llmobs`): the call, the Router
    # that serves it, and what its last successful attempt answered.
    kwargs = None  # the call's arguments, positional ones named
    router = None
    operation = None
    llmobs_output = None
    finish_reason = None


# The request map: the requests in flight, by request span id and by LiteLLM's trace id. An
# entry is made here and taken out by the shell that holds the request
# (`patching._close_request`), on every path.
by_span_id: dict[int, RequestState] = {}  # request span id -> state
by_trace_id: dict[str, list[RequestState]] = {}  # trace id -> [states], the newest last
map_lock = threading.Lock()
forksafe.renew_after_fork(sys.modules[__name__], "map_lock")
_PARENT_WALK = 32  # active spans looked through for a request span


def enter(state: RequestState) -> None:
    state.context_token = current_request.set(weakref.ref(state))
    state.attempt_context_token = current_attempt.set(None)  # its attempts start afresh
    with map_lock:
        if state.span is not None:
            by_span_id[state.span.span_id] = state
        if state.trace_id is not None:
            by_trace_id.setdefault(state.trace_id, []).append(state)


def learn_trace_id(state: RequestState, trace_id: object) -> None:
    """The request's `litellm_trace_id`, as LiteLLM gave it to an attempt."""
    if state.trace_id is not None or not isinstance(trace_id, str):
        return
    with map_lock:
        if state.span is None or state.span.span_id not in by_span_id:
            return  # already left
        state.trace_id = trace_id
        by_trace_id.setdefault(trace_id, []).append(state)


def find(trace_id: str | None) -> RequestState | None:
    """The request an attempt belongs to: the one this context runs inside, else the newest
    open one with its trace id (an attempt of a stream's mid-stream fallback runs after the
    request's call returned)."""
    state = running_request()
    if state is not None:
        return state
    if trace_id is not None:
        with map_lock:
            states = by_trace_id.get(trace_id)
            if states:
                return states[-1]
    return None


def find_by_span(active_span: Any) -> RequestState | None:
    """The request whose span is `active_span` or one of its parents. A finished span on the
    way up means a context copied from a call that has ended (a LiteLLM callback's): a call
    made there is a request of its own."""
    span = active_span
    for _ in range(_PARENT_WALK):
        if span is None or not by_span_id or span.finished:
            return None
        state = by_span_id.get(span.span_id)
        if state is not None:
            return state
        span = getattr(span, "_parent", None)  # ddtrace's Span keeps its parent here
    return None


def open_request_count() -> int:
    with map_lock:
        return len(by_span_id) + sum(
            1
            for states in by_trace_id.values()
            for state in states
            if state.span is None or state.span.span_id not in by_span_id
        )
