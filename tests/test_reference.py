"""The README's span and metric reference is the catalogue's, and the spans we send carry
only fields the catalogue names."""
import os

import litellm
from conftest import flush
from spans_of import requests_with_attempts
from test_attempt_spans import MESSAGES, router_primary_rate_limited

from ddllm import catalogue
from ddllm.cli import reference

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
# Tags ddtrace and LLM Observability put on every span, and error tags: not ours to list.
NOT_OURS = ("_dd.", "error.", "language", "runtime-id", "env", "version", "process_id", "_sampling_priority_v1",
            "gen_ai.operation.name", "gen_ai.application.name", "llmobs_", "ml_app", "_top_level",
            "_ml_obs", "service", "span.kind", "gen_ai.usage.total_tokens")


def test_readme_reference_is_generated_from_the_catalogue():
    with open(README) as readme:
        section = reference.section_of(readme.read())
    assert section is not None, "README.md has no generated reference section"
    assert section == reference.render(), "README.md is stale: paste `python -m ddllm.cli.reference` in"


def test_spans_carry_only_catalogued_fields(agent, patched):
    router_primary_rate_limited(num_retries=0).completion(model="primary", messages=MESSAGES)
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk",
                       stream=True, stream_options={"include_usage": True}).__next__()
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    attempt_fields = {field.name for field in catalogue.ATTEMPT_SPAN_FIELDS}
    request_fields = {field.name for field in catalogue.REQUEST_SPAN_FIELDS}
    for span, known in [(request, request_fields)] + [(span, attempt_fields) for span in attempts]:
        for name in list(span.get("meta", {})) + list(span.get("metrics", {})):
            if name.startswith(NOT_OURS) or name in ("component",):
                continue
            assert name in known, "%s sets %s, which the catalogue does not name" % (span["name"], name)
