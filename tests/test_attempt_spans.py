"""Attempt and request spans as the test agent receives them, for LiteLLM's mock provider
(no HTTP): the Router's sync and async paths, `litellm.completion(fallbacks=...)`, plain
calls, every model failing, and many concurrent requests."""

import asyncio

import litellm
import pytest
from conftest import flush
from litellm import Router
from spans_of import by_name, meta, requests_with_attempts

MESSAGES = [{"role": "user", "content": "Say hi"}]


def router_primary_rate_limited(num_retries=1):
    return Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": "sk-test-primary",
                    "mock_response": "litellm.RateLimitError",
                },
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "anthropic/claude-3-5-haiku-20241022",
                    "api_key": "sk-test-backup",
                    "mock_response": "hello from backup",
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=num_retries,
        retry_after=0,
    )


def assert_rate_limited_then_fallback(request, attempts):
    assert request["resource"] == "primary"
    assert meta(request, "llm.outcome") == "success"
    assert meta(request, "llm.fallback.used") == "true"
    assert meta(request, "llm.final.provider") == "anthropic"
    assert meta(request, "llm.final.model") == "claude-3-5-haiku-20241022"
    assert request["metrics"]["llm.attempts"] == 3
    first, retry, fallback = attempts
    for span in attempts:
        assert span["meta"]["span.kind"] == "client"
        assert span["meta"]["component"] == "ddllm"
        assert span["metrics"]["_dd.measured"] == 1
    assert first["resource"] == retry["resource"] == "openai/gpt-4o-mini"
    assert [meta(first, "gen_ai.provider.name"), meta(first, "gen_ai.request.model")] == ["openai", "gpt-4o-mini"]
    assert [meta(s, "llm.attempt.number") for s in attempts] == ["1", "2", "3"]
    assert [meta(s, "llm.attempt.retry") for s in attempts] == ["0", "1", "0"]
    assert [meta(s, "llm.fallback.depth") for s in attempts] == ["0", "0", "1"]
    assert [meta(s, "llm.fallback.is_fallback") for s in attempts] == ["false", "false", "true"]
    assert [meta(s, "llm.model_group") for s in attempts] == ["primary", "primary", "backup"]
    assert [meta(s, "llm.outcome") for s in attempts] == ["rate_limited", "rate_limited", "success"]
    assert first.get("error") == 1 and meta(first, "error.type").endswith("RateLimitError")
    # the innermost frames of the provider's error, laid out as Python prints a traceback
    stack = meta(first, "error.stack")
    assert stack.startswith('Traceback (most recent call last):\n  File "')
    assert stack.endswith("\nRateLimitError: " + meta(first, "error.message"))
    assert 1 <= stack.count("\n  File ") <= 8
    assert meta(first, "http.status_code") == "429"
    assert meta(first, "llm.fallback.from") is None
    assert meta(retry, "llm.fallback.reason") == "RateLimitError"
    assert fallback["resource"] == "anthropic/claude-3-5-haiku-20241022"
    assert meta(fallback, "peer.service") == "anthropic"
    assert meta(fallback, "llm.fallback.from") == "openai/gpt-4o-mini"
    assert meta(fallback, "llm.fallback.reason") == "RateLimitError"
    assert meta(fallback, "llm.fallback.type") == "default"
    assert meta(fallback, "llm.stream") == "false"
    assert fallback.get("error", 0) == 0
    assert fallback["metrics"]["gen_ai.usage.input_tokens"] > 0
    assert fallback["metrics"]["gen_ai.usage.output_tokens"] > 0
    assert meta(fallback, "llm.deployment.id") and meta(fallback, "llm.deployment.id") != meta(
        first, "llm.deployment.id"
    )
    assert all(span["parent_id"] == request["span_id"] for span in attempts)


def test_router_completion_retry_then_fallback(agent, patched):
    response = router_primary_rate_limited().completion(model="primary", messages=MESSAGES)
    assert response.choices[0].message.content == "hello from backup"
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert_rate_limited_then_fallback(request, attempts)


async def test_router_acompletion_retry_then_fallback(agent, patched):
    response = await router_primary_rate_limited().acompletion(model="primary", messages=MESSAGES)
    assert response.choices[0].message.content == "hello from backup"
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert_rate_limited_then_fallback(request, attempts)


def test_plain_completion_is_one_attempt_without_request_span(agent, patched):
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test")
    flush()
    spans = [span for trace in agent.traces() for span in trace]
    assert by_name(spans, "llm.request") == []
    [attempt] = by_name(spans, "llm.attempt")
    assert attempt["resource"] == "openai/gpt-4o-mini"
    assert [meta(attempt, "llm.attempt.number"), meta(attempt, "llm.fallback.depth")] == ["1", "0"]
    assert meta(attempt, "llm.outcome") == "success"
    assert meta(attempt, "llm.model_group") is None


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_completion_with_fallbacks_is_a_request(agent, patched, use_async):
    call = dict(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        api_key="sk-test",
        mock_response="litellm.RateLimitError",
        fallbacks=[{"model": "anthropic/claude-3-5-haiku-20241022", "mock_response": "from fallback"}],
    )
    if use_async:
        response = asyncio.run(litellm.acompletion(**call))
    else:
        response = litellm.completion(**call)
    assert response.choices[0].message.content == "from fallback"
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert request["resource"] == "openai/gpt-4o-mini"
    assert meta(request, "llm.fallback.used") == "true"
    assert [span["resource"] for span in attempts] == ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022"]
    assert [meta(s, "llm.fallback.depth") for s in attempts] == ["0", "1"]
    assert [meta(s, "llm.outcome") for s in attempts] == ["rate_limited", "success"]
    assert meta(attempts[1], "llm.fallback.from") == "openai/gpt-4o-mini"
    assert meta(attempts[1], "llm.fallback.reason") == "RateLimitError"


async def test_200_concurrent_requests_each_attempt_under_its_own_request(agent, patched):
    router = router_primary_rate_limited(num_retries=0)
    responses = await asyncio.gather(
        *(router.acompletion(model="primary", messages=MESSAGES, metadata={"n": n}) for n in range(200))
    )
    assert len(responses) == 200
    flush()
    traces = agent.traces()
    found = requests_with_attempts(traces)
    assert len(found) == 200
    assert len({request["trace_id"] for request, _ in found}) == 200
    for request, attempts in found:
        assert [span["resource"] for span in attempts] == ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022"]
        assert all(span["trace_id"] == request["trace_id"] for span in attempts)
    assert sum(len(by_name(trace, "llm.attempt")) for trace in traces) == 400


def test_router_built_before_patch_is_traced(agent):
    import ddllm

    router = router_primary_rate_limited()
    assert ddllm.patch()
    try:
        router.completion(model="primary", messages=MESSAGES)
    finally:
        ddllm.unpatch()
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert len(attempts) == 3


def test_unpatch_stops_tracing(agent):
    import ddllm

    assert ddllm.patch()
    assert ddllm.patch()  # idempotent
    ddllm.unpatch()
    ddllm.unpatch()
    assert not ddllm.is_patched()
    router_primary_rate_limited().completion(model="primary", messages=MESSAGES)
    flush()
    assert [span for trace in agent.traces() for span in trace if span["name"].startswith("llm.")] == []


def test_model_names_normalised_like_metric_tags(agent, patched):
    from ddllm.instrument.tags import normalize_tag_value

    litellm.completion(model="vertex_ai/claude-3-5-sonnet@20240620", messages=MESSAGES, mock_response="hi")
    flush()
    [attempt] = by_name([span for trace in agent.traces() for span in trace], "llm.attempt")
    assert meta(attempt, "gen_ai.request.model") == "claude-3-5-sonnet_20240620"
    assert meta(attempt, "gen_ai.request.model") == normalize_tag_value("claude-3-5-sonnet@20240620")
