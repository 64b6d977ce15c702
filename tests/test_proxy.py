"""LiteLLM's proxy server under `ddtrace-run`, as a gateway team runs it, with ddllm installed.

Three proxies run, each started once for this module (all at once: their start-up is mostly
importing, and two cores import two at a time):

- `one-worker` and `two-workers`: every ddtrace integration at its default. ddllm takes the
  LiteLLM calls over from ddtrace's litellm integration, so no `litellm.request` span.
- `ddtrace-litellm-on`: the user set DD_TRACE_LITELLM_ENABLED=true and keeps both.

Clients are the `openai` package (and a raw socket that drops the connection). For each
request: one trace whose root is the proxy's `fastapi.request` span (none lost), one
`llm.request` under it, exactly one `llm.attempt` under that per provider call, and exactly
one LLM Observability model event per provider call, carrying the fallback tags.
"""

import json
import signal
import socket
import struct
import threading

import openai
import pytest
from conftest import TEST_AGENT
from dogstatsd_receiver import DogStatsdReceiver
from proxy_server import (
    CASE_HEADER,
    CASE_TAG,
    EMBEDDING_MODEL,
    FALLBACK_MODEL,
    PRIMARY_MODEL,
    VOICE_MODELS,
    ProxyServer,
    poll,
    running,
    traces_of_case,
)
from spans_of import _descends_from, by_name
from test_llmobs import _kind, _tags
from test_voice import SECONDS, TEXT_TO_SPEAK, wav_bytes

from ddllm.cli.fake_provider import Answer

CONFIGURATIONS = {
    "one-worker": {"workers": 1, "environment": {}},
    "two-workers": {"workers": 2, "environment": {}},
    "ddtrace-litellm-on": {"workers": 1, "environment": {"DD_TRACE_LITELLM_ENABLED": "true"}},
}
MESSAGES = [{"role": "user", "content": "hi"}]
ANSWER = "Not much, just here to chat and help with anything you might need. How are you doing?"
FALLBACK_ANSWER = "Hey! Not much, just here and ready to chat. What's up with you?"
MODEL_EVENT_KINDS = ("llm", "embedding")  # LLM Observability's kinds for one model call
_MASK_64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def dogstatsd():
    receiver = DogStatsdReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def proxies(provider_server, dogstatsd, tmp_path_factory):
    servers = {
        name: ProxyServer(
            tmp_path_factory.mktemp(name),
            provider_server,
            TEST_AGENT.url,
            dogstatsd.udp_url,
            workers=settings["workers"],
            environment=settings["environment"],
            service="ddllm-proxy-" + name,
        )
        for name, settings in CONFIGURATIONS.items()
    }
    with running(servers):
        yield servers


@pytest.fixture(params=list(CONFIGURATIONS))
def proxy(request, proxies, provider):
    """One of the running proxies, with the fake provider's scripts reset for this test."""
    return proxies[request.param]


def client_of(proxy):
    return openai.OpenAI(base_url=proxy.url, api_key=proxy.master_key, max_retries=0, timeout=60)


def case_of(request, proxy):
    return "%s/%s" % (proxy.service, request.node.originalname)


def takes_over(proxy):
    return proxy.environment.get("DD_TRACE_LITELLM_ENABLED") != "true"


# -- what every request must show ---------------------------------------------------------


def _describe(trace):
    return [(span["name"], span["resource"], span["span_id"], span.get("parent_id")) for span in trace]


def model_events_of(trace_id, expected, timeout=30.0):
    """The LLM Observability model events of one APM trace: at least `expected` of them unless
    `timeout` passed first (they leave the proxy on their own schedule, apart from the trace)."""

    def read():
        return [
            event
            for event in TEST_AGENT.llmobs_spans()
            if int(event.get("_dd", {}).get("apm_trace_id", "0"), 16) & _MASK_64 == trace_id
        ]

    return poll(read, lambda events: len(model_events(events)) >= expected, timeout)


def model_events(events):
    return [event for event in events if _kind(event) in MODEL_EVENT_KINDS]


def traced_request(proxy, case, provider_calls):
    """The checks every request gets; returns its attempt spans in order and its model events
    by attempt number. Records what arrived, for the check after the proxy stopped."""
    traces = traces_of_case(TEST_AGENT, case)
    assert len(traces) == 1, "%d traces for %s: the trace was lost or split" % (len(traces), case)
    [trace] = traces
    by_id = {span["span_id"]: span for span in trace}
    [root] = [span for span in trace if not span.get("parent_id")] or [None]
    assert root is not None and root["name"] == "fastapi.request", _describe(trace)
    assert root["meta"][CASE_TAG] == case
    requests = by_name(trace, "llm.request")
    assert len(requests) == 1, _describe(trace)
    [request] = requests
    assert _descends_from(request, root["span_id"], by_id), _describe(trace)
    attempts = sorted(by_name(trace, "llm.attempt"), key=lambda span: int(span["meta"]["llm.attempt.number"]))
    assert len(attempts) == provider_calls, _describe(trace)  # exactly one per provider call
    assert [int(span["meta"]["llm.attempt.number"]) for span in attempts] == list(range(1, provider_calls + 1))
    assert all(_descends_from(span, request["span_id"], by_id) for span in attempts), _describe(trace)
    if takes_over(proxy):
        assert not by_name(trace, "litellm.request"), _describe(trace)

    events = model_events_of(root["trace_id"], provider_calls)
    calls = model_events(events)
    assert len(calls) == provider_calls, [(e["name"], _kind(e)) for e in events]
    for event in calls:  # the fallback tags on every event, failed streams included
        tags = _tags(event)
        assert {"llm.attempt.number", "llm.fallback.depth", "llm.fallback.is_fallback"} <= set(tags), event["tags"]
    if takes_over(proxy):
        assert [_kind(event) for event in events].count("workflow") == 1, [(e["name"], _kind(e)) for e in events]
    by_number = {int(_tags(event)["llm.attempt.number"]): event for event in calls}
    assert sorted(by_number) == list(range(1, provider_calls + 1))
    proxy.cases[case] = arrived(traces, events)
    return attempts, by_number


def arrived(traces, events):
    """What arrived of one request: its traces' span names and its LLM Observability events' kinds."""
    return [sorted(span["name"] for span in trace) for trace in traces], sorted(_kind(event) for event in events)


def arrived_for(case):
    traces = traces_of_case(TEST_AGENT, case)
    return arrived(traces, model_events_of(traces[0][0]["trace_id"], 0) if traces else [])


def assert_fell_back(attempts, events):
    first, second = attempts
    assert first["resource"] == "openai/" + PRIMARY_MODEL
    assert first["meta"]["llm.outcome"] == "rate_limited"
    assert second["resource"] == "anthropic/" + FALLBACK_MODEL
    assert second["meta"]["llm.fallback.is_fallback"] == "true"
    assert second["meta"]["llm.fallback.reason"] == "RateLimitError"
    assert second["meta"]["llm.fallback.from"] == "openai/" + PRIMARY_MODEL
    assert _tags(events[1])["llm.fallback.depth"] == "0"
    assert _tags(events[2])["llm.fallback.depth"] == "1"
    assert _tags(events[2])["llm.fallback.reason"] == "RateLimitError"


def wait_for_sample(receiver, name, timeout=30.0, **tags):
    """The first sample named `name` with these tags, reading until it comes or `timeout` passes."""

    def read():
        return [
            sample
            for sample in receiver.samples(expected=1, timeout=1.0)
            if sample.name == name and all(sample.tags.get(key) == value for key, value in tags.items())
        ]

    found = poll(read, bool, timeout)
    return found[0] if found else None


# -- the requests ----------------------------------------------------------------------------


def test_chat(request, proxy, provider):
    case = case_of(request, proxy)
    answer = client_of(proxy).chat.completions.create(
        model="primary", messages=MESSAGES, extra_headers={CASE_HEADER: case}
    )
    assert answer.choices[0].message.content == ANSWER
    assert len(provider.received) == 1
    [attempt], events = traced_request(proxy, case, provider_calls=1)
    assert attempt["resource"] == "openai/" + PRIMARY_MODEL
    assert attempt["meta"]["llm.outcome"] == "success"
    assert attempt["meta"]["llm.model_group"] == "primary"
    assert events[1]["meta"]["model_name"] == PRIMARY_MODEL
    # the master key is the proxy's admin user, of no team and with no key alias
    assert {key: value for key, value in attempt["meta"].items() if key.startswith("llm.proxy.")} == {
        "llm.proxy.user": "default_user_id"
    }


def test_stream(request, proxy, provider):
    case = case_of(request, proxy)
    stream = client_of(proxy).chat.completions.create(
        model="primary", messages=MESSAGES, stream=True, extra_headers={CASE_HEADER: case}
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == ANSWER
    assert len(provider.received) == 1
    [attempt], _ = traced_request(proxy, case, provider_calls=1)
    assert attempt["meta"]["llm.stream"] == "true"
    assert attempt["meta"]["llm.outcome"] == "success"


def test_embeddings(request, proxy, provider):
    case = case_of(request, proxy)
    answer = client_of(proxy).embeddings.create(
        model="embeddings", input=["one", "two"], extra_headers={CASE_HEADER: case}
    )
    assert len(answer.data) == 2
    assert len(provider.received) == 1
    [attempt], events = traced_request(proxy, case, provider_calls=1)
    assert attempt["resource"] == "openai/" + EMBEDDING_MODEL
    assert attempt["meta"]["llm.operation"] == "embeddings"
    assert _kind(events[1]) == "embedding"


def test_rate_limited_primary_falls_back(request, proxy, provider, dogstatsd):
    provider.script(PRIMARY_MODEL, Answer.rate_limit())
    case = case_of(request, proxy)
    answer = client_of(proxy).chat.completions.create(
        model="primary", messages=MESSAGES, extra_headers={CASE_HEADER: case}
    )
    assert answer.choices[0].message.content == FALLBACK_ANSWER
    assert len(provider.received) == 2
    attempts, events = traced_request(proxy, case, provider_calls=2)
    assert_fell_back(attempts, events)
    fallback = wait_for_sample(dogstatsd, "ddllm.fallback", service=proxy.service)
    assert fallback is not None, "no ddllm.fallback metric from %s" % proxy.service
    assert fallback.tags["from_model"] == "openai/" + PRIMARY_MODEL
    assert fallback.tags["to_model"] == "anthropic/" + FALLBACK_MODEL
    assert fallback.tags["reason"] == "RateLimitError"
    assert fallback.tags["env"] == "test"


def assert_voice_fell_back(proxy, case, operation, group):
    primary, backup = VOICE_MODELS[group]
    attempts, events = traced_request(proxy, case, provider_calls=2)
    assert [span["resource"] for span in attempts] == ["openai/" + primary, "openai/" + backup]
    assert [span["meta"]["llm.operation"] for span in attempts] == [operation] * 2
    assert [span["meta"]["llm.outcome"] for span in attempts] == ["rate_limited", "success"]
    assert attempts[1]["meta"]["llm.fallback.reason"] == "RateLimitError"
    assert attempts[1]["meta"]["llm.model_group"] == group + "-backup"
    assert [_kind(events[number]) for number in (1, 2)] == ["llm", "llm"]
    return attempts, events


@pytest.mark.parametrize("proxy_name", ["one-worker"])  # the voice legs: one proxy is enough
def test_voice_legs_fall_back_through_the_proxys_audio_routes(request, proxies, proxy_name, provider, dogstatsd):
    """`/v1/audio/transcriptions` (a multipart upload) and `/v1/audio/speech` (binary audio
    back), each rate limited on its primary group and served by its fallback."""
    proxy = proxies[proxy_name]
    client = client_of(proxy)
    provider.script(VOICE_MODELS["stt"][0], Answer.rate_limit())
    provider.script(VOICE_MODELS["tts"][0], Answer.rate_limit())
    heard = client.audio.transcriptions.create(
        model="stt",
        file=("turn.wav", wav_bytes()),
        response_format="verbose_json",
        extra_headers={CASE_HEADER: case_of(request, proxy) + "/stt"},
    )
    spoken = client.audio.speech.create(
        model="tts", voice="alloy", input=TEXT_TO_SPEAK, extra_headers={CASE_HEADER: case_of(request, proxy) + "/tts"}
    )
    audio = spoken.read()
    assert audio.startswith(b"ID3")
    assert [(r.api, r.answer) for r in provider.received] == [
        ("transcription", "rate_limit"),
        ("transcription", "ok"),
        ("speech", "rate_limit"),
        ("speech", "ok"),
    ]

    attempts, events = assert_voice_fell_back(proxy, case_of(request, proxy) + "/stt", "transcription", "stt")
    assert attempts[1]["metrics"]["llm.audio.seconds"] == SECONDS
    assert attempts[1]["metrics"]["llm.transcript.characters"] == len(heard.text)
    assert events[2]["meta"]["output"]["messages"] == [{"content": heard.text, "role": "assistant"}]
    assert "RIFF" not in json.dumps(events)  # the upload described, never its audio

    attempts, events = assert_voice_fell_back(proxy, case_of(request, proxy) + "/tts", "speech", "tts")
    assert attempts[1]["metrics"]["llm.speech.bytes"] == len(audio)
    assert attempts[1]["metrics"]["llm.speech.characters"] == len(TEXT_TO_SPEAK)
    assert events[2]["meta"]["output"]["messages"] == [
        {"content": "[audio/mpeg, %d bytes]" % len(audio), "role": "assistant"}
    ]

    by_name = voice_samples(dogstatsd, proxy.service)
    [seconds] = by_name.get("ddllm.audio.seconds", [None])
    assert seconds is not None and seconds.value == SECONDS and seconds.tags["model"] == VOICE_MODELS["stt"][1]
    [characters] = by_name.get("ddllm.speech.characters", [None])
    assert characters is not None and characters.value == len(TEXT_TO_SPEAK)
    assert [sample.tags["fallback_used"] for sample in by_name.get("ddllm.request.duration", [])] == ["true", "true"]


def voice_samples(receiver, service, timeout=30.0):
    """{name: [samples]} of the voice metrics `service` sent, and of its voice requests'
    durations, read until each has come or `timeout` passed (a read takes what it reads off
    the socket: one read gathers them all)."""
    gathered = {}

    def read():
        for sample in receiver.samples(expected=1, timeout=1.0):
            voice = sample.name in ("ddllm.audio.seconds", "ddllm.speech.characters") or (
                sample.name == "ddllm.request.duration" and sample.tags.get("operation") in ("transcription", "speech")
            )
            if voice and sample.tags.get("service") == service:
                gathered.setdefault(sample.name, []).append(sample)
        return gathered

    return poll(read, lambda found: len(found) == 3 and len(found["ddllm.request.duration"]) == 2, timeout)


def test_streamed_request_falls_back(request, proxy, provider):
    provider.script(PRIMARY_MODEL, Answer.rate_limit())
    case = case_of(request, proxy)
    stream = client_of(proxy).chat.completions.create(
        model="primary", messages=MESSAGES, stream=True, extra_headers={CASE_HEADER: case}
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == FALLBACK_ANSWER
    assert len(provider.received) == 2
    attempts, events = traced_request(proxy, case, provider_calls=2)
    assert_fell_back(attempts, events)
    assert [span["meta"]["llm.stream"] for span in attempts] == ["true", "true"]


def test_streamed_request_failing_everywhere(request, proxy, provider):
    provider.script(PRIMARY_MODEL, Answer.rate_limit())
    provider.script(FALLBACK_MODEL, Answer.rate_limit())
    case = case_of(request, proxy)
    with pytest.raises(openai.RateLimitError):
        stream = client_of(proxy).chat.completions.create(
            model="primary", messages=MESSAGES, stream=True, extra_headers={CASE_HEADER: case}
        )
        list(stream)
    assert len(provider.received) == 2
    attempts, events = traced_request(proxy, case, provider_calls=2)
    assert [span["meta"]["llm.outcome"] for span in attempts] == ["rate_limited", "rate_limited"]
    assert _tags(events[2])["llm.fallback.is_fallback"] == "true"


def test_stream_cut_mid_way(request, proxy, provider):
    """The provider drops the connection after two words: the client has had them, then an
    error in the stream (LiteLLM's proxy does not fall back once it has sent chunks)."""
    provider.script(PRIMARY_MODEL, Answer.cut_stream(after=2))
    case = case_of(request, proxy)
    stream = client_of(proxy).chat.completions.create(
        model="primary", messages=MESSAGES, stream=True, extra_headers={CASE_HEADER: case}
    )
    words = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            words.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(words) == "Not much,"
    assert len(provider.received) == 1
    [attempt], _ = traced_request(proxy, case, provider_calls=1)
    assert (attempt["meta"]["llm.stream"], attempt["meta"]["llm.outcome"]) == ("true", "error")


def slow_stream(provider):
    # Chunks 0.1 s apart: the client is gone long before the provider's stream ends.
    provider.script(PRIMARY_MODEL, Answer.ok(chunk_delay=0.1))


def test_cancelled_stream(request, proxy, provider):
    """The client closes the stream after its first chunk, as openai's `with` block does."""
    slow_stream(provider)
    case = case_of(request, proxy)
    with client_of(proxy).chat.completions.create(
        model="primary", messages=MESSAGES, stream=True, extra_headers={CASE_HEADER: case}
    ) as stream:
        next(iter(stream))
    [attempt], _ = traced_request(proxy, case, provider_calls=1)
    assert attempt["meta"]["llm.stream"] == "true"
    assert attempt["meta"]["llm.outcome"] == "cancelled"


def test_client_disconnecting_mid_stream(request, proxy, provider):
    """The client's connection drops (a TCP reset) after the first chunk."""
    slow_stream(provider)
    case = case_of(request, proxy)
    body = json.dumps({"model": "primary", "messages": MESSAGES, "stream": True}).encode()
    head = (
        "POST /chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\n%s: %s\r\n\r\n"
        % (proxy.port, proxy.master_key, len(body), CASE_HEADER, case)
    ).encode()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=60) as connection:
        connection.sendall(head + body)
        received = b""
        while b"data:" not in received:
            data = connection.recv(65536)
            assert data, "the proxy closed the connection before the first chunk: %r" % received
            received += data
        assert received.startswith(b"HTTP/1.1 200"), received[:200]
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    [attempt], _ = traced_request(proxy, case, provider_calls=1)
    assert attempt["meta"]["llm.stream"] == "true"
    assert attempt["meta"]["llm.outcome"] == "cancelled"


# -- stopping --------------------------------------------------------------------------------


def test_sigterm_drains_a_request_in_flight_and_nothing_arrives_late(proxies, provider):
    """Stopped as an orchestrator stops it, each proxy answers and traces the request it
    holds, then exits on the signal. Once every proxy is gone, each request checked above
    has exactly the spans and events it had then: nothing arrived late, nothing twice."""
    release = threading.Event()
    provider.script(PRIMARY_MODEL, *[Answer.ok(hold=release) for _ in proxies])
    answers, senders = {}, []
    for proxy in proxies.values():

        def send(proxy=proxy):
            answers[proxy.service] = client_of(proxy).chat.completions.create(
                model="primary", messages=MESSAGES, extra_headers={CASE_HEADER: proxy.service + "/in-flight"}
            )

        senders.append(threading.Thread(target=send))
        senders[-1].start()
    assert poll(lambda: len(provider.received), lambda held: held == len(proxies)) == len(proxies)
    for proxy in proxies.values():
        proxy.terminate()
    release.set()
    for sender in senders:
        sender.join(timeout=60)
    assert sorted(answers) == sorted(proxy.service for proxy in proxies.values())
    assert {answer.choices[0].message.content for answer in answers.values()} == {ANSWER}
    for proxy in proxies.values():
        # uvicorn raises the signal again once it has shut down: ending by it is a clean stop
        assert proxy.wait() in (0, -signal.SIGTERM), proxy.log_tail()
        traced_request(proxy, proxy.service + "/in-flight", provider_calls=1)
    for proxy in proxies.values():
        for case, seen in proxy.cases.items():
            assert arrived_for(case) == seen, case
