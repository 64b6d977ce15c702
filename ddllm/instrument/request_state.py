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
import contextvars
import threading

current_request = contextvars.ContextVar("ddllm_current_request", default=None)
# The attempt running in this context: a nested LiteLLM call inside it is not a new attempt.
current_attempt = contextvars.ContextVar("ddllm_current_attempt", default=None)


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
    last_error_names = frozenset()
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
    started = None
    context_token = None  # of its marker in `current_request`
    closed = False  # its span finished and out of the request map
    ending_queued = False  # its span is finished by its ending on the background thread
    # For its LLM Observability span (`ddllm.instrument.llmobs`): the call, the Router
    # that serves it, and what its last successful attempt answered.
    args = ()
    kwargs = None
    router = None
    operation = None
    llmobs_output = None
    finish_reason = None


# The request map: the requests in flight, by request span id and by LiteLLM's trace id. An
# entry is made here and taken out by the shell that holds the request
# (`patching._close_request`), on every path.
by_span_id = {}  # request span id -> state
by_trace_id = {}  # trace id -> [states], the newest last
map_lock = threading.Lock()
_PARENT_WALK = 32  # active spans looked through for a request span


def enter(state):
    state.context_token = current_request.set(state)
    with map_lock:
        if state.span is not None:
            by_span_id[state.span.span_id] = state
        if state.trace_id is not None:
            by_trace_id.setdefault(state.trace_id, []).append(state)


def learn_trace_id(state, trace_id):
    """The request's `litellm_trace_id`, as LiteLLM gave it to an attempt."""
    if state.trace_id is not None or not isinstance(trace_id, str):
        return
    with map_lock:
        if state.span is None or state.span.span_id not in by_span_id:
            return  # already left
        state.trace_id = trace_id
        by_trace_id.setdefault(trace_id, []).append(state)


def find(trace_id):
    """The request an attempt belongs to: this context's, else the newest with its trace id."""
    state = current_request.get()
    if state is not None:
        return state
    if trace_id is not None:
        with map_lock:
            states = by_trace_id.get(trace_id)
            if states:
                return states[-1]
    return None


def find_by_span(active_span):
    """The request whose span is `active_span` or one of its parents."""
    span = active_span
    for _ in range(_PARENT_WALK):
        if span is None or not by_span_id:
            return None
        state = by_span_id.get(span.span_id)
        if state is not None:
            return state
        span = getattr(span, "_parent", None)  # ddtrace's Span keeps its parent here
    return None


def open_request_count():
    with map_lock:
        return len(by_span_id) + sum(
            1 for states in by_trace_id.values() for state in states
            if state.span is None or state.span.span_id not in by_span_id)
