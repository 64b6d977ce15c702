"""The README's span and metric reference is the catalogue's, its settings table is config's,
and the spans we send carry only fields the catalogue names."""

import os

import litellm
from conftest import flush
from spans_of import requests_with_attempts
from test_attempt_spans import MESSAGES, router_primary_rate_limited

from ddllm import catalogue
from ddllm.cli import reference
from ddllm.instrument import config

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
# Tags ddtrace and LLM Observability put on every span, and error tags: not ours to list.
# ddtrace 4 also mirrors an `llm` span's LLM Observability token metrics onto the APM span
# under its own names (gen_ai.usage.total_tokens, reasoning_output_tokens, cache_*_input_tokens).
NOT_OURS = (
    "_dd.",
    "error.",
    "language",
    "runtime-id",
    "env",
    "version",
    "process_id",
    "_sampling_priority_v1",
    "gen_ai.operation.name",
    "gen_ai.application.name",
    "llmobs_",
    "ml_app",
    "_top_level",
    "_ml_obs",
    "service",
    "span.kind",
    "gen_ai.usage.total_tokens",
    "gen_ai.usage.reasoning_output_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cache_write_input_tokens",
)


STALE = "README.md is stale: run `make .venv/.ddllm && .venv/bin/python -m ddllm.cli.reference --write README.md`"


def _readme():
    with open(README) as readme:
        return readme.read()


def test_readme_reference_is_generated_from_the_catalogue():
    section = reference.section_of(_readme())
    assert section is not None, "README.md has no generated reference section"
    assert section == reference.render(), STALE


def test_readme_settings_are_generated_from_config():
    section = reference.section_of(_readme(), reference.SETTINGS_START_MARKER, reference.SETTINGS_END_MARKER)
    assert section is not None, "README.md has no generated settings section"
    assert section == reference.render_settings(), STALE


def test_every_setting_names_a_config_field_and_a_keyword_patch_takes(caplog):
    variables, defaults = reference.variables_config_reads()
    assert set(variables) == set(reference.SETTINGS)
    samples = {
        "metrics_enabled": False,
        "metric_tag_limit": 7,
        "metrics_user_tag": True,
        "dogstatsd_url": "udp://127.0.0.1:9",
        "env": "e",
        "service": "s",
        "version": "v",
    }
    for variable, (field, keyword, _) in reference.SETTINGS.items():
        assert hasattr(defaults, field), variable
        if keyword is None:
            continue
        with caplog.at_level("WARNING", logger="ddllm"):
            caplog.clear()
            overridden = config.load({}, **{keyword: samples[keyword]})
        assert caplog.text == "", (keyword, caplog.text)
        assert getattr(overridden, field) != getattr(defaults, field), keyword


def test_spans_carry_only_catalogued_fields(agent, patched):
    router_primary_rate_limited(num_retries=0).completion(model="primary", messages=MESSAGES)
    stream = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        mock_response="hi",
        api_key="sk",
        stream=True,
        stream_options={"include_usage": True},
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "hi"
    flush()
    spans = [span for trace in agent.traces() for span in trace]
    [(request, attempts)] = requests_with_attempts(agent.traces())
    [streamed] = [span for span in spans if span["name"] == catalogue.ATTEMPT_SPAN and span not in attempts]
    assert streamed["meta"]["llm.stream"] == "true"
    attempt_fields = {field.name for field in catalogue.ATTEMPT_SPAN_FIELDS}
    request_fields = {field.name for field in catalogue.REQUEST_SPAN_FIELDS}
    for span, known in [(request, request_fields), (streamed, attempt_fields)] + [
        (span, attempt_fields) for span in attempts
    ]:
        for name in list(span.get("meta", {})) + list(span.get("metrics", {})):
            if name.startswith(NOT_OURS) or name in ("component",):
                continue
            assert name in known, "%s sets %s, which the catalogue does not name" % (span["name"], name)
