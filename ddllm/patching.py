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
import itertools
import logging
import os
import threading
import uuid

import wrapt

from ddllm import config as config_module
from ddllm import request_state, streams, tracing
from ddllm.safety import report_once

log = logging.getLogger("ddllm")

# wrapt 2 renamed its C base proxy `BaseObjectProxy`; `ObjectProxy` is now a subclass that
# FunctionWrapper does not derive from. Either base marks a wrapper in a chain.
WRAPT_PROXY = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)

_lock = threading.RLock()
_installed = []  # (owner, name, our FunctionWrapper)
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
    if kwargs.get("fallbacks"):
        return True
    try:
        import litellm

        return bool(getattr(litellm, "model_fallbacks", None))
    except Exception:
        return False


def _nested(kwargs):
    """A LiteLLM call made inside one of our attempts is part of it, not a new attempt."""
    return request_state.current_attempt.get() is not None


_trace_id_prefix = uuid.uuid4().hex[:16]
_trace_id_counter = itertools.count(1)


def _new_trace_id():
    # A random per-process prefix, the pid (forked workers share the prefix) and a counter:
    # unique like a uuid4 for LiteLLM's logging callbacks, without a urandom call per request.
    return "%s-%d-%d" % (_trace_id_prefix, os.getpid(), next(_trace_id_counter))


def _with_trace_id(kwargs):
    """Give the request a `litellm_trace_id` if the caller did not: LiteLLM hands it to every
    attempt, on any thread, which is how an attempt finds its request."""
    if not kwargs.get("litellm_trace_id"):
        kwargs = dict(kwargs)
        kwargs["litellm_trace_id"] = _new_trace_id()
    return kwargs


def _streamed(kwargs, result):
    return kwargs.get("stream") is True and streams.is_stream(result)


def _request_result(state, kwargs, result):
    if _streamed(kwargs, result):
        return tracing.stream_request(state, result)
    tracing.end_request(state, None)
    return result


def _attempt_result(attempt, kwargs, result):
    if _streamed(kwargs, result):
        return tracing.stream_attempt(attempt, result)
    tracing.end_attempt(attempt, response=result)
    return result


def _traced_request(wrapped, args, kwargs):
    kwargs = _with_trace_id(kwargs)
    state = tracing.begin_request(args, kwargs)
    if state is None:
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        tracing.end_request(state, exc)
        raise
    return _request_result(state, kwargs, result)


async def _traced_request_async(wrapped, args, kwargs):
    kwargs = _with_trace_id(kwargs)
    state = tracing.begin_request(args, kwargs)
    if state is None:
        return await wrapped(*args, **kwargs)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        tracing.end_request(state, exc)
        raise
    return _request_result(state, kwargs, result)


def _call_kwargs(args, kwargs):
    """The attempt's arguments as keywords: the model may come positionally."""
    if args and "model" not in kwargs:
        merged = dict(kwargs)
        merged["model"] = args[0]
        if len(args) > 1 and "messages" not in kwargs:
            merged["messages"] = args[1]
        return merged
    return kwargs


def _traced_attempt(wrapped, args, kwargs):
    attempt = tracing.begin_attempt(_call_kwargs(args, kwargs))
    if attempt is None:
        return wrapped(*args, **kwargs)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        tracing.end_attempt(attempt, exc=exc)
        raise
    return _attempt_result(attempt, kwargs, result)


async def _traced_attempt_async(wrapped, args, kwargs):
    attempt = tracing.begin_attempt(_call_kwargs(args, kwargs))
    if attempt is None:
        return await wrapped(*args, **kwargs)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        tracing.end_attempt(attempt, exc=exc)
        raise
    return _attempt_result(attempt, kwargs, result)


def _completion_wrapper(wrapped, instance, args, kwargs):
    if _nested(kwargs):
        return wrapped(*args, **kwargs)
    if _is_fallback_request(kwargs):
        return _traced_request(wrapped, args, kwargs)
    return _traced_attempt(wrapped, args, kwargs)


def _acompletion_wrapper(wrapped, instance, args, kwargs):
    if _nested(kwargs):
        return wrapped(*args, **kwargs)
    if _is_fallback_request(kwargs):
        return _traced_request_async(wrapped, args, kwargs)
    return _traced_attempt_async(wrapped, args, kwargs)


def _router_wrapper(wrapped, instance, args, kwargs):
    if _nested(kwargs):
        return wrapped(*args, **kwargs)
    return _traced_request(wrapped, args, kwargs)


def _router_async_wrapper(wrapped, instance, args, kwargs):
    if _nested(kwargs):
        return wrapped(*args, **kwargs)
    return _traced_request_async(wrapped, args, kwargs)


# -- installing and removing -------------------------------------------------------------


def _router_owner(name):
    """The class that really holds `Router.<name>`: Router itself in most LiteLLM releases,
    its core class in those where Router only delegates (litellm 1.110's `RustCore`)."""
    from litellm import router as router_module

    router_class = router_module.Router
    for klass in router_class.__mro__:
        if name in vars(klass):
            return klass
    try:
        from litellm.router_rust.core import RustCore

        if name in vars(RustCore):
            return RustCore
    except Exception:
        pass
    return None


def _targets():
    import litellm

    targets = [
        (litellm, "completion", _completion_wrapper),
        (litellm, "acompletion", _acompletion_wrapper),
    ]
    for name, wrapper in (("completion", _router_wrapper), ("acompletion", _router_async_wrapper)):
        owner = _router_owner(name)
        if owner is None:
            log.warning("ddllm: litellm %s has no Router.%s; its requests get no request span", get_version(), name)
            continue
        targets.append((owner, name, wrapper))
    return targets


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
    global _config
    with _lock:
        if _installed:
            return True
        config = config_module.load(**overrides)
        if not config.enabled:
            log.info("ddllm: DDLLM_ENABLED is false; not patching")
            return False
        try:
            targets = _targets()
            _config = config
            for owner, name, wrapper in targets:
                ours = wrapt.FunctionWrapper(vars(owner)[name] if isinstance(owner, type) else getattr(owner, name), wrapper)
                setattr(owner, name, ours)
                _installed.append((owner, name, ours))
            from ddllm import spans

            spans.listen_for_nested_llm_spans()
            from ddllm import metrics

            metrics.configure(config)
        except Exception:
            report_once("patch")
            _unpatch_locked()
            return False
        return True


def _unpatch_locked():
    while _installed:
        owner, name, ours = _installed.pop()
        try:
            _remove(owner, name, ours)
        except Exception:
            report_once("unpatch")
    try:
        from ddllm import spans

        spans.stop_listening()
    except Exception:
        report_once("unpatch")


def unpatch():
    with _lock:
        _unpatch_locked()


def is_patched():
    return bool(_installed)
