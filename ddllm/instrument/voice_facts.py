"""What a voice attempt is: speech to text (`transcription`) and text to speech (`speech`).

Read from the call's arguments and from what LiteLLM hands back: a `TranscriptionResponse`
(`text`, and the audio's `duration` or a `usage` of seconds where the provider reports them),
or an `HttpxBinaryResponseContent` whose httpx response holds the whole audio (LiteLLM reads
it before it returns: there is no first audio byte to time). Audio is measured (seconds,
format, bytes), never read or copied: no audio content leaves the caller's objects; LLM
Observability gets it described (`ddllm.instrument.litellm_objects`).
"""

from ddllm.instrument.litellm_objects import read_member

TRANSCRIPTION = "transcription"
SPEECH = "speech"


def read_start(kwargs, facts):
    """Before the call: the length of the text to speak."""
    if facts.operation == SPEECH:
        text = kwargs.get("input")
        facts.speech_characters = len(text) if isinstance(text, str) else None


def read_answer(response, hidden, facts):
    """What a voice answer says (`hidden`: its `_hidden_params`)."""
    if facts.operation == TRANSCRIPTION:
        text = read_member(response, "text")
        facts.transcript_characters = len(text) if isinstance(text, str) else None
        facts.audio_seconds = _audio_seconds(response, hidden)
    elif facts.operation == SPEECH:
        answer = getattr(response, "response", None)  # the provider's httpx response
        headers = getattr(answer, "headers", None)
        facts.speech_format = _content_type(headers)
        facts.speech_bytes = _body_size(answer, headers)


def _seconds(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value >= 0:
        return float(value)
    return None


def _audio_seconds(response, hidden):
    """The audio's length as measured: the provider's (verbose_json's `duration`, which
    LiteLLM asks Whisper for when the caller names no format), else LiteLLM's own, read from
    the uploaded file (where `soundfile` is installed); else the seconds the provider bills
    in its usage, which OpenAI rounds up to the whole second."""
    seconds = _seconds(read_member(response, "duration"))
    if seconds is None:
        seconds = _seconds(hidden.get("audio_transcription_duration"))
    if seconds is None:
        usage = read_member(response, "usage")
        if usage is not None and read_member(usage, "type") == "duration":
            seconds = _seconds(read_member(usage, "seconds"))
    return seconds


def _content_type(headers):
    try:
        value = headers.get("content-type") if headers is not None else None
    except Exception:
        return None
    if not isinstance(value, str) or not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def _body_size(answer, headers):
    """Bytes of audio returned: the body LiteLLM read, else its declared length."""
    try:
        content = answer.content  # httpx raises ResponseNotRead (a RuntimeError) for a body not read
        if isinstance(content, (bytes, bytearray)):
            return len(content)
    except Exception:
        pass
    try:
        length = headers.get("content-length") if headers is not None else None
        return int(length) if length is not None else None
    except Exception:
        return None
