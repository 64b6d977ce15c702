"""Outcomes that are not errors of the provider: a timeout, and the caller cancelling the
awaiting task (CancelledError propagates, the attempt is `cancelled`, spans finish)."""

import asyncio

import litellm
import pytest
from conftest import flush
from spans_of import by_name, meta


def attempts(agent):
    return by_name([span for trace in agent.traces() for span in trace], "llm.attempt")


async def test_timeout_outcome(agent, patched):
    with pytest.raises(litellm.Timeout):
        await litellm.acompletion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            api_key="sk",
            mock_response="late",
            mock_timeout=True,
            timeout=0.01,
        )
    flush()
    [attempt] = attempts(agent)
    assert meta(attempt, "llm.outcome") == "timeout"
    assert attempt["error"] == 1


async def test_cancelled_task_propagates_and_attempt_is_cancelled(agent, patched):
    started = asyncio.Event()

    async def call():
        started.set()
        return await litellm.acompletion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            api_key="sk",
            mock_response="slow",
            mock_delay=30,
        )

    task = asyncio.create_task(call())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    flush()
    [attempt] = attempts(agent)
    assert meta(attempt, "llm.outcome") == "cancelled"
    assert attempt.get("error", 0) == 0
