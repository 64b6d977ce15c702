"""A user who keeps ddtrace's own litellm integration (DD_TRACE_LITELLM_ENABLED=true) beside
ddllm, whichever of the two patched first: streamed requests that fall back or fail on every
deployment still arrive as whole traces, with exactly one LLM Observability `llm` event per
provider call, each carrying ddllm's fallback tags."""

import pytest
from conftest import flush
from spans_of import meta, requests_with_attempts
from test_http_provider import ANTHROPIC_MODEL, MESSAGES, OPENAI_MODEL, openai_to_anthropic_router
from test_llmobs import _kind, _tags

import ddllm
from ddllm.cli.fake_provider import Answer

DDTRACE_MAJOR = int(__import__("ddtrace").__version__.split(".")[0])

pytestmark = pytest.mark.skipif(
    DDTRACE_MAJOR < 4,
    reason="ddtrace 3's litellm integration raises AttributeError on LiteLLM's FallbackStreamWrapper "
    "(no `handler`), with or without ddllm",
)


@pytest.fixture(params=["ddtrace-before", "ddtrace-after"])
def both_integrations(request):
    from ddtrace.contrib.internal.litellm import patch as ddtrace_litellm

    if request.param == "ddtrace-before":
        ddtrace_litellm.patch()
    assert ddllm.patch()
    if request.param == "ddtrace-after":
        ddtrace_litellm.patch()
    yield request.param
    ddllm.unpatch()  # first: ddtrace's unpatch removes whichever wrapper is outermost
    ddtrace_litellm.unpatch()


def _whole_trace_of(traces, request):
    [trace] = [trace for trace in traces if any(span["span_id"] == request["span_id"] for span in trace)]
    ids = {span["span_id"] for span in trace}
    orphans = [span["name"] for span in trace if span.get("parent_id") and span["parent_id"] not in ids]
    assert len(orphans) <= 1, orphans  # only the root may point outside (it has no parent here)
    return trace


def _llm_events_with_fallback_tags(agent):
    events = [event for event in agent.llmobs_spans() if _kind(event) == "llm"]
    for event in events:
        tags = _tags(event)
        assert "llm.attempt.number" in tags and "llm.fallback.depth" in tags, (event["name"], tags)
    return sorted(events, key=lambda event: int(_tags(event)["llm.attempt.number"]))


async def test_streamed_fallback_arrives_whole(agent, provider, both_integrations):
    provider.script(OPENAI_MODEL, Answer.rate_limit())
    router = openai_to_anthropic_router(provider, num_retries=0)
    stream = await router.acompletion(model="primary", messages=MESSAGES, stream=True)
    assert [chunk async for chunk in stream]
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert [meta(s, "llm.outcome") for s in attempts] == ["rate_limited", "success"]
    _whole_trace_of(agent.traces(), request)
    events = _llm_events_with_fallback_tags(agent)
    assert len(events) == 2
    assert _tags(events[1])["llm.fallback.reason"] == "RateLimitError"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_streamed_request_failing_everywhere_arrives_whole(agent, provider, both_integrations, use_async):
    provider.script(OPENAI_MODEL, Answer.rate_limit())
    provider.script(ANTHROPIC_MODEL, Answer.server_error())
    router = openai_to_anthropic_router(provider, num_retries=0)
    with pytest.raises(Exception) as raised:
        if use_async:
            await router.acompletion(model="primary", messages=MESSAGES, stream=True)
        else:
            router.completion(model="primary", messages=MESSAGES, stream=True)
    assert type(raised.value).__name__ == "RateLimitError"  # LiteLLM raises the primary group's error
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())  # none: the trace was lost
    assert meta(request, "llm.outcome") == "rate_limited"
    assert [meta(s, "llm.outcome") for s in attempts] == ["rate_limited", "error"]
    trace = _whole_trace_of(agent.traces(), request)
    assert all(span.get("duration") for span in trace)
    events = _llm_events_with_fallback_tags(agent)
    assert len(events) == 2
    assert _tags(events[1])["llm.fallback.from"] == "openai/" + OPENAI_MODEL
