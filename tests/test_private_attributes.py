"""Private LiteLLM and ddtrace attributes that ddllm reads, each deleted in turn: only the
feature that reads it turns off, with at most one warning, and the caller's call returns
what it returns without ddllm (under the same deletion).

Each case deletes the attribute with `monkeypatch.delattr` before `ddllm.patch()`, makes a
Router call with and without ddllm, and checks the spans that reach the test agent.

Not here, because deleting them breaks their owner itself, with or without ddllm (ddtrace
4.16, LiteLLM 1.110): ddtrace's `Span._parent` (its tracer reads it whenever a span
finishes), `Span._remove_struct_tag` (its LLM Observability processor scrubs every span
with it), `litellm._datadog_integration` and the integration's `llmobs_set_tags` (ddtrace's
litellm wrappers read and call them on every call), `litellm._datadog_patch` (ddtrace's own
patch and unpatch guard); LiteLLM's responses' `_hidden_params` (its cost calculator,
logging and stream handler read them); and `LLMObs._instance._llmobs_context_provider`
beyond what its case below does (LLM Observability reads it to start every span of its own).
"""

import importlib
import logging

import litellm
import pytest

import ddllm
from ddllm.instrument import patching, spans
from conftest import flush
from spans_of import meta
from test_attempt_spans import MESSAGES, router_primary_rate_limited
from test_operations_http import two_group_router


def _router_call(router=None):
    router = router or router_primary_rate_limited(num_retries=0)
    response = router.completion(model="primary", messages=MESSAGES)
    return response.__class__.__name__, response.choices[0].message.content


def _module_or_skip(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        pytest.skip("this LiteLLM or ddtrace has no %s" % name)


def _traced_with(agent, caplog, router=None, call=_router_call):
    """(what the caller saw without and with ddllm, ddllm's warnings, the span names sent)."""
    unpatched = call(router)
    flush()
    agent.clear()
    with caplog.at_level(logging.WARNING, logger="ddllm"):
        try:
            assert ddllm.patch()
            patched = call(router)
        finally:
            ddllm.unpatch()
    flush()
    warnings = [record.getMessage() for record in caplog.records if record.name == "ddllm"]
    return unpatched, patched, warnings, sorted({span["name"] for span in agent.spans()})


def test_litellm_version_module(agent, monkeypatch, caplog):
    """`litellm._version`: the version in ddllm's messages only."""
    monkeypatch.delattr(litellm, "_version")
    unpatched, patched, warnings, names = _traced_with(agent, caplog)
    assert patched == unpatched
    assert patching.get_version() == ""
    assert names == ["llm.attempt", "llm.request"]
    assert len(warnings) <= 1


def test_litellm_rust_router_core(agent, monkeypatch, caplog):
    """`litellm.router_rust.core.RustCore`, where LiteLLM 1.110's Router keeps its methods:
    without it, Router calls get no request span (one warning says so); attempts are traced."""
    core = _module_or_skip("litellm.router_rust.core")
    if any("completion" in vars(klass) for klass in litellm.Router.__mro__):
        pytest.skip("this LiteLLM's Router holds its own methods")
    router = router_primary_rate_limited(num_retries=0)  # LiteLLM builds it with RustCore
    monkeypatch.delattr(core, "RustCore")
    unpatched, patched, warnings, names = _traced_with(agent, caplog, router)
    assert patched == unpatched
    assert names == ["llm.attempt"]
    assert len(warnings) == 1 and "Router.completion, Router.acompletion" in warnings[0]


def test_litellm_rust_router_endpoint_table(agent, provider, monkeypatch, caplog):
    """`litellm.router_rust.invoke.endpoints.RustEndpoints`, the table through which LiteLLM
    1.110 serves some Router methods per router (the sync `Router.responses`): without it,
    those requests get no request span; their attempts are traced (the Router's core keeps
    its own reference to the table, so LiteLLM serves them as before)."""
    endpoints = _module_or_skip("litellm.router_rust.invoke.endpoints")
    if patching._router_owner("responses") is not None:
        pytest.skip("this LiteLLM's Router class holds its own `responses`")
    router = two_group_router(provider, "o4-mini", "gpt-4.1")
    monkeypatch.delattr(endpoints, "RustEndpoints")

    def responses_call(router):
        response = router.responses(model="primary", input="Say hi")
        texts = [part.text for item in response.output for part in getattr(item, "content", None) or ()]
        return response.__class__.__name__, texts

    unpatched, patched, warnings, names = _traced_with(agent, caplog, router, responses_call)
    assert patched == unpatched and patched[1]
    assert names == ["llm.attempt"]
    assert [meta(span, "llm.operation") for span in agent.spans()] == ["responses"]
    assert len(warnings) <= 1


def test_ddtrace_core_listeners(agent, monkeypatch, caplog):
    """`ddtrace.internal.core.on`, through which ddllm hears of other integrations' LLM
    Observability spans inside an attempt: without it, that alone is off, with one warning."""
    core = _module_or_skip("ddtrace.internal.core")
    monkeypatch.delattr(core, "on")
    unpatched, patched, warnings, names = _traced_with(agent, caplog)
    assert patched == unpatched
    assert not spans._listening
    assert names == ["llm.attempt", "llm.request"]
    assert len(warnings) == 1 and "cannot watch" in warnings[0]


def test_ddtrace_llmobs_context_provider(agent, monkeypatch, caplog):
    """`LLMObs._instance._llmobs_context_provider`, read to put the caller's LLM Observability
    context back under a stream: without it, APM's context alone is put back."""
    instance = getattr(spans.LLMObs, "_instance", None)
    if instance is None or not hasattr(instance, "_llmobs_context_provider"):
        pytest.skip("this ddtrace keeps no LLM Observability context provider there")
    monkeypatch.delattr(instance, "_llmobs_context_provider")
    assert spans._llmobs_context_provider() is None
    saved = spans.save_active()
    assert saved[1] is None
    spans.restore_active(saved)  # APM's alone, and no error
