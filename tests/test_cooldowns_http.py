"""Router cooldowns over real HTTP: a deployment the Router put in cooldown is left out of
later picks, so it has no attempt span; the request span names it as skipped, whether this
Router cooled it down or another one, through a Redis they share.

LiteLLM cools a deployment of a multi-deployment group down on a 429, for the 429's
`retry-after` seconds; a `retry-after: 0` (the fake provider's default, which keeps retries
quick) means no cooldown at all (`_should_run_cooldown_logic`: "time_to_cooldown is
effectively 0"). So the rate limits here say 30 seconds. Deployment `order` makes the first
pick the rate-limited deployment every time, so nothing depends on a shuffle.
"""

import asyncio

import litellm
import pytest
from conftest import empty_litellm_callback_lists, flush
from litellm import Router
from litellm.types.router import RouterRateLimitError
from spans_of import meta, requests_with_attempts
from test_http_provider import MESSAGES, OPENAI_MODEL, openai_params

from ddllm.instrument import cooldowns
from ddllm.cli.fake_provider import Answer

BACKUP_MODEL = "gpt-4.1-mini"
SKIPPED_METRIC = "llm.request.skipped_deployments"
SKIPPED_TAG = "llm.request.skipped"


@pytest.fixture(autouse=True)
def room_for_router_callbacks():
    """litellm 1.106 keeps at most 100 callbacks per list in a process and silently drops the
    rest: the Routers earlier tests built fill them, and a Router whose failure callback was
    dropped never cools anything down. Each test here starts with empty lists."""
    with empty_litellm_callback_lists():
        yield


def two_deployment_router(provider, extra=(), **settings):
    """Group `primary`: the rate-limited gpt-4o-mini first (order 1), gpt-4.1-mini next."""
    provider.policy(OPENAI_MODEL, lambda n: Answer.rate_limit(retry_after="30"))
    return Router(
        model_list=[
            {"model_name": "primary", "litellm_params": dict(openai_params(provider), order=1)},
            {"model_name": "primary", "litellm_params": dict(openai_params(provider, BACKUP_MODEL), order=2)},
            *extra,
        ],
        num_retries=1,
        retry_after=0,
        **settings,
    )


def two_requests(router, use_async):
    if use_async:

        async def both():
            for _ in range(2):
                await router.acompletion(model="primary", messages=MESSAGES)

        asyncio.run(both())
    else:
        for _ in range(2):
            router.completion(model="primary", messages=MESSAGES)
    flush()


def requests_in_order(agent):
    return sorted(requests_with_attempts(agent.traces()), key=lambda found: found[0]["start"])


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_cooling_deployment_is_skipped_on_the_request_span_with_no_attempt(agent, patched, provider, use_async):
    router = two_deployment_router(provider)
    two_requests(router, use_async)
    # the second request never called the cooling deployment
    assert [r.model for r in provider.received] == [OPENAI_MODEL, BACKUP_MODEL, BACKUP_MODEL]
    (first, first_attempts), (second, second_attempts) = requests_in_order(agent)
    # the first request tried it (and cooled it down): tried is not skipped
    assert [a["resource"] for a in first_attempts] == ["openai/" + OPENAI_MODEL, "openai/" + BACKUP_MODEL]
    assert meta(first_attempts[0], "llm.outcome") == "rate_limited"
    assert SKIPPED_TAG not in first["meta"] and SKIPPED_METRIC not in first["metrics"]
    # the second: one attempt, on the healthy deployment; the cooling one is named as skipped
    assert [a["resource"] for a in second_attempts] == ["openai/" + BACKUP_MODEL]
    assert second["metrics"]["llm.attempts"] == 1
    assert second["metrics"][SKIPPED_METRIC] == 1
    assert meta(second, SKIPPED_TAG) == "openai/" + OPENAI_MODEL
    assert meta(second, "llm.outcome") == "success"
    assert meta(second, "llm.fallback.used") == "false"


def test_a_cooldown_another_router_shared_through_redis_is_skipped(agent, patched, provider, redis_server):
    """Two Routers with one Redis, as two replicas of a service have: the first meets the 429
    and writes the cooldown; the second, built afterwards (nothing of the first's in its
    memory), learns it from Redis when it picks, skips the deployment, and says so."""
    redis_server.clear()
    shared = {"redis_host": redis_server.host, "redis_port": redis_server.port}
    two_deployment_router(provider, **shared).completion(model="primary", messages=MESSAGES)
    assert len(redis_server.keys("deployment:*:cooldown")) == 1
    two_deployment_router(provider, **shared).completion(model="primary", messages=MESSAGES)
    flush()
    assert [r.model for r in provider.received] == [OPENAI_MODEL, BACKUP_MODEL, BACKUP_MODEL]
    (_, _), (second, attempts) = requests_in_order(agent)
    assert [a["resource"] for a in attempts] == ["openai/" + BACKUP_MODEL]
    assert second["metrics"][SKIPPED_METRIC] == 1
    assert meta(second, SKIPPED_TAG) == "openai/" + OPENAI_MODEL


def test_a_request_with_every_deployment_cooling_down_names_them_all(agent, patched, provider):
    """Nothing left to try: the Router refuses before any attempt, and the request span,
    the only span, says which deployments it left out."""
    provider.policy(BACKUP_MODEL, lambda n: Answer.rate_limit(retry_after="30"))
    router = two_deployment_router(provider)
    with pytest.raises((litellm.RateLimitError, RouterRateLimitError)):
        router.completion(model="primary", messages=MESSAGES)  # both answer 429: both cool down
    received = len(provider.received)
    with pytest.raises(RouterRateLimitError):
        router.completion(model="primary", messages=MESSAGES)
    flush()
    assert len(provider.received) == received  # the second request called nothing
    (_, _), (second, attempts) = requests_in_order(agent)
    assert attempts == [] and second["metrics"]["llm.attempts"] == 0
    assert second["metrics"][SKIPPED_METRIC] == 2
    assert meta(second, SKIPPED_TAG) == "openai/%s,openai/%s" % (BACKUP_MODEL, OPENAI_MODEL)


def test_no_cooldown_no_skipped_tags(agent, patched, provider):
    """The same rate limits with cooldowns off: the Router calls the deployment again, and
    neither request span says anything was skipped."""
    router = two_deployment_router(provider, disable_cooldowns=True)
    two_requests(router, use_async=False)
    requests = requests_in_order(agent)
    assert len(requests) == 2
    called = [attempt["resource"] for _, attempts in requests for attempt in attempts]
    assert called == ["openai/" + r.model for r in provider.received]
    for request, attempts in requests:
        assert attempts[0]["resource"] == "openai/" + OPENAI_MODEL  # called again: not skipped
        assert SKIPPED_TAG not in request["meta"] and SKIPPED_METRIC not in request["metrics"]


def test_a_deployment_cooling_in_another_group_is_not_skipped_here(agent, patched, provider):
    other_group = {"model_name": "other", "litellm_params": openai_params(provider, "gpt-4.1")}
    router = two_deployment_router(provider, extra=[other_group])
    router.completion(model="primary", messages=MESSAGES)  # cools gpt-4o-mini down
    router.completion(model="other", messages=MESSAGES)
    flush()
    (_, _), (other, attempts) = requests_in_order(agent)
    assert other["resource"] == "other" and len(attempts) == 1
    assert SKIPPED_TAG not in other["meta"] and SKIPPED_METRIC not in other["metrics"]


def test_the_skipped_list_is_distinct_sorted_and_bounded():
    skipped = {"id-%02d" % n: "openai/model-%02d" % (n % 12) for n in range(24)}
    count, listed = cooldowns.skipped_tags(skipped)
    assert count == 24
    assert listed.split(",") == ["openai/model-%02d" % n for n in range(cooldowns.MAX_LISTED)]


def test_a_router_without_cooldown_state_is_no_tag(caplog):
    """A LiteLLM that keeps its cooldowns elsewhere: no tag, and nothing to report."""
    assert cooldowns.cooling_in_group(object(), "primary") is None
    assert not [record for record in caplog.records if "internal error" in record.getMessage()]
