"""LLM Observability: exactly one `llm` span per provider call, ours, under the request's
`workflow` span, whether ddtrace's own litellm integration is off, patched before ddllm or
patched after it."""

import pytest
from conftest import flush
from test_attempt_spans import MESSAGES, router_primary_rate_limited

import ddllm


def _kind(event):
    span = event["meta"].get("span")
    return span.get("kind") if isinstance(span, dict) else event["meta"].get("span.kind")


def _tags(event):
    return dict(tag.split(":", 1) for tag in event.get("tags", []) if ":" in tag)


@pytest.fixture(params=["ddtrace-litellm-off", "ddtrace-litellm-before", "ddtrace-litellm-after"])
def instrumentation(request):
    from ddtrace.contrib.internal.litellm import patch as ddtrace_litellm

    order = request.param
    if order == "ddtrace-litellm-before":
        ddtrace_litellm.patch()
    assert ddllm.patch()
    if order == "ddtrace-litellm-after":
        ddtrace_litellm.patch()
    yield order
    # ddllm first: ddtrace's unpatch removes whichever wrapper is outermost, even ours
    ddllm.unpatch()
    if order != "ddtrace-litellm-off":
        ddtrace_litellm.unpatch()


async def test_one_llm_span_per_attempt_with_fallback_tags(agent, instrumentation):
    await router_primary_rate_limited().acompletion(model="primary", messages=MESSAGES)
    flush()
    events = agent.llmobs_spans()
    llm_spans = [event for event in events if _kind(event) == "llm"]
    assert len(llm_spans) == 3, events
    if instrumentation == "ddtrace-litellm-after":
        # ddtrace's span encloses ours and is the `llm` span; ours annotates it
        assert {event["name"] for event in llm_spans} == {"acompletion"}
    else:
        assert {event["name"] for event in llm_spans} == {"llm.attempt"}
    [workflow] = [event for event in events if event["name"] == "llm.request"]
    assert _kind(workflow) == "workflow"
    by_number = {int(_tags(event)["llm.attempt.number"]): event for event in llm_spans}
    assert [by_number[n]["meta"]["model_provider"] for n in (1, 2, 3)] == ["openai", "openai", "anthropic"]
    assert [by_number[n]["meta"]["model_name"] for n in (1, 2, 3)] == [
        "gpt-4o-mini",
        "gpt-4o-mini",
        "claude-3-5-haiku-20241022",
    ]
    fallback = _tags(by_number[3])
    assert fallback["llm.fallback.is_fallback"] == "true"
    assert fallback["llm.fallback.depth"] == "1"
    assert fallback["llm.fallback.from"] == "openai/gpt-4o-mini"
    assert fallback["llm.fallback.reason"] == "RateLimitError"
    assert fallback["llm.fallback.type"] == "default"
    assert by_number[3]["metrics"]["input_tokens"] > 0
    assert by_number[3]["metrics"]["output_tokens"] > 0
    # every attempt hangs under the request's workflow, directly or through ddtrace's router span
    ids = {event["span_id"]: event for event in events}
    for event in llm_spans:
        parent = ids[event["parent_id"]]
        assert parent["span_id"] == workflow["span_id"] or parent["parent_id"] == workflow["span_id"]
    assert by_number[1]["status"] == "error"
    assert by_number[3]["status"] == "ok"
