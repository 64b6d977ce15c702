"""What one attempt is, read from LiteLLM's kwargs, response, exception and stream.

Nothing here touches ddtrace or DogStatsD, so spans and metrics read the same facts, and
every reader tolerates any shape: LiteLLM's kwargs come from user code and from LiteLLM
internals that change between releases. A value that cannot be read is left out, never
guessed, and never raises (the callers still guard every call). The provider's HTTP calls
of an attempt are counted in `ddllm.instrument.http_calls`.
"""

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ddllm import catalogue
from ddllm.instrument import voice_facts
from ddllm.instrument.litellm_objects import is_mapping, mapping_or_empty, read_member, reader
from ddllm.instrument.tags import normalize_tag_value

# Rate-limit headers in every family providers send, as LiteLLM forwards them (also with an
# `llm_provider-` prefix): OpenAI's (OpenAI, Azure, DeepSeek, Groq, ...; LiteLLM also writes
# Anthropic's tokens under these names), Anthropic's, Mistral's per-minute ones.
_FORWARDED_PREFIX = "llm_provider-"


def _as_sent_and_forwarded(*names):
    """The keys to look up for each header name, in order: as sent, then as LiteLLM forwards it."""
    return tuple(key for name in names for key in (name, _FORWARDED_PREFIX + name))


_REMAINING_REQUESTS_HEADERS = _as_sent_and_forwarded(
    "x-ratelimit-remaining-requests",
    "anthropic-ratelimit-requests-remaining",
    "x-ratelimit-remaining-req-minute",
)
_LIMIT_REQUESTS_HEADERS = _as_sent_and_forwarded(
    "x-ratelimit-limit-requests",
    "anthropic-ratelimit-requests-limit",
    "x-ratelimit-limit-req-minute",
)
_REMAINING_TOKENS_HEADERS = _as_sent_and_forwarded(
    "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-input-tokens-remaining",
    "x-ratelimit-remaining-tokens-minute",
)
_LIMIT_TOKENS_HEADERS = _as_sent_and_forwarded(
    "x-ratelimit-limit-tokens",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-input-tokens-limit",
    "x-ratelimit-limit-tokens-minute",
)
_RATE_LIMIT_KEYS = frozenset(
    _REMAINING_REQUESTS_HEADERS + _LIMIT_REQUESTS_HEADERS + _REMAINING_TOKENS_HEADERS + _LIMIT_TOKENS_HEADERS
)

# LiteLLM's route prefixes, which choose its API for a provider and are no part of the model's
# name: `bedrock/converse/anthropic.claude-...` and `cohere_chat/v1/command-r`.
_ROUTE_PREFIXES = {
    "bedrock": ("converse/", "invoke/", "converse_like/", "chat_completions/"),
    "cohere": ("v1/", "v2/"),
    "cohere_chat": ("v1/", "v2/"),
}

# Exception class names, so no LiteLLM import is needed to classify (and subclasses count).
_RATE_LIMIT_ERRORS = frozenset({"RateLimitError"})
_TIMEOUT_ERRORS = frozenset({"Timeout", "TimeoutError", "APITimeoutError", "ReadTimeout", "ConnectTimeout"})
_CANCELLED_ERRORS = frozenset({"CancelledError", "GeneratorExit", "KeyboardInterrupt"})
_CONTEXT_WINDOW_ERRORS = frozenset({"ContextWindowExceededError"})
_CONTENT_POLICY_ERRORS = frozenset({"ContentPolicyViolationError"})


class AttemptFacts:
    """The facts of one attempt that spans and metrics report. Filled in two steps: at the
    start from the kwargs (values copied, since LiteLLM mutates `metadata` between attempts),
    at the end from the response or the exception."""

    # Class attributes are the defaults: a new attempt's facts cost no call of ours (a hot
    # path), and each fact read before it is known reads its default.
    provider = model = model_group = deployment_id = api_host = None
    stream = is_fallback = fallback_hop = False
    number = retry = fallback_depth = fallback_from = fallback_reason = fallback_type = None
    outcome = error_type = http_status = response_model = None
    input_tokens = output_tokens = cost_usd = remaining_requests = remaining_tokens = None
    limit_requests = limit_tokens = time_to_first_token = duration = response_id = None
    operation = "chat"
    reasoning_tokens = cache_read_tokens = cache_write_tokens = embedding_inputs = None
    embedding_dimensions = provider_calls = last_http_status = last_chunk = caller = None
    caller_span_tags: Sequence[tuple[str, str]] = ()  # `caller` as span tags (`caller_span_tags`)
    # voice (`ddllm.instrument.voice_facts`)
    audio_seconds = transcript_characters = speech_characters = speech_bytes = speech_format = None

    @property
    def target(self):
        """`{provider}/{model}`: the span resource and the fallback `from` value."""
        return "%s/%s" % (self.provider or "unknown", self.model or "unknown")


def metadata_of(kwargs: Mapping) -> Mapping:
    """The Router's metadata dict of an attempt (`metadata`, or `litellm_metadata` for the
    generic API endpoints), or an empty mapping."""
    for key in ("metadata", "litellm_metadata"):
        value = kwargs.get(key)
        if is_mapping(value) and ("model_group" in value or "deployment" in value):
            return value
    value = kwargs.get("metadata")
    return mapping_or_empty(value)


# Who called, as LiteLLM's proxy writes it from its auth into the metadata of each call it
# makes (`LiteLLMProxyRequestSetup.get_sanitized_user_information_from_key`, in `metadata`, or
# `litellm_metadata` on its newer routes): per `catalogue.PROXY_CALLER_TAGS` entry, the keys
# that carry it, the first with a value wins. Never `user_api_key` or `user_api_key_hash`:
# they hold the key itself or its hash.
_PROXY_CALLER_KEYS = {
    "llm.proxy.team": ("user_api_key_team_alias", "user_api_key_team_id"),
    "llm.proxy.key_alias": ("user_api_key_alias",),
    "llm.proxy.user": ("user_api_key_user_id",),
}
_CALLER_KEYS_IN_ORDER = tuple(_PROXY_CALLER_KEYS[tag.span_tag] for tag in catalogue.PROXY_CALLER_TAGS)
_PROXY_AUTH_MARKER = "user_api_key_team_id"  # the proxy writes it on every call, None without a team


def proxy_caller(kwargs: Mapping) -> tuple[str | None, ...] | None:
    """The caller of a call LiteLLM's proxy makes, as tag values in the order of
    `catalogue.PROXY_CALLER_TAGS` (None where the proxy does not say), or None outside the proxy."""
    for name in ("metadata", "litellm_metadata"):
        metadata = kwargs.get(name)
        if metadata is not None and is_mapping(metadata) and (_PROXY_AUTH_MARKER in metadata):
            caller = tuple(_first_value(metadata, keys) for keys in _CALLER_KEYS_IN_ORDER)
            return caller if any(caller) else None
    return None


def caller_span_tags(caller: tuple[str | None, ...] | None) -> list[tuple[str, str]]:
    """[(span tag, value)] of a `proxy_caller` result, for APM and LLM Observability spans."""
    if not caller:
        return []
    return [(tag.span_tag, value) for tag, value in zip(catalogue.PROXY_CALLER_TAGS, caller) if value]


def _first_value(metadata, keys):
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value:
            return normalize_tag_value(value)
    return None


def _int_or_none(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 1e18:
        return int(value)
    if isinstance(value, (str, bytes)):
        try:
            return int(float(value))
        except (ValueError, OverflowError):
            return None
    return None


def _str_or_none(value):
    return value if isinstance(value, str) and value else None


@functools.lru_cache(maxsize=1)
def _known_providers():
    try:
        import litellm

        return frozenset(str(getattr(p, "value", p)) for p in litellm.provider_list)
    except Exception:
        return frozenset()


@functools.lru_cache(maxsize=512)
def split_provider(model, custom_llm_provider=None, api_base=None):
    """(provider, model without the provider prefix) of a LiteLLM model string.

    The common case, `openai/gpt-4o-mini`, is read from the string; LiteLLM's own
    `get_llm_provider` runs only for bare names (`gpt-4o-mini`), and never raises here:
    it raises on models it does not know. Cached, and the cache is bounded.
    """
    if not isinstance(model, str) or not model:
        return (custom_llm_provider if isinstance(custom_llm_provider, str) else None), None
    prefix, sep, rest = model.partition("/")
    if isinstance(custom_llm_provider, str) and custom_llm_provider:
        if sep and prefix == custom_llm_provider:
            return custom_llm_provider, without_route(custom_llm_provider, rest)
        return custom_llm_provider, without_route(custom_llm_provider, model)
    if sep and prefix in _known_providers():
        return prefix, without_route(prefix, rest)
    try:
        import litellm

        resolved_model, provider, _key, _base = litellm.get_llm_provider(model=model, api_base=api_base)
        return provider or None, without_route(provider, resolved_model or model)
    except Exception:
        return None, model


def without_route(provider, model):
    """The model as the provider knows it: LiteLLM's route prefix (`converse/`, `v1/`) taken off."""
    for prefix in _ROUTE_PREFIXES.get(provider, ()):
        if isinstance(model, str) and model.startswith(prefix) and len(model) > len(prefix):
            return model[len(prefix) :]
    return model


def read_start(kwargs: Mapping, facts: Any) -> Mapping:
    """Fill what the attempt's kwargs say, before the call."""
    metadata = metadata_of(kwargs)
    api_base = kwargs.get("api_base") or kwargs.get("base_url") or metadata.get("api_base")
    model_name = kwargs.get("model")
    provider, model = split_provider(  # cached: only hashable strings go in
        model_name if isinstance(model_name, str) else None,
        _str_or_none(kwargs.get("custom_llm_provider")),
        api_base if isinstance(api_base, str) else None,
    )
    facts.provider = provider
    facts.model = model
    facts.model_group = _str_or_none(metadata.get("model_group"))
    model_info = kwargs.get("model_info")
    if not is_mapping(model_info):
        model_info = metadata.get("model_info")
    if is_mapping(model_info):
        facts.deployment_id = _str_or_none(model_info.get("id"))
    facts.api_host = host_of(api_base) or (_bedrock_host(kwargs) if provider == "bedrock" else None)
    facts.stream = kwargs.get("stream") is True
    if facts.operation == "embeddings":
        inputs = kwargs.get("input")
        facts.embedding_inputs = len(inputs) if isinstance(inputs, (list, tuple)) else (1 if inputs else None)
    elif facts.operation in catalogue.VOICE_OPERATIONS:
        voice_facts.read_start(kwargs, facts)
    return metadata


def _bedrock_host(kwargs):
    """Bedrock's runtime endpoint: the one given, else the region's (LiteLLM's order)."""
    endpoint = kwargs.get("aws_bedrock_runtime_endpoint") or os.environ.get("AWS_BEDROCK_RUNTIME_ENDPOINT")
    if isinstance(endpoint, str) and endpoint:
        return host_of(endpoint)
    region = kwargs.get("aws_region_name") or os.environ.get("AWS_REGION_NAME") or os.environ.get("AWS_REGION")
    if isinstance(region, str) and region.replace("-", "").isalnum():
        return "bedrock-runtime.%s.amazonaws.com" % region
    return None


def host_of(url):
    if not isinstance(url, str) or "//" not in url:
        return None
    host = url.split("//", 1)[1].split("/", 1)[0]
    host = host.rsplit("@", 1)[-1]  # never a credential of `user:pass@host`
    return host.split(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"


def litellm_fallback_depth(kwargs, metadata):
    """LiteLLM's own fallback depth of a Router attempt, when it says so."""
    depth = _int_or_none(kwargs.get("fallback_depth"))
    if depth is None:
        depth = _int_or_none(metadata.get("attempted_fallbacks"))
    return depth if depth is not None and depth >= 0 else None


def litellm_retry_index(metadata):
    retry = _int_or_none(metadata.get("attempted_retries"))
    return retry if retry is not None and retry >= 0 else None


def outcome_of(exc: BaseException | None) -> str:
    """`rate_limited`, `timeout`, `cancelled` or `error` for an exception; `success` for None."""
    if exc is None:
        return "success"
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _CANCELLED_ERRORS:
        return "cancelled"
    if names & _RATE_LIMIT_ERRORS or getattr(exc, "status_code", None) == 429:
        return "rate_limited"
    if names & _TIMEOUT_ERRORS:
        return "timeout"
    return "error"


def fallback_type_of(previous_exc_names):
    """The LiteLLM fallback list that a hop after this exception comes from."""
    if previous_exc_names & _CONTEXT_WINDOW_ERRORS:
        return "context_window"
    if previous_exc_names & _CONTENT_POLICY_ERRORS:
        return "content_policy"
    return "default"


def exception_class_names(exc: BaseException) -> frozenset[str]:
    return frozenset(cls.__name__ for cls in type(exc).__mro__)


def _header(headers, keys):
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    for key in keys:
        try:
            value = getter(key)
        except Exception:
            value = None
        if value is not None:
            parsed = _int_or_none(value.strip() if isinstance(value, str) else value)
            if parsed is not None and parsed >= 0:
                return parsed
    return None


def _as_dict(headers):
    """Headers that are not a dict, read once into one with lower-case keys: httpx.Headers
    (on LiteLLM's errors) scans every header on each lookup, and we look up ten names."""
    if headers is None or type(headers) is dict:
        return headers
    try:
        return {str(key).lower(): value for key, value in headers.items()}
    except Exception:
        return headers


def read_rate_limits(headers, facts):
    headers = _as_dict(headers)
    # No rate-limit header at all (a provider that sends none, a cached or mocked answer): one
    # set operation instead of 28 lookups
    if type(headers) is dict and _RATE_LIMIT_KEYS.isdisjoint(headers):
        facts.remaining_requests = facts.remaining_tokens = facts.limit_requests = facts.limit_tokens = None
        return
    facts.remaining_requests = _header(headers, _REMAINING_REQUESTS_HEADERS)
    facts.remaining_tokens = _header(headers, _REMAINING_TOKENS_HEADERS)
    facts.limit_requests = _header(headers, _LIMIT_REQUESTS_HEADERS)
    facts.limit_tokens = _header(headers, _LIMIT_TOKENS_HEADERS)


def hidden_params_of(response: Any) -> Mapping:
    # A pydantic response keeps them in its private dict: read there, a plain getattr goes
    # through pydantic's __getattr__, in Python
    private = getattr(response, "__pydantic_private__", None)
    hidden = private.get("_hidden_params") if type(private) is dict else None
    if hidden is None:
        hidden = getattr(response, "_hidden_params", None)
    return mapping_or_empty(hidden)


def read_usage(usage, facts):
    if usage is None:
        return
    read = reader(usage)
    # The names of the usage's own kind first (the Responses API's are input and output
    # tokens): asking a pydantic usage for a field it does not have costs an AttributeError.
    chat = facts.operation != "responses"
    prompt, completion = _token_counts(read, chat)
    if prompt is None and completion is None:
        chat = not chat
        prompt, completion = _token_counts(read, chat)
    prompt, completion = _int_or_none(prompt), _int_or_none(completion)
    facts.input_tokens = prompt if prompt is not None and prompt >= 0 else None
    facts.output_tokens = completion if completion is not None and completion >= 0 else None
    # Only the details of the usage's own kind: asking a pydantic usage for a field it does
    # not have goes through pydantic's __getattr__ and its AttributeError, built in Python
    details = read("completion_tokens_details" if chat else "output_tokens_details", None)
    facts.reasoning_tokens = _reasoning_tokens(details)
    prompt_details = read("prompt_tokens_details" if chat else "input_tokens_details", None)
    if prompt_details is not None:
        read_prompt = reader(prompt_details)
        facts.cache_read_tokens = _positive(read_prompt("cached_tokens", None))
        facts.cache_write_tokens = _positive(read_member(prompt_details, "cache_write_tokens"))


def _token_counts(read, chat):
    if chat:
        return read("prompt_tokens", None), read("completion_tokens", None)
    return read("input_tokens", None), read("output_tokens", None)


def _positive(value):
    """A count the provider reported, or None: LiteLLM fills 0 where a provider said nothing."""
    value = _int_or_none(value)
    return value if value is not None and value > 0 else None


def _embedding_dimensions(data):
    try:
        vector = reader(data[0])("embedding", None)
        return len(vector) if isinstance(vector, (list, tuple)) else None
    except Exception:
        return None


def _reasoning_tokens(details):
    return _positive(reader(details)("reasoning_tokens", None)) if details is not None else None


def read_end(facts: Any, response: Any, exc: BaseException | None, stream: Any, cancelled: bool) -> None:
    """What the attempt's answer says: its error, its stream's end (`stream`), or its response."""
    if exc is not None:
        read_error(exc, facts, stream)
    elif stream is not None:
        read_stream_end(stream, facts)
        if cancelled:
            facts.outcome = "cancelled"
    else:
        read_response(response, facts)
    if facts.response_model:  # named as the spans' other model tags are (`spans`)
        facts.response_model = normalize_tag_value(facts.response_model)


def read_response(response: Any, facts: Any) -> None:
    """Fill what a successful (non-streamed) response says."""
    facts.outcome = "success"
    facts.http_status = facts.last_http_status or 200
    hidden = hidden_params_of(response)
    provider = _str_or_none(hidden.get("custom_llm_provider"))
    if provider and not facts.provider:
        facts.provider = provider
    facts.response_model = without_route(facts.provider, _str_or_none(getattr(response, "model", None)))
    read_usage(read_member(response, "usage"), facts)  # a pydantic extra in LiteLLM 1.110: see read_member
    if facts.operation == "embeddings":
        facts.output_tokens = None  # LiteLLM reports completion_tokens=0: there is no output
        facts.embedding_dimensions = _embedding_dimensions(getattr(response, "data", None))
    elif facts.operation == "responses":
        facts.response_id = _str_or_none(getattr(response, "id", None))
    cost = hidden.get("response_cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0 and cost == cost:
        facts.cost_usd = float(cost)
    read_rate_limits(hidden.get("additional_headers"), facts)
    if facts.api_host is None:
        facts.api_host = host_of(hidden.get("api_base"))
    if facts.operation in catalogue.VOICE_OPERATIONS:
        voice_facts.read_answer(response, hidden, facts)


def provider_exception(exc: BaseException) -> BaseException:
    """The provider's exception behind LiteLLM's MidStreamFallbackError, an envelope its
    Router reads to fall back from a failed stream: the inner one ended the attempt."""
    if type(exc).__name__ == "MidStreamFallbackError":
        original = getattr(exc, "original_exception", None)
        if isinstance(original, BaseException):
            return original
    return exc


def read_error(exc: BaseException, facts: Any, stream: Any = None) -> None:
    """Fill what the exception that ended the attempt says (`stream`: the stream it broke)."""
    exc = provider_exception(exc)
    facts.outcome = outcome_of(exc)
    facts.error_type = type(exc).__name__
    if facts.last_http_status is not None:  # the provider's own answer, whatever LiteLLM made of it
        facts.http_status = facts.last_http_status
    elif facts.outcome != "timeout":  # a client-side timeout has no answer: LiteLLM's 408 is its own
        status = _int_or_none(getattr(exc, "status_code", None))
        if status is not None and 100 <= status <= 599:
            facts.http_status = status
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    read_rate_limits(headers, facts)
    if stream is not None and facts.remaining_requests is None and facts.remaining_tokens is None:
        read_rate_limits(hidden_params_of(stream).get("additional_headers"), facts)  # its answer's headers
    if stream is not None and facts.last_chunk is not None:  # a usage chunk may have come before the failure
        read_usage(read_member(facts.last_chunk, "usage"), facts)
    facts.last_chunk = None


def chunk_has_content(chunk: Any) -> bool:
    """A chunk that carries text or a tool call: the first one is the time to first token.
    A streamed choice's and a delta's members are pydantic extras: see `read_member`."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return False
    delta = read_member(choices[0], "delta")
    if delta is None:
        return bool(read_member(choices[0], "text"))
    return bool(read_member(delta, "content") or read_member(delta, "tool_calls"))


def read_chunk(chunk: Any, facts: Any) -> None:
    """What a chunk before the first with content tells: the model. Usage is read at the end
    (`read_stream_end`), from the last chunk alone: LiteLLM deletes it from every other."""
    if facts.response_model is None:
        facts.response_model = _str_or_none(getattr(chunk, "model", None))


def read_stream_end(stream: Any, facts: Any) -> None:
    """Fill what a stream read to its end says. The usage, its cost and the provider's model
    are those LiteLLM assembled at the end for its own logging, in the hidden params of the
    last chunk: there whether or not the caller asked for a usage chunk."""
    facts.outcome = "success"
    facts.http_status = facts.last_http_status or 200
    hidden = hidden_params_of(stream)
    read_rate_limits(hidden.get("additional_headers"), facts)
    if facts.api_host is None:
        facts.api_host = host_of(hidden.get("api_base"))
    last, facts.last_chunk = facts.last_chunk, None
    last_hidden: Mapping = hidden_params_of(last) if last is not None else {}
    usage = last_hidden.get("usage") or (read_member(last, "usage") if last is not None else None)
    if usage is not None:
        read_usage(usage, facts)
        cost = read_member(usage, "cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost > 0 and cost == cost:
            facts.cost_usd = float(cost)
    provider_model = _str_or_none(last_hidden.get("provider_response_model") or hidden.get("provider_response_model"))
    if provider_model:
        facts.response_model = without_route(facts.provider, provider_model)
