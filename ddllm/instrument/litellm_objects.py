"""What LiteLLM's objects hold, read one way.

LiteLLM hands over a mapping or an object (often a pydantic model) for the same thing, from
release to release and from provider to provider: `reader` and `read_member` read a member of
either, for the attempt's facts and for what follows here. What follows reads a call and its
answer as plain data, in the form ddtrace's integrations give LLM Observability: the call's
input and parameters, a Router's settings, the answer's messages (tool calls and tool
results included; a stream's, from the chunks the caller read), its token, cache and cost
metrics. `ddllm.instrument.llmobs` writes them on the spans.

A dict is known by its type before the Mapping check: `isinstance(x, Mapping)` is a
Python-level call of ABCMeta.__instancecheck__, and these run on every call.
"""

import functools
import json
import os
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from ddllm.instrument.safety import report_once


def is_mapping(value: object) -> TypeGuard[Mapping]:
    return type(value) is dict or isinstance(value, Mapping)


def mapping_or_empty(value: object) -> Mapping:
    """`value` if it is a mapping, else an empty one."""
    return value if type(value) is dict or isinstance(value, Mapping) else _NO_VALUES


def reader(container: object) -> Callable[[str, Any], Any]:
    """`read(name, default)` over a mapping's keys or an object's attributes: LiteLLM hands
    both. One lookup of the kind per container, then builtin calls only (a hot path)."""
    return (
        container.get
        if type(container) is dict or isinstance(container, Mapping)
        else functools.partial(getattr, container)
    )


def read_member(source: object, name: str) -> Any:
    """`reader(source)(name, None)` for a public member that is often absent, without what a
    miss costs on a pydantic model: its `__getattr__` raises an AttributeError built in Python
    (benchmarks/README.md), and LiteLLM deletes its models' unset optional fields
    (a message's `reasoning_content`, say). A model's fields are in its `__dict__`, the members
    it was given beyond them in `__pydantic_extra__`; anything its class defines is read as
    usual. It is also the cheap read of a member kept as an extra (in LiteLLM 1.110 a response's
    usage, a streamed choice's and a delta's members): a getattr of one fails the normal lookup
    first, then runs pydantic's `__getattr__` in Python, several times this read's cost."""
    extra = getattr(source, "__pydantic_extra__", _NOT_A_MODEL)  # first: it is read per chunk
    if extra is _NOT_A_MODEL:
        return source.get(name) if type(source) is dict or isinstance(source, Mapping) else getattr(source, name, None)
    defined = _defined_by_class.get((type(source), name))  # in line: read per chunk
    if defined is None:
        defined = _class_defines(type(source), name)
    if defined:
        return getattr(source, name, None)
    value = getattr(source, "__dict__", _NO_VALUES).get(name, _ABSENT)
    if value is _ABSENT:
        value = extra.get(name) if type(extra) is dict else None  # a dict, or None
    return value


_NOT_A_MODEL = _ABSENT = object()
_NO_VALUES: dict = {}
_CLASS_MEMBERS_KEPT = 1024
_defined_by_class: dict[tuple[type, str], bool] = {}  # (class, name) -> whether the class or a base defines name


def _class_defines(cls, name):
    """Whether `cls` or a base defines `name`, kept in `_defined_by_class` (read there first)."""
    defined = any(name in vars(base) for base in cls.__mro__)
    if len(_defined_by_class) < _CLASS_MEMBERS_KEPT:
        _defined_by_class[(cls, name)] = defined
    return defined


# -- a call: its parameters and its input ----------------------------------------------------

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


def plain(value, depth=0):
    """A JSON-ready copy: pydantic models dumped, classes by name, anything else as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > _MAX_DEPTH:
        return str(value)
    # Concrete types before the Mapping check, a Python-level call of ABCMeta.__instancecheck__.
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item, depth + 1) for item in value]
    if is_mapping(value):
        return {str(key): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, type):
        return value.__name__
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return plain(dump(exclude_none=True), depth + 1)
        except Exception:
            pass
    return str(value)


def call_metadata(kwargs, operation, finish_reason=None):
    """LLM Observability's metadata of a call: its parameters, the answer's finish_reason and,
    for a call to a base URL of the caller's, the model as given."""
    metadata = _parameters(kwargs, operation)
    if finish_reason:
        metadata["finish_reason"] = finish_reason
    if "model" in kwargs and (kwargs.get("base_url") or kwargs.get("api_base")):
        metadata["model"] = plain(kwargs["model"])
    return metadata


def _parameters(kwargs, operation):
    keys = PARAMETER_KEYS.get(operation)
    if not keys:
        return {}
    parameters = {}
    for key in keys.intersection(kwargs):  # in C: a call passes LiteLLM's many other arguments too
        value = kwargs[key]
        if type(value).__name__ not in _SENTINELS:
            parameters[key] = model_list(value) if key == "model_list" else plain(value)
    return parameters


def model_list(deployments):
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
                "model_name": plain(deployment.get("model_name")),
                "litellm_params": {key: plain(params[key]) for key in _MODEL_LIST_PARAMS if params.get(key)},
            }
        )
    return listed


def tool_definitions(tools):
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
        definition["schema"] = plain(schema) if is_mapping(schema) else {}
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
        arguments = {"value": plain(arguments)}
    call = {"name": str(name), "arguments": plain(arguments)}
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
    return json.dumps(plain(value))


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


def call_input(operation, kwargs):
    """A call's input as LLM Observability takes it: messages, texts or documents (`kwargs`:
    the call's arguments, positional ones named)."""
    value = kwargs.get(_INPUT_KEY.get(operation))
    if operation == "chat":
        return _chat_input(value)
    if operation == "text_completion":
        return _texts(value, "content")
    if operation == "embeddings":
        return _texts(value, "text")
    if operation == "responses":
        return _responses_input(value, kwargs)
    if operation == "transcription":  # the audio described, never its content
        return [{"content": _described_upload(value), "role": "user"}] if value is not None else None
    if operation == "speech":
        return [{"content": value, "role": "user"}] if isinstance(value, str) else None
    return None


# -- a Router --------------------------------------------------------------------------------

_ROUTER_SETTINGS = (
    "router_general_settings",
    "routing_strategy",
    "routing_strategy_args",
    "provider_budget_config",
    "retry_policy",
    "enable_tag_filtering",
)


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
            recorded["model_list"] = model_list(get_model_list())
        except Exception:
            report_once("llmobs.router_settings")
    return recorded


# -- an answer: its output and its usage -----------------------------------------------------


def _finish_reason(reasons):
    """ddtrace's form: the choices' reasons in order, comma-joined."""
    joined = ",".join(str(reason) for reason in reasons if reason)
    return joined or None


def answer(operation, response, facts):
    """(output data, finish_reason, usage) of a response that is not a stream (`facts`: its
    attempt's)."""
    output, finish_reason = _output(operation, response, facts)
    return output, finish_reason, read_member(response, "usage")


def _output(operation, response, facts=None):
    """(output data, finish_reason) of a response that is not a stream (`facts`: its attempt's)."""
    if operation == "speech":  # the audio described, never its content
        return [{"content": _described_speech(facts), "role": "assistant"}], None
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


def streamed_answer(operation, chunks):
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
    extras, where a getattr goes through pydantic's `__getattr__` (benchmarks/README.md), for
    every member of every chunk."""

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


def token_metrics(facts, usage):
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


# -- audio -----------------------------------------------------------------------------------

# Described (name, size, format), never read or copied: no audio content leaves the caller's
# objects.


def _upload_described(file):
    """{name, bytes, format} of an uploaded audio file as LiteLLM takes it (bytes, a path, an
    open file, or a `(name, content[, content type])` tuple), without reading its content."""
    name = content_type = None
    if isinstance(file, tuple) and len(file) >= 2:
        name, content = file[0], file[1]
        if len(file) >= 3 and isinstance(file[2], str):
            content_type = file[2]
        file = content
    size = _upload_size(file)
    if name is None:
        name = getattr(file, "name", None) if not isinstance(file, (bytes, bytearray)) else None
        if isinstance(file, (str, os.PathLike)):
            name = file
    described = {}
    if isinstance(name, (str, os.PathLike)):
        described["name"] = os.path.basename(os.fspath(name))
    if size is not None:
        described["bytes"] = size
    audio_format = content_type or _extension(described.get("name"))
    if audio_format:
        described["format"] = audio_format
    return described


def _upload_size(file):
    if isinstance(file, (bytes, bytearray, memoryview)):
        return len(file)
    try:
        if isinstance(file, (str, os.PathLike)):
            return os.stat(file).st_size
        getbuffer = getattr(file, "getbuffer", None)  # io.BytesIO
        if callable(getbuffer):
            return getbuffer().nbytes
        fileno = getattr(file, "fileno", None)
        if callable(fileno):
            return os.fstat(fileno()).st_size
    except Exception:
        return None
    return None


def _extension(name):
    if not name or "." not in name:
        return None
    return name.rsplit(".", 1)[1].lower() or None


def _described_speech(facts):
    """What a speech attempt returned, in words: its format and size, never the audio."""
    parts = [facts.speech_format or "audio"]
    if facts.speech_bytes is not None:
        parts.append("%d bytes" % facts.speech_bytes)
    return "[%s]" % ", ".join(parts)


def _described_upload(file):
    """An uploaded audio file in words, for LLM Observability's input."""
    described = _upload_described(file)
    parts = [described.get("name") or "audio"]
    if "bytes" in described:
        parts.append("%d bytes" % described["bytes"])
    if "format" in described:
        parts.append(described["format"])
    return "[audio: %s]" % ", ".join(parts)
