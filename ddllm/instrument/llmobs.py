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
from ddllm.instrument.members import plain
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
    read_streamed = streamed is not None and (succeeded or facts.outcome == "cancelled")  # what the caller read
    # The call and its answer, copied into plain data once, then read as dicts and lists
    answer = streamed.chunks if streamed is not None and read_streamed else response if succeeded else None
    asked, answer = plain((_asked(kwargs, operation), answer))
    output, finish_reason, usage = None, None, None
    if read_streamed:
        output, finish_reason, usage = _assembled_output(operation, answer)
    elif answer is not None:
        output, finish_reason = _output(operation, answer, facts)
        usage = answer.get("usage") if type(answer) is dict else None
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
    metadata = _parameters(asked, operation)
    if finish_reason:
        metadata["finish_reason"] = finish_reason
    if "model" in asked and (asked.get("base_url") or asked.get("api_base")):
        metadata["model"] = asked["model"]
    value = facts.upload_description if operation == "transcription" else asked.get(_INPUT_KEY.get(operation))
    _annotate_span(
        span,
        {
            "tags": fallback_tags(facts),
            "metrics": _metrics(facts, usage) or None,
            "metadata": metadata,
            "tool_definitions": _tool_definitions(asked.get("tools")),
        },
        input_data=_input(operation, value, asked) or None,
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
    usage = _dict(usage)
    reasoning = facts.reasoning_tokens
    if reasoning is None:
        reasoning = _reported_reasoning_tokens(usage)
    if reasoning is not None:
        metrics["reasoning_output_tokens"] = reasoning
    metrics.update(_cache_metrics(usage))
    cost = facts.cost_usd if facts.cost_usd is not None else _usage_cost(usage or None)
    if cost is not None:
        metrics["total_cost"] = cost
    return metrics


def _reported_reasoning_tokens(usage):
    """The usage's reasoning tokens as LiteLLM reports them, its 0 included: ddtrace's
    integration writes that 0 to LLM Observability (the APM span, read from facts, keeps only
    counts a provider reported)."""
    value = _dict(usage.get("completion_tokens_details")).get("reasoning_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value):
    """`value` if it is a dict (of plain data), else an empty one."""
    return value if type(value) is dict else _EMPTY


_EMPTY: dict = {}


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _cache_metrics(usage):
    """Cache reads and writes, from LiteLLM's usage (chat: prompt_tokens_details; Responses
    API: input_tokens_details; older LiteLLM: cache_creation_input_tokens on the usage)."""
    details = _dict(usage.get("prompt_tokens_details") or usage.get("input_tokens_details"))
    metrics = {}
    cached = _count(details.get("cached_tokens"))
    if cached:
        metrics["cache_read_input_tokens"] = cached
    written = _count(details.get("cache_creation_tokens"))
    split = details.get("cache_creation_token_details") if written else None
    if written is None:
        written = _count(usage.get("cache_creation_input_tokens"))
    if written:
        metrics["cache_write_input_tokens"] = written
        if type(split) is dict:  # by time to live; without a split, all writes are 5 minutes
            metrics["ephemeral_1h_input_tokens"] = _count(split.get("ephemeral_1h_input_tokens")) or 0
            metrics["ephemeral_5m_input_tokens"] = _count(split.get("ephemeral_5m_input_tokens")) or 0
        else:
            metrics["ephemeral_1h_input_tokens"] = 0
            metrics["ephemeral_5m_input_tokens"] = written
    return metrics


def _usage_cost(usage):
    """The cost a provider reports in its usage (OpenRouter's `cost`, LiteLLM's streamed usage),
    upstream inference included when billed to the user's own key."""
    if usage is None:
        return None
    cost = usage.get("cost")  # LiteLLM deletes it where the provider gave none
    if not isinstance(cost, (int, float)) or isinstance(cost, bool):
        return None
    if usage.get("is_byok", False):
        upstream = _dict(usage.get("cost_details")).get("upstream_inference_cost")
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
    asked = plain(_asked(kwargs, operation))  # positional arguments named: `tracing.begin_request`
    metadata = _parameters(asked, operation)
    if state.finish_reason and outcome == "success":
        metadata["finish_reason"] = state.finish_reason
    if "model" in asked and (asked.get("base_url") or asked.get("api_base")):
        metadata["model"] = asked["model"]
    elif state.router is not None:
        metadata["router_settings"] = router_settings(state.router)
    if operation == "transcription":  # the audio described, never its content
        file = kwargs.get("file")
        value = voice_facts.describe_upload_text(file) if file is not None else None
    else:
        value = asked.get(_INPUT_KEY.get(operation))
    tags = {
        "llm.attempts": str(state.attempts),
        "llm.fallback.used": bool_tag(state.fallback_used),
        "llm.final.provider": state.final_provider or "",
        "llm.final.model": state.final_model or "",
        "llm.outcome": outcome,
    }
    tags.update(state.caller_span_tags)  # who called, where LiteLLM's proxy says so
    # A workflow span's input and output are any JSON value: nothing to refuse.
    _annotate_span(
        span,
        {
            "tags": tags,
            "metadata": metadata,
        },
        input_data=_input(operation, value, asked) or None,
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
        recorded[name] = plain(value)
    get_model_list = _attribute(router, "get_model_list")
    if callable(get_model_list):
        try:
            recorded["model_list"] = _model_list(plain(get_model_list()))
        except Exception:
            report_once("llmobs.router_settings")
    return recorded


def _model_list(deployments):
    """A model list (plain data) as ddtrace's integration keeps it."""
    if type(deployments) is not list:
        return None
    listed = []
    for deployment in deployments:
        if type(deployment) is not dict:
            continue
        params = _dict(deployment.get("litellm_params"))
        listed.append(
            {
                "model_name": deployment.get("model_name"),
                "litellm_params": {key: params[key] for key in _MODEL_LIST_PARAMS if params.get(key)},
            }
        )
    return listed


# -- reading LiteLLM's kwargs and responses --------------------------------------------------


def _asked(kwargs, operation):
    """What LLM Observability reads of a call's arguments: its parameters, its input and its
    tools (not a transcription's audio: it is described, never copied). The openai SDK's
    markers of a parameter not given are left out."""
    keys = PARAMETER_KEYS.get(operation, frozenset()) | _READ_WITH_PARAMETERS.get(operation, _ALWAYS_READ)
    return {key: kwargs[key] for key in keys.intersection(kwargs) if type(kwargs[key]).__name__ not in _SENTINELS}


_ALWAYS_READ = frozenset(("tools", "model", "base_url", "api_base"))
_READ_WITH_PARAMETERS = {
    operation: _ALWAYS_READ | {key} for operation, key in _INPUT_KEY.items() if operation != "transcription"
}
_READ_WITH_PARAMETERS["responses"] = _READ_WITH_PARAMETERS["responses"] | {"instructions"}


def _parameters(asked, operation):
    keys = PARAMETER_KEYS.get(operation)
    if not keys:
        return {}
    parameters = {key: asked[key] for key in keys.intersection(asked)}
    if "model_list" in parameters:
        parameters["model_list"] = _model_list(parameters["model_list"])
    return parameters


def _tool_definitions(tools):
    """Chat (`{"type": "function", "function": {...}}`) and Responses API tools alike."""
    if type(tools) is not list:
        return None
    definitions = []
    for tool in tools:
        tool = _dict(tool)
        function = tool.get("function") or tool.get("custom")
        source = _dict(function) if function is not None else tool
        name = source.get("name")
        if not isinstance(name, str) or not name:
            continue
        definition = {"name": name, "description": str(source.get("description") or "")}
        schema = source.get("parameters") or source.get("format") or source.get("input_schema")
        definition["schema"] = schema if type(schema) is dict else {}
        definitions.append(definition)
    return definitions or None


def _text(content):
    """A message's content as text: the parts of a content list joined, a part that is not
    text named by its type, as ddtrace's integration does."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if type(content) is list:
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            part = _dict(part)
            text = part.get("text")
            texts.append(text if isinstance(text, str) else "[%s]" % (part.get("type") or "content"))
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
    elif type(arguments) is not dict:
        arguments = {"value": arguments}
    call = {"name": str(name), "arguments": arguments}
    if tool_id:
        call["tool_id"] = str(tool_id)
    if kind:
        call["type"] = str(kind)
    return call


def _chat_tool_calls(message):
    calls = []
    for call in message.get("tool_calls") or ():
        call = _dict(call)
        function = _dict(call.get("function") or call.get("custom"))
        name = function.get("name")
        if name:  # LLM Observability refuses a call without a name
            arguments = function.get("arguments")
            if arguments is None:
                arguments = function.get("input")
            calls.append(_tool_call(name, arguments, call.get("id"), call.get("type") or "function"))
    legacy = _dict(message.get("function_call"))
    if legacy.get("name"):
        calls.append(_tool_call(legacy["name"], legacy.get("arguments")))
    return calls


def _chat_message(message):
    if isinstance(message, str):
        return {"content": message}
    message = _dict(message)
    role = message.get("role")
    converted = {"content": _text(message.get("content"))}
    if role:
        converted["role"] = str(role)
    calls = _chat_tool_calls(message)
    if calls:
        converted["tool_calls"] = calls
    if role == "tool":  # a tool's result, handed back to the model
        result = {"result": converted["content"], "type": str(message.get("type") or "tool_result")}
        for key, value in (("name", message.get("name")), ("tool_id", message.get("tool_call_id"))):
            if value:
                result[key] = str(value)
        converted["tool_results"] = [result]
        converted["content"] = ""
    return converted


def _chat_input(messages):
    if isinstance(messages, str):
        return [{"content": messages}]
    if type(messages) is not list:
        return []
    return [_chat_message(message) for message in messages]


def _texts(value, field):
    """One `{field: text}` per text of a prompt or an embedding input, as ddtrace's
    integrations send them (a prompt's messages have no role); a list of token ids is one."""
    if isinstance(value, str):
        return [{field: value}]
    if type(value) is list and value and not isinstance(value[0], int):
        return [{field: item if isinstance(item, str) else json.dumps(item)} for item in value]
    return [{field: json.dumps(value)}] if value is not None else []


def _responses_item(item):
    """One input or output item of the Responses API as a message."""
    if isinstance(item, str):
        return {"content": item, "role": "user"}
    item = _dict(item)
    kind = item.get("type")
    if kind == "function_call":
        return {
            "content": "",
            "role": "assistant",
            "tool_calls": [_tool_call(item.get("name") or "", item.get("arguments"), item.get("call_id"), kind)],
        }
    if kind == "function_call_output":
        output = item.get("output")
        result = {"result": output if isinstance(output, str) else _text(output), "type": kind}
        if item.get("call_id"):
            result["tool_id"] = str(item["call_id"])
        return {"content": "", "role": "user", "tool_results": [result]}
    if kind == "reasoning":
        return {"content": _text(item.get("summary")), "role": "reasoning"}
    role = item.get("role")
    if role is not None or kind == "message":
        return {"content": _text(item.get("content")), "role": str(role or "assistant")}
    return {"content": "[%s]" % (kind or "item")}


def _responses_input(value, asked):
    messages = []
    instructions = asked.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"content": instructions, "role": "system"})
    if isinstance(value, str):
        messages.append({"content": value, "role": "user"})
    elif type(value) is list:
        messages.extend(_responses_item(item) for item in value)
    return [message for message in messages if not _nameless_call(message)]


def _nameless_call(message):
    calls = message.get("tool_calls")
    return bool(calls) and not all(call["name"] for call in calls)


def _input(operation, value, asked):
    """The input of a call (`asked`, plain data): `value` is its input argument, or for a
    transcription the audio described."""
    if operation == "chat":
        return _chat_input(value)
    if operation == "text_completion":
        return _texts(value, "content")
    if operation == "embeddings":
        return _texts(value, "text")
    if operation == "responses":
        return _responses_input(value, asked)
    if operation in ("transcription", "speech"):  # the audio described, never its content
        return [{"content": value, "role": "user"}] if isinstance(value, str) else None
    return None


def _finish_reason(reasons):
    """ddtrace's form: the choices' reasons in order, comma-joined."""
    joined = ",".join(str(reason) for reason in reasons if reason)
    return joined or None


def _output(operation, answer, facts=None):
    """(output data, finish_reason) of an answer that is not a stream (plain data; `facts`:
    its attempt's)."""
    if operation == "speech":  # the audio described, never its content
        return [{"content": facts.speech_description, "role": "assistant"}], None
    answer = _dict(answer)
    if operation == "transcription":
        text = answer.get("text")
        return ([{"content": text, "role": "assistant"}] if isinstance(text, str) else None), None
    if operation == "embeddings":
        data = answer.get("data")
        if type(data) is not list:
            return None, None
        vector = _dict(data[0]).get("embedding") if data else None
        if type(vector) is list:
            return "[%d embedding(s) returned with size %d]" % (len(data), len(vector)), None
        return "[%d embedding(s) returned]" % len(data), None
    if operation == "responses":
        items = answer.get("output")
        if type(items) is not list:
            return None, None
        messages = [_responses_item(item) for item in items]
        return [message for message in messages if not _nameless_call(message)], None
    messages, reasons = [], []
    for choice in answer.get("choices") or ():
        choice = _dict(choice)
        reasons.append(choice.get("finish_reason"))
        message = choice.get("message")
        if message is None:  # text completion
            messages.append({"content": _text(choice.get("text"))})
            continue
        reasoning = _dict(message).get("reasoning_content")
        if reasoning:
            messages.append({"content": str(reasoning), "role": "reasoning"})
        messages.append(_chat_message(message))
    return messages, _finish_reason(reasons)


def _assembled_output(operation, chunks):
    """(output data, finish_reason, usage) of a stream read to its end, from its chunks (plain
    data)."""
    usage = None
    if operation == "responses":  # events; the last one carries the whole response
        for event in reversed(chunks):
            response = _dict(event).get("response")
            if response is not None:
                output, reason = _output(operation, response)
                return output, reason, _dict(response).get("usage")
        return None, None, None
    choices = {}
    for chunk in chunks:
        chunk = _dict(chunk)
        chunk_usage = chunk.get("usage")  # LiteLLM deletes it from every chunk but the last
        if chunk_usage is not None:
            usage = chunk_usage
        for choice in chunk.get("choices") or ():
            choice = _dict(choice)
            index = choice.get("index") or 0
            found = choices.get(index)
            if found is None:
                found = choices[index] = _StreamedChoice()
            found.add(choice)
    messages, reasons = [], []
    for index in sorted(choices):
        choice = choices[index]
        messages.extend(choice.messages(operation))
        reasons.append(choice.finish_reason)
    return messages, _finish_reason(reasons), usage


class _StreamedChoice:
    """One choice of a stream, its deltas put together."""

    __slots__ = ("role", "content", "reasoning", "tool_calls", "finish_reason")

    def __init__(self):
        self.role = None
        self.content = []
        self.reasoning = []
        self.tool_calls = {}  # index -> {"id", "type", "name", "arguments"}
        self.finish_reason = None

    def add(self, choice):
        reason = choice.get("finish_reason")
        if reason and not self.finish_reason:
            self.finish_reason = reason
        delta = choice.get("delta")
        if delta is None:  # text completion
            text = choice.get("text")
            if text:
                self.content.append(str(text))
            return
        delta = _dict(delta)
        role = delta.get("role")
        if role and not self.role:
            self.role = role
        text = delta.get("content")
        if text:
            self.content.append(str(text))
        text = delta.get("reasoning_content")
        if text:
            self.reasoning.append(str(text))
        for call in delta.get("tool_calls") or ():
            self._add_tool_call(_dict(call))

    def _add_tool_call(self, call):
        index = call.get("index")
        entry = self.tool_calls.get(index)
        if entry is None:
            entry = self.tool_calls[index] = {"id": None, "type": None, "name": "", "arguments": ""}
        entry["id"] = entry["id"] or call.get("id")
        entry["type"] = entry["type"] or call.get("type")
        function = _dict(call.get("function"))
        entry["name"] += function.get("name") or ""
        entry["arguments"] += function.get("arguments") or ""

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
