"""Answers recorded from the real providers, replayed by the fake provider.

From the public VCR cassettes of DataDog/dd-trace-py (tests/contrib/litellm/cassettes:
completion.yaml, completion_stream.yaml, completion_anthropic.yaml): the bodies as the
providers sent them and the headers ddllm reads, so header parsing and stream handling are
proven on what OpenAI and Anthropic really send. Ids are the recorded ones; the fake
provider only changes the model name, the text and the rate-limit figures it is told to.
"""

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
OPENAI_STREAM_HEADERS = dict(OPENAI_HEADERS, **{
    "content-type": "text/event-stream; charset=utf-8",
    "openai-processing-ms": "150",
    "x-request-id": "req_c6b88c23a429b4c97b52dbf20f562742",
})

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
