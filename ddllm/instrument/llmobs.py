"""LLM Observability annotations of ddllm's spans: the request's `workflow` span and each
attempt's `llm` (or `embedding`) span. `ddllm.instrument.spans` creates the spans,
`ddllm.instrument.litellm_objects` reads what they carry from LiteLLM's objects; this module
writes it.

They carry at least what ddtrace's own litellm integration writes for the same call, so
nothing is lost when ddllm takes LiteLLM's calls over: input and output messages with tool
calls and tool results, the request's parameters and finish_reason as metadata, token, cache
and cost metrics, tool definitions; on the workflow span the request's input and output and
the Router's settings. tests/test_llmobs_parity.py holds this field by field.

Only the public `LLMObs.annotate` writes, one call per span (each call costs as much again
as the fields it writes): input or output messages LLM Observability would not parse go in
a call of their own, so a refusal costs that part alone, never the tags, metrics or metadata.
Prompts and answers go to LLM Observability only, never into APM span tags or metric tags.
"""

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from ddllm.catalogue import ATTEMPT_SPAN
from ddllm.instrument import litellm_objects
from ddllm.instrument.safety import report_once
from ddllm.instrument.spans import LLMObs, bool_tag, llmobs_enabled


# -- writing ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _accepted_fields():
    """What the installed `LLMObs.annotate` accepts (older ddtrace releases lack some)."""
    try:
        return frozenset(inspect.signature(LLMObs.annotate).parameters)
    except (TypeError, ValueError):
        return frozenset(("span", "input_data", "output_data", "metadata", "metrics", "tags"))


def _annotate(span, part, **fields):
    """One `LLMObs.annotate` call; a refusal costs this part only, reported once."""
    accepted = _accepted_fields()
    fields = {key: value for key, value in fields.items() if value is not None and key in accepted}
    if not fields:
        return
    try:
        LLMObs.annotate(span=span, **fields)
    except Exception:
        report_once("llmobs." + part)


def _annotate_span(span, fields, input_data=None, output_data=None, parsed_as=None):
    """A span's `fields`, input and output in one `LLMObs.annotate` call. LLM Observability
    drops the rest of a call whose input or output it cannot parse (ddtrace 3.19 without
    raising), so on an `llm` or `embedding` span (`parsed_as` "messages" or "documents") a
    part that would not parse goes in a call of its own; should the whole call still be
    refused, each part is written apart."""
    apart = []
    if parsed_as is not None:
        if input_data is not None and not _PARSES[parsed_as](input_data):
            apart.append(("input", "input_data", input_data))
            input_data = None
        if output_data is not None and parsed_as == "messages" and not _parses_as_messages(output_data):
            apart.append(("output", "output_data", output_data))
            output_data = None
    accepted = _accepted_fields()
    combined = {key: value for key, value in fields.items() if value is not None and key in accepted}
    if input_data is not None:
        combined["input_data"] = input_data
    if output_data is not None:
        combined["output_data"] = output_data
    if combined:
        try:
            LLMObs.annotate(span=span, **combined)
        except Exception:  # refused whole: part by part, so a refusal costs only its own part
            _annotate(span, "fields", **fields)
            apart = [("input", "input_data", input_data), ("output", "output_data", output_data)] + apart
    for part, field, value in apart:
        if value is not None:
            _annotate(span, part, **{field: value})


def _parses_as_messages(value):
    """Whether LLM Observability parses `value` as messages (ddtrace's llmobs.utils.Messages,
    3.19 to 4.16): text, or dicts with text content, a text role, tool calls with a name and
    dict arguments, tool results with a text result."""
    items = _items_as_parsed(value)
    if items is None:
        return False
    for message in items:
        if isinstance(message, str):
            continue
        if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
            return False
        role = message.get("role")
        if role and not isinstance(role, str):
            return False
        calls = message.get("tool_calls")
        if calls is not None and not (
            isinstance(calls, list)
            and all(
                isinstance(call, dict)
                and call.get("name")
                and isinstance(call["name"], str)
                and isinstance(call.get("arguments"), dict)
                for call in calls
            )
        ):
            return False
        results = message.get("tool_results")
        if results is not None and not (
            isinstance(results, list)
            and all(isinstance(result, dict) and isinstance(result.get("result"), str) for result in results)
        ):
            return False
    return True


def _parses_as_documents(value):
    """Whether LLM Observability parses `value` as an embedding span's input documents: text,
    or dicts with a text `text` (ddtrace's llmobs.utils.Documents)."""
    items = _items_as_parsed(value)
    return items is not None and all(
        isinstance(document, str)
        or (isinstance(document, dict) and isinstance(document.get("text"), str) and set(document) <= {"text"})
        for document in items
    )


def _items_as_parsed(value):
    """The items LLM Observability parses `value` into: one text or dict, or a list of them;
    None if `value` is neither."""
    if isinstance(value, (str, dict)):
        return [value]
    return value if isinstance(value, list) else None


_PARSES = {"messages": _parses_as_messages, "documents": _parses_as_documents}


# -- attempts --------------------------------------------------------------------------------


def fallback_tags(facts):
    """The fallback facts as LLM Observability tags (string values)."""
    tags = {
        "llm.attempt.number": str(facts.number),
        "llm.attempt.retry": str(facts.retry),
        "llm.fallback.depth": str(facts.fallback_depth),
        "llm.fallback.is_fallback": bool_tag(facts.is_fallback),
        "llm.outcome": facts.outcome or "",
        "llm.stream": bool_tag(facts.stream),
    }
    for key, value in (
        ("llm.model_group", facts.model_group),
        ("llm.fallback.from", facts.fallback_from),
        ("llm.fallback.reason", facts.fallback_reason),
        ("llm.fallback.type", facts.fallback_type),
    ):
        if value:
            tags[key] = value
    tags.update(facts.caller_span_tags)  # who called, where LiteLLM's proxy says so
    return tags


class StreamOutput:
    """The chunks of a streamed attempt, as the caller reads them (its observer appends each
    to `chunks`); assembled into the answer once, at the stream's end."""

    __slots__ = ("chunks",)

    def __init__(self):
        self.chunks = []


def stream_output(attempt: Any) -> StreamOutput | None:
    """A `StreamOutput` for a streamed attempt that has an LLM Observability span, else None."""
    return StreamOutput() if attempt.llmobs_span is not None and llmobs_enabled() else None


def annotate_attempt(
    span: Any, facts: Any, kwargs: Mapping, response: Any, request: Any = None, streamed: StreamOutput | None = None
) -> None:
    """The attempt's LLM Observability fields, from its kwargs and its response (or the chunks
    of its stream). On ddtrace's enclosing span (`span` is not ours), only the fallback tags:
    the rest is its integration's to write. The answer is kept on the request for its span."""
    if span is None or not llmobs_enabled():
        return
    tags = fallback_tags(facts)
    operation = facts.operation
    succeeded = facts.outcome == "success"
    output, finish_reason, usage = None, None, None
    if streamed is not None and (succeeded or facts.outcome == "cancelled"):  # what the caller read
        output, finish_reason, usage = litellm_objects.streamed_answer(operation, streamed.chunks)
    elif succeeded and response is not None:
        output, finish_reason, usage = litellm_objects.answer(operation, response, facts)
    if request is not None:
        request.operation = operation
        if succeeded:
            request.llmobs_output, request.finish_reason = output, finish_reason
    if span.name != ATTEMPT_SPAN:
        try:
            LLMObs.annotate(span=span, tags=tags)
        except Exception:  # its kind is set when it finishes: LLMObs complains, the tags are in
            pass
        return
    fields = {
        "tags": tags,
        "metrics": litellm_objects.token_metrics(facts, usage) or None,
        "metadata": litellm_objects.call_metadata(kwargs, operation, finish_reason),
        "tool_definitions": litellm_objects.tool_definitions(kwargs.get("tools")),
    }
    input_data = litellm_objects.call_input(operation, kwargs) or None
    parsed_as = "documents" if operation == "embeddings" else "messages"
    _annotate_span(span, fields, input_data=input_data, output_data=output or None, parsed_as=parsed_as)


# -- requests --------------------------------------------------------------------------------


def annotate_request(span: Any, state: Any, outcome: str) -> None:
    """The request's workflow span: the outcome tags, the request's input, the answer of its
    last successful attempt, its parameters and, for a Router, the Router's settings."""
    if span is None or not llmobs_enabled():
        return
    kwargs = state.kwargs if state.kwargs is not None else {}
    operation = state.operation or _operation_of(kwargs)
    finish_reason = state.finish_reason if outcome == "success" else None
    metadata = litellm_objects.call_metadata(kwargs, operation, finish_reason)
    if state.router is not None and "model" not in metadata:
        metadata["router_settings"] = litellm_objects.router_settings(state.router)
    # positional arguments named: `tracing.begin_request`
    input_data = litellm_objects.call_input(operation, kwargs) or None
    tags = {
        "llm.attempts": str(state.attempts),
        "llm.fallback.used": bool_tag(state.fallback_used),
        "llm.final.provider": state.final_provider or "",
        "llm.final.model": state.final_model or "",
        "llm.outcome": outcome,
    }
    tags.update(state.caller_span_tags)  # who called, where LiteLLM's proxy says so
    # A workflow span's input and output are any JSON value: nothing to refuse.
    output_data = state.llmobs_output if outcome == "success" and state.llmobs_output else None
    _annotate_span(span, {"tags": tags, "metadata": metadata}, input_data=input_data, output_data=output_data)


def _operation_of(kwargs):
    """A request's operation when no attempt said it (one that failed before any attempt)."""
    if "messages" in kwargs:
        return "chat"
    if "prompt" in kwargs:
        return "text_completion"
    return None
