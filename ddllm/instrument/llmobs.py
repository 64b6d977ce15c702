"""LLM Observability annotations of ddllm's spans: the request's `workflow` span and each
attempt's `llm` (or `embedding`) span. `ddllm.instrument.spans` creates the spans; this module
writes what they carry.

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
import json
import time
import weakref
from collections.abc import Mapping
from typing import Any

from ddllm.catalogue import ATTEMPT_SPAN
from ddllm.instrument import voice_facts
from ddllm.instrument.members import is_mapping, mapping_or_empty, read_member, reader
from ddllm.instrument.safety import report_once
from ddllm.instrument.spans import LLMObs, bool_tag, llmobs_enabled

# The request parameters recorded as metadata, per operation: for chat and text completion
# those ddtrace's litellm integration records (its COMMON_METADATA_KEYS and
# LITELLM_METADATA_CHAT_KEYS / LITELLM_METADATA_COMPLETION_KEYS); for embeddings and the
# Responses API, which it does not trace, those its openai integration records.
_COMMON_PARAMETERS = ("stream", "temperature", "top_p", "user")
PARAMETER_KEYS = {
    "chat": frozenset(
        _COMMON_PARAMETERS
        + (
            "timeout",
            "n",
            "stream_options",
            "stop",
            "max_completion_tokens",
            "max_tokens",
            "modalities",
            "prediction",
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "response_format",
            "seed",
            "tool_choice",
            "parallel_tool_calls",
            "logprobs",
            "top_logprobs",
            "deployment_id",
            "reasoning_effort",
            "base_url",
            "api_base",
            "api_version",
            "model_list",
        )
    ),
    "text_completion": frozenset(
        _COMMON_PARAMETERS
        + (
            "best_of",
            "echo",
            "frequency_penalty",
            "logit_bias",
            "logprobs",
            "max_tokens",
            "n",
            "presence_penalty",
            "stop",
            "stream_options",
            "suffix",
            "api_base",
            "api_version",
            "model_list",
            "custom_llm_provider",
        )
    ),
    "embeddings": frozenset(("encoding_format", "dimensions", "user", "timeout", "api_base", "api_version")),
    "responses": frozenset(
        _COMMON_PARAMETERS
        + (
            "background",
            "include",
            "max_output_tokens",
            "max_tool_calls",
            "parallel_tool_calls",
            "previous_response_id",
            "reasoning",
            "service_tier",
            "store",
            "text",
            "tool_choice",
            "top_logprobs",
            "truncation",
            "timeout",
            "api_base",
            "api_version",
        )
    ),
    # the voice legs, which ddtrace's integrations do not trace: the OpenAI API's parameters
    "transcription": frozenset(
        (
            "language",
            "prompt",
            "response_format",
            "temperature",
            "timestamp_granularities",
            "stream",
            "user",
            "timeout",
            "api_base",
            "api_version",
        )
    ),
    "speech": frozenset(
        (
            "voice",
            "response_format",
            "speed",
            "instructions",
            "user",
            "timeout",
            "api_base",
            "api_version",
        )
    ),
}
# What ddtrace's integration keeps of a model list's deployments: never their credentials.
_MODEL_LIST_PARAMS = ("api_base", "model", "organization", "max_tokens", "temperature", "tags")
_ROUTER_SETTINGS = (
    "router_general_settings",
    "routing_strategy",
    "routing_strategy_args",
    "provider_budget_config",
    "retry_policy",
    "enable_tag_filtering",
)
_INPUT_KEY = {
    "chat": "messages",
    "text_completion": "prompt",
    "embeddings": "input",
    "responses": "input",
    "transcription": "file",
    "speech": "input",
}
_SENTINELS = ("Omit", "NotGiven")  # the openai SDK's markers of a parameter not given
_MAX_DEPTH = 16


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
    operation = facts.operation
    succeeded = facts.outcome == "success"
    output, finish_reason, usage = None, None, None
    if streamed is not None and (succeeded or facts.outcome == "cancelled"):  # what the caller read
        output, finish_reason, usage = _assembled_output(operation, streamed.chunks)
    elif succeeded and response is not None:
        output, finish_reason = _output(operation, response, facts)
        usage = read_member(response, "usage")
    if request is not None:
        request.operation = operation
        if succeeded:
            request.llmobs_output, request.finish_reason = output, finish_reason
    if span.name != ATTEMPT_SPAN:
        try:
            LLMObs.annotate(span=span, tags=fallback_tags(facts))
        except Exception:  # its kind is set when it finishes: LLMObs complains, the tags are in
            pass
        return
    metadata = _parameters(kwargs, operation)
    if finish_reason:
        metadata["finish_reason"] = finish_reason
    if "model" in kwargs and (kwargs.get("base_url") or kwargs.get("api_base")):
        metadata["model"] = _plain(kwargs["model"])
    _annotate_span(
        span,
        {
            "tags": fallback_tags(facts),
            "metrics": _metrics(facts, usage) or None,
            "metadata": metadata,
            "tool_definitions": _tool_definitions(kwargs.get("tools")),
        },
        input_data=_input(operation, kwargs.get(_INPUT_KEY.get(operation)), kwargs) or None,
        output_data=output or None,
        parsed_as="documents" if operation == "embeddings" else "messages",
    )


def _metrics(facts, usage):
    """Token, cache and cost metrics under the keys ddtrace's integrations use."""
    metrics = {}
    if facts.input_tokens is not None:
        metrics["input_tokens"] = facts.input_tokens
    if facts.output_tokens is not None:
        metrics["output_tokens"] = facts.output_tokens
    if metrics:
        metrics["total_tokens"] = sum(metrics.values())
    reasoning = facts.reasoning_tokens
    if reasoning is None and usage is not None:
        reasoning = _reported_reasoning_tokens(usage)
    if reasoning is not None:
        metrics["reasoning_output_tokens"] = reasoning
    if usage is not None:
        metrics.update(_cache_metrics(usage))
    cost = facts.cost_usd if facts.cost_usd is not None else _usage_cost(usage)
    if cost is not None:
        metrics["total_cost"] = cost
    return metrics


def _reported_reasoning_tokens(usage):
    """The usage's reasoning tokens as LiteLLM reports them, its 0 included: ddtrace's
    integration writes that 0 to LLM Observability (the APM span, read from facts, keeps only
    counts a provider reported)."""
    details = reader(usage)("completion_tokens_details", None)
    value = reader(details)("reasoning_tokens", None) if details is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _cache_metrics(usage):
    """Cache reads and writes, from LiteLLM's usage (chat: prompt_tokens_details; Responses
    API: input_tokens_details; older LiteLLM: cache_creation_input_tokens on the usage)."""
    details = read_member(usage, "prompt_tokens_details") or read_member(usage, "input_tokens_details")
    metrics = {}
    written, split = None, None
    if details is not None:
        read_details = reader(details)
        cached = _count(read_details("cached_tokens", None))
        if cached:
            metrics["cache_read_input_tokens"] = cached
        written = _count(read_member(details, "cache_creation_tokens"))
        split = read_details("cache_creation_token_details", None) if written else None
    if written is None:
        written = _count(read_member(usage, "cache_creation_input_tokens"))
    if written:
        metrics["cache_write_input_tokens"] = written
        if split is not None:  # by time to live; without a split, all writes are 5 minutes
            read_split = reader(split)
            metrics["ephemeral_1h_input_tokens"] = _count(read_split("ephemeral_1h_input_tokens", None)) or 0
            metrics["ephemeral_5m_input_tokens"] = _count(read_split("ephemeral_5m_input_tokens", None)) or 0
        else:
            metrics["ephemeral_1h_input_tokens"] = 0
            metrics["ephemeral_5m_input_tokens"] = written
    return metrics


def _usage_cost(usage):
    """The cost a provider reports in its usage (OpenRouter's `cost`, LiteLLM's streamed usage),
    upstream inference included when billed to the user's own key."""
    if usage is None:
        return None
    cost = read_member(usage, "cost")  # LiteLLM deletes it where the provider gave none
    if not isinstance(cost, (int, float)) or isinstance(cost, bool):
        return None
    read = reader(usage)
    if read("is_byok", False):
        upstream = reader(read("cost_details", None) or {})("upstream_inference_cost", None)
        if isinstance(upstream, (int, float)) and not isinstance(upstream, bool):
            cost += upstream
    return float(cost)


# -- requests --------------------------------------------------------------------------------


def annotate_request(span: Any, state: Any, outcome: str) -> None:
    """The request's workflow span: the outcome tags, the request's input, the answer of its
    last successful attempt, its parameters and, for a Router, the Router's settings."""
    if span is None or not llmobs_enabled():
        return
    kwargs = state.kwargs if state.kwargs is not None else {}
    operation = state.operation or _operation_of(kwargs)
    metadata = _parameters(kwargs, operation)
    if state.finish_reason and outcome == "success":
        metadata["finish_reason"] = state.finish_reason
    if "model" in kwargs and (kwargs.get("base_url") or kwargs.get("api_base")):
        metadata["model"] = _plain(kwargs["model"])
    elif state.router is not None:
        metadata["router_settings"] = router_settings(state.router)
    value = kwargs.get(_INPUT_KEY.get(operation))  # positional arguments named: `tracing.begin_request`
    # A workflow span's input and output are any JSON value: nothing to refuse.
    tags = {
        "llm.attempts": str(state.attempts),
        "llm.fallback.used": bool_tag(state.fallback_used),
        "llm.final.provider": state.final_provider or "",
        "llm.final.model": state.final_model or "",
        "llm.outcome": outcome,
    }
    tags.update(state.caller_span_tags)  # who called, where LiteLLM's proxy says so
    _annotate_span(
        span,
        {
            "tags": tags,
            "metadata": metadata,
        },
        input_data=_input(operation, value, kwargs) or None,
        output_data=state.llmobs_output if outcome == "success" and state.llmobs_output else None,
    )


def _operation_of(kwargs):
    """A request's operation when no attempt said it (one that failed before any attempt)."""
    if "messages" in kwargs:
        return "chat"
    if "prompt" in kwargs:
        return "text_completion"
    return None


def _attribute(source, name):
    try:
        return getattr(source, name, None)
    except Exception:  # litellm's Rust core raises its own error for members it does not serve
        return None


def router_settings(router):
    """The Router's settings as ddtrace's integration records them, read at most once a
    minute per Router: they seldom change, and reading them (its model list above all) costs
    more than the rest of a request's annotations."""
    now = time.monotonic()
    try:
        cached = _settings_by_router.get(router)
    except TypeError:  # a Router that cannot be weakly referenced: read each time
        cached = None
    if cached is not None and now - cached[0] < _SETTINGS_KEPT_SECONDS:
        return cached[1]
    settings = _read_router_settings(router)
    try:
        _settings_by_router[router] = (now, settings)
    except TypeError:
        pass
    return settings


_SETTINGS_KEPT_SECONDS = 60.0
_settings_by_router: weakref.WeakKeyDictionary[object, tuple] = (
    weakref.WeakKeyDictionary()
)  # Router -> (read at, its settings)


def _read_router_settings(router):
    """LiteLLM 1.110's Router core keeps them in `settings()` (the Router's own attributes are
    deprecated there); older Routers hold them as attributes."""
    settings = None
    read_settings = _attribute(router, "settings")
    if callable(read_settings):
        try:
            settings = read_settings()
        except Exception:
            settings = None
    recorded = {}
    for name in _ROUTER_SETTINGS:
        value = _attribute(settings, name) if settings is not None else None
        if value is None:
            value = _attribute(router, name)
        recorded[name] = _plain(value)
    get_model_list = _attribute(router, "get_model_list")
    if callable(get_model_list):
        try:
            recorded["model_list"] = _model_list(get_model_list())
        except Exception:
            report_once("llmobs.router_settings")
    return recorded


def _model_list(deployments):
    if not isinstance(deployments, (list, tuple)):
        return None
    listed = []
    for deployment in deployments:
        if not is_mapping(deployment):
            continue
        params = deployment.get("litellm_params")
        params = mapping_or_empty(params)
        listed.append(
            {
                "model_name": _plain(deployment.get("model_name")),
                "litellm_params": {key: _plain(params[key]) for key in _MODEL_LIST_PARAMS if params.get(key)},
            }
        )
    return listed


# -- reading LiteLLM's kwargs and responses --------------------------------------------------


def _plain(value, depth=0):
    """A JSON-ready copy: pydantic models dumped, classes by name, anything else as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > _MAX_DEPTH:
        return str(value)
    # Concrete types before the Mapping check, a Python-level call of ABCMeta.__instancecheck__.
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item, depth + 1) for item in value]
    if is_mapping(value):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, type):
        return value.__name__
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _plain(dump(exclude_none=True), depth + 1)
        except Exception:
            pass
    return str(value)


def _parameters(kwargs, operation):
    keys = PARAMETER_KEYS.get(operation)
    if not keys:
        return {}
    parameters = {}
    for key in keys.intersection(kwargs):  # in C: a call passes LiteLLM's many other arguments too
        value = kwargs[key]
        if type(value).__name__ not in _SENTINELS:
            parameters[key] = _model_list(value) if key == "model_list" else _plain(value)
    return parameters


def _tool_definitions(tools):
    """Chat (`{"type": "function", "function": {...}}`) and Responses API tools alike."""
    if not isinstance(tools, (list, tuple)):
        return None
    definitions = []
    for tool in tools:
        read = reader(tool)
        function = read("function", None) or read("custom", None)
        source = reader(function) if function is not None else read
        name = source("name", None)
        if not isinstance(name, str) or not name:
            continue
        definition = {"name": name, "description": str(source("description", None) or "")}
        schema = source("parameters", None) or source("format", None) or source("input_schema", None)
        definition["schema"] = _plain(schema) if is_mapping(schema) else {}
        definitions.append(definition)
    return definitions or None


def _text(content):
    """A message's content as text: the parts of a content list joined, a part that is not
    text named by its type, as ddtrace's integration does."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            read = reader(part)
            text = read("text", None)
            texts.append(text if isinstance(text, str) else "[%s]" % (read("type", None) or "content"))
        return "\n".join(texts)
    return str(content)


def _tool_call(name, arguments, tool_id=None, kind=None):
    """A tool call as LLM Observability takes it: arguments a dict, decoded from JSON text."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = {"value": arguments}
    if arguments is None:
        arguments = {}
    elif not is_mapping(arguments):
        arguments = {"value": _plain(arguments)}
    call = {"name": str(name), "arguments": _plain(arguments)}
    if tool_id:
        call["tool_id"] = str(tool_id)
    if kind:
        call["type"] = str(kind)
    return call


def _chat_tool_calls(message_read):
    calls = []
    for raw in message_read("tool_calls", None) or ():
        read = reader(raw)
        function = read("function", None) or read("custom", None)
        if function is None:
            continue
        function_read = reader(function)
        name = function_read("name", None)
        if name:  # LLM Observability refuses a call without a name
            arguments = function_read("arguments", None)
            if arguments is None:
                arguments = function_read("input", None)
            calls.append(_tool_call(name, arguments, read("id", None), read("type", None) or "function"))
    legacy = message_read("function_call", None)
    if legacy is not None:
        legacy_read = reader(legacy)
        if legacy_read("name", None):
            calls.append(_tool_call(legacy_read("name", None), legacy_read("arguments", None)))
    return calls


def _chat_message(message):
    if isinstance(message, str):
        return {"content": message}
    read = reader(message)
    role = read("role", None)
    converted = {"content": _text(read("content", None))}
    if role:
        converted["role"] = str(role)
    calls = _chat_tool_calls(read)
    if calls:
        converted["tool_calls"] = calls
    if role == "tool":  # a tool's result, handed back to the model
        result = {"result": converted["content"], "type": str(read("type", None) or "tool_result")}
        for key, value in (("name", read("name", None)), ("tool_id", read("tool_call_id", None))):
            if value:
                result[key] = str(value)
        converted["tool_results"] = [result]
        converted["content"] = ""
    return converted


def _chat_input(messages):
    if isinstance(messages, str):
        return [{"content": messages}]
    if not isinstance(messages, (list, tuple)):
        return []
    return [_chat_message(message) for message in messages]


def _texts(value, field):
    """One `{field: text}` per text of a prompt or an embedding input, as ddtrace's
    integrations send them (a prompt's messages have no role); a list of token ids is one."""
    if isinstance(value, str):
        return [{field: value}]
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], int):
        return [{field: item if isinstance(item, str) else _plain_text(item)} for item in value]
    return [{field: _plain_text(value)}] if value is not None else []


def _plain_text(value):
    return json.dumps(_plain(value))


def _responses_item(item):
    """One input or output item of the Responses API as a message."""
    if isinstance(item, str):
        return {"content": item, "role": "user"}
    read = reader(item)
    kind = read("type", None)
    if kind == "function_call":
        return {
            "content": "",
            "role": "assistant",
            "tool_calls": [_tool_call(read("name", None) or "", read("arguments", None), read("call_id", None), kind)],
        }
    if kind == "function_call_output":
        output = read("output", None)
        result = {"result": output if isinstance(output, str) else _text(output), "type": kind}
        if read("call_id", None):
            result["tool_id"] = str(read("call_id", None))
        return {"content": "", "role": "user", "tool_results": [result]}
    if kind == "reasoning":
        return {"content": _text(read("summary", None)), "role": "reasoning"}
    role = read("role", None)
    if role is not None or kind == "message":
        return {"content": _text(read("content", None)), "role": str(role or "assistant")}
    return {"content": "[%s]" % (kind or "item")}


def _responses_input(value, kwargs):
    messages = []
    instructions = kwargs.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"content": instructions, "role": "system"})
    if isinstance(value, str):
        messages.append({"content": value, "role": "user"})
    elif isinstance(value, (list, tuple)):
        messages.extend(_responses_item(item) for item in value)
    return [message for message in messages if not _nameless_call(message)]


def _nameless_call(message):
    calls = message.get("tool_calls")
    return bool(calls) and not all(call["name"] for call in calls)


def _input(operation, value, kwargs):
    if operation == "chat":
        return _chat_input(value)
    if operation == "text_completion":
        return _texts(value, "content")
    if operation == "embeddings":
        return _texts(value, "text")
    if operation == "responses":
        return _responses_input(value, kwargs)
    if operation == "transcription":  # the audio described, never its content
        return [{"content": voice_facts.describe_upload_text(value), "role": "user"}] if value is not None else None
    if operation == "speech":
        return [{"content": value, "role": "user"}] if isinstance(value, str) else None
    return None


def _finish_reason(reasons):
    """ddtrace's form: the choices' reasons in order, comma-joined."""
    joined = ",".join(str(reason) for reason in reasons if reason)
    return joined or None


def _output(operation, response, facts=None):
    """(output data, finish_reason) of a response that is not a stream (`facts`: its attempt's)."""
    if operation == "speech":  # the audio described, never its content
        return [{"content": voice_facts.describe_speech(facts), "role": "assistant"}], None
    if operation == "transcription":
        text = read_member(response, "text")
        return ([{"content": text, "role": "assistant"}] if isinstance(text, str) else None), None
    read = reader(response)
    if operation == "embeddings":
        data = read("data", None)
        if not isinstance(data, (list, tuple)):
            return None, None
        vector = reader(data[0])("embedding", None) if data else None
        if isinstance(vector, (list, tuple)):
            return "[%d embedding(s) returned with size %d]" % (len(data), len(vector)), None
        return "[%d embedding(s) returned]" % len(data), None
    if operation == "responses":
        items = read("output", None)
        if not isinstance(items, (list, tuple)):
            return None, None
        messages = [_responses_item(item) for item in items]
        return [message for message in messages if not _nameless_call(message)], None
    messages, reasons = [], []
    for choice in read("choices", None) or ():
        choice_read = reader(choice)
        reasons.append(choice_read("finish_reason", None))
        message = choice_read("message", None)
        if message is None:  # text completion
            messages.append({"content": _text(choice_read("text", None))})
            continue
        reasoning = read_member(message, "reasoning_content")
        if reasoning:
            messages.append({"content": str(reasoning), "role": "reasoning"})
        messages.append(_chat_message(message))
    return messages, _finish_reason(reasons)


def _assembled_output(operation, chunks):
    """(output data, finish_reason, usage) of a stream read to its end, from its chunks."""
    usage = None
    if operation == "responses":  # events; the last one carries the whole response
        for event in reversed(chunks):
            response = reader(event)("response", None)
            if response is not None:
                output, reason = _output(operation, response)
                return output, reason, reader(response)("usage", None)
        return None, None, None
    choices = {}
    for chunk in chunks:
        chunk_usage = read_member(chunk, "usage")  # LiteLLM deletes it from every chunk but the last
        if chunk_usage is not None:
            usage = chunk_usage
        for choice in read_member(chunk, "choices") or ():
            _StreamedChoice.of(choices, choice).add(choice)
    messages, reasons = [], []
    for index in sorted(choices):
        choice = choices[index]
        messages.extend(choice.messages(operation))
        reasons.append(choice.finish_reason)
    return messages, _finish_reason(reasons), usage


class _StreamedChoice:
    """One choice of a stream, its deltas put together. Their members are read with
    `read_member`: LiteLLM keeps a streamed choice's and a delta's members as pydantic
    extras, where a getattr goes through pydantic's `__getattr__` (~1 us each, ~4 times
    `read_member`), for every member of every chunk."""

    __slots__ = ("role", "content", "reasoning", "tool_calls", "finish_reason")

    def __init__(self):
        self.role = None
        self.content = []
        self.reasoning = []
        self.tool_calls = {}  # index -> {"id", "type", "name", "arguments"}
        self.finish_reason = None

    @classmethod
    def of(cls, choices, choice):
        index = read_member(choice, "index") or 0
        found = choices.get(index)
        if found is None:
            found = choices[index] = cls()
        return found

    def add(self, choice):
        reason = read_member(choice, "finish_reason")
        if reason and not self.finish_reason:
            self.finish_reason = reason
        delta = read_member(choice, "delta")
        if delta is None:  # text completion
            text = read_member(choice, "text")
            if text:
                self.content.append(str(text))
            return
        role = read_member(delta, "role")
        if role and not self.role:
            self.role = role
        text = read_member(delta, "content")
        if text:
            self.content.append(str(text))
        text = read_member(delta, "reasoning_content")  # deleted from a delta that has none
        if text:
            self.reasoning.append(str(text))
        for call in read_member(delta, "tool_calls") or ():
            self._add_tool_call(call)

    def _add_tool_call(self, call):
        index = read_member(call, "index")
        entry = self.tool_calls.get(index)
        if entry is None:
            entry = self.tool_calls[index] = {"id": None, "type": None, "name": "", "arguments": ""}
        entry["id"] = entry["id"] or read_member(call, "id")
        entry["type"] = entry["type"] or read_member(call, "type")
        function = read_member(call, "function")
        if function is not None:
            entry["name"] += read_member(function, "name") or ""
            entry["arguments"] += read_member(function, "arguments") or ""

    def messages(self, operation):
        if operation == "text_completion":
            return [{"content": "".join(self.content)}]
        messages = []
        if self.reasoning:
            messages.append({"content": "".join(self.reasoning), "role": "reasoning"})
        message = {"content": "".join(self.content)}
        if self.role:
            message["role"] = str(self.role)
        calls = [
            _tool_call(entry["name"], entry["arguments"], entry["id"], entry["type"] or "function")
            for _index, entry in sorted(self.tool_calls.items(), key=lambda item: item[0] or 0)
            if entry["name"]
        ]
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
        return messages
