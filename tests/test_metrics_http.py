"""Metrics of attempts over real HTTP: the fake provider's 429s with OpenAI's rate-limit
headers, then a streamed Anthropic fallback with Anthropic's recorded headers, as the UDP
socket receives them."""

import asyncio

from dogstatsd_receiver import named
from test_http_provider import ANTHROPIC_MODEL, MESSAGES, OPENAI_MODEL, openai_to_anthropic_router
from test_metrics import dsd, receiver, sent  # noqa: F401 - fixtures

from ddllm.cli.fake_provider import Answer

OPENAI_TARGET = "openai/" + OPENAI_MODEL
ANTHROPIC_TARGET = "anthropic/" + ANTHROPIC_MODEL


def test_rate_limited_retry_then_streamed_fallback(dsd, provider):
    provider.script(OPENAI_MODEL, Answer.rate_limit(), Answer.rate_limit())
    provider.script(ANTHROPIC_MODEL, Answer.slow(0.05, remaining_tokens=5000))
    router = openai_to_anthropic_router(provider)

    async def stream_and_read():
        stream = await router.acompletion(model="primary", messages=MESSAGES, stream=True)
        return [chunk async for chunk in stream]

    assert asyncio.run(stream_and_read())
    samples = sent(dsd)

    durations = named(samples, "ddllm.attempt.duration")
    assert [(s.tags["provider"], s.tags["outcome"], s.tags["error_type"], s.tags["stream"]) for s in durations] == [
        ("openai", "rate_limited", "RateLimitError", "true"),
        ("openai", "rate_limited", "RateLimitError", "true"),
        ("anthropic", "success", "none", "true"),
    ]
    remaining = [(s.tags["provider"], s.value) for s in named(samples, "ddllm.ratelimit.remaining_requests")]
    assert remaining == [("openai", 0), ("openai", 0), ("anthropic", 3999)]
    assert [(s.tags["provider"], s.value) for s in named(samples, "ddllm.ratelimit.remaining_tokens")][-1] == (
        "anthropic",
        5000,
    )
    [ttft] = named(samples, "ddllm.attempt.time_to_first_token")
    assert ttft.tags["model"] == ANTHROPIC_MODEL and ttft.tags["fallback"] == "true"
    assert ttft.value >= 0.05  # the injected delay before the first byte
    [hop] = named(samples, "ddllm.fallback")
    assert (hop.tags["from_model"], hop.tags["to_model"], hop.tags["reason"], hop.tags["type"]) == (
        OPENAI_TARGET,
        ANTHROPIC_TARGET,
        "RateLimitError",
        "default",
    )
    [request] = named(samples, "ddllm.request.duration")
    assert (request.tags["outcome"], request.tags["fallback_used"], request.tags["attempts"]) == (
        "success",
        "true",
        "3",
    )
    assert request.tags["model_group"] == "primary" and request.tags["provider"] == "anthropic"
