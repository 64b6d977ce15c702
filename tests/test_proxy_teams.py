"""LiteLLM's proxy as a company's gateway: callers of two teams, and a fleet of instances that
share the Router's cooldowns through Redis.

Two proxies run for this module, started once, with one config: `gateway-a` and `gateway-b`,
a fleet of two instances that share one Redis server (started once per test session) through
`router_settings.redis_host`. (One worker each: `test_proxy` covers several workers, and a
worker more costs half a minute of start-up.) Their auth is a custom auth module
(`general_settings.custom_auth`) that knows keys of two teams: the proxy's own virtual keys and
teams need its database, and custom auth, which it offers without one, hands LiteLLM the same
fields (`UserAPIKeyAuth`) that a virtual key's row would.

Clients are the `openai` package. What each request shows is checked by `test_proxy`'s checks
(one trace, one attempt span and one LLM Observability event per provider call), and here:
who called, on the request and attempt spans, their LLM Observability events and the metrics,
and never the key or its hash; and a deployment that one instance saw rate limited is left
out by another instance, whose request span names it as skipped.
"""

import hashlib

import openai
import pytest
from conftest import TEST_AGENT
from proxy_server import CASE_HEADER, EMBEDDING_MODEL, PRIMARY_MODEL, ProxyServer, poll, running, traces_of_case
from spans_of import by_name
from test_llmobs import _kind, _tags
from test_proxy import MESSAGES, client_of, dogstatsd, model_events_of, traced_request  # noqa: F401 - a fixture

from ddllm import catalogue
from ddllm.cli.fake_provider import Answer

# Who each key is, as the custom auth below tells the proxy. The ads team has no alias: its
# id stands for it. The proxy's master key, to this auth, is nobody in particular.
CALLERS = {
    "search": {"team_id": "team-7f3a", "team_alias": "search", "key_alias": "search-prod", "user_id": "alice"},
    "ads": {"team_id": "team-ads-9c", "key_alias": "ads-batch", "user_id": "bob"},
}
EXPECTED_TAGS = {
    "search": {"llm.proxy.team": "search", "llm.proxy.key_alias": "search-prod", "llm.proxy.user": "alice"},
    "ads": {"llm.proxy.team": "team-ads-9c", "llm.proxy.key_alias": "ads-batch", "llm.proxy.user": "bob"},
}
KEYS = {team: "sk-%s-%s" % (team, hashlib.sha256(team.encode()).hexdigest()[:24]) for team in CALLERS}

CUSTOM_AUTH = '''\
"""The gateway's auth: its keys and who holds them."""
from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth

CALLERS = {callers!r}


async def user_api_key_auth(request, api_key):
    caller = CALLERS.get(api_key)
    if caller is None:
        raise HTTPException(status_code=401, detail="unknown key")
    return UserAPIKeyAuth(api_key=api_key, **caller)
'''

# A group of two deployments: LiteLLM cools a deployment down only where the group has another.
# `order` makes the rate-limited one the first pick on every instance.
POOLED = "pooled"
POOLED_FIRST, POOLED_SECOND = "gpt-4.1-nano", "gpt-4.1-mini"
POOLED_MODELS = """\
  - model_name: pooled
    litellm_params:
      model: openai/{first}
      api_base: {openai_base}
      api_key: sk-fake-pooled
      order: 1
  - model_name: pooled
    litellm_params:
      model: openai/{second}
      api_base: {openai_base}
      api_key: sk-fake-pooled
      order: 2
"""

GATEWAYS = ("gateway-a", "gateway-b")
# gateway-a opts in to the user tag on metrics; gateway-b keeps the default (off).
OPTED_IN = {"gateway-a": {"DDLLM_METRICS_USER_TAG": "true"}}


@pytest.fixture(scope="module")
def gateways(provider_server, redis_server, dogstatsd, tmp_path_factory):  # noqa: F811 - the fixture
    servers = {}
    for name in GATEWAYS:
        server = servers[name] = ProxyServer(
            tmp_path_factory.mktemp(name),
            provider_server,
            TEST_AGENT.url,
            dogstatsd.udp_url,
            service="ddllm-" + name,
            environment=OPTED_IN.get(name),
        )
        callers = dict({KEYS[team]: caller for team, caller in CALLERS.items()}, **{server.master_key: {}})
        server.files["gateway_auth.py"] = CUSTOM_AUTH.format(callers=callers)
        server.config.update(
            model_list=POOLED_MODELS.format(
                first=POOLED_FIRST, second=POOLED_SECOND, openai_base=provider_server.openai_base
            ),
            router_settings="  redis_host: %s\n  redis_port: %d\n" % (redis_server.host, redis_server.port),
            general_settings="  custom_auth: gateway_auth.user_api_key_auth\n",
        )
    with running(servers):
        yield servers


@pytest.fixture
def metrics(dogstatsd):  # noqa: F811 - the fixture
    """The metrics the gateways send, gathered as they arrive (reading the socket takes them)."""
    return ReceivedMetrics(dogstatsd)


class ReceivedMetrics:
    def __init__(self, receiver):
        self.receiver = receiver
        self.received = []

    def find(self, name, timeout=30.0, **tags):
        """The samples named `name` with these tags, once at least one arrived (or `timeout` passed)."""

        def read():
            self.received += self.receiver.samples(timeout=0)
            return [
                sample
                for sample in self.received
                if sample.name == name and all(sample.tags.get(key) == value for key, value in tags.items())
            ]

        return poll(read, bool, timeout)


def client_for(proxy, team):
    return openai.OpenAI(base_url=proxy.url, api_key=KEYS[team], max_retries=0, timeout=60)


def case_of(request, proxy):
    return "%s/%s" % (proxy.service, request.node.name)


def request_and_workflow(case):
    """The request span of a case's trace and its LLM Observability workflow event."""
    [trace] = traces_of_case(TEST_AGENT, case)
    [request] = by_name(trace, catalogue.REQUEST_SPAN)
    workflows = [event for event in model_events_of(trace[0]["trace_id"], 0) if _kind(event) == "workflow"]
    return request, workflows


def assert_no_key(team, spans, events, samples):
    """Neither the key nor the hash the proxy keeps of it, anywhere ddllm writes."""
    secrets = (KEYS[team], hashlib.sha256(KEYS[team].encode()).hexdigest())
    written = [value for span in spans for value in span["meta"].values()]
    written += [tag for event in events for tag in event.get("tags", [])]
    written += [sample.raw for sample in samples]
    leaked = [value for value in written for secret in secrets if secret in str(value)]
    assert not leaked, leaked


def send(operation, client, case):
    headers = {CASE_HEADER: case}
    if operation == "embeddings":
        client.embeddings.create(model="embeddings", input=["one"], extra_headers=headers)
    elif operation == "stream":
        stream = client.chat.completions.create(model="primary", messages=MESSAGES, stream=True, extra_headers=headers)
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    else:
        client.chat.completions.create(model="primary", messages=MESSAGES, extra_headers=headers)


@pytest.mark.parametrize("operation", ["chat", "stream", "embeddings"])
@pytest.mark.parametrize("team", sorted(CALLERS))
def test_the_caller_is_named_on_spans_events_and_metrics(request, gateways, provider, metrics, team, operation):
    proxy = gateways["gateway-b"]
    case = case_of(request, proxy)
    send(operation, client_for(proxy, team), case)
    [attempt], events = traced_request(proxy, case, provider_calls=1)
    request_span, workflows = request_and_workflow(case)
    expected = EXPECTED_TAGS[team]
    for span in (request_span, attempt):
        assert {key: span["meta"].get(key) for key in expected} == expected, span["meta"]
    for event in [events[1]] + workflows:
        assert {key: _tags(event).get(key) for key in expected} == expected, event["tags"]
    assert len(workflows) == 1
    caller = {"team": expected["llm.proxy.team"], "key_alias": expected["llm.proxy.key_alias"]}
    model = EMBEDDING_MODEL if operation == "embeddings" else PRIMARY_MODEL
    samples = []
    for name in ("ddllm.attempt.duration", "ddllm.request.duration", "ddllm.attempt.tokens.input"):
        found = metrics.find(name, service=proxy.service, model=model, **caller)
        assert found, "no %s tagged %s from %s" % (name, caller, proxy.service)
        samples += found
    # the user stays off metrics unless the gateway opts in (gateway-b does not)
    assert all("user" not in sample.tags for sample in samples), [sample.tags for sample in samples]
    # provider facts are the provider's, not the caller's
    assert all(
        not set(caller) & set(sample.tags) for sample in metrics.received if sample.name.startswith("ddllm.ratelimit.")
    )
    assert_no_key(team, [request_span, attempt], list(events.values()) + workflows, samples)


def test_a_gateway_that_opts_in_puts_the_user_on_metrics(request, gateways, provider, metrics):
    proxy = gateways["gateway-a"]
    case = case_of(request, proxy)
    send("chat", client_for(proxy, "search"), case)
    traced_request(proxy, case, provider_calls=1)
    caller = {"team": "search", "key_alias": "search-prod", "user": "alice"}
    for name in ("ddllm.attempt.duration", "ddllm.request.duration"):
        assert metrics.find(name, service=proxy.service, model=PRIMARY_MODEL, **caller), name


def test_a_caller_the_auth_says_nothing_of_gets_no_caller_tags(request, gateways, provider):
    """Our auth knows nothing of the master key's holder: no team, key alias or user is made up."""
    proxy = gateways["gateway-a"]
    case = case_of(request, proxy)
    client_of(proxy).chat.completions.create(model="primary", messages=MESSAGES, extra_headers={CASE_HEADER: case})
    [attempt], events = traced_request(proxy, case, provider_calls=1)
    request_span, workflows = request_and_workflow(case)
    names = {tag.span_tag for tag in catalogue.PROXY_CALLER_TAGS}
    for span in (request_span, attempt):
        assert not names & set(span["meta"]), span["meta"]
    for event in [events[1]] + workflows:
        assert not names & set(_tags(event)), event["tags"]


def test_a_rate_limit_on_one_instance_is_skipped_by_the_others(request, gateways, provider, redis_server, metrics):
    """The search team's request on gateway-a meets a 429 on the first deployment of `pooled`:
    gateway-a cools it down, in Redis, and moves on to the second. The ads team's request on gateway-b (another process,
    which never called it) leaves it out: one attempt, on the second deployment, and its
    request span names the first as skipped."""
    redis_server.clear()
    provider.policy(POOLED_FIRST, lambda n: Answer.rate_limit(retry_after="30"))
    first, second = gateways["gateway-a"], gateways["gateway-b"]
    case = case_of(request, first)
    client_for(first, "search").chat.completions.create(
        model=POOLED, messages=MESSAGES, extra_headers={CASE_HEADER: case}
    )
    [rate_limited, moved_on], _ = traced_request(first, case, provider_calls=2)  # LiteLLM's `order` failover
    assert rate_limited["meta"]["llm.outcome"] == "rate_limited"
    assert moved_on["resource"] == "openai/" + POOLED_SECOND
    assert rate_limited["meta"]["llm.proxy.team"] == "search"
    deployment = rate_limited["meta"]["llm.deployment.id"]
    assert redis_server.keys("deployment:*:cooldown") == ["deployment:%s:cooldown" % deployment]
    # the 429 counted against the team whose request met it: what the dashboard's 429s by team show
    assert metrics.find("ddllm.attempt.duration", service=first.service, outcome="rate_limited", team="search")

    case = case_of(request, second)
    answer = client_for(second, "ads").chat.completions.create(
        model=POOLED, messages=MESSAGES, extra_headers={CASE_HEADER: case}
    )
    assert answer.choices[0].message.content
    assert [received.model for received in provider.received] == [POOLED_FIRST, POOLED_SECOND, POOLED_SECOND]
    [attempt], _ = traced_request(second, case, provider_calls=1)
    assert attempt["resource"] == "openai/" + POOLED_SECOND
    request_span, _ = request_and_workflow(case)
    assert request_span["metrics"]["llm.request.skipped_deployments"] == 1
    assert request_span["meta"]["llm.request.skipped"] == "openai/" + POOLED_FIRST
    assert request_span["meta"]["llm.proxy.team"] == "team-ads-9c"
