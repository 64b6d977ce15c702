"""What a voice attempt is: speech to text (`transcription`) and text to speech (`speech`).

Read from the call's arguments and from what LiteLLM hands back: a `TranscriptionResponse`
(`text`, and the audio's `duration` or a `usage` of seconds where the provider reports them),
or an `HttpxBinaryResponseContent` whose httpx response holds the whole audio (LiteLLM reads
it before it returns: there is no first audio byte to time). Audio is described (name, size,
format, seconds), never read or copied: no audio content leaves the caller's objects.
"""

import os

from ddllm.instrument.members import read_member

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


def describe_upload(file):
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


def describe_speech(facts):
    """What a speech attempt returned, in words: its format and size, never the audio."""
    parts = [facts.speech_format or "audio"]
    if facts.speech_bytes is not None:
        parts.append("%d bytes" % facts.speech_bytes)
    return "[%s]" % ", ".join(parts)


def describe_upload_text(file):
    """An uploaded audio file in words, for LLM Observability's input."""
    described = describe_upload(file)
    parts = [described.get("name") or "audio"]
    if "bytes" in described:
        parts.append("%d bytes" % described["bytes"])
    if "format" in described:
        parts.append(described["format"])
    return "[audio: %s]" % ", ".join(parts)
