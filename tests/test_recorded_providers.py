"""Real provider answers, replayed from loopback at the path each provider's client calls:
every fact on the attempt span (through the test agent) and on the metrics (a real UDP
socket) is held to what the recorded answer says (`recorded_truth`), for sync, async and
streamed calls; and the caller gets the same result, and the provider the same request,
with ddllm as without it.

The recordings live in `../shared/recorded/` beside the checkout, never in the project:
without them these tests skip and say why."""

import asyncio
import json
import os
import threading

import litellm
import pytest
from conftest import flush
from dogstatsd_receiver import named
from litellm import Router
import provider_table
from recorded_truth import ABSENT, RATE_LIMIT_FACTS, RECORDED, REPO_ROOT, truth
from spans_of import requests_with_attempts
from test_metrics import dsd, receiver, sent  # noqa: F401 - fixtures

import ddllm
from ddllm.cli import recorded_answers
from ddllm.instrument import metrics

pytestmark = pytest.mark.skipif(not os.path.isdir(RECORDED), reason=ABSENT)

MESSAGES = [{"role": "user", "content": "Hey, what is up?"}]
BEDROCK_MODEL = "anthropic.claude-3-sonnet-20240229-v1:0"
README = os.path.join(REPO_ROOT, "README.md")


def _replies():
    return recorded_answers.load(RECORDED) if os.path.isdir(RECORDED) else {}


REPLIES = _replies()


def _bedrock(url):
    # fake credentials, signed by LiteLLM as for AWS, sent to loopback
    return {
        "aws_access_key_id": "AKIAFAKEFAKEFAKEFAKE",
        "aws_secret_access_key": "fake-secret",
        "aws_region_name": "us-east-1",
        "aws_bedrock_runtime_endpoint": url,
    }


def _at(path="", **extra):
    """Call parameters of a provider whose API is at `path` on the loopback server."""
    return lambda url: dict(api_base=url + path, api_key="fake-key", **extra)


# provider key -> (LiteLLM model, provider, model the span names, call parameters for a server at url)
PROVIDERS = {
    "openai": ("openai/gpt-3.5-turbo", "openai", "gpt-3.5-turbo", _at("/v1")),
    "anthropic": ("anthropic/claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929", _at()),
    "anthropic_opus": ("anthropic/claude-3-opus-20240229", "anthropic", "claude-3-opus-20240229", _at()),
    "azure": ("azure/gpt-4.1-mini", "azure", "gpt-4.1-mini", _at(api_version="2024-12-01-preview")),
    "cohere": ("cohere_chat/v1/command-r", "cohere_chat", "command-r", _at("/v1/chat")),
    "mistral": ("mistral/mistral-large-latest", "mistral", "mistral-large-latest", _at("/v1")),
    "deepseek": ("deepseek/deepseek-chat", "deepseek", "deepseek-chat", _at()),
    "deepseek_reasoner": ("deepseek/deepseek-reasoner", "deepseek", "deepseek-reasoner", _at()),
    "openrouter": ("openrouter/openai/gpt-oss-120b", "openrouter", "openai/gpt-oss-120b", _at("/api/v1")),
    "gemini": ("gemini/gemini-2.5-flash", "gemini", "gemini-2.5-flash", _at("/v1beta")),
    "bedrock": ("bedrock/converse/" + BEDROCK_MODEL, "bedrock", BEDROCK_MODEL, _bedrock),
}

ANSWERS = {  # recording id -> provider
    "openai_chat": "openai",
    "anthropic_msg": "anthropic",
    "anthropic_msg_cache": "anthropic",
    "azure_chat": "azure",
    "cohere_chat_v1": "cohere",
    "mistral_chat": "mistral",
    "deepseek_chat": "deepseek",
    "openrouter_chat": "openrouter",
    "gemini_generate": "gemini",
    "bedrock_converse": "bedrock",
}
STREAMS = {
    "openai_chat_stream": "openai",
    "openai_chat_stream_tools": "openai",
    "anthropic_stream": "anthropic_opus",
    "anthropic_stream_tools": "anthropic_opus",
    "azure_chat_stream": "azure",
    "mistral_chat_stream": "mistral",
    "deepseek_stream_reasoning": "deepseek_reasoner",
    "bedrock_converse_stream": "bedrock",
}
ERRORS = {
    "openai_401": "openai",
    "anthropic_400": "anthropic_opus",
    "anthropic_401": "anthropic_opus",
    "bedrock_403": "bedrock",
}

# Facts a provider's answer holds that LiteLLM does not hand on, so ddllm cannot read them.
NOT_HANDED_ON = {
    "cohere": {"remaining_requests", "limit_requests"},  # Cohere's trial-key headers are dropped
}
SPAN_METRIC = {
    "input_tokens": "gen_ai.usage.input_tokens",
    "output_tokens": "gen_ai.usage.output_tokens",
    "reasoning_tokens": "gen_ai.usage.reasoning_tokens",
    "cache_read_tokens": "gen_ai.usage.cache_read_tokens",
    "cache_write_tokens": "gen_ai.usage.cache_write_tokens",
    "remaining_requests": "llm.ratelimit.remaining_requests",
    "limit_requests": "llm.ratelimit.limit_requests",
    "remaining_tokens": "llm.ratelimit.remaining_tokens",
    "limit_tokens": "llm.ratelimit.limit_tokens",
}
DOGSTATSD_METRIC = {
    "input_tokens": "ddllm.attempt.tokens.input",
    "output_tokens": "ddllm.attempt.tokens.output",
    "remaining_requests": "ddllm.ratelimit.remaining_requests",
    "limit_requests": "ddllm.ratelimit.limit_requests",
    "remaining_tokens": "ddllm.ratelimit.remaining_tokens",
    "limit_tokens": "ddllm.ratelimit.limit_tokens",
}


def call_of(provider_key, url, **extra):
    model, _provider, _model, params = PROVIDERS[provider_key]
    return dict(model=model, messages=MESSAGES, **params(url), **extra)


def read_stream(stream):
    return list(stream)


async def read_async_stream(stream):
    return [chunk async for chunk in stream]


def call(kwargs, mode):
    """The caller's result of one call in `mode` (sync, async, stream, async_stream)."""
    if mode == "sync":
        return litellm.completion(**kwargs)
    if mode == "stream":
        return read_stream(litellm.completion(stream=True, **kwargs))

    async def run():
        if mode == "async":
            return await litellm.acompletion(**kwargs)
        return await read_async_stream(await litellm.acompletion(stream=True, **kwargs))

    return asyncio.run(run())


def comparable(result, reply):
    """What the caller reads of a result, without the values LiteLLM makes up per call."""

    def clean(response):
        data = response.model_dump()
        data.pop("created", None)
        if str(data.get("id")).encode() not in reply.body:
            data.pop("id", None)  # an id LiteLLM generated, not the provider's
        return json.dumps(data, sort_keys=True, default=str)

    return [clean(chunk) for chunk in result] if isinstance(result, list) else clean(result)


def only_attempt(agent):
    spans = [span for trace in agent.traces() for span in trace if span["name"] == "llm.attempt"]
    assert len(spans) == 1, spans
    return spans[0]


def assert_span_holds(span, expected, provider_key, outcome="success"):
    _model, provider, model, _params = PROVIDERS[provider_key]
    meta, span_metrics = span["meta"], span["metrics"]
    assert span["resource"] == "%s/%s" % (provider, model)
    assert meta["gen_ai.provider.name"] == provider
    assert meta["gen_ai.request.model"] == model
    assert meta["llm.outcome"] == outcome
    assert meta.get("http.status_code") == str(expected["status"])
    assert meta.get("out.host") == "127.0.0.1"
    if "response_model" in expected:
        assert meta.get("gen_ai.response.model") == expected["response_model"]
    unread = NOT_HANDED_ON.get(provider_key, set())
    for fact, name in SPAN_METRIC.items():
        if fact in unread:
            continue
        assert span_metrics.get(name) == expected.get(fact), "%s: %s" % (name, span_metrics.get(name))


def assert_metrics_hold(samples, expected, provider_key, outcome="success"):
    _model, provider, model, _params = PROVIDERS[provider_key]
    [duration] = named(samples, "ddllm.attempt.duration")
    assert (duration.tags["provider"], duration.tags["model"], duration.tags["outcome"]) == (provider, model, outcome)
    unread = NOT_HANDED_ON.get(provider_key, set())
    for fact, name in DOGSTATSD_METRIC.items():
        if fact in unread:
            continue
        values = [sample.value for sample in named(samples, name)]
        assert values == ([expected[fact]] if fact in expected else []), name
        assert all(sample.tags["model"] == model for sample in named(samples, name))


def expected_cost(result):
    """LiteLLM's cost, as it tells the caller: in a response's hidden params, and on a stream's
    last chunk (its usage chunk, or the usage it keeps there when none was asked for)."""
    if not isinstance(result, list):
        return result._hidden_params.get("response_cost")
    last = result[-1]
    usage = getattr(last, "usage", None) or last._hidden_params.get("usage")
    return getattr(usage, "cost", None)


def traced_and_bare(provider, receiver, replay, call_once):  # noqa: F811
    """call_once() without ddllm, then with it: (bare result, traced result, samples)."""
    replay()
    bare = call_once()
    assert ddllm.patch(dogstatsd_url=receiver.udp_url)
    try:
        assert metrics.flush()
        receiver.clear()
        replay()
        traced = call_once()
        samples = sent(receiver)
    finally:
        ddllm.unpatch()
    flush()
    return bare, traced, samples


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_answer_facts(agent, provider, receiver, answer, mode):  # noqa: F811
    check_replay(agent, provider, receiver, answer, ANSWERS[answer], mode)


@pytest.mark.parametrize("mode", ["stream", "async_stream"])
@pytest.mark.parametrize("answer", sorted(STREAMS))
def test_stream_facts(agent, provider, receiver, answer, mode):  # noqa: F811
    check_replay(agent, provider, receiver, answer, STREAMS[answer], mode)


def check_replay(agent, provider, receiver, answer, provider_key, mode):  # noqa: F811
    reply = REPLIES[answer]
    expected = truth(reply)
    kwargs = call_of(provider_key, provider.url)
    (bare, bare_request), (traced, traced_request), samples = traced_and_bare(
        provider, receiver, lambda: provider.replay(reply), lambda: (call(kwargs, mode), provider.received[-1])
    )
    # the caller's result, and what the provider was asked, are LiteLLM's own
    assert comparable(traced, reply) == comparable(bare, reply)
    assert traced_request.body == bare_request.body
    span = only_attempt(agent)
    assert_span_holds(span, expected, provider_key)
    assert_metrics_hold(samples, expected, provider_key)
    cost = expected_cost(traced)
    assert span["metrics"].get("llm.cost_usd") == (pytest.approx(cost) if cost else None)
    assert [s.value for s in named(samples, "ddllm.attempt.cost")] == ([pytest.approx(cost)] if cost else [])
    streamed = mode.endswith("stream")
    assert span["meta"]["llm.stream"] == ("true" if streamed else "false")
    if streamed:
        assert 0 < span["metrics"]["llm.time_to_first_token"] <= span["duration"] / 1e9
        [ttft] = named(samples, "ddllm.attempt.time_to_first_token")
        assert ttft.value == pytest.approx(span["metrics"]["llm.time_to_first_token"])


def call_raising(kwargs, mode):
    try:
        call(kwargs, mode)
    except Exception as exc:
        return exc
    raise AssertionError("the call did not raise")


# answer -> (provider, HTTP calls the provider gets in one attempt, outcome, exception class)
ERROR_ANSWERS = {
    "openai_401": ("openai", 1, "error", "AuthenticationError"),
    "anthropic_400": ("anthropic_opus", 1, "error", "BadRequestError"),
    "anthropic_401": ("anthropic_opus", 1, "error", "AuthenticationError"),
    "bedrock_403": ("bedrock", 1, "error", "PermissionDeniedError"),
    # the OpenAI SDK retries a 429 twice by itself (`retry-after: 0` keeps it quick)
    "openai_429": ("openai", 3, "rate_limited", "RateLimitError"),
    "anthropic_429": ("anthropic_opus", 1, "rate_limited", "RateLimitError"),
    "anthropic_529": ("anthropic_opus", 1, "error", "InternalServerError"),
    "openai_400_context_length": ("openai", 1, "error", "ContextWindowExceededError"),
    "anthropic_400_context_length": ("anthropic_opus", 1, "error", "ContextWindowExceededError"),
}
BUILT = {
    "openai_429": recorded_answers.openai_rate_limit,
    "anthropic_429": recorded_answers.anthropic_rate_limit,
    "anthropic_529": recorded_answers.anthropic_overloaded,
    "openai_400_context_length": recorded_answers.openai_context_length,
    "anthropic_400_context_length": recorded_answers.anthropic_context_length,
}


def reply_of(answer):
    return BUILT[answer]() if answer in BUILT else REPLIES[answer]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("answer", sorted(ERROR_ANSWERS))
def test_error_facts(agent, provider, receiver, answer, mode):  # noqa: F811
    provider_key, http_calls, outcome, error_type = ERROR_ANSWERS[answer]
    reply = reply_of(answer)
    expected = truth(reply)
    kwargs = call_of(provider_key, provider.url)
    bare, traced, samples = traced_and_bare(
        provider, receiver, lambda: provider.replay(reply, times=http_calls), lambda: call_raising(kwargs, mode)
    )
    assert (type(traced), str(traced)) == (type(bare), str(bare))
    assert type(traced).__name__ == error_type
    assert len(provider.received) == 2 * http_calls
    span = only_attempt(agent)
    assert_span_holds(span, expected, provider_key, outcome)
    assert span["meta"]["error.type"].endswith(error_type)
    assert span["metrics"].get("llm.provider_calls") == (http_calls if http_calls > 1 else None)
    assert_metrics_hold(samples, expected, provider_key, outcome)
    [duration] = named(samples, "ddllm.attempt.duration")
    assert duration.tags["error_type"] == error_type


def test_sdk_retry_inside_one_attempt_is_counted(agent, provider, receiver):  # noqa: F811
    """OpenAI answers 429 then 200: the SDK retried within one LiteLLM attempt."""
    reply = REPLIES["openai_chat"]

    def replay():
        provider.replay(recorded_answers.openai_rate_limit())
        provider.replay(reply)

    kwargs = call_of("openai", provider.url)
    bare, traced, samples = traced_and_bare(provider, receiver, replay, lambda: litellm.completion(**kwargs))
    assert comparable(traced, reply) == comparable(bare, reply)
    span = only_attempt(agent)
    assert_span_holds(span, truth(reply), "openai")
    assert span["metrics"]["llm.provider_calls"] == 2


@pytest.mark.parametrize("mode", ["stream", "async_stream"])
def test_anthropic_stream_cut_by_overloaded_error_event(agent, provider, receiver, mode):  # noqa: F811
    reply = recorded_answers.anthropic_stream_cut_by_overload(REPLIES["anthropic_stream"])
    kwargs = call_of("anthropic_opus", provider.url)
    bare, traced, samples = traced_and_bare(
        provider, receiver, lambda: provider.replay(reply), lambda: call_raising(kwargs, mode)
    )
    assert (type(traced), str(traced)) == (type(bare), str(bare))
    span = only_attempt(agent)
    expected = truth(REPLIES["anthropic_stream"])  # its headers: the status was 200, the error came in the body
    assert span["meta"]["llm.outcome"] == "error"
    assert span["meta"]["http.status_code"] == "200"
    assert span["metrics"]["llm.time_to_first_token"] > 0
    for fact in RATE_LIMIT_FACTS:
        assert span["metrics"][SPAN_METRIC[fact]] == expected[fact]
        assert [s.value for s in named(samples, DOGSTATSD_METRIC[fact])] == [expected[fact]]


@pytest.mark.parametrize("mode", ["stream", "async_stream"])
def test_stream_cut_half_way_keeps_its_rate_limits(agent, provider, receiver, mode):  # noqa: F811
    reply = REPLIES["openai_chat_stream"]
    kwargs = call_of("openai", provider.url)
    bare, traced, samples = traced_and_bare(
        provider, receiver, lambda: provider.replay(reply, cut_after=5), lambda: call_raising(kwargs, mode)
    )
    assert (type(traced), str(traced)) == (type(bare), str(bare))
    span = only_attempt(agent)
    expected = truth(reply)
    assert span["meta"]["llm.outcome"] == "error"
    for fact in RATE_LIMIT_FACTS:
        assert span["metrics"][SPAN_METRIC[fact]] == expected[fact]


@pytest.mark.parametrize("provider_key", ["openai", "anthropic"])
def test_client_side_timeout_has_no_status(agent, provider, receiver, provider_key):  # noqa: F811
    """The provider never answers (held until the test ends): no server sent a status."""
    held = threading.Event()
    reply = REPLIES["openai_chat" if provider_key == "openai" else "anthropic_msg"]
    kwargs = call_of(provider_key, provider.url, timeout=0.2, max_retries=0)
    try:
        bare, traced, samples = traced_and_bare(
            provider, receiver, lambda: provider.replay(reply, hold=held), lambda: call_raising(kwargs, "sync")
        )
    finally:
        held.set()
    assert type(traced) is type(bare) and type(traced).__name__ == "Timeout"
    span = only_attempt(agent)
    assert span["meta"]["llm.outcome"] == "timeout"
    assert "http.status_code" not in span["meta"]
    assert "llm.provider_calls" not in span["metrics"]
    [duration] = named(samples, "ddllm.attempt.duration")
    assert (duration.tags["outcome"], duration.tags["error_type"]) == ("timeout", "Timeout")


def deployment(group, provider_key, url, **extra):
    model, _provider, _model, params = PROVIDERS[provider_key]
    return {"model_name": group, "litellm_params": dict(model=model, **params(url), **extra)}


def attempts_of(agent):
    [(request, attempts)] = requests_with_attempts(agent.traces())
    return request, attempts


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_router_falls_back_from_openai_to_anthropic(agent, dsd, provider, use_async):
    """OpenAI's 429, then Anthropic's recorded answer. (The Router turns the SDK's own retries off.)"""
    provider.replay(recorded_answers.openai_rate_limit(), "/chat/completions")
    provider.replay(REPLIES["anthropic_msg_cache"], "/messages")
    router = Router(
        model_list=[deployment("primary", "openai", provider.url), deployment("backup", "anthropic", provider.url)],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
        retry_after=0,
    )
    if use_async:
        response = asyncio.run(router.acompletion(model="primary", messages=MESSAGES))
    else:
        response = router.completion(model="primary", messages=MESSAGES)
    assert response.model == "claude-sonnet-4-5-20250929"
    samples = sent(dsd)
    flush()
    request, (limited, served) = attempts_of(agent)
    assert request["meta"]["llm.final.provider"] == "anthropic"
    assert_span_holds(limited, truth(recorded_answers.openai_rate_limit()), "openai", "rate_limited")
    assert "llm.provider_calls" not in limited["metrics"]
    assert_span_holds(served, truth(REPLIES["anthropic_msg_cache"]), "anthropic")
    assert (served["meta"]["llm.fallback.depth"], served["meta"]["llm.fallback.is_fallback"]) == ("1", "true")
    assert (served["meta"]["llm.fallback.from"], served["meta"]["llm.fallback.reason"]) == (
        "openai/gpt-3.5-turbo",
        "RateLimitError",
    )
    [hop] = named(samples, "ddllm.fallback")
    assert (hop.tags["from_model"], hop.tags["to_model"], hop.tags["type"]) == (
        "openai/gpt-3.5-turbo",
        "anthropic/claude-sonnet-4-5-20250929",
        "default",
    )
    assert [s.tags["provider"] for s in named(samples, "ddllm.ratelimit.remaining_requests")] == ["openai"]
    assert [(s.tags["provider"], s.value) for s in named(samples, "ddllm.ratelimit.limit_tokens")] == [
        ("openai", 2000000),
        ("anthropic", 22500000),
    ]


def test_a_fallback_reports_its_own_answers_rate_limits_only(agent, dsd, provider):
    """OpenAI's 429, then Gemini's answer, which carries no rate-limit header: the Gemini attempt
    reports none. (LiteLLM's Router writes rate-limit headers of its own making into the
    response it hands back, after the attempt's call returned: they are not Gemini's.)"""
    provider.replay(recorded_answers.openai_rate_limit(), "/chat/completions")
    provider.replay(REPLIES["gemini_generate"], ":generateContent")
    router = Router(
        model_list=[deployment("primary", "openai", provider.url), deployment("backup", "gemini", provider.url)],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
        retry_after=0,
    )
    assert router.completion(model="primary", messages=MESSAGES).model == "gemini-2.5-flash"
    samples = sent(dsd)
    flush()
    _request, (limited, served) = attempts_of(agent)
    assert_span_holds(limited, truth(recorded_answers.openai_rate_limit()), "openai", "rate_limited")
    assert_span_holds(served, truth(REPLIES["gemini_generate"]), "gemini")
    assert not [key for key in served["metrics"] if key.startswith("llm.ratelimit.")]
    assert [s.tags["provider"] for s in named(samples, "ddllm.ratelimit.remaining_requests")] == ["openai"]


def test_order_failover_is_a_fallback_at_the_same_depth(agent, dsd, provider):
    """Two deployments of `primary` with order 1 and 2, then the `backup` group: LiteLLM's
    order failover is a fallback of type `order` at depth 0, the group change depth 1."""
    provider.replay(recorded_answers.openai_rate_limit(), "/chat/completions")
    provider.replay(recorded_answers.anthropic_rate_limit(), "/messages")
    provider.replay(REPLIES["mistral_chat"], "/chat/completions")
    router = Router(
        model_list=[
            deployment("primary", "openai", provider.url, order=1),
            deployment("primary", "anthropic", provider.url, order=2),
            deployment("backup", "mistral", provider.url),
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
        retry_after=0,
    )
    assert router.completion(model="primary", messages=MESSAGES).model == "mistral-large-latest"
    samples = sent(dsd)
    flush()
    request, attempts = attempts_of(agent)
    assert [a["resource"] for a in attempts] == [
        "openai/gpt-3.5-turbo",
        "anthropic/claude-sonnet-4-5-20250929",
        "mistral/mistral-large-latest",
    ]
    assert [
        (a["meta"]["llm.fallback.depth"], a["meta"]["llm.fallback.is_fallback"], a["meta"].get("llm.fallback.type"))
        for a in attempts
    ] == [("0", "false", None), ("0", "true", "order"), ("1", "true", "default")]
    assert request["meta"]["llm.fallback.used"] == "true"
    hops = named(samples, "ddllm.fallback")
    assert [(h.tags["from_model"], h.tags["to_model"], h.tags["type"]) for h in hops] == [
        ("openai/gpt-3.5-turbo", "anthropic/claude-sonnet-4-5-20250929", "order"),
        ("anthropic/claude-sonnet-4-5-20250929", "mistral/mistral-large-latest", "default"),
    ]
    assert_span_holds(attempts[2], truth(REPLIES["mistral_chat"]), "mistral")


def test_readme_provider_table_is_current(agent, patched, provider):
    """The README's providers x facts table is what the replayed answers' spans show."""
    seen = {}
    for kind, answers, mode in (("call", ANSWERS, "sync"), ("stream", STREAMS, "stream")):
        for answer, provider_key in sorted(answers.items()):
            flush()
            agent.clear()
            provider.replay(REPLIES[answer])
            call(call_of(provider_key, provider.url), mode)
            flush()
            span = only_attempt(agent)
            found = seen.setdefault(span["meta"]["gen_ai.provider.name"], {})
            found[kind] = found.get(kind, set()) | provider_table.facts_of(span, truth(REPLIES[answer]))
    expected = provider_table.render(seen)
    with open(README) as readme:
        text = readme.read()
    current = provider_table.section_of(text)
    if os.environ.get("DDLLM_WRITE_README") == "1" and current is not None:
        with open(README, "w") as readme:
            readme.write(text.replace(current, expected))
        current = expected
    assert current == expected, "README.md's provider table is stale: run this test with DDLLM_WRITE_README=1"
