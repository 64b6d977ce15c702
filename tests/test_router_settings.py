"""Router settings that change which attempts happen, over real HTTP: retry_policy per
exception type, deployment order, weighted deployments, default_fallbacks, and typed
fallbacks beside the default."""

from conftest import flush
from litellm import Router
from litellm.router import RetryPolicy
from spans_of import meta, requests_with_attempts
from test_http_provider import MESSAGES, anthropic_params, openai_params

from ddllm.cli.fake_provider import Answer


def only_request(agent):
    [(request, attempts)] = requests_with_attempts(agent.traces())
    return request, attempts


def test_retry_policy_per_exception_type(agent, patched, provider):
    provider.policy("gpt-4o-mini", lambda n: Answer.server_error())
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": openai_params(provider)},
            {"model_name": "backup", "litellm_params": anthropic_params(provider)},
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=3,  # the policy below overrides it for server errors
        retry_policy=RetryPolicy(InternalServerErrorRetries=1, RateLimitErrorRetries=0),
    )
    router.completion(model="primary", messages=MESSAGES)
    flush()
    request, attempts = only_request(agent)
    assert [meta(a, "llm.model_group") for a in attempts] == ["primary", "primary", "backup"]
    assert [meta(a, "llm.attempt.retry") for a in attempts] == ["0", "1", "0"]
    assert meta(attempts[2], "llm.fallback.reason") == "InternalServerError"
    assert len(provider.received) == 3


def test_deployment_order_moves_to_the_next_order_as_a_fallback_within_the_group(agent, patched, provider):
    """LiteLLM retries the order-1 deployment, then moves to order 2 inside the same model
    group: a fallback of type `order`, at the same depth (the depth counts group changes)."""
    provider.policy("gpt-4o-mini", lambda n: Answer.rate_limit())
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": dict(openai_params(provider), order=1)},
            {"model_name": "primary", "litellm_params": dict(openai_params(provider, "gpt-4.1-mini"), order=2)},
        ],
        num_retries=1,
    )
    router.completion(model="primary", messages=MESSAGES)
    flush()
    request, attempts = only_request(agent)
    assert [a["resource"] for a in attempts] == ["openai/gpt-4o-mini", "openai/gpt-4o-mini", "openai/gpt-4.1-mini"]
    assert {meta(a, "llm.model_group") for a in attempts} == {"primary"}
    assert [meta(a, "llm.attempt.retry") for a in attempts] == ["0", "1", "0"]
    assert [meta(a, "llm.fallback.depth") for a in attempts] == ["0", "0", "0"]
    assert [meta(a, "llm.fallback.is_fallback") for a in attempts] == ["false", "false", "true"]
    assert [meta(a, "llm.fallback.type") for a in attempts] == [None, None, "order"]
    assert [meta(a, "llm.outcome") for a in attempts] == ["rate_limited", "rate_limited", "success"]
    assert len({meta(a, "llm.deployment.id") for a in attempts}) == 2
    assert meta(attempts[2], "llm.fallback.reason") == "RateLimitError"


def test_default_fallbacks(agent, patched, provider):
    provider.script("gpt-4o-mini", Answer.rate_limit())
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": openai_params(provider)},
            {"model_name": "backup", "litellm_params": anthropic_params(provider)},
        ],
        default_fallbacks=["backup"],
        num_retries=0,
    )
    router.completion(model="primary", messages=MESSAGES)
    flush()
    request, (first, fallback) = only_request(agent)
    assert meta(fallback, "llm.model_group") == "backup"
    assert meta(fallback, "llm.fallback.depth") == "1"
    assert meta(fallback, "llm.fallback.type") == "default"
    assert meta(request, "llm.fallback.used") == "true"


def test_context_window_fallback_wins_over_the_default_list(agent, patched, provider):
    provider.script("gpt-4o-mini", Answer("context_length"))
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": openai_params(provider)},
            {"model_name": "backup", "litellm_params": anthropic_params(provider)},
            {"model_name": "long-context", "litellm_params": openai_params(provider, "gpt-4.1")},
        ],
        fallbacks=[{"primary": ["backup"]}],
        context_window_fallbacks=[{"primary": ["long-context"]}],
        num_retries=0,
    )
    router.completion(model="primary", messages=MESSAGES)
    flush()
    request, (refused, fallback) = only_request(agent)
    assert fallback["resource"] == "openai/gpt-4.1"
    assert meta(fallback, "llm.fallback.type") == "context_window"
    assert meta(fallback, "llm.fallback.reason") == "ContextWindowExceededError"


def test_weighted_deployments_each_attempt_names_the_deployment_that_served_it(agent, patched, provider):
    """LiteLLM picks a deployment of the group at random by weight; each attempt span names
    the model the provider really received, not the group."""
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": dict(openai_params(provider), weight=2)},
            {"model_name": "primary", "litellm_params": dict(openai_params(provider, "gpt-4.1-mini"), weight=1)},
        ],
        num_retries=0,
    )
    for _ in range(30):  # both deployments are picked but with a chance of (2/3)**30
        router.completion(model="primary", messages=MESSAGES)
    flush()
    found = requests_with_attempts(agent.traces())
    assert len(found) == 30
    served = {model: len(provider.requests_for(model)) for model in ("gpt-4o-mini", "gpt-4.1-mini")}
    assert all(served.values()) and sum(served.values()) == 30
    for request, [attempt] in found:
        assert meta(attempt, "llm.model_group") == "primary"
        assert meta(request, "llm.final.model") == meta(attempt, "gen_ai.request.model")
        assert attempt["resource"] == "openai/" + meta(attempt, "gen_ai.request.model")
    per_model = {}
    for _, [attempt] in found:
        model = meta(attempt, "gen_ai.request.model")
        per_model[model] = per_model.get(model, 0) + 1
    assert per_model == served
    assert len({meta(a, "llm.deployment.id") for _, [a] in found}) == 2
