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

_by_trace_id = {}
_by_trace_id_lock = threading.Lock()


class RequestState:
    __slots__ = (
        "span", "resource", "trace_id", "attempts", "last_target", "last_model_group",
        "last_error_names", "last_error_type", "fallback_used", "final_provider", "final_model",
        "retries_in_group", "depth", "fallback_type", "last_error_mid_stream", "started",
        "saved_context", "skipped", "litellm_depth", "order_failover", "_context_token",
        "args", "kwargs", "router", "operation", "llmobs_output", "finish_reason", "caller",
    )

    def __init__(self, resource, trace_id, started):
        self.span = None
        self.resource = resource
        self.trace_id = trace_id
        self.attempts = 0
        self.last_target = None
        self.last_model_group = None
        self.last_error_names = frozenset()
        self.last_error_type = None
        self.fallback_used = False
        self.final_provider = None
        self.final_model = None
        self.retries_in_group = 0
        self.depth = 0
        self.fallback_type = None
        self.litellm_depth = None  # LiteLLM's own fallback depth of the last attempt
        self.order_failover = False  # LiteLLM's `order` failover moved within the requested group
        self.last_error_mid_stream = False
        self.saved_context = None
        # {deployment id: `{provider}/{model}`} of the requested group cooling down when the
        # Router picked the first attempt's deployment, and not tried since
        # (`ddllm.instrument.cooldowns`); None when there is none.
        self.skipped = None
        self.caller = None  # who called, where LiteLLM's proxy says so (`attempt_facts.proxy_caller`)
        self.started = started
        self._context_token = None
        # For its LLM Observability span (`ddllm.instrument.llmobs`): the call, the Router
        # that serves it, and what its last successful attempt answered.
        self.args = ()
        self.kwargs = None
        self.router = None
        self.operation = None
        self.llmobs_output = None
        self.finish_reason = None


_by_span_id = {}  # request span id -> state, of the requests in flight
_PARENT_WALK = 32  # active spans looked through for a request span


def enter(state):
    state._context_token = current_request.set(state)
    with _by_trace_id_lock:
        if state.span is not None:
            _by_span_id[state.span.span_id] = state
        if state.trace_id is not None:
            _by_trace_id.setdefault(state.trace_id, []).append(state)


def learn_trace_id(state, trace_id):
    """The request's `litellm_trace_id`, as LiteLLM gave it to an attempt."""
    if state.trace_id is not None or not isinstance(trace_id, str):
        return
    with _by_trace_id_lock:
        if state.span is None or state.span.span_id not in _by_span_id:
            return  # already left
        state.trace_id = trace_id
        _by_trace_id.setdefault(trace_id, []).append(state)


def leave_context(state):
    """This context no longer runs the request (its stream went to the caller); attempts
    made while the caller reads it find the request by its trace id."""
    if state._context_token is not None:
        try:
            current_request.reset(state._context_token)
        except ValueError:  # left from another context (an async generator closed elsewhere)
            current_request.set(None)
        state._context_token = None


def leave(state):
    try:  # out of the maps first: a failure in the context's reset costs the marker alone
        if state.span is not None:
            with _by_trace_id_lock:
                _by_span_id.pop(state.span.span_id, None)
        if state.trace_id is not None:
            with _by_trace_id_lock:
                states = _by_trace_id.get(state.trace_id)
                if states is not None:
                    try:
                        states.remove(state)
                    except ValueError:
                        pass
                    if not states:
                        del _by_trace_id[state.trace_id]
    finally:
        leave_context(state)


def find(trace_id):
    """The request an attempt belongs to: this context's, else the newest with its trace id."""
    state = current_request.get()
    if state is not None:
        return state
    if trace_id is not None:
        with _by_trace_id_lock:
            states = _by_trace_id.get(trace_id)
            if states:
                return states[-1]
    return None


def find_by_span(active_span):
    """The request whose span is `active_span` or one of its parents."""
    span = active_span
    for _ in range(_PARENT_WALK):
        if span is None or not _by_span_id:
            return None
        state = _by_span_id.get(span.span_id)
        if state is not None:
            return state
        span = getattr(span, "_parent", None)  # ddtrace's Span keeps its parent here
    return None


def open_request_count():
    with _by_trace_id_lock:
        return len(_by_span_id) + sum(
            1 for states in _by_trace_id.values() for state in states
            if state.span is None or state.span.span_id not in _by_span_id)
