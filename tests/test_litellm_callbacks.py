"""LiteLLM's own logging callbacks see the kwargs they see without ddllm: ddllm reads LiteLLM's
`litellm_trace_id` and never sets it, so a user's callback and the proxy's spend logs keep
LiteLLM's own UUID."""

import asyncio
import uuid

import litellm
import pytest
from litellm.integrations.custom_logger import CustomLogger
from conftest import empty_litellm_callback_lists
from test_attempt_spans import MESSAGES, router_primary_rate_limited

import ddllm


# LiteLLM writes its API timing into the logging kwargs when its timing decorator returns,
# which races with its logging task building the callback's kwargs: present or not, run to run.
_RACING_KEYS = frozenset({"llm_api_duration_ms"})


class RecordingCallback(CustomLogger):
    def __init__(self, run):
        super().__init__()
        self.run = run  # a logging task an earlier test left may reach this callback: not ours
        self.calls = []
        self.both_seen = asyncio.Event()  # the primary's failure and the backup's success

    def _record(self, outcome, kwargs):
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        if metadata.get("test_run") != self.run:
            return
        logged = kwargs.get("standard_logging_object") or {}
        keys = sorted(set(kwargs) - _RACING_KEYS)
        self.calls.append((outcome, keys, kwargs.get("litellm_trace_id"), logged.get("trace_id")))
        if {call[0] for call in self.calls} == {"success", "failure"}:
            self.both_seen.set()

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._record("success", kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._record("failure", kwargs)


def _is_uuid4(value):
    try:
        return uuid.UUID(value).version == 4
    except (TypeError, ValueError):
        return False


@pytest.mark.parametrize("caller_trace_id", [None, "my-own-trace-id"])
async def test_callbacks_see_the_kwargs_they_see_without_ddllm(caller_trace_id):
    async def run(name):
        callback = RecordingCallback(name)
        with empty_litellm_callback_lists():  # LiteLLM registers a callback once per process
            litellm.callbacks = [callback]
            extra = {"litellm_trace_id": caller_trace_id} if caller_trace_id else {}
            extra["metadata"] = {"test_run": name}
            await router_primary_rate_limited(num_retries=0).acompletion(model="primary", messages=MESSAGES, **extra)
            # LiteLLM runs its callbacks later, on its own worker and tasks
            await asyncio.wait_for(callback.both_seen.wait(), timeout=30)
        return callback

    plain = await run("plain")
    assert ddllm.patch()
    try:
        traced = await run("traced")
    finally:
        ddllm.unpatch()
    seen = {}
    for name, callback in (("plain", plain), ("traced", traced)):
        assert callback.calls, "LiteLLM ran no callback (%s)" % name
        seen[name] = [(outcome, keys) for outcome, keys, _, _ in callback.calls]
        for _, _, trace_id, logged_trace_id in callback.calls:
            if caller_trace_id:
                assert trace_id == caller_trace_id
            else:
                assert _is_uuid4(trace_id), (name, trace_id)
            assert logged_trace_id == trace_id
    assert sorted(seen["traced"]) == sorted(seen["plain"])
