"""LLM Observability over real HTTP, with ddtrace's openai integration on as under ddtrace-run:
LiteLLM's OpenAI attempts go through the OpenAI SDK, which that integration traces as `llm`
spans of its own (with provider `unknown` for a non-OpenAI base URL). Each provider call must
still be exactly one `llm` span, with the right provider and the fallback tags."""

import pytest
from conftest import flush
from test_http_provider import MESSAGES, OPENAI_MODEL, openai_to_anthropic_router
from test_llmobs import _kind, _tags

import ddllm
from ddllm.cli.fake_provider import Answer


@pytest.fixture(params=["litellm-off", "litellm-before", "litellm-after"])
def ddtrace_integrations(request):
    from ddtrace.contrib.internal.litellm import patch as ddtrace_litellm
    from ddtrace.contrib.internal.openai import patch as ddtrace_openai

    ddtrace_openai.patch()
    if request.param == "litellm-before":
        ddtrace_litellm.patch()
    assert ddllm.patch()
    if request.param == "litellm-after":
        ddtrace_litellm.patch()
    yield request.param
    ddllm.unpatch()  # first: ddtrace's unpatch removes whichever wrapper is outermost
    if request.param != "litellm-off":
        ddtrace_litellm.unpatch()
    ddtrace_openai.unpatch()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_one_llm_span_per_http_call_with_openai_integration(agent, provider, ddtrace_integrations, use_async):
    provider.script(OPENAI_MODEL, Answer.rate_limit(), Answer.rate_limit())
    router = openai_to_anthropic_router(provider)
    if use_async:
        await router.acompletion(model="primary", messages=MESSAGES)
    else:
        router.completion(model="primary", messages=MESSAGES)
    flush()
    assert len(provider.received) == 3
    events = agent.llmobs_spans()
    llm_spans = [event for event in events if _kind(event) == "llm"]
    assert len(llm_spans) == 3, [(e["name"], e["meta"].get("model_provider")) for e in llm_spans]
    by_number = {int(_tags(event)["llm.attempt.number"]): event for event in llm_spans}
    assert [by_number[n]["meta"]["model_provider"] for n in (1, 2, 3)] == ["openai", "openai", "anthropic"]
    assert [by_number[n]["meta"]["model_name"] for n in (1, 2, 3)] == [
        OPENAI_MODEL,
        OPENAI_MODEL,
        "claude-3-5-haiku-20241022",
    ]
    assert _tags(by_number[3])["llm.fallback.reason"] == "RateLimitError"
    assert by_number[3]["metrics"]["input_tokens"] == 13
    assert by_number[3]["metrics"]["output_tokens"] == 21
    # OpenAI SDK spans, where ddtrace makes them, stay in APM under our attempts (LiteLLM
    # 1.110's OpenAI calls do not reach the patched SDK methods, so today there are none)
    apm = [span for trace in agent.traces() for span in trace]
    attempt_ids = {span["span_id"] for span in apm if span["name"] == "llm.attempt"}
    sdk_spans = [span for span in apm if span["name"] == "openai.request"]
    by_id = {span["span_id"]: span for span in apm}

    def under_an_attempt(span):
        parent = span.get("parent_id")
        while parent:
            if parent in attempt_ids:
                return True
            parent = by_id.get(parent, {}).get("parent_id")
        return False

    assert all(under_an_attempt(span) for span in sdk_spans)
