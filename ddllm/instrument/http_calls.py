"""The provider's HTTP calls of an attempt, counted where they are made: httpx's client
`send`, through which LiteLLM and the provider SDKs it drives (OpenAI, Azure) make every
HTTP call, their own retries included, out of LiteLLM's sight.

A call counts for the attempt that the context runs inside (`request_state.running_attempt`):
one made after the attempt returned, by a LiteLLM callback whose context was copied while the
attempt ran, counts for nothing.
"""

from collections.abc import Callable
from typing import Any

from ddllm.instrument.request_state import running_attempt


def _count(attempt, response=None):
    """One provider call of `attempt` (`response`: its answer, None when it raised), unless
    the attempt returned meanwhile: its facts are final then."""
    if attempt.returned:
        return
    facts = attempt.facts
    facts.provider_calls = (facts.provider_calls or 0) + 1
    status = getattr(response, "status_code", None)
    if type(status) is int:
        facts.last_http_status = status


def _count_send(wrapped, instance, args, kwargs):
    attempt = running_attempt()
    if attempt is None:
        return wrapped(*args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except BaseException:
        _count(attempt)
        raise
    _count(attempt, response)
    return response


async def _count_async_send(wrapped, instance, args, kwargs):
    attempt = running_attempt()
    if attempt is None:
        return await wrapped(*args, **kwargs)
    try:
        response = await wrapped(*args, **kwargs)
    except BaseException:
        _count(attempt)
        raise
    _count(attempt, response)
    return response


def targets() -> list[tuple[type, str, Callable[..., Any]]]:
    """(owner, name, wrapper) of httpx's client `send`, sync and async."""
    try:
        import httpx
    except ImportError:
        return []
    return [(httpx.Client, "send", _count_send), (httpx.AsyncClient, "send", _count_async_send)]
