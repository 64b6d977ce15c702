"""Answers recorded from the real providers, replayed by the fake provider.

From the public VCR cassettes of DataDog/dd-trace-py (its litellm integration's test cassettes:
completion.yaml, completion_stream.yaml, completion_anthropic.yaml): the bodies as the
providers sent them and the headers ddllm reads, so header parsing and stream handling are
proven on what OpenAI and Anthropic really send. Ids are the recorded ones; the fake
provider only changes the model name, the text and the rate-limit figures it is told to.

`load` reads a directory of recorded answers (one JSON file each: status, headers and body
as a provider sent them, streams as their raw SSE or AWS event-stream bytes) as `Reply`s the
fake provider serves unchanged (`FakeProvider.replay`). The error answers no recording has
(429, 529, context length, a stream cut by an error event) are built here from the
providers' documented formats.
"""

import base64
import collections
import json
import os

OPENAI_CHAT_COMPLETION = {
    "id": "chatcmpl-BDA7OXz2jBwkfgOdBQkzMJhMeV4oq",
    "object": "chat.completion",
    "created": 1742476858,
    "model": "gpt-3.5-turbo-0125",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Not much, just here to chat and help with anything you might need. How are you doing?",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 13,
        "completion_tokens": 21,
        "total_tokens": 34,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": None,
}

OPENAI_HEADERS = {
    "content-type": "application/json",
    "openai-organization": "datadog-4",
    "openai-processing-ms": "433",
    "openai-version": "2020-10-01",
    "x-ratelimit-limit-requests": "15000",
    "x-ratelimit-limit-tokens": "2000000",
    "x-ratelimit-remaining-requests": "14999",
    "x-ratelimit-remaining-tokens": "1999994",
    "x-ratelimit-reset-requests": "4ms",
    "x-ratelimit-reset-tokens": "0s",
    "x-request-id": "req_d81e25e4ffb6cba1e92b5907b689fefb",
}

# One chunk of the recorded stream; the recorded stream opens with an empty assistant
# delta, then one chunk per word, a finish chunk, and a usage chunk with no choices.
OPENAI_STREAM_CHUNK = {
    "id": "chatcmpl-BDA7NsqzvZlObxjeBtas2VM8zS9L7",
    "object": "chat.completion.chunk",
    "created": 1742476857,
    "model": "gpt-3.5-turbo-0125",
    "service_tier": "default",
    "system_fingerprint": None,
    "choices": [{"index": 0, "delta": {"content": "Not"}, "logprobs": None, "finish_reason": None}],
    "usage": None,
}
OPENAI_STREAM_USAGE = {
    "prompt_tokens": 13,
    "completion_tokens": 20,
    "total_tokens": 33,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
OPENAI_STREAM_HEADERS = dict(
    OPENAI_HEADERS,
    **{
        "content-type": "text/event-stream; charset=utf-8",
        "openai-processing-ms": "150",
        "x-request-id": "req_c6b88c23a429b4c97b52dbf20f562742",
    },
)

ANTHROPIC_MESSAGE = {
    "model": "claude-sonnet-4-5-20250929",
    "id": "msg_01UrbpBt2CSChZUHSJja5BBB",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hey! Not much, just here and ready to chat. What's up with you?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 13,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 21,
        "service_tier": "standard",
    },
}

ANTHROPIC_HEADERS = {
    "content-type": "application/json",
    "anthropic-ratelimit-input-tokens-limit": "20000000",
    "anthropic-ratelimit-input-tokens-remaining": "20000000",
    "anthropic-ratelimit-input-tokens-reset": "2026-01-21T04:05:53Z",
    "anthropic-ratelimit-output-tokens-limit": "2500000",
    "anthropic-ratelimit-output-tokens-remaining": "2500000",
    "anthropic-ratelimit-output-tokens-reset": "2026-01-21T04:05:54Z",
    "anthropic-ratelimit-tokens-limit": "22500000",
    "anthropic-ratelimit-tokens-remaining": "22500000",
    "anthropic-ratelimit-tokens-reset": "2026-01-21T04:05:53Z",
    "request-id": "req_011CXKrywDmBQp6dUJy8utgK",
    "x-envoy-upstream-service-time": "1956",
}


Reply = collections.namedtuple("Reply", "id kind status headers body events recorded request")
Reply.__doc__ = """One HTTP answer served as it is. `headers` is a list of (name, value) pairs,
`body` the bytes, `events` the same bytes in the pieces a stream sends one at a time (SSE
events, AWS event-stream messages; one piece for a plain body), `recorded` whether a real
provider sent it (else it is built from the provider's documented format), `request` the
recorded request (`uri`, `body`) or None."""

# Framing the loopback server writes itself: a recorded length or encoding would be wrong.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})


def reply(id, kind, status, headers, body, recorded=False, request=None):
    """A Reply of `body` (str or bytes), split into the pieces its kind streams."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = [(str(k), str(v)) for k, v in headers if str(k).lower() not in _FRAMING_HEADERS]
    return Reply(id, kind, status, headers, body, _events(kind, body), recorded, request)


def _events(kind, body):
    if kind.endswith("_sse"):
        pieces = [piece + b"\n\n" for piece in body.split(b"\n\n") if piece.strip()]
        return pieces or [body]
    if kind == "bedrock_eventstream":  # each message starts with its total length (4 bytes, big-endian)
        pieces, offset = [], 0
        while offset + 4 <= len(body):
            length = int.from_bytes(body[offset : offset + 4], "big")
            if length <= 0:
                break
            pieces.append(body[offset : offset + length])
            offset += length
        return pieces or [body]
    return [body]


def load(directory):
    """{id: Reply} of every recorded answer (`*.json`) in `directory`."""
    replies = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name)) as file:
            data = json.load(file)
        if "body_b64" in data:
            body = base64.b64decode(data["body_b64"])
        else:
            body = data.get("body", "")
            if not isinstance(body, str):
                body = json.dumps(body)
        replies[data["id"]] = reply(
            data["id"],
            data["kind"],
            data["status"],
            data["headers"],
            body,
            recorded=bool(data.get("recorded")),
            request=data.get("request"),
        )
    return replies


# -- answers no recording has, from the providers' documented formats ------------------------


def _json_reply(id, kind, status, headers, payload):
    return reply(id, kind, status, [("content-type", "application/json")] + list(headers), json.dumps(payload))


def openai_rate_limit(retry_after="0"):
    """OpenAI's 429: its error object, `retry-after` and the exhausted rate-limit headers."""
    return _json_reply(
        "openai_429",
        "openai_error",
        429,
        [
            ("retry-after", retry_after),
            ("x-ratelimit-limit-requests", "15000"),
            ("x-ratelimit-limit-tokens", "2000000"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-remaining-tokens", "1999994"),
            ("x-ratelimit-reset-requests", "4ms"),
            ("x-ratelimit-reset-tokens", "0s"),
            ("x-request-id", "req_built_openai_429"),
        ],
        {
            "error": {
                "message": "Rate limit reached for gpt-3.5-turbo in organization org-built on requests per min (RPM): "
                "Limit 15000, Used 15000, Requested 1. Please try again in 4ms.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    )


def openai_context_length():
    """OpenAI's 400 for a prompt longer than the model's context window."""
    return _json_reply(
        "openai_400_context_length",
        "openai_error",
        400,
        [
            ("x-request-id", "req_built_openai_400"),
        ],
        {
            "error": {
                "message": "This model's maximum context length is 16385 tokens. However, your messages resulted in "
                "20000 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    )


def _anthropic_limits(requests_remaining, tokens_remaining):
    return [
        ("anthropic-ratelimit-requests-limit", "4000"),
        ("anthropic-ratelimit-requests-remaining", str(requests_remaining)),
        ("anthropic-ratelimit-requests-reset", "2024-06-12T15:50:35Z"),
        ("anthropic-ratelimit-tokens-limit", "400000"),
        ("anthropic-ratelimit-tokens-remaining", str(tokens_remaining)),
        ("anthropic-ratelimit-tokens-reset", "2024-06-12T15:50:35Z"),
        ("request-id", "req_built_anthropic"),
    ]


def _anthropic_error(error_type, message):
    return {"type": "error", "error": {"type": error_type, "message": message}}


def anthropic_rate_limit(retry_after="0"):
    """Anthropic's 429 `rate_limit_error`, with `retry-after` and its rate-limit headers."""
    return _json_reply(
        "anthropic_429",
        "anthropic_error",
        429,
        [("retry-after", retry_after)] + _anthropic_limits(0, 399000),
        _anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    )


def anthropic_overloaded():
    """Anthropic's 529 `overloaded_error`: the API is overloaded, not this account limited."""
    return _json_reply(
        "anthropic_529",
        "anthropic_error",
        529,
        [("x-should-retry", "true")],
        _anthropic_error("overloaded_error", "Overloaded"),
    )


def anthropic_context_length():
    """Anthropic's 400 for a prompt longer than the model's context window."""
    return _json_reply(
        "anthropic_400_context_length",
        "anthropic_error",
        400,
        [("x-should-retry", "false")],
        _anthropic_error("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"),
    )


def anthropic_stream_cut_by_overload(stream_reply, content_events=3):
    """A recorded Anthropic stream that stops after `content_events` text deltas with the
    `error` event Anthropic sends when it is overloaded mid-stream (HTTP status stays 200)."""
    kept, content = [], 0
    for event in stream_reply.events:
        if b"content_block_delta" in event:
            if content == content_events:
                break
            content += 1
        kept.append(event)
    error = b"event: error\ndata: " + json.dumps(_anthropic_error("overloaded_error", "Overloaded")).encode() + b"\n\n"
    return reply(
        stream_reply.id + "_cut_by_overload",
        stream_reply.kind,
        200,
        stream_reply.headers,
        b"".join(kept) + error,
        request=stream_reply.request,
    )
