"""`patch()` / `unpatch()`: wrapt wrappers on LiteLLM's request and attempt entry points.

- `litellm.completion` / `litellm.acompletion` (module attributes): every attempt goes
  through them (the Router calls them once per deployment try, and
  `litellm.completion(fallbacks=[...])` once per model). A call that carries `fallbacks` is
  itself a request, whose attempts are the inner calls.
- `Router.completion` / `Router.acompletion`: the logical request.

ddtrace wraps the same functions, before or after us. We keep our own wrapper objects and
remove exactly those, wherever they sit in the chain of wrappers. (ddtrace's own `unpatch`
removes whichever wrapper is outermost, which may be ours: then ours is simply gone.)
"""

import logging
import os
import sys
import threading

import wrapt

from ddllm import ddtrace_takeover
from ddllm.instrument import config as config_module
from ddllm.instrument import background, forksafe, http_calls, request_state, streams, tracing
from ddllm.instrument.safety import guarded, report_once

log = logging.getLogger("ddllm")

# wrapt 2 renamed its C base proxy `BaseObjectProxy`; `ObjectProxy` is now a subclass that
# FunctionWrapper does not derive from. Either base marks a wrapper in a chain.
WRAPT_PROXY = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)

_lock = threading.RLock()
forksafe.renew_after_fork(sys.modules[__name__], "_lock", threading.RLock)
_patching = False  # True while patch() runs, on the thread holding _lock
_installed: list[tuple[object, str, wrapt.FunctionWrapper]] = []  # (owner, name, our wrapper)
_config = None


def current_config():
    return _config


def get_version():
    try:
        import litellm

        version_module = getattr(litellm, "_version", None)
        return getattr(version_module, "version", "") or ""
    except Exception:
        return ""


# -- wrappers --------------------------------------------------------------------------


def _is_fallback_request(kwargs):
    try:
        if kwargs.get("fallbacks"):
            return True
        import litellm

        return bool(getattr(litellm, "model_fallbacks", None))
    except Exception:
        return False


@guarded("attempt.nested", default=True)  # when unsure, the call goes through untraced
def _in_attempt():
    """A LiteLLM call made inside one of our attempts is part of it, not a new attempt. One
    made after the attempt returned (a LiteLLM callback's, in a context copied while the
    attempt ran) is a request of its own."""
    return request_state.running_attempt() is not None


# Each wrapper is a thin shell around LiteLLM's call: one step before it and one after, both
# in `ddllm.instrument.tracing`, neither of which should raise; LiteLLM's own exception passes
# through. The shell builds the request (or attempt) that the steps fill in, with no code of
# ours, so it holds whatever they start there whatever they return or raise; the shell's own
# after-steps below hand the caller LiteLLM's result (or our proxy of its stream) and close
# what was started: with ddtrace's, contextvars' and dicts' own calls only, nothing a fault
# of ours can stop.


class _Request(request_state.RequestState, streams.StreamObserver):
    """A request as its shell holds it; when its result is a stream, the stream's observer,
    which ends and closes it when the stream ends (read, failed, closed, or abandoned)."""

    def end(self, exc, cancelled, dropped_at=None):
        try:
            if not self.closed:
                tracing.end_request(self, exc, cancelled, dropped_at)
        finally:
            _close_request(self, finish=True)


class _Attempt(tracing.Attempt):
    """An attempt as its shell holds it; when its result is a stream, the stream's observer,
    which ends and closes it when the stream ends."""

    def end(self, exc, cancelled, dropped_at=None):
        try:
            if not self.closed:
                tracing.end_attempt(self, exc=exc, cancelled=cancelled, dropped_at=dropped_at)
        finally:
            self.stream = None
            _close_attempt(self, finish=True)


def _traced_request(wrapped, args, kwargs, operation, positional, router=None):
    state = _Request()
    if tracing.begin_request(state, args, kwargs, operation, positional, router) is not state:
        _close_request(state, finish=True)
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _request_failed(state, exc)
        raise
    return _request_result(state, kwargs, result)


async def _traced_request_async(wrapped, args, kwargs, operation, positional, router=None):
    state = _Request()
    if tracing.begin_request(state, args, kwargs, operation, positional, router) is not state:
        _close_request(state, finish=True)
        return await wrapped(*args, **kwargs)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _request_failed(state, exc)
        raise
    return _request_result(state, kwargs, result)


def _traced_attempt(wrapped, args, kwargs, operation, positional):
    attempt = _Attempt()
    if tracing.begin_attempt(attempt, args, kwargs, operation, positional) is not attempt:
        _close_attempt(attempt, finish=True)
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _attempt_failed(attempt, exc)
        raise
    return _attempt_result(attempt, kwargs, result)


async def _traced_attempt_async(wrapped, args, kwargs, operation, positional):
    attempt = _Attempt()
    if tracing.begin_attempt(attempt, args, kwargs, operation, positional) is not attempt:
        _close_attempt(attempt, finish=True)
        return await wrapped(*args, **kwargs)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _attempt_failed(attempt, exc)
        raise
    return _attempt_result(attempt, kwargs, result)


def _proxy_of(handed, result):
    return isinstance(handed, streams.TracedStream) and handed.__wrapped__ is result


def _request_failed(state, exc):
    try:
        tracing.end_request(state, exc=exc)
    except Exception:
        report_once("request.end")
    finally:
        _close_request(state, finish=True)


def _request_result(state, kwargs, result):
    try:
        handed = tracing.request_returned(state, kwargs, result)
        if handed is result or _proxy_of(handed, result):
            _close_request(state, finish=not state.streamed)  # a stream's proxy ends it later
            return handed
    except Exception:
        report_once("request.result")
    _close_request(state, finish=True)
    return result


def _attempt_failed(attempt, exc):
    try:
        tracing.end_attempt(attempt, exc=exc)
    except Exception:
        report_once("attempt.end")
    finally:
        _close_attempt(attempt, finish=True)


def _attempt_result(attempt, kwargs, result):
    try:
        handed = tracing.attempt_returned(attempt, kwargs, result)
        if handed is result or _proxy_of(handed, result):
            _close_attempt(attempt, finish=handed is result)  # a proxy ends the attempt later
            return handed
    except Exception:
        report_once("attempt.result")
    _close_attempt(attempt, finish=True)
    return result


# The shells' last resort: our markers leave the caller's context and mark nothing more, and
# (unless a stream handed to the caller holds the request or attempt on) our span is finished
# and the request leaves the request map, which nothing else takes it out of. No-ops where
# tracing's steps did it.


def _close_attempt(attempt, finish):
    try:
        attempt.returned = True
        if finish:
            attempt.closed = True
            if getattr(attempt.span, "finished", True) is False:
                attempt.span.finish()
        token, attempt.context_token = attempt.context_token, None
        if token is not None:
            request_state.current_attempt.reset(token)
    except Exception:
        report_once("attempt.close")


def _close_request(state, finish):
    try:
        state.returned = True
        if finish:
            state.closed = True
            with request_state.map_lock:  # out of the request map first
                request_state.by_span_id.pop(getattr(state.span, "span_id", None), None)
                states = request_state.by_trace_id.get(state.trace_id)
                if states is not None and state in states:
                    states.remove(state)
                    if not states:
                        del request_state.by_trace_id[state.trace_id]
            if getattr(state.span, "finished", True) is False:
                state.span.finish()
        token, state.attempt_context_token = state.attempt_context_token, None
        if token is not None:
            request_state.current_attempt.reset(token)
        token, state.context_token = state.context_token, None
        if token is not None:
            request_state.current_request.reset(token)
    except Exception:
        report_once("request.close")


# LiteLLM's callbacks run on their own: inside them no attempt or request of ours runs, and an
# LLM call they make (an LLM-as-judge, a guardrail) is a request of its own. They may start
# while the attempt they log is still returning, on LiteLLM's logging thread or task.


def _callbacks_detached(wrapped, instance, args, kwargs):
    tokens = _detach()
    try:
        return wrapped(*args, **kwargs)
    finally:
        _reattach(tokens)


async def _async_callbacks_detached(wrapped, instance, args, kwargs):
    tokens = _detach()
    try:
        return await wrapped(*args, **kwargs)
    finally:
        _reattach(tokens)


@guarded("callbacks.detach")
def _detach():
    return request_state.detach()


@guarded("callbacks.reattach")
def _reattach(tokens):
    if tokens is not None:
        request_state.reattach(tokens)


# LiteLLM's logging object's methods that run the callbacks of one call: (name, async).
CALLBACK_ENTRY_POINTS = (
    ("success_handler", False),
    ("failure_handler", False),
    ("async_success_handler", True),
    ("async_failure_handler", True),
)


def _callback_targets():
    """Each missing one leaves its callbacks' calls as they were, alone."""
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except Exception:
        log.warning(
            "ddllm: litellm %s has no logging object where ddllm looks; an LLM call made in a "
            "LiteLLM callback may be taken for part of the call it logs",
            get_version(),
        )
        return []
    return [
        (Logging, name, _async_callbacks_detached if is_async else _callbacks_detached)
        for name, is_async in CALLBACK_ENTRY_POINTS
        if callable(vars(Logging).get(name))
    ]


# LiteLLM's module functions that make one attempt: (name, operation, async, positional names).
MODULE_ENTRY_POINTS = (
    ("completion", "chat", False, ("model", "messages")),
    ("acompletion", "chat", True, ("model", "messages")),
    ("text_completion", "text_completion", False, ("model", "prompt")),
    ("atext_completion", "text_completion", True, ("model", "prompt")),
    ("embedding", "embeddings", False, ("model", "input")),
    ("aembedding", "embeddings", True, ("model", "input")),
    ("responses", "responses", False, ("input", "model")),
    ("aresponses", "responses", True, ("input", "model")),
    ("transcription", "transcription", False, ("model", "file")),
    ("atranscription", "transcription", True, ("model", "file")),
    ("speech", "speech", False, ("model", "input", "voice")),
    ("aspeech", "speech", True, ("model", "input", "voice")),
)
# The operations whose module function LiteLLM gives `fallbacks=` to: a call that has them
# is a request (the others take no fallbacks of their own: the call is one attempt).
FALLBACK_OPERATIONS = frozenset(("chat", "text_completion", "embeddings", "responses"))
# The Router's methods that are one logical request: (name, operation, async, positional
# names). LiteLLM's Router has the voice legs in async only (1.106 to 1.110); its
# `atranscription` takes the file first.
ROUTER_ENTRY_POINTS = (
    ("completion", "chat", False, ("model", "messages")),
    ("acompletion", "chat", True, ("model", "messages")),
    ("text_completion", "text_completion", False, ("model", "prompt")),
    ("atext_completion", "text_completion", True, ("model", "prompt")),
    ("embedding", "embeddings", False, ("model", "input")),
    ("aembedding", "embeddings", True, ("model", "input")),
    ("responses", "responses", False, ("model", "input")),
    ("aresponses", "responses", True, ("model", "input")),
    ("atranscription", "transcription", True, ("file", "model")),
    ("aspeech", "speech", True, ("model", "input", "voice")),
)
REQUIRED_ROUTER_ENTRY_POINTS = ("completion", "acompletion")
# Without these, a LiteLLM release has changed what every attempt goes through: ddllm stays out.
REQUIRED_MODULE_ENTRY_POINTS = ("completion", "acompletion")


class UnsupportedLiteLLM(Exception):
    pass


def module_entry_wrapper(operation, is_async, positional):
    """A call with `fallbacks` is a request whose attempts are the inner calls; any other
    call is one attempt."""
    traced_request = _traced_request_async if is_async else _traced_request
    traced_attempt = _traced_attempt_async if is_async else _traced_attempt

    takes_fallbacks = operation in FALLBACK_OPERATIONS

    def traced_module_entry(wrapped, instance, args, kwargs):
        if _in_attempt():
            return wrapped(*args, **kwargs)
        if takes_fallbacks and _is_fallback_request(kwargs):
            return traced_request(wrapped, args, kwargs, operation, positional)
        return traced_attempt(wrapped, args, kwargs, operation, positional)

    return traced_module_entry


def router_entry_wrapper(operation, is_async, positional):
    traced_request = _traced_request_async if is_async else _traced_request

    def traced_router_entry(wrapped, instance, args, kwargs):
        if _in_attempt():
            return wrapped(*args, **kwargs)
        return traced_request(wrapped, args, kwargs, operation, positional, instance)  # the Router: its cooldowns

    return traced_router_entry


# -- installing and removing -------------------------------------------------------------


def _router_owner(name):
    """The class that really holds `Router.<name>`: Router itself in most LiteLLM releases,
    its core class in those where Router only delegates to it through its metaclass's
    `__getattr__` (litellm 1.109's `PythonCore`, 1.110's `RustCore`)."""
    from litellm import router as router_module

    router_class = router_module.Router
    for klass in router_class.__mro__:
        if name in vars(klass):
            return klass
    return _delegate_class(router_class, name)


def _delegate_class(router_class, name):
    """The class whose function `Router.<name>` hands out, named by the function itself (its
    module and qualified name), if that class holds it; else None."""
    try:
        function = getattr(router_class, name, None)
        owner_name, _, attribute = getattr(function, "__qualname__", "").rpartition(".")
        module = sys.modules.get(getattr(function, "__module__", None) or "")
        owner = getattr(module, owner_name, None) if owner_name and "." not in owner_name else None
        if isinstance(owner, type) and attribute == name and name in vars(owner):
            return owner
    except Exception:
        pass
    return None


def _targets():
    import litellm

    missing = [name for name in REQUIRED_MODULE_ENTRY_POINTS if not callable(getattr(litellm, name, None))]
    if missing:
        raise UnsupportedLiteLLM("litellm %s has no %s" % (get_version(), ", ".join("litellm." + n for n in missing)))
    targets = [
        (litellm, name, module_entry_wrapper(operation, is_async, positional))
        for name, operation, is_async, positional in MODULE_ENTRY_POINTS
        if callable(getattr(litellm, name, None))
    ]
    served_per_router, missing = [], []
    for name, operation, is_async, positional in ROUTER_ENTRY_POINTS:
        owner = _router_owner(name)
        if owner is not None:
            targets.append((owner, name, router_entry_wrapper(operation, is_async, positional)))
        elif name in REQUIRED_ROUTER_ENTRY_POINTS:
            missing.append("Router." + name)
        else:
            served_per_router.append((name, operation, is_async, positional))
    if missing:  # one warning for the one cause
        log.warning("ddllm: litellm %s has no %s; its requests get no request span", get_version(), ", ".join(missing))
    endpoints = _router_endpoint_table()
    if served_per_router and endpoints is not None:
        targets.append((endpoints, "member", endpoint_member_wrapper(served_per_router)))
    return targets


def _flush_targets():
    """ddtrace's flushes: the tracer's `flush` and `shutdown`, LLM Observability's `flush` and
    `disable` (its exit hook). A stream the caller dropped is ended on ddllm's background
    thread; a flush first ends what is queued there, so that what a serverless handler or a
    worker flushes before it exits, and what LLM Observability sends at exit, holds it."""
    try:
        from ddtrace.llmobs import LLMObs
        from ddtrace.trace import Tracer
    except Exception:
        return []
    return [
        (owner, name, _pending_endings_first)
        for owner, name in ((Tracer, "flush"), (Tracer, "shutdown"), (LLMObs, "flush"), (LLMObs, "disable"))
        if name in vars(owner)
    ]


def _pending_endings_first(wrapped, instance, args, kwargs):
    try:
        background.run_pending()
    except Exception:
        report_once("flush")
    return wrapped(*args, **kwargs)


def _router_endpoint_table():
    """litellm 1.110's table that serves some Router methods per router instance (the sync
    `Router.responses`), through `RustCore.__getattr__`, instead of a method of the class."""
    try:
        from litellm.router_rust.invoke.endpoints import RustEndpoints
    except Exception:
        return None
    return RustEndpoints if callable(vars(RustEndpoints).get("member")) else None


def endpoint_member_wrapper(entry_points):
    """Wrap the Router endpoints the table hands out, as the class methods are wrapped."""
    wrappers = {
        name: router_entry_wrapper(operation, is_async, positional)
        for name, operation, is_async, positional in entry_points
    }

    def traced_endpoint_member(wrapped, instance, args, kwargs):
        endpoint = wrapped(*args, **kwargs)
        name = args[0] if args else kwargs.get("name")
        wrapper = wrappers.get(name)
        if wrapper is None or not callable(endpoint):
            return endpoint
        try:
            return wrapt.FunctionWrapper(endpoint, wrapper)
        except Exception:
            report_once("patch.endpoint")
            return endpoint

    return traced_endpoint_member


def _is_ours(node, ours):
    # A wrapper that was put over ours after reading it off the class holds our wrapper
    # bound to the class (a BoundFunctionWrapper whose parent is ours), not ours itself.
    return node is ours or getattr(node, "_self_parent", None) is ours


def _remove(owner, name, ours):
    """Take our wrapper out of the chain at `owner.name`, leaving any other wrapper in place."""
    current = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if current is ours:
        setattr(owner, name, ours.__wrapped__)
        return True
    node = current
    while isinstance(node, WRAPT_PROXY):
        inner = node.__wrapped__
        if _is_ours(inner, ours):
            node.__wrapped__ = ours.__wrapped__
            return True
        node = inner
    return False  # already removed by someone else (ddtrace's unwrap takes the outermost)


def patch(**overrides):
    """Instrument LiteLLM. Returns True when ddllm is patched after the call."""
    global _patching
    with _lock:
        if _installed:
            return True
        if _patching:
            # Re-entered on this thread: our own first `import litellm` ran the start-up
            # hook, which calls patch() under ddtrace-run. The outer call, with the
            # caller's overrides, does the work; doing it here too would wrap twice.
            return False
        _patching = True
        try:
            return _patch_locked(overrides)
        finally:
            _patching = False


def _patch_locked(overrides):
    global _config
    config = config_module.load(**overrides)
    if not config.enabled:
        log.info("ddllm: DDLLM_ENABLED is false; not patching")
        _hand_back_to_ddtrace()
        return False
    try:
        targets = _targets()
    except UnsupportedLiteLLM as unsupported:
        log.warning("ddllm: %s; ddllm stays disabled for this version (see `ddllm doctor`)", unsupported)
        _hand_back_to_ddtrace()
        return False
    except ImportError as missing:
        log.warning("ddllm: litellm cannot be imported (%s); not patching", missing)
        return False
    try:
        _config = config
        for owner, name, wrapper in targets + _callback_targets() + http_calls.targets() + _flush_targets():
            ours = wrapt.FunctionWrapper(
                vars(owner)[name] if isinstance(owner, type) else getattr(owner, name), wrapper
            )
            setattr(owner, name, ours)
            _installed.append((owner, name, ours))
        from ddllm.instrument import metrics

        metrics.configure(config)
    except Exception:
        report_once("patch")
        _unpatch_locked()
        _hand_back_to_ddtrace()
        return False
    _listen_for_nested_llm_spans()
    log.info("ddllm: %s", who_traces_litellm())
    config_module.warn_if_newer_than_tested()
    return True


def _listen_for_nested_llm_spans():
    """A feature of its own (it reads ddtrace internals): if it cannot start, it alone is off."""
    try:
        from ddllm.instrument import spans

        spans.listen_for_nested_llm_spans()
    except Exception:
        log.warning(
            "ddllm: cannot watch for LLM Observability spans of other integrations inside an attempt "
            "(ddtrace %s); an attempt may show two `llm` spans in LLM Observability",
            _ddtrace_version(),
            exc_info=True,
        )


def _ddtrace_version():
    try:
        import ddtrace

        return ddtrace.__version__
    except Exception:
        return "?"


def ddtrace_litellm_integration_on():
    """Whether ddtrace's own litellm integration traces LiteLLM calls in this process too."""
    try:
        import litellm

        if getattr(litellm, "_datadog_patch", False):  # the guard attribute of ddtrace's patch()
            return True
    except Exception:
        pass
    chosen = os.environ.get(ddtrace_takeover.DDTRACE_LITELLM_VARIABLE)
    # read as ddtrace reads it (`asbool`)
    return ddtrace_takeover.ddtrace_bootstrapped() and chosen is not None and chosen.strip().lower() in ("true", "1")


def who_traces_litellm():
    """One line for the start-up log and `ddllm doctor`: which integration traces LiteLLM."""
    if not _installed:
        return "LiteLLM calls are not traced by ddllm"
    if ddtrace_litellm_integration_on():
        return (
            "LiteLLM calls are traced by ddllm and by ddtrace's litellm integration "
            "(DD_TRACE_LITELLM_ENABLED=true): one `llm` span per provider call, ddtrace's spans kept in APM"
        )
    return (
        "LiteLLM calls are traced by ddllm; ddtrace's litellm integration is off for them "
        "(set DD_TRACE_LITELLM_ENABLED=true to keep both)"
    )


def _hand_back_to_ddtrace():
    """ddllm cannot trace LiteLLM here: give the calls back to ddtrace's integration, which
    the start-up hook turned off, so a `ddtrace-run` user keeps what they had without ddllm."""
    if not (ddtrace_takeover.took_over_from_ddtrace and ddtrace_takeover.ddtrace_bootstrapped()):
        return
    try:
        import ddtrace

        ddtrace.patch(litellm=True)
        log.info("ddllm: LiteLLM calls are traced by ddtrace's litellm integration, not by ddllm")
    except Exception:
        report_once("patch.hand_back")


def patch_again_after_reload(module):
    """`importlib.reload(litellm)` puts LiteLLM's own functions back on the module, dropping
    our wrappers there (the Router's, on its class, stay): wrap the new ones, say so once."""
    with _lock:
        replaced = []
        for index, (owner, name, ours) in enumerate(_installed):
            current = getattr(owner, name, None) if owner is module else ours
            if current is ours or not callable(current) or _holds(current, ours):
                continue
            fresh = wrapt.FunctionWrapper(current, ours._self_wrapper)
            setattr(owner, name, fresh)
            _installed[index] = (owner, name, fresh)
            replaced.append(name)
    if replaced:
        log.warning("ddllm: litellm was reloaded; ddllm wrapped %s again", ", ".join("litellm." + n for n in replaced))


def _holds(node, ours):
    while isinstance(node, WRAPT_PROXY):
        if _is_ours(node, ours):
            return True
        node = node.__wrapped__
    return False


def _unpatch_locked():
    while _installed:
        owner, name, ours = _installed.pop()
        try:
            _remove(owner, name, ours)
        except Exception:
            report_once("unpatch")
    try:
        from ddllm.instrument import spans

        spans.stop_listening()
    except Exception:
        report_once("unpatch")


def unpatch():
    with _lock:
        _unpatch_locked()


def is_patched():
    return bool(_installed)
