"""The names ddllm emits, as data: the single source for code, dashboards, monitors and docs.

docs/design.md describes these names ("Span model", "Metric catalogue"); this module is their
machine-readable copy. The metrics module sends exactly these metrics, `ddllm validate`
checks that every metric a dashboard or monitor queries is here, and the README's reference
tables are generated from it.
"""

from collections import namedtuple

Metric = namedtuple("Metric", "name type unit tags description")
SpanField = namedtuple("SpanField", "name kind description")
CallerTag = namedtuple("CallerTag", "span_tag metric_tag description")

# Tags on every metric (model_group only where the call was routed).
COMMON_METRIC_TAGS = ("provider", "model", "model_group", "env", "service", "version")

# Who called, where LiteLLM's proxy says so (from its auth: the caller's team, virtual key
# and user): on the request and attempt spans, their LLM Observability spans, and the metrics
# below that list the metric tags. Aliases and ids only, never the key or its hash; absent
# outside the proxy.
PROXY_CALLER_TAGS = (
    CallerTag("llm.proxy.team", "team", "LiteLLM proxy: the caller's team, by its alias, else its id"),
    CallerTag(
        "llm.proxy.key_alias",
        "key_alias",
        "LiteLLM proxy: the alias of the caller's virtual key (never the key or its hash)",
    ),
    CallerTag("llm.proxy.user", "user", "LiteLLM proxy: the id of the user the caller's key belongs to"),
)
PROXY_CALLER_METRIC_TAGS = tuple(tag.metric_tag for tag in PROXY_CALLER_TAGS)
# Metric tags sent only when the user opts in (DDLLM_METRICS_USER_TAG): user ids are often
# e-mail addresses, and each user multiplies the series. Spans and LLM Observability carry them always.
OPT_IN_METRIC_TAGS = ("user",)
OPT_IN_METRIC_TAGS_VARIABLE = "DDLLM_METRICS_USER_TAG"
PROXY_CALLER_SPAN_FIELDS = tuple(SpanField(tag.span_tag, "tag", tag.description) for tag in PROXY_CALLER_TAGS)

METRICS = (
    Metric(
        "ddllm.attempt.duration",
        "distribution",
        "second",
        ("operation", "outcome", "fallback", "stream", "error_type") + PROXY_CALLER_METRIC_TAGS,
        "Latency of one attempt (one provider call), backoff sleeps excluded.",
    ),
    Metric(
        "ddllm.attempt.time_to_first_token",
        "distribution",
        "second",
        ("fallback",),
        "Seconds from the start of a streamed attempt to its first content chunk.",
    ),
    Metric("ddllm.attempt.tokens.input", "count", "token", PROXY_CALLER_METRIC_TAGS, "Prompt tokens of an attempt."),
    Metric(
        "ddllm.attempt.tokens.output", "count", "token", PROXY_CALLER_METRIC_TAGS, "Completion tokens of an attempt."
    ),
    Metric("ddllm.attempt.cost", "count", "dollar", PROXY_CALLER_METRIC_TAGS, "LiteLLM's cost of an attempt, in USD."),
    Metric(
        "ddllm.ratelimit.remaining_requests",
        "gauge",
        "request",
        (),
        "Requests left in the provider's rate-limit window, from the response headers.",
    ),
    Metric(
        "ddllm.ratelimit.remaining_tokens",
        "gauge",
        "token",
        (),
        "Tokens left in the provider's rate-limit window, from the response headers.",
    ),
    Metric(
        "ddllm.ratelimit.limit_requests",
        "gauge",
        "request",
        (),
        "Requests allowed in the provider's rate-limit window, from the response headers.",
    ),
    Metric(
        "ddllm.ratelimit.limit_tokens",
        "gauge",
        "token",
        (),
        "Tokens allowed in the provider's rate-limit window, from the response headers.",
    ),
    Metric(
        "ddllm.request.duration",
        "distribution",
        "second",
        ("operation", "outcome", "fallback_used", "attempts") + PROXY_CALLER_METRIC_TAGS,
        "Latency of a logical request, every attempt and backoff included.",
    ),
    Metric(
        "ddllm.fallback",
        "count",
        "hit",
        ("from_model", "to_model", "reason", "type"),
        "One per fallback hop from one model to the next.",
    ),
    Metric(
        "ddllm.audio.seconds",
        "distribution",
        "second",
        PROXY_CALLER_METRIC_TAGS,
        "Speech to text: seconds of audio transcribed by an attempt, as the provider (or LiteLLM) measured it.",
    ),
    Metric(
        "ddllm.speech.characters",
        "distribution",
        "character",
        PROXY_CALLER_METRIC_TAGS,
        "Text to speech: characters of text an attempt spoke.",
    ),
)

METRICS_BY_NAME = {metric.name: metric for metric in METRICS}
# Datadog computes p50/p95/p99 of these only once percentiles are enabled on each of them (its
# metric tag configuration, `include_percentiles`): `ddllm push` and the Terraform export do it.
DISTRIBUTIONS = tuple(metric.name for metric in METRICS if metric.type == "distribution")


def metric_tag_keys(name):
    """Every tag key the metric `name` carries: the common ones and its own."""
    return tuple(COMMON_METRIC_TAGS) + tuple(METRICS_BY_NAME[name].tags)


# Values of the bounded tags.
OPERATIONS = ("chat", "text_completion", "embeddings", "responses", "transcription", "speech")
VOICE_OPERATIONS = ("transcription", "speech")
OUTCOMES = ("success", "rate_limited", "timeout", "error", "cancelled")
FALLBACK_TYPES = ("default", "context_window", "content_policy", "mid_stream", "order")
# `4_or_more`, not `4+` (docs/design.md, "Metric catalogue"): `+` is not a tag character, and
# Datadog would store `4_`.
ATTEMPT_BUCKETS = ("0", "1", "2", "3", "4_or_more")

ATTEMPT_SPAN = "llm.attempt"
REQUEST_SPAN = "llm.request"
COMPONENT = "ddllm"

ATTEMPT_SPAN_FIELDS = (
    SpanField("resource", "resource", "`{provider}/{model}`, e.g. `openai/gpt-4o-mini`"),
    SpanField("span.kind", "tag", "`client`"),
    SpanField("component", "tag", "`ddllm`"),
    SpanField(
        "llm.operation", "tag", "`chat`, `text_completion`, `embeddings`, `responses`, `transcription`, `speech`"
    ),
    SpanField("gen_ai.provider.name", "tag", "LiteLLM's provider: openai, anthropic, gemini, ..."),
    SpanField("gen_ai.request.model", "tag", "model sent to the provider (no provider prefix)"),
    SpanField("gen_ai.response.model", "tag", "model the provider says answered, when given"),
    SpanField("gen_ai.response.id", "tag", "Responses API: the response id"),
    SpanField("llm.model_group", "tag", "Router model group of this attempt, when routed"),
    SpanField("llm.deployment.id", "tag", "Router deployment id, when routed"),
    SpanField("llm.attempt.number", "tag", "1-based position in the logical request"),
    SpanField("llm.attempt.retry", "tag", "0-based retry index within this model group"),
    SpanField("llm.fallback.depth", "tag", "0 for the primary model group, 1 for the first fallback, ..."),
    SpanField("llm.fallback.is_fallback", "tag", "`true` / `false`"),
    SpanField("llm.fallback.from", "tag", "the previous attempt's `{provider}/{model}`"),
    SpanField("llm.fallback.reason", "tag", "exception class that ended the previous attempt"),
    SpanField("llm.fallback.type", "tag", "`default`, `context_window`, `content_policy`, `mid_stream`, `order`"),
    SpanField("llm.outcome", "tag", "`success`, `rate_limited`, `timeout`, `error`, `cancelled`"),
    SpanField("llm.stream", "tag", "`true` / `false`"),
    SpanField("http.status_code", "tag", "HTTP status of the provider call"),
    SpanField("out.host", "tag", "provider host"),
    SpanField("peer.service", "tag", "the provider"),
    SpanField("gen_ai.usage.input_tokens", "metric", "prompt tokens"),
    SpanField("gen_ai.usage.output_tokens", "metric", "completion tokens"),
    SpanField("llm.time_to_first_token", "metric", "seconds to the first content chunk, streams"),
    SpanField("llm.ratelimit.remaining_requests", "metric", "from the rate-limit headers"),
    SpanField("llm.ratelimit.remaining_tokens", "metric", "from the rate-limit headers"),
    SpanField("llm.ratelimit.limit_requests", "metric", "from the rate-limit headers"),
    SpanField("llm.ratelimit.limit_tokens", "metric", "from the rate-limit headers"),
    SpanField("llm.cost_usd", "metric", "LiteLLM's cost of the attempt, when it knows (streams included)"),
    SpanField("gen_ai.usage.reasoning_tokens", "metric", "reasoning tokens, when the provider reports them"),
    SpanField(
        "gen_ai.usage.cache_read_tokens", "metric", "prompt tokens read from the provider's cache, when reported"
    ),
    SpanField(
        "gen_ai.usage.cache_write_tokens", "metric", "prompt tokens written to the provider's cache, when reported"
    ),
    SpanField(
        "llm.provider_calls",
        "metric",
        "HTTP calls the provider SDK made inside this attempt (its own retries), when more than one",
    ),
    SpanField("llm.embedding.inputs", "metric", "embeddings: number of inputs"),
    SpanField("llm.embedding.dimensions", "metric", "embeddings: size of a returned vector"),
    SpanField(
        "llm.audio.seconds",
        "metric",
        "transcription: seconds of audio transcribed, as the provider (else LiteLLM) measured them",
    ),
    SpanField("llm.transcript.characters", "metric", "transcription: characters of the transcript returned"),
    SpanField("llm.speech.characters", "metric", "speech: characters of the text to speak"),
    SpanField("llm.speech.bytes", "metric", "speech: bytes of audio returned"),
    SpanField(
        "llm.speech.format", "tag", "speech: the audio's content type as the provider sent it, e.g. `audio/mpeg`"
    ),
) + PROXY_CALLER_SPAN_FIELDS

REQUEST_SPAN_FIELDS = (
    SpanField("resource", "resource", "the requested model group or model"),
    SpanField("llm.attempts", "metric", "number of attempts"),
    SpanField("llm.fallback.used", "tag", "`true` / `false`"),
    SpanField("llm.final.provider", "tag", "provider of the last attempt"),
    SpanField("llm.final.model", "tag", "model of the last attempt"),
    SpanField("llm.outcome", "tag", "outcome of the request"),
    SpanField(
        "llm.request.skipped_deployments",
        "metric",
        "deployments of the requested group the Router skipped, not tried, because they were cooling down; "
        "set when there were any",
    ),
    SpanField(
        "llm.request.skipped",
        "tag",
        "those deployments' distinct `{provider}/{model}`, sorted, comma-separated, at most 10",
    ),
) + PROXY_CALLER_SPAN_FIELDS


def attempt_bucket(count):
    """The `attempts` tag value of ddllm.request.duration: 0 (the request failed before any
    attempt, e.g. an unknown model group), 1, 2, 3 or 4_or_more."""
    return str(count) if count < 4 else "4_or_more"
