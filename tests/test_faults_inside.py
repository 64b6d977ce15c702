"""Fault injection inside ddllm: whichever of our steps raises, the caller gets exactly what
LiteLLM alone gives (same object type, same exception and message), our spans still finish,
and each kind of fault is logged once, not once per call."""
import logging

import litellm
import pytest

import ddllm
from ddllm.instrument import attempt_facts, cooldowns, llmobs, metrics, safety, spans, streams, tracing
from test_attempt_spans import MESSAGES, router_primary_rate_limited

STEPS = [
    (attempt_facts, "read_start"),
    (attempt_facts, "read_response"),
    (attempt_facts, "read_error"),
    (attempt_facts, "read_rate_limits"),
    (attempt_facts, "read_chunk"),
    (spans, "start_request_span"),
    (spans, "finish_request_span"),
    (spans, "start_attempt_span"),
    (spans, "finish_attempt_span"),
    (llmobs, "annotate_attempt"),
    (llmobs, "annotate_request"),
    (spans, "save_active"),
    (spans, "restore_active"),
    (metrics, "record_attempt"),
    (metrics, "record_request"),
    (streams, "TracedStream"),
    (cooldowns, "_local_entries"),
]


def _router_call(stream=False):
    router = router_primary_rate_limited(num_retries=0)
    result = router.completion(model="primary", messages=MESSAGES, stream=stream)
    if stream:
        return "".join(c.choices[0].delta.content or "" for c in result if c.choices)
    return result.choices[0].message.content


def _failing_call():
    try:
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_key="sk-test",
                           mock_response="litellm.RateLimitError")
    except Exception as exc:
        return type(exc), str(exc)
    raise AssertionError("expected a RateLimitError")


@pytest.fixture
def fresh_fault_log(monkeypatch):
    monkeypatch.setattr(safety, "_reported_kinds", set())


@pytest.mark.parametrize("module,name", STEPS, ids=[f"{m.__name__.split('.')[-1]}.{n}" for m, n in STEPS])
def test_a_failing_step_changes_nothing_for_the_caller(agent, monkeypatch, caplog, fresh_fault_log, module, name):
    expected = (_router_call(), _router_call(stream=True), _failing_call())

    def injected(*args, **kwargs):
        raise RuntimeError("injected fault in %s" % name)

    monkeypatch.setattr(module, name, injected)
    assert ddllm.patch()
    try:
        with caplog.at_level(logging.WARNING, logger="ddllm"):
            for _ in range(3):
                assert (_router_call(), _router_call(stream=True), _failing_call()) == expected
    finally:
        ddllm.unpatch()
    reports = [record for record in caplog.records if "internal error" in record.getMessage()]
    kinds = [record.getMessage() for record in reports]
    assert reports, "the fault was not reported"
    assert len(kinds) == len(set(kinds)), "a kind of fault was reported more than once: %s" % kinds
    assert tracing.request_state.open_request_count() == 0
