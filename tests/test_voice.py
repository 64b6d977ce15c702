"""The voice legs over real HTTP: speech to text (`transcription`) and text to speech (`speech`),
through the Router (async: LiteLLM's Router has no sync audio methods) and through
`litellm.*` sync and async. The loopback provider answers as OpenAI's audio endpoints do: a
multipart upload in, JSON out; text in, binary audio out; a 429 with rate-limit headers on the
first deployment; an answer held past the caller's timeout."""

import asyncio
import io
import threading
import wave

import litellm
import openai
import pytest
from conftest import flush
from litellm import Router
from spans_of import by_name, meta
from test_metrics import dsd, receiver, sent  # noqa: F401 - the DogStatsD fixtures
from test_operations_http import assert_rate_limited_then_fallback, only_request, two_group_router

from ddllm.cli.fake_provider import Answer

KEY = "sk-test-voice"
SECONDS = 1.5
TEXT_TO_SPEAK = "Your table for two is booked for eight o'clock."


def wav_bytes(seconds=SECONDS, rate=8000):
    """A tiny mono 16-bit WAV of silence, `seconds` long."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()


def assert_voice_fallback(request, attempts, primary, backup, operation):
    assert_rate_limited_then_fallback(request, attempts, primary, backup, operation)
    assert [meta(a, "llm.model_group") for a in attempts] == ["primary", "backup"]
    assert meta(attempts[1], "llm.fallback.is_fallback") == "true"
    assert meta(attempts[1], "llm.fallback.from") == "openai/" + primary
    # the 429's own headers, then the answer's: each attempt its own
    assert [a["metrics"].get("llm.ratelimit.remaining_requests") for a in attempts] == [0, 14999]
    assert meta(request, "llm.final.model") == backup
    assert request["metrics"]["llm.attempts"] == 2


def test_router_transcription_rate_limited_falls_back(agent, patched, provider):
    primary, backup = "whisper-1", "gpt-4o-transcribe"
    provider.script(primary, Answer.rate_limit())
    router = two_group_router(provider, primary, backup)
    response = asyncio.run(
        router.atranscription(file=("hello.wav", wav_bytes()), model="primary", response_format="verbose_json")
    )
    assert [(r.api, r.model, r.answer) for r in provider.received] == [
        ("transcription", primary, "rate_limit"),
        ("transcription", backup, "ok"),
    ]
    assert provider.received[1].body["file"].content == wav_bytes()  # the upload, as sent
    flush()
    request, attempts = only_request(agent)
    assert_voice_fallback(request, attempts, primary, backup, "transcription")
    answered = attempts[1]["metrics"]
    assert answered["llm.audio.seconds"] == SECONDS  # the provider's verbose_json duration
    assert answered["llm.transcript.characters"] == len(response.text)
    assert "llm.audio.seconds" not in attempts[0]["metrics"]


def test_router_speech_rate_limited_falls_back(agent, patched, provider):
    primary, backup = "tts-1", "gpt-4o-mini-tts"
    provider.script(primary, Answer.rate_limit())
    router = two_group_router(provider, primary, backup)
    response = asyncio.run(router.aspeech(model="primary", input=TEXT_TO_SPEAK, voice="alloy"))
    audio = response.content
    assert audio.startswith(b"ID3")
    flush()
    request, attempts = only_request(agent)
    assert_voice_fallback(request, attempts, primary, backup, "speech")
    assert [a["metrics"]["llm.speech.characters"] for a in attempts] == [len(TEXT_TO_SPEAK)] * 2
    assert attempts[1]["metrics"]["llm.speech.bytes"] == len(audio)
    assert meta(attempts[1], "llm.speech.format") == "audio/mpeg"
    assert "llm.speech.bytes" not in attempts[0]["metrics"]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_direct_transcription_is_one_attempt(agent, patched, provider, use_async):
    arguments = dict(
        model="openai/whisper-1", file=("hello.wav", wav_bytes()), api_base=provider.openai_base, api_key=KEY
    )
    if use_async:
        response = asyncio.run(litellm.atranscription(**arguments))
    else:
        response = litellm.transcription(**arguments)
    flush()
    assert by_name(agent.spans(), "llm.request") == []
    [attempt] = by_name(agent.spans(), "llm.attempt")
    assert attempt["resource"] == "openai/whisper-1"
    assert meta(attempt, "llm.operation") == "transcription"
    assert meta(attempt, "llm.outcome") == "success"
    assert meta(attempt, "http.status_code") == "200"
    assert meta(attempt, "llm.attempt.number") == "1"
    # LiteLLM asks Whisper for verbose_json when no format is named: the provider's duration
    assert provider.received[0].body["response_format"] == "verbose_json"
    assert attempt["metrics"]["llm.audio.seconds"] == SECONDS
    assert attempt["metrics"]["llm.transcript.characters"] == len(response.text)
    assert attempt["metrics"]["llm.ratelimit.remaining_requests"] == 14999
    assert "RIFF" not in repr(attempt)  # no audio in APM (nor in the LLM Observability data it carries)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_direct_speech_is_one_attempt(agent, patched, provider, use_async):
    arguments = dict(
        model="openai/tts-1",
        input=TEXT_TO_SPEAK,
        voice="alloy",
        response_format="wav",
        api_base=provider.openai_base,
        api_key=KEY,
    )
    if use_async:
        response = asyncio.run(litellm.aspeech(**arguments))
    else:
        response = litellm.speech(**arguments)
    flush()
    [attempt] = by_name(agent.spans(), "llm.attempt")
    assert meta(attempt, "llm.operation") == "speech"
    assert meta(attempt, "llm.outcome") == "success"
    assert meta(attempt, "llm.speech.format") == "audio/wav"
    assert attempt["metrics"]["llm.speech.bytes"] == len(response.content)
    assert attempt["metrics"]["llm.speech.characters"] == len(TEXT_TO_SPEAK)
    assert TEXT_TO_SPEAK not in repr(attempt["meta"])  # no prompt text in APM tags


def test_a_slow_speech_deployment_times_out_and_falls_back(agent, patched, provider):
    """The primary holds its answer past the caller's timeout: a `timeout` attempt with no
    status (nothing came back), then the backup."""
    released = threading.Event()
    provider.script("tts-1", Answer.ok(hold=released))
    router = two_group_router(provider, "tts-1", "tts-1-hd")
    try:
        response = asyncio.run(router.aspeech(model="primary", input=TEXT_TO_SPEAK, voice="alloy", timeout=0.5))
    finally:
        released.set()
    flush()
    request, attempts = only_request(agent)
    assert [a["resource"] for a in attempts] == ["openai/tts-1", "openai/tts-1-hd"]
    assert [meta(a, "llm.outcome") for a in attempts] == ["timeout", "success"]
    assert meta(attempts[0], "http.status_code") is None
    assert meta(attempts[1], "llm.fallback.reason") == "Timeout"
    assert attempts[1]["metrics"]["llm.speech.bytes"] == len(response.content)
    assert meta(request, "llm.outcome") == "success"


def _kind(event):
    span = event["meta"].get("span")
    return span.get("kind") if isinstance(span, dict) else event["meta"].get("span.kind")


async def _both_legs(router):
    transcript = await router.atranscription(file=("turn-1.wav", wav_bytes()), model="stt")
    spoken = await router.aspeech(model="tts", input=TEXT_TO_SPEAK, voice="alloy")
    return transcript, spoken


def test_llm_observability_describes_audio_and_keeps_text(agent, patched, provider):
    """Each attempt is an `llm` span: the upload described (name, size, format), the
    transcript as text; the text to speak, the audio described (format, bytes)."""
    router = Router(
        model_list=[
            {"model_name": group, "litellm_params": {"model": model, "api_base": provider.openai_base, "api_key": KEY}}
            for group, model in (("stt", "openai/gpt-4o-transcribe"), ("tts", "openai/gpt-4o-mini-tts"))
        ]
    )
    transcript, spoken = asyncio.run(_both_legs(router))
    flush()
    events = agent.llmobs_spans()
    by_model = {event["meta"]["model_name"]: event for event in events if _kind(event) == "llm"}
    heard, said = by_model["gpt-4o-transcribe"], by_model["gpt-4o-mini-tts"]
    assert heard["meta"]["input"]["messages"] == [
        {"content": "[audio: turn-1.wav, %d bytes, wav]" % len(wav_bytes()), "role": "user"}
    ]
    assert heard["meta"]["output"]["messages"] == [{"content": transcript.text, "role": "assistant"}]
    assert said["meta"]["input"]["messages"] == [{"content": TEXT_TO_SPEAK, "role": "user"}]
    assert said["meta"]["output"]["messages"] == [
        {"content": "[audio/mpeg, %d bytes]" % len(spoken.content), "role": "assistant"}
    ]
    assert said["meta"]["metadata"]["voice"] == "alloy"
    workflows = [event for event in events if event["name"] == "llm.request"]
    assert sorted(_kind(event) for event in workflows) == ["workflow", "workflow"]
    assert "RIFF" not in repr(events)  # the WAV upload's header: no audio in LLM Observability


# -- metrics --------------------------------------------------------------------------------


def _named(samples, name):
    return [sample for sample in samples if sample.name == name]


def test_voice_metrics_by_operation_provider_and_model(dsd, provider):
    provider.script("whisper-1", Answer.rate_limit())
    provider.script("tts-1", Answer.rate_limit())
    router = two_group_router(provider, "whisper-1", "gpt-4o-transcribe")
    speech_router = two_group_router(provider, "tts-1", "gpt-4o-mini-tts")

    async def legs():
        await router.atranscription(file=("hello.wav", wav_bytes()), model="primary", response_format="verbose_json")
        await speech_router.aspeech(model="primary", input=TEXT_TO_SPEAK, voice="alloy")

    asyncio.run(legs())
    samples = sent(dsd)
    durations = _named(samples, "ddllm.attempt.duration")
    assert [(s.tags["operation"], s.tags["model"], s.tags["outcome"]) for s in durations] == [
        ("transcription", "whisper-1", "rate_limited"),
        ("transcription", "gpt-4o-transcribe", "success"),
        ("speech", "tts-1", "rate_limited"),
        ("speech", "gpt-4o-mini-tts", "success"),
    ]
    requests = _named(samples, "ddllm.request.duration")
    assert [(s.tags["operation"], s.tags["model_group"], s.tags["fallback_used"]) for s in requests] == [
        ("transcription", "primary", "true"),
        ("speech", "primary", "true"),
    ]
    [seconds] = _named(samples, "ddllm.audio.seconds")
    assert (seconds.value, seconds.tags["provider"], seconds.tags["model"]) == (SECONDS, "openai", "gpt-4o-transcribe")
    [characters] = _named(samples, "ddllm.speech.characters")  # the 429 spoke nothing
    assert (characters.value, characters.tags["model"]) == (len(TEXT_TO_SPEAK), "gpt-4o-mini-tts")
    assert [s.tags["from_model"] for s in _named(samples, "ddllm.fallback")] == ["openai/whisper-1", "openai/tts-1"]
    assert not any(TEXT_TO_SPEAK in s.raw or "RIFF" in s.raw for s in samples)


def test_direct_transcription_with_fallbacks_is_one_attempt_as_litellm_makes_one_call(agent, patched, provider):
    """LiteLLM honours `fallbacks=` on chat calls only: a transcription that has them makes one
    provider call, and is one attempt, not a request."""
    provider.script("whisper-1", Answer.rate_limit())
    # the OpenAI SDK's own error: LiteLLM 1.110's sync transcription does not map it to its own
    with pytest.raises(openai.RateLimitError):
        litellm.transcription(
            model="openai/whisper-1",
            file=("hello.wav", wav_bytes()),
            api_base=provider.openai_base,
            api_key=KEY,
            max_retries=0,
            fallbacks=["openai/gpt-4o-transcribe"],
        )
    assert [r.model for r in provider.received] == ["whisper-1"]
    flush()
    assert by_name(agent.spans(), "llm.request") == []
    [attempt] = by_name(agent.spans(), "llm.attempt")
    assert (meta(attempt, "llm.outcome"), meta(attempt, "http.status_code")) == ("rate_limited", "429")
    assert attempt["metrics"]["llm.ratelimit.remaining_requests"] == 0
