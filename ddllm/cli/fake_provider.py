"""A fake LLM provider on loopback, for the tests and `ddllm demo`.

It speaks enough of the OpenAI API (chat completions, text completions, embeddings,
responses, and the audio endpoints: a transcription of a multipart upload, speech as binary
audio) and of Anthropic's messages API for LiteLLM to call it over real HTTP, with the
recorded answers of `ddllm.cli.recorded_answers`, and it injects the faults fallbacks are made
for: 429 with rate-limit headers, 5xx, a slow first byte, content-filter and context-length
refusals, invalid JSON, a reset connection, a stream cut after N chunks, an answer held
until released. An OpenAI chat answer can call a tool, and any answer can report other
token usage (cached, reasoning, cache-write tokens).

    with FakeProvider() as provider:
        provider.script("gpt-4o-mini", Answer.rate_limit(), Answer.ok())
        litellm.completion(model="openai/gpt-4o-mini", api_base=provider.openai_base, ...)

What each model answers is chosen per request: first the model's script (a queue), then its
policy (a function of the request's index), then a plain success.

It also replays answers as a provider sent them (`recorded_answers.Reply`), at whatever path
the provider's client calls (Azure's deployments, Bedrock's `/model/{id}/converse`,
Gemini's `:generateContent`, ...): `provider.replay(reply)` queues one for the next request
whose path ends as asked, ahead of any script.
"""

import collections
import copy
import email.parser
import email.policy
import io
import json
import socket
import struct
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ddllm.cli import recorded_answers

KINDS = (
    "ok",
    "rate_limit",
    "server_error",
    "overloaded",
    "content_filter",
    "context_length",
    "garbage",
    "reset",
    "cut_stream",
)


class Answer:
    """How the fake provider answers one request."""

    __slots__ = (
        "kind",
        "delay",
        "chunk_delay",
        "cut_after",
        "hold",
        "text",
        "remaining_requests",
        "remaining_tokens",
        "retry_after",
        "tool_call",
        "usage",
    )

    def __init__(
        self,
        kind="ok",
        delay=0.0,
        chunk_delay=0.0,
        cut_after=2,
        hold=None,
        text=None,
        remaining_requests=None,
        remaining_tokens=None,
        retry_after="0",
        tool_call=None,
        usage=None,
    ):
        if kind not in KINDS:
            raise ValueError("unknown answer kind %r; one of %s" % (kind, ", ".join(KINDS)))
        self.kind = kind
        self.delay = delay  # seconds before the first byte: a slow answer, the time to first token
        self.chunk_delay = chunk_delay
        self.cut_after = cut_after  # content chunks sent before a cut stream drops the connection
        self.hold = hold  # a threading.Event the answer waits for before its first byte
        self.text = text
        self.remaining_requests = remaining_requests
        self.remaining_tokens = remaining_tokens
        self.retry_after = retry_after  # seconds, on 429 and 5xx; "0" keeps retries quick in tests
        # (name, arguments dict): an OpenAI chat answer that calls this tool instead of text
        self.tool_call = tool_call
        self.usage = usage  # merged into the recorded usage, e.g. {"prompt_tokens_details": {...}}

    def __repr__(self):
        return "Answer(%r)" % self.kind

    @classmethod
    def ok(cls, **options):
        return cls("ok", **options)

    @classmethod
    def rate_limit(cls, **options):
        return cls("rate_limit", **options)

    @classmethod
    def server_error(cls, **options):
        return cls("server_error", **options)

    @classmethod
    def slow(cls, delay, **options):
        return cls("ok", delay=delay, **options)

    @classmethod
    def cut_stream(cls, after=2, **options):
        return cls("cut_stream", cut_after=after, **options)


ReceivedRequest = collections.namedtuple("ReceivedRequest", "api path model stream answer headers body")


class _Replay:
    __slots__ = ("reply", "path_suffix", "cut_after", "hold", "times")

    def __init__(self, reply, path_suffix, cut_after, hold, times):
        self.reply = reply
        self.path_suffix = path_suffix
        self.cut_after = cut_after
        self.hold = hold
        self.times = times


class FakeProvider:
    """A threaded HTTP server on 127.0.0.1 that answers as OpenAI and Anthropic do."""

    def __init__(self, host="127.0.0.1", port=0):
        self._lock = threading.Lock()
        self._scripts = collections.defaultdict(collections.deque)
        self._policies = {}
        self._replays = []
        self._counts = collections.Counter()
        self.received = []
        self._stopping = threading.Event()
        self._server = _Server((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, name="ddllm-fake-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return "http://%s:%d" % (host, port)

    @property
    def openai_base(self):
        return self.url + "/v1"

    @property
    def anthropic_base(self):
        return self.url

    # -- what to answer ----------------------------------------------------------------
    def script(self, model, *answers):
        """Queue answers for the next requests naming `model`, in order."""
        with self._lock:
            self._scripts[model].extend(answers)

    def policy(self, model, answer_for_index):
        """Answer requests past the script with `answer_for_index(n)`, n counting from 0."""
        with self._lock:
            self._policies[model] = answer_for_index

    def replay(self, reply, path_suffix="", cut_after=None, hold=None, times=1):
        """Answer the next `times` requests whose path (query left out) ends with `path_suffix`
        with `reply` as recorded: its status, headers, and body in its pieces. `cut_after`
        pieces are sent, then the connection ends (a stream cut half-way); `hold` is an
        event the answer waits for before its first byte."""
        with self._lock:
            self._replays.append(_Replay(reply, path_suffix, cut_after, hold, times))

    def _next_replay(self, path):
        with self._lock:
            for replay in self._replays:
                if path.endswith(replay.path_suffix):
                    replay.times -= 1
                    if replay.times <= 0:
                        self._replays.remove(replay)
                    return replay
        return None

    def reset(self):
        with self._lock:
            self._replays.clear()
            self._scripts.clear()
            self._policies.clear()
            self._counts.clear()
            del self.received[:]

    def requests_for(self, model):
        return [r for r in self.received if r.model == model]

    def _next_answer(self, model):
        with self._lock:
            index = self._counts[model]
            self._counts[model] += 1
            script = self._scripts.get(model)
            if script:
                return script.popleft()
            policy = self._policies.get(model)
        return policy(index) if policy else Answer()


# -- the HTTP side -------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of concurrent requests connect at once

    def handle_error(self, request, client_address):
        """A client that went away (a timeout, a cancelled stream) is not the server's error."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _handler_for(provider):
    class Handler(_ProviderHandler):
        pass

    Handler.provider = provider
    return Handler


class _ProviderHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as the real APIs
    provider = None

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests read `received`
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        path = self.path.split("?")[0].rstrip("/")
        replay = self.provider._next_replay(path)
        if replay is not None:
            return self._replay(replay, path, raw)
        try:
            body = _request_body(self.headers.get("content-type") or "", raw)
        except ValueError:
            return self._send_json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
        api = _API_BY_PATH.get(path.replace("/v1", "", 1) if path.startswith("/v1") else path)
        if api is None:
            return self._send_json(404, {"error": {"message": "no route %s" % path, "type": "invalid_request_error"}})
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        answer = self.provider._next_answer(model)
        self.provider.received.append(ReceivedRequest(api, path, model, stream, answer.kind, dict(self.headers), body))
        if answer.hold is not None:
            while not answer.hold.wait(0.05):
                if self.provider._stopping.is_set():
                    return self._drop_connection()
        if answer.delay:
            time.sleep(answer.delay)  # the injected slowness itself, not synchronisation
        getattr(self, "_answer_" + answer.kind)(api, model, stream, answer, body)

    def _replay(self, replay, path, raw):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        self.provider.received.append(
            ReceivedRequest(
                "replay",
                path,
                str(body.get("model", "")),
                bool(body.get("stream")),
                replay.reply.id,
                dict(self.headers),
                body,
            )
        )
        if replay.hold is not None:
            while not replay.hold.wait(0.05):
                if self.provider._stopping.is_set():
                    return self._drop_connection()
        reply = replay.reply
        if len(reply.events) == 1 and replay.cut_after is None:
            return self._send(reply.status, reply.body, dict(reply.headers))
        self.send_response(reply.status)
        for key, value in reply.headers:
            self.send_header(key, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for index, event in enumerate(reply.events):
            if replay.cut_after is not None and index >= replay.cut_after:
                return self._end_connection()
            self._write_chunk(event)
        self._write_chunk(b"")

    # -- answers -----------------------------------------------------------------------
    def _answer_ok(self, api, model, stream, answer, body):
        if stream and api in ("chat", "messages"):
            return self._stream(api, model, answer, cut_after=None)
        if api == "speech":
            return self._send(
                200,
                _speech_audio(body),
                dict(
                    _rate_limit_headers(api, answer),
                    **{
                        "content-type": _SPEECH_CONTENT_TYPES.get(
                            body.get("response_format") or "mp3", "application/octet-stream"
                        )
                    },
                ),
            )
        if api == "transcription" and body.get("response_format") in ("text", "srt", "vtt"):
            return self._send(
                200,
                _transcript(answer).encode(),
                dict(_rate_limit_headers(api, answer), **{"content-type": "text/plain; charset=utf-8"}),
            )
        self._send_json(200, _success_body(api, model, answer, body), _rate_limit_headers(api, answer))

    def _answer_cut_stream(self, api, model, stream, answer, body):
        if not stream:
            return self._end_connection()
        self._stream(api, model, answer, cut_after=answer.cut_after)

    def _answer_rate_limit(self, api, model, stream, answer, body):
        headers = _rate_limit_headers(api, answer, exhausted=True)
        headers["retry-after"] = answer.retry_after
        if api == "messages":
            return self._send_json(
                429,
                _anthropic_error(
                    "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
                ),
                headers,
            )
        self._send_json(
            429,
            {
                "error": {
                    "message": "Rate limit reached for %s in organization org-fake on requests per min (RPM): "
                    "Limit 500, Used 500, Requested 1. Please try again in 120ms." % model,
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            headers,
        )

    def _answer_server_error(self, api, model, stream, answer, body):
        headers = {"retry-after": answer.retry_after}
        if api == "messages":
            return self._send_json(500, _anthropic_error("api_error", "Internal server error"), headers)
        self._send_json(
            500,
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
            headers,
        )

    def _answer_overloaded(self, api, model, stream, answer, body):
        headers = {"retry-after": answer.retry_after}
        if api == "messages":
            return self._send_json(529, _anthropic_error("overloaded_error", "Overloaded"), headers)
        self._send_json(
            503,
            {
                "error": {
                    "message": "The engine is currently overloaded, please try again later",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
            headers,
        )

    def _answer_content_filter(self, api, model, stream, answer, body):
        if api == "messages":
            return self._send_json(
                400, _anthropic_error("invalid_request_error", "Output blocked by content filtering policy")
            )
        self._send_json(
            400,
            {
                "error": {
                    "message": "Invalid prompt: your prompt was flagged as potentially violating our usage policy. "
                    "Please try again with a different prompt.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_prompt",
                }
            },
        )

    def _answer_context_length(self, api, model, stream, answer, body):
        if api == "messages":
            return self._send_json(
                400, _anthropic_error("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum")
            )
        self._send_json(
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens. However, your messages resulted "
                    "in 130000 tokens. Please reduce the length of the messages.",
                    "type": "invalid_request_error",
                    "param": "messages",
                    "code": "context_length_exceeded",
                }
            },
        )

    def _answer_garbage(self, api, model, stream, answer, body):
        self._send(200, b"{this is not json", {"content-type": "application/json"})

    def _answer_reset(self, api, model, stream, answer, body):
        self._drop_connection()

    # -- streams -----------------------------------------------------------------------
    def _stream(self, api, model, answer, cut_after):
        headers = (
            recorded_answers.OPENAI_STREAM_HEADERS
            if api == "chat"
            else dict(recorded_answers.ANTHROPIC_HEADERS, **{"content-type": "text/event-stream"})
        )
        headers = dict(headers, **_rate_limit_headers(api, answer))
        headers["transfer-encoding"] = "chunked"
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        events = _openai_stream(model, answer) if api == "chat" else _anthropic_stream(model, answer)
        content_sent = 0
        for event, is_content in events:
            if cut_after is not None and is_content and content_sent >= cut_after:
                return self._end_connection()
            self._write_chunk(event)
            content_sent += is_content
            if answer.chunk_delay:
                time.sleep(answer.chunk_delay)
        self._write_chunk(b"")

    def _write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    # -- plumbing ----------------------------------------------------------------------
    def _send_json(self, status, payload, headers=None):
        base = {"content-type": "application/json"}
        base.update(headers or {})
        self._send(status, json.dumps(payload).encode(), base)

    def _send(self, status, data, headers):
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _end_connection(self):
        """Close cleanly in the middle of the body: what was sent arrives, then the end."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _drop_connection(self):
        """Close with a TCP reset, as a proxy or a crashed upstream does."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass


_API_BY_PATH = {
    "/chat/completions": "chat",
    "/completions": "text_completion",
    "/embeddings": "embeddings",
    "/responses": "responses",
    "/messages": "messages",
    "/audio/transcriptions": "transcription",
    "/audio/speech": "speech",
}


def _request_body(content_type, raw):
    """The request's fields: a JSON body, or a multipart form (an audio upload) as a dict whose
    file fields are `UploadedFile`s. Raises ValueError on a body that is neither."""
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"content-type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            fields[name] = UploadedFile(filename, payload) if filename is not None else payload.decode()
        return fields
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


UploadedFile = collections.namedtuple("UploadedFile", "filename content")

# What OpenAI's /audio/speech answers for each `response_format`.
_SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
_MP3_FRAME = b"\xff\xf3\xe4\xc4" + bytes(140)  # an MPEG-2 layer III frame header and silence


def _speech_audio(body):
    """Audio bytes for the text to speak: longer text, more audio, as a real voice gives."""
    text = body.get("input") if isinstance(body.get("input"), str) else ""
    return b"ID3\x03\x00\x00\x00\x00\x00\x00" + _MP3_FRAME * (1 + len(text) // 8)


def _transcript(answer):
    return answer.text if answer.text is not None else "Hello, I would like to book a table for two."


def _audio_seconds(upload):
    """The uploaded audio's length, for a WAV upload (what the tests send); else None."""
    try:
        with wave.open(io.BytesIO(upload.content)) as audio:
            return round(audio.getnframes() / float(audio.getframerate()), 2)
    except Exception:
        return None


def _transcription_body(answer, request_body):
    """OpenAI's answer: `{"text"}` with its usage; `verbose_json` adds the task, language,
    duration and segments."""
    text = _transcript(answer)
    upload = request_body.get("file")
    seconds = _audio_seconds(upload) if isinstance(upload, UploadedFile) else None
    body = {"text": text}
    if request_body.get("response_format") == "verbose_json":
        body = {
            "task": "transcribe",
            "language": "english",
            "duration": seconds,
            "text": text,
            "segments": [
                {
                    "id": 0,
                    "seek": 0,
                    "start": 0.0,
                    "end": seconds,
                    "text": text,
                    "tokens": [50364, 2425, 50414],
                    "temperature": 0.0,
                    "avg_logprob": -0.2,
                    "compression_ratio": 1.1,
                    "no_speech_prob": 0.01,
                }
            ],
        }
    if seconds is not None:
        body["usage"] = {"type": "duration", "seconds": int(-(-seconds // 1))}  # billed by the whole second
    return body


def _anthropic_error(error_type, message):
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _rate_limit_headers(api, answer, exhausted=False):
    """The recorded headers, with the remaining figures the answer asks for."""
    requests_left = "0" if exhausted else answer.remaining_requests
    tokens_left = answer.remaining_tokens
    if api == "messages":
        headers = dict(recorded_answers.ANTHROPIC_HEADERS)
        headers["anthropic-ratelimit-requests-limit"] = "4000"
        headers["anthropic-ratelimit-requests-remaining"] = "3999" if requests_left is None else str(requests_left)
        if tokens_left is not None:
            headers["anthropic-ratelimit-tokens-remaining"] = str(tokens_left)
        return headers
    headers = dict(recorded_answers.OPENAI_HEADERS)
    if requests_left is not None:
        headers["x-ratelimit-remaining-requests"] = str(requests_left)
    if tokens_left is not None:
        headers["x-ratelimit-remaining-tokens"] = str(tokens_left)
    return headers


def _success_body(api, model, answer, request_body):
    if api == "transcription":
        return _transcription_body(answer, request_body)
    if api == "messages":
        message = copy.deepcopy(recorded_answers.ANTHROPIC_MESSAGE)
        message["model"] = model
        if answer.text is not None:
            message["content"][0]["text"] = answer.text
        message["usage"] = _with_usage(message["usage"], answer)
        return message
    if api == "embeddings":
        inputs = request_body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        return {
            "object": "list",
            "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": [0.01 * (i + 1)] * 8} for i in range(count)],
            "usage": {"prompt_tokens": 4 * count, "total_tokens": 4 * count},
        }
    if api == "responses":
        text = answer.text or recorded_answers.OPENAI_CHAT_COMPLETION["choices"][0]["message"]["content"]
        return {
            "id": "resp_fake0123456789",
            "object": "response",
            "created_at": 1742476858,
            "status": "completed",
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_fake0123456789",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "usage": _with_usage(
                {
                    "input_tokens": 13,
                    "output_tokens": 21,
                    "total_tokens": 34,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 5},
                },
                answer,
            ),
        }
    completion = copy.deepcopy(recorded_answers.OPENAI_CHAT_COMPLETION)
    completion["model"] = model
    completion["usage"] = _with_usage(completion["usage"], answer)
    if api == "text_completion":
        text = answer.text or completion["choices"][0]["message"]["content"]
        completion["object"] = "text_completion"
        completion["choices"] = [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}]
    elif answer.tool_call is not None:
        name, arguments = answer.tool_call
        completion["choices"][0]["message"].update(
            content=None,
            tool_calls=[
                {
                    "id": _TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            ],
        )
        completion["choices"][0]["finish_reason"] = "tool_calls"
    elif answer.text is not None:
        completion["choices"][0]["message"]["content"] = answer.text
    return completion


_TOOL_CALL_ID = "call_fake0123456789"


def _with_usage(recorded, answer):
    """The recorded usage with the answer's figures merged in, nested details included."""
    if not answer.usage:
        return recorded
    merged = copy.deepcopy(recorded)
    for key, value in answer.usage.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def _words(answer, recorded):
    text = answer.text if answer.text is not None else recorded
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _openai_stream(model, answer):
    """(SSE event bytes, is content) pairs shaped as the recorded OpenAI stream."""

    def event(delta, finish_reason=None, usage=None, choices=True):
        chunk = dict(recorded_answers.OPENAI_STREAM_CHUNK, model=model, usage=usage)
        chunk["choices"] = (
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}] if choices else []
        )
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    usage = _with_usage(recorded_answers.OPENAI_STREAM_USAGE, answer)
    if answer.tool_call is not None:  # the call's id and name first, then its arguments in pieces
        name, arguments = answer.tool_call
        encoded = json.dumps(arguments)
        yield (
            event(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": _TOOL_CALL_ID,
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ],
                }
            ),
            False,
        )
        for piece in (encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]):
            yield event({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), True
        yield event({}, finish_reason="tool_calls"), False
        yield event(None, usage=usage, choices=False), False
        yield b"data: [DONE]\n\n", False
        return
    yield event({"role": "assistant", "content": "", "refusal": None}), False
    words = _words(answer, recorded_answers.OPENAI_CHAT_COMPLETION["choices"][0]["message"]["content"])
    for word in words:
        yield event({"content": word}), True
    yield event({}, finish_reason="stop"), False
    yield event(None, usage=usage, choices=False), False
    yield b"data: [DONE]\n\n", False


def _anthropic_stream(model, answer):
    """(SSE event bytes, is content) pairs in the order Anthropic's messages stream sends them."""

    def event(name, data):
        return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"

    recorded = recorded_answers.ANTHROPIC_MESSAGE
    start = dict(recorded, model=model, content=[], stop_reason=None, usage=dict(recorded["usage"], output_tokens=1))
    yield event("message_start", {"type": "message_start", "message": start}), False
    yield (
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        False,
    )
    yield event("ping", {"type": "ping"}), False
    for word in _words(answer, recorded["content"][0]["text"]):
        yield (
            event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
            ),
            True,
        )
    yield event("content_block_stop", {"type": "content_block_stop", "index": 0}), False
    yield (
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": recorded["usage"]["output_tokens"]},
            },
        ),
        False,
    )
    yield event("message_stop", {"type": "message_stop"}), False
