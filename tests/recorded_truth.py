"""What a recorded provider answer says, read from its status, headers and body by this test
code alone (not by ddllm): the truth the spans and metrics of a replayed call are held to.

Each provider reports in its own words; these readers know them: OpenAI-compatible usage
(OpenAI, Azure, Mistral, DeepSeek, OpenRouter), Anthropic's messages and their SSE events,
Gemini's usageMetadata, Bedrock Converse and its AWS event stream, Cohere v1's billed units.
"""

import json
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDED = os.path.join(os.path.dirname(REPO_ROOT), "shared", "recorded")
ABSENT = (
    "needs the real answers of the providers recorded against their APIs, at %s: the project's shared/ "
    "folder beside this checkout (as CI lays it), never copied into it; see docs/design.md, "
    '"Recorded provider answers"' % RECORDED
)

# (remaining requests, limit requests, remaining tokens, limit tokens) header names, per family.
RATE_LIMIT_FAMILIES = (
    (
        "x-ratelimit-remaining-requests",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-limit-tokens",
    ),
    (
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-limit",
    ),
    (
        "x-ratelimit-remaining-req-minute",
        "x-ratelimit-limit-req-minute",
        "x-ratelimit-remaining-tokens-minute",
        "x-ratelimit-limit-tokens-minute",
    ),
)
RATE_LIMIT_FACTS = ("remaining_requests", "limit_requests", "remaining_tokens", "limit_tokens")


def rate_limits(headers):
    """{fact: value} of the rate-limit headers an answer carries."""
    lower = {name.lower(): value for name, value in headers}
    found = {}
    for family in RATE_LIMIT_FAMILIES:
        for fact, name in zip(RATE_LIMIT_FACTS, family):
            if name in lower and fact not in found:
                found[fact] = int(lower[name])
    return found


def _sse_data(body):
    for line in body.decode("utf-8").splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            yield json.loads(line[5:])


def _openai_usage(usage, facts):
    facts["input_tokens"] = usage["prompt_tokens"]
    facts["output_tokens"] = usage["completion_tokens"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if cached:
        facts["cache_read_tokens"] = cached
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    if reasoning:
        facts["reasoning_tokens"] = reasoning


def _anthropic_usage(usage, facts):
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    facts["input_tokens"] = usage["input_tokens"] + cache_read + cache_write  # the whole prompt
    facts["output_tokens"] = usage["output_tokens"]
    if cache_read:
        facts["cache_read_tokens"] = cache_read
    if cache_write:
        facts["cache_write_tokens"] = cache_write


def _bedrock_events(body):
    """The JSON payloads of an AWS event stream, by event type."""
    offset = 0
    while offset + 12 <= len(body):
        total = int.from_bytes(body[offset : offset + 4], "big")
        headers_length = int.from_bytes(body[offset + 4 : offset + 8], "big")
        payload = body[offset + 12 + headers_length : offset + total - 4]
        headers = body[offset + 12 : offset + 12 + headers_length]
        event_type = headers.split(b":event-type", 1)[1][3:].split(b"\r", 1)[0] if b":event-type" in headers else b""
        yield event_type.rstrip(b"\x00\x07\x0b\r").decode(errors="replace"), json.loads(payload or b"{}")
        offset += total


def truth(reply):
    """{fact: value} that `reply` states: tokens, response model, rate limits, status."""
    facts = {"status": reply.status}
    facts.update(rate_limits(reply.headers))
    if reply.status >= 400:
        return facts
    kind, body = reply.kind, reply.body
    if kind == "openai_json":
        payload = json.loads(body)
        facts["response_model"] = payload["model"]
        _openai_usage(payload["usage"], facts)
    elif kind == "openai_sse":
        for chunk in _sse_data(body):
            if chunk.get("model"):  # Azure's first chunk, its prompt filter results, has none
                facts.setdefault("response_model", chunk["model"])
            if chunk.get("usage"):
                _openai_usage(chunk["usage"], facts)
    elif kind == "anthropic_json":
        payload = json.loads(body)
        facts["response_model"] = payload["model"]
        _anthropic_usage(payload["usage"], facts)
    elif kind == "anthropic_sse":
        usage = {}
        for event in _sse_data(body):
            if event["type"] == "message_start":
                facts["response_model"] = event["message"]["model"]
                usage.update(event["message"]["usage"])
            elif event["type"] == "message_delta":
                usage.update(event["usage"])
        _anthropic_usage(usage, facts)
    elif kind == "gemini_json":
        payload = json.loads(body)
        facts["response_model"] = payload["modelVersion"]
        usage = payload["usageMetadata"]
        facts["input_tokens"] = usage["promptTokenCount"] + usage.get("toolUsePromptTokenCount", 0)
        facts["output_tokens"] = usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0)
        if usage.get("thoughtsTokenCount"):
            facts["reasoning_tokens"] = usage["thoughtsTokenCount"]
    elif kind == "bedrock_json":
        usage = json.loads(body)["usage"]
        facts["input_tokens"], facts["output_tokens"] = usage["inputTokens"], usage["outputTokens"]
    elif kind == "bedrock_eventstream":
        for event_type, payload in _bedrock_events(body):
            if "usage" in payload:
                facts["input_tokens"] = payload["usage"]["inputTokens"]
                facts["output_tokens"] = payload["usage"]["outputTokens"]
    elif kind == "cohere_v1_json":
        billed = json.loads(body)["meta"]["billed_units"]
        facts["input_tokens"], facts["output_tokens"] = billed["input_tokens"], billed["output_tokens"]
    else:
        raise AssertionError("no reader for a %r answer" % kind)
    return facts
