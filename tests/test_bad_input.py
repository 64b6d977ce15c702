"""Bad input: the caller sees exactly what LiteLLM alone gives, and the span records it."""

import litellm
import pytest
from conftest import flush
from spans_of import by_name, meta

import ddllm

MESSAGES = [{"role": "user", "content": "hi"}]


def outcome_of(call):
    try:
        response = call()
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("returned", type(response), response.choices[0].message.content)


def with_and_without_ddllm(call):
    without = outcome_of(call)
    assert ddllm.patch()
    try:
        with_ddllm = outcome_of(call)
    finally:
        ddllm.unpatch()
    return without, with_ddllm


def test_unknown_model_raises_litellms_exception_and_is_recorded(agent):
    def call():
        return litellm.completion(model="no-such-model-anywhere", messages=MESSAGES, api_key="sk-test")

    without, with_ddllm = with_and_without_ddllm(call)
    assert without[0] == "raised"
    assert with_ddllm == without
    flush()
    [attempt] = by_name([span for trace in agent.traces() for span in trace], "llm.attempt")
    assert meta(attempt, "llm.outcome") == "error"
    assert attempt["error"] == 1
    assert meta(attempt, "gen_ai.request.model") == "no-such-model-anywhere"


@pytest.mark.parametrize(
    "metadata",
    ["a string", 42, {"model_group": 123, "deployment": ["x"], "model_info": "nope"}, {"previous_models": None}],
    ids=["string", "int", "wrong-types", "none-values"],
)
def test_odd_metadata_shapes(agent, metadata):
    def call():
        return litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, api_key="sk-test", mock_response="ok", metadata=metadata
        )

    without, with_ddllm = with_and_without_ddllm(call)
    assert with_ddllm == without
    flush()
    [attempt] = by_name([span for trace in agent.traces() for span in trace], "llm.attempt")
    assert attempt["resource"] == "openai/gpt-4o-mini"


@pytest.mark.parametrize("model", ["", "openai/", "/", "ünïcødé/модель", "x" * 5000, "a/b/c:d@e"])
def test_odd_model_strings(agent, model):
    def call():
        return litellm.completion(model=model, messages=MESSAGES, api_key="sk-test", mock_response="ok")

    without, with_ddllm = with_and_without_ddllm(call)
    assert with_ddllm == without
