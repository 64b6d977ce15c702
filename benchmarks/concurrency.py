"""Concurrency: N concurrent `Router.acompletion` requests with a fallback (the primary
answers 429, the backup answers) against the fake provider on loopback, in its own process.
Attempts per second with ddllm and without, interleaved round by round, and with ddllm:
every attempt span received, each under its own request span."""

import asyncio
import statistics
import time

from ddtrace.trace import tracer

import ddllm
from provider import ProviderProcess  # beside this file


class SpanCount:
    """A trace processor that checks each trace's requests and attempts, then drops it."""

    def __init__(self):
        self.requests = self.attempts = self.misparented = 0

    def process_trace(self, trace):
        by_id = {span.span_id: span for span in trace}
        for span in trace:
            if span.name == "llm.request":
                self.requests += 1
            elif span.name == "llm.attempt":
                self.attempts += 1
                parent = by_id.get(span.parent_id)
                if parent is None or parent.name != "llm.request":
                    self.misparented += 1
        return None


def build_router(url):
    from litellm import Router

    return Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": url + "/v1", "api_key": "sk-bench"},
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "anthropic/claude-3-5-haiku-20241022",
                    "api_base": url,
                    "api_key": "sk-bench",
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )


async def _burst(router, requests):
    messages = [{"role": "user", "content": "hi"}]
    await asyncio.gather(*(router.acompletion(model="primary", messages=messages) for _ in range(requests)))


def run(requests=500, rounds=5):
    """{"bare": attempts/s per round, "ddllm": ...}, plus the span check of the ddllm rounds."""
    provider = ProviderProcess("gpt-4o-mini")  # the primary answers 429: every request falls back
    counter = SpanCount()
    tracer.configure(trace_processors=[counter])
    rates = {"bare": [], "ddllm": []}
    try:
        router = build_router(provider.url)
        asyncio.run(_burst(router, 50))  # connections and imports, outside the measurement
        for _ in range(rounds):
            for variant in rates:
                if variant == "ddllm":
                    ddllm.patch()
                try:
                    start = time.perf_counter()
                    asyncio.run(_burst(router, requests))
                    rates[variant].append(2 * requests / (time.perf_counter() - start))
                finally:
                    if variant == "ddllm":
                        ddllm.unpatch()
        tracer.flush()
    finally:
        tracer.configure(trace_processors=[])
        provider.stop()
    expected = rounds * requests
    return {
        "bare": statistics.median(rates["bare"]),
        "ddllm": statistics.median(rates["ddllm"]),
        "lost_attempts": 2 * expected - counter.attempts,
        "lost_requests": expected - counter.requests,
        "misparented": counter.misparented,
    }
