"""Attempts over real HTTP: LiteLLM calls the fake OpenAI and Anthropic provider on loopback,
which answers with recorded bodies and headers and injects the faults fallbacks exist for.
What the test agent received is checked against what the provider was asked."""

import asyncio
import inspect
import threading

import litellm
import pytest
from conftest import flush
from litellm import Router
from spans_of import meta, requests_with_attempts

import ddllm
from ddllm.cli.fake_provider import Answer

MESSAGES = [{"role": "user", "content": "Hey, what is up?"}]
ROUTER_CAN_CONTINUE = "enable_mid_stream_fallback_continuation" in inspect.signature(Router.__init__).parameters
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-3-5-haiku-20241022"


def openai_params(provider, model=OPENAI_MODEL):
    return {"model": "openai/" + model, "api_base": provider.openai_base, "api_key": "sk-test-openai"}


def anthropic_params(provider, model=ANTHROPIC_MODEL):
    return {"model": "anthropic/" + model, "api_base": provider.anthropic_base, "api_key": "sk-ant-test"}


def openai_to_anthropic_router(provider, num_retries=1, backup_model=ANTHROPIC_MODEL, **settings):
    settings.setdefault("fallbacks", [{"primary": ["backup"]}])
    return Router(
        model_list=[
            {"model_name": "primary", "litellm_params": openai_params(provider)},
            {"model_name": "backup", "litellm_params": anthropic_params(provider, backup_model)},
        ],
        num_retries=num_retries,
        retry_after=0,
        **settings,
    )


def only_request(agent):
    [(request, attempts)] = requests_with_attempts(agent.traces())
    return request, attempts


def only_attempt(agent):
    spans = [span for trace in agent.traces() for span in trace if span["name"] == "llm.attempt"]
    [attempt] = spans
    return attempt


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_openai_rate_limited_falls_back_to_anthropic(agent, patched, provider, use_async):
    provider.script(OPENAI_MODEL, Answer.rate_limit(), Answer.rate_limit())
    router = openai_to_anthropic_router(provider)
    if use_async:
        response = asyncio.run(router.acompletion(model="primary", messages=MESSAGES))
    else:
        response = router.completion(model="primary", messages=MESSAGES)
    assert response.choices[0].message.content.startswith("Hey! Not much")
    flush()
    # one attempt span per HTTP call the provider received
    assert [r.model for r in provider.received] == [OPENAI_MODEL, OPENAI_MODEL, ANTHROPIC_MODEL]
    request, attempts = only_request(agent)
    assert request["metrics"]["llm.attempts"] == 3
    assert meta(request, "llm.final.provider") == "anthropic"
    assert [meta(a, "http.status_code") for a in attempts] == ["429", "429", "200"]
    assert [meta(a, "llm.outcome") for a in attempts] == ["rate_limited", "rate_limited", "success"]
    assert {meta(a, "out.host") for a in attempts} == {"127.0.0.1"}
    first, _, fallback = attempts
    assert meta(fallback, "llm.fallback.reason") == "RateLimitError"
    assert meta(fallback, "llm.fallback.from") == "openai/" + OPENAI_MODEL
    assert fallback["resource"] == "anthropic/" + ANTHROPIC_MODEL
    # headroom from the 429's headers, and from Anthropic's recorded success headers
    assert first["metrics"]["llm.ratelimit.remaining_requests"] == 0
    assert fallback["metrics"]["llm.ratelimit.remaining_requests"] == 3999
    assert fallback["metrics"]["llm.ratelimit.remaining_tokens"] == 22500000
    assert fallback["metrics"]["gen_ai.usage.input_tokens"] == 13
    assert fallback["metrics"]["gen_ai.usage.output_tokens"] == 21


def test_recorded_openai_answer_gives_tokens_headroom_and_response_model(agent, patched, provider):
    provider.script(OPENAI_MODEL, Answer.ok(remaining_requests=42, remaining_tokens=1234))
    litellm.completion(messages=MESSAGES, **openai_params(provider))
    litellm.completion(messages=MESSAGES, **openai_params(provider))  # the recorded headers as sent
    flush()
    scripted, recorded = sorted(
        (span for trace in agent.traces() for span in trace if span["name"] == "llm.attempt"),
        key=lambda span: span["start"],
    )
    assert scripted["metrics"]["llm.ratelimit.remaining_requests"] == 42
    assert scripted["metrics"]["llm.ratelimit.remaining_tokens"] == 1234
    assert recorded["metrics"]["llm.ratelimit.remaining_requests"] == 14999
    assert recorded["metrics"]["llm.ratelimit.remaining_tokens"] == 1999994
    assert recorded["metrics"]["gen_ai.usage.input_tokens"] == 13
    assert recorded["metrics"]["gen_ai.usage.output_tokens"] == 21
    assert meta(recorded, "gen_ai.response.model") == OPENAI_MODEL
    assert meta(recorded, "http.status_code") == "200"


@pytest.mark.parametrize("params", [openai_params, anthropic_params], ids=["openai", "anthropic"])
def test_stream_time_to_first_token_covers_the_injected_delay(agent, patched, provider, params):
    delay = 0.2
    call = params(provider)
    provider.script(call["model"].split("/", 1)[1], Answer.slow(delay))
    stream = litellm.completion(messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **call)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith(("Not much", "Hey! Not much"))
    flush()
    attempt = only_attempt(agent)
    assert meta(attempt, "llm.outcome") == "success"
    assert delay <= attempt["metrics"]["llm.time_to_first_token"] <= attempt["duration"] / 1e9
    assert attempt["metrics"]["gen_ai.usage.output_tokens"] > 0


async def _read_async_stream(stream):
    return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])


@pytest.mark.skipif(not ROUTER_CAN_CONTINUE, reason="this LiteLLM raises a stream cut after content to the caller")
def test_async_stream_cut_mid_way_falls_back_mid_stream(agent, patched, provider):
    provider.script(OPENAI_MODEL, Answer.cut_stream(after=2))
    # LiteLLM continues a cut answer only when asked, on a model it knows takes an assistant prefill
    router = openai_to_anthropic_router(
        provider, num_retries=0, backup_model="claude-haiku-4-5", enable_mid_stream_fallback_continuation=True
    )

    async def stream_and_read():
        stream = await router.acompletion(model="primary", messages=MESSAGES, stream=True)
        return await _read_async_stream(stream)

    text = asyncio.run(stream_and_read())
    assert text.startswith("Not much,")  # LiteLLM continues the cut answer with the fallback
    flush()
    request, attempts = only_request(agent)
    cut, continued = attempts
    assert meta(cut, "llm.outcome") == "error"
    assert cut["error"] == 1
    assert meta(continued, "llm.fallback.type") == "mid_stream"
    assert meta(continued, "llm.fallback.reason") == "APIConnectionError"  # the provider error, not LiteLLM's envelope
    assert meta(continued, "llm.fallback.is_fallback") == "true"
    assert meta(continued, "llm.outcome") == "success"
    # siblings under the request span, and the trace arrived whole
    assert cut["parent_id"] == continued["parent_id"] == request["span_id"]
    assert meta(request, "llm.outcome") == "success"
    assert request["metrics"]["llm.attempts"] == 2


def test_sync_stream_cut_before_content_falls_back(agent, patched, provider):
    provider.script(OPENAI_MODEL, Answer.cut_stream(after=0))
    router = openai_to_anthropic_router(provider, num_retries=0)
    stream = router.completion(model="primary", messages=MESSAGES, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("Hey! Not much")
    flush()
    request, (cut, fallback) = only_request(agent)
    assert meta(cut, "llm.outcome") == "error"
    assert meta(fallback, "llm.fallback.type") == "default"  # nothing reached the caller before the cut
    assert meta(request, "llm.outcome") == "success"


def test_sync_stream_cut_after_content_reaches_the_caller(agent, patched, provider):
    # LiteLLM's sync stream never continues after content: the caller sees the provider error
    provider.script(OPENAI_MODEL, Answer.cut_stream(after=2))
    router = openai_to_anthropic_router(provider, num_retries=0)
    stream = router.completion(model="primary", messages=MESSAGES, stream=True)
    with pytest.raises(litellm.APIConnectionError):
        for _ in stream:
            pass
    flush()
    request, [cut] = only_request(agent)
    assert meta(cut, "llm.outcome") == "error"
    assert meta(request, "llm.outcome") == "error"


# (fault, HTTP status the attempt span carries for OpenAI and for Anthropic, outcome)
FAULTS = [
    ("server_error", ("500", "500"), "error"),
    ("overloaded", ("503", "529"), "error"),  # Anthropic's own 529, which LiteLLM raises as a 500
    ("content_filter", ("400", "400"), "error"),
    ("context_length", ("400", "400"), "error"),
    ("garbage", None, "error"),
    ("reset", None, "error"),
    ("rate_limit", ("429", "429"), "rate_limited"),
]


def _raised(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - what LiteLLM raises is the subject
        return exc
    raise AssertionError("the call did not raise")


@pytest.mark.parametrize("kind,status,outcome", FAULTS, ids=[fault[0] for fault in FAULTS])
@pytest.mark.parametrize("params", [openai_params, anthropic_params], ids=["openai", "anthropic"])
def test_provider_faults_reach_the_caller_unchanged(agent, provider, kind, status, outcome, params):
    call = params(provider)
    model = call["model"].split("/", 1)[1]

    def completion():
        return litellm.completion(messages=MESSAGES, num_retries=0, **call)

    provider.script(model, Answer(kind))
    without = _raised(completion)
    assert ddllm.patch()
    try:
        provider.script(model, Answer(kind))
        with_ddllm = _raised(completion)
    finally:
        ddllm.unpatch()
    assert type(with_ddllm) is type(without)
    assert str(with_ddllm) == str(without)
    flush()
    attempt = only_attempt(agent)
    assert meta(attempt, "llm.outcome") == outcome
    assert meta(attempt, "error.type").endswith("." + type(without).__name__)
    if status is not None:
        assert meta(attempt, "http.status_code") == status[params is anthropic_params]


def test_provider_timeout_is_outcome_timeout(agent, patched, provider):
    release = threading.Event()
    provider.script(OPENAI_MODEL, Answer(hold=release))
    try:
        with pytest.raises(litellm.Timeout):
            litellm.completion(messages=MESSAGES, timeout=0.2, num_retries=0, **openai_params(provider))
    finally:
        release.set()
    flush()
    attempt = only_attempt(agent)
    assert meta(attempt, "llm.outcome") == "timeout"


@pytest.mark.parametrize(
    "fault,setting,fallback_type",
    [
        ("context_length", "context_window_fallbacks", "context_window"),
        ("content_filter", "content_policy_fallbacks", "content_policy"),
    ],
)
def test_refusals_fall_back_with_their_type(agent, patched, provider, fault, setting, fallback_type):
    provider.script(OPENAI_MODEL, Answer(fault))
    router = openai_to_anthropic_router(provider, num_retries=0, fallbacks=[], **{setting: [{"primary": ["backup"]}]})
    router.completion(model="primary", messages=MESSAGES)
    flush()
    request, (refused, fallback) = only_request(agent)
    assert meta(refused, "http.status_code") == "400"
    assert meta(fallback, "llm.fallback.type") == fallback_type
    assert meta(fallback, "llm.fallback.reason") in ("ContextWindowExceededError", "ContentPolicyViolationError")
    assert meta(request, "llm.fallback.used") == "true"


def test_two_deployments_retried_then_a_depth_two_fallback(agent, patched, provider):
    for model in (OPENAI_MODEL, "gpt-4.1-mini"):
        provider.policy(model, lambda n: Answer.rate_limit())
    provider.policy(ANTHROPIC_MODEL, lambda n: Answer.server_error())
    router = Router(
        model_list=[
            {"model_name": "primary", "litellm_params": openai_params(provider)},
            {"model_name": "primary", "litellm_params": openai_params(provider, "gpt-4.1-mini")},
            {"model_name": "backup", "litellm_params": anthropic_params(provider)},
            {"model_name": "last", "litellm_params": openai_params(provider, "gpt-4.1")},
        ],
        fallbacks=[{"primary": ["backup"]}, {"backup": ["last"]}],
        num_retries=1,
        retry_after=0,
    )
    router.completion(model="primary", messages=MESSAGES)
    flush()
    request, attempts = only_request(agent)
    assert len(attempts) == len(provider.received)
    assert [meta(a, "llm.model_group") for a in attempts][-2:] == ["backup", "last"]
    groups = [meta(a, "llm.model_group") for a in attempts]
    primary = [a for a, group in zip(attempts, groups) if group == "primary"]
    assert len(primary) == 2  # the first try and one retry, on either deployment (LiteLLM shuffles)
    assert {a["resource"] for a in primary} <= {"openai/gpt-4o-mini", "openai/gpt-4.1-mini"}
    assert len({meta(a, "llm.deployment.id") for a in attempts}) == len({a["resource"] for a in attempts})
    assert [meta(a, "llm.attempt.retry") for a in primary] == [str(i) for i in range(len(primary))]
    backup, last = attempts[-2:]
    assert [meta(backup, "llm.fallback.depth"), meta(last, "llm.fallback.depth")] == ["1", "2"]
    assert meta(last, "llm.fallback.from") == "anthropic/" + ANTHROPIC_MODEL
    assert meta(last, "llm.fallback.reason") == "InternalServerError"
    assert meta(request, "llm.final.model") == "gpt-4.1"
    assert request["metrics"]["llm.attempts"] == len(attempts)


def test_every_model_fails_caller_gets_litellms_exception(agent, provider):
    def failing_router():
        provider.script(OPENAI_MODEL, Answer.rate_limit(), Answer.rate_limit())
        provider.script(ANTHROPIC_MODEL, Answer.server_error(), Answer.server_error())
        return openai_to_anthropic_router(provider)

    without = _raised(lambda: failing_router().completion(model="primary", messages=MESSAGES))
    received_without = len(provider.received)
    provider.reset()
    assert ddllm.patch()
    try:
        with_ddllm = _raised(lambda: failing_router().completion(model="primary", messages=MESSAGES))
    finally:
        ddllm.unpatch()
    assert type(with_ddllm) is type(without) and str(with_ddllm) == str(without)
    flush()
    request, attempts = only_request(agent)
    assert len(attempts) == len(provider.received) == received_without
    # The Router raises the primary group's exception, so the request reads as rate limited.
    assert type(with_ddllm).__name__ == "RateLimitError"
    assert meta(request, "llm.outcome") == "rate_limited" and request["error"] == 1
    assert [meta(s, "llm.outcome") for s in attempts] == ["rate_limited", "rate_limited", "error", "error"]
    assert [s["resource"] for s in attempts] == ["openai/" + OPENAI_MODEL] * 2 + ["anthropic/" + ANTHROPIC_MODEL] * 2
    assert meta(attempts[2], "llm.fallback.reason") == "RateLimitError"
