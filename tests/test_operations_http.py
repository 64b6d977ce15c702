"""Text completion, embeddings and the Responses API over real HTTP, through the Router (sync
and async) and through `litellm.*` with `fallbacks=`: the same request and attempt spans as
chat, with each operation's own facts."""

import asyncio

import litellm
import pytest
from conftest import flush
from litellm import Router
from spans_of import meta, requests_with_attempts

from ddllm.cli.fake_provider import Answer

KEY = "sk-test-operations"


def two_group_router(provider, primary, backup):
    # max_retries=0: LiteLLM's embedding calls go through the OpenAI SDK, which would retry a
    # 429 itself, inside one LiteLLM attempt (two HTTP calls, one attempt for the Router)
    return Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {
                    "model": "openai/" + primary,
                    "api_base": provider.openai_base,
                    "api_key": KEY,
                    "max_retries": 0,
                },
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "openai/" + backup,
                    "api_base": provider.openai_base,
                    "api_key": KEY,
                    "max_retries": 0,
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )


def only_request(agent):
    [(request, attempts)] = requests_with_attempts(agent.traces())
    return request, attempts


def assert_rate_limited_then_fallback(request, attempts, primary, backup, operation):
    assert request["resource"] == "primary"
    assert [a["resource"] for a in attempts] == ["openai/" + primary, "openai/" + backup]
    assert {meta(a, "llm.operation") for a in attempts} == {operation}
    assert [meta(a, "llm.outcome") for a in attempts] == ["rate_limited", "success"]
    assert [meta(a, "http.status_code") for a in attempts] == ["429", "200"]
    assert meta(attempts[1], "llm.fallback.reason") == "RateLimitError"
    assert meta(attempts[1], "llm.fallback.depth") == "1"
    assert meta(request, "llm.fallback.used") == "true"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_router_embedding_input_count_dimensions_and_a_429_retried_inside_one_attempt(
    agent, patched, provider, use_async
):
    """LiteLLM 1.110 sends embeddings through the OpenAI SDK, which retries a 429 itself: the
    Router (and so ddllm) sees one successful attempt for two HTTP calls."""
    primary, backup = "text-embedding-3-large", "text-embedding-3-small"
    provider.script(primary, Answer.rate_limit())
    router = two_group_router(provider, primary, backup)
    inputs = ["one", "two", "three"]
    if use_async:
        response = asyncio.run(router.aembedding(model="primary", input=inputs))
    else:
        response = router.embedding(model="primary", input=inputs)
    assert len(response.data) == 3
    assert [(r.model, r.answer) for r in provider.received] == [(primary, "rate_limit"), (primary, "ok")]
    flush()
    request, [attempt] = only_request(agent)
    assert request["resource"] == "primary"
    assert attempt["resource"] == "openai/" + primary
    assert meta(attempt, "llm.operation") == "embeddings"
    assert meta(attempt, "llm.outcome") == "success"
    assert attempt["metrics"]["llm.embedding.inputs"] == 3
    assert attempt["metrics"]["llm.embedding.dimensions"] == 8  # the fake's vectors
    assert attempt["metrics"]["gen_ai.usage.input_tokens"] == 12
    assert "gen_ai.usage.output_tokens" not in attempt["metrics"]


def test_router_text_completion_falls_back(agent, patched, provider):
    # async only: LiteLLM 1.110's sync Router.text_completion sends the model group name as the
    # model ("LLM Provider NOT provided ... model=primary"), with or without ddllm
    primary, backup = "gpt-3.5-turbo-instruct", "davinci-002"
    provider.script(primary, Answer.rate_limit())
    router = two_group_router(provider, primary, backup)
    response = asyncio.run(router.atext_completion(model="primary", prompt="Say hi"))
    assert response.choices[0].text.startswith("Not much")
    flush()
    request, attempts = only_request(agent)
    assert_rate_limited_then_fallback(request, attempts, primary, backup, "text_completion")
    assert attempts[1]["metrics"]["gen_ai.usage.output_tokens"] == 21


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_router_responses_response_id_and_reasoning_tokens(agent, patched, provider, use_async):
    router = two_group_router(provider, "o4-mini", "gpt-4.1")
    if use_async:
        response = asyncio.run(router.aresponses(model="primary", input="Say hi"))
    else:
        response = router.responses(model="primary", input="Say hi")
    flush()
    request, [attempt] = only_request(agent)
    assert meta(attempt, "llm.operation") == "responses"
    # the id the caller sees: LiteLLM re-encodes the provider's id with its deployment
    assert meta(attempt, "gen_ai.response.id") == response.id
    assert attempt["metrics"]["gen_ai.usage.reasoning_tokens"] == 5
    assert attempt["metrics"]["gen_ai.usage.output_tokens"] == 21


def test_sync_router_responses_makes_a_single_attempt(agent, patched, provider):
    # litellm 1.110 serves the sync Router.responses from each router's endpoint table, as a
    # single attempt: no fallback; the caller gets the 429
    provider.script("o4-mini", Answer.rate_limit())
    with pytest.raises(litellm.RateLimitError):
        two_group_router(provider, "o4-mini", "gpt-4.1").responses(model="primary", input="Say hi")
    flush()
    request, [attempt] = only_request(agent)
    assert meta(attempt, "llm.operation") == "responses"
    assert meta(attempt, "llm.outcome") == meta(request, "llm.outcome") == "rate_limited"


def test_router_responses_rate_limited_falls_back(agent, patched, provider):
    primary, backup = "o4-mini", "gpt-4.1"
    provider.script(primary, Answer.rate_limit())
    router = two_group_router(provider, primary, backup)
    asyncio.run(router.aresponses(model="primary", input="Say hi"))
    flush()
    request, attempts = only_request(agent)
    assert_rate_limited_then_fallback(request, attempts, primary, backup, "responses")
    assert attempts[1]["metrics"]["gen_ai.usage.reasoning_tokens"] == 5
