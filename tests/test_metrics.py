"""DogStatsD metrics as a real UDP socket on 127.0.0.1 (and a real Unix datagram socket)
receives them from the `datadog` client, for real LiteLLM calls through LiteLLM's mock
provider: names, types, values and tags of retries, fallbacks, streams, all-fail requests and
rate-limit headers; unified service tags; the tag cap; fork; and an agent that is not there."""

import asyncio
import collections
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading

import httpx
import litellm
import pytest
from dogstatsd_receiver import DogStatsdReceiver, named
from litellm import ModelResponse, Router

import ddllm
from ddllm import catalogue
from ddllm.instrument import background, metrics
from ddllm.instrument.tags import normalize_tag_value

MESSAGES = [{"role": "user", "content": "Say hi"}]
# 3 attempt durations, 2 token counts, 1 cost, 1 fallback hop, 1 request duration
RETRY_THEN_FALLBACK_SAMPLES = 8
TYPE_CODES = {"distribution": "d", "count": "c", "gauge": "g"}
OPENAI = ("openai", "gpt-4o-mini")
ANTHROPIC = ("anthropic", "claude-3-5-haiku-20241022")
RATE_LIMITED = "litellm.RateLimitError"
SERVER_ERROR = "litellm.InternalServerError"


@pytest.fixture(scope="module")
def receiver():
    receiver = DogStatsdReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def dsd(receiver):
    """ddllm patched, its metrics going to the receiver's UDP socket; nothing else in it."""
    assert ddllm.patch(dogstatsd_url=receiver.udp_url)
    assert metrics.flush()
    receiver.clear()
    yield receiver
    assert metrics.flush()
    ddllm.unpatch()


def sent(receiver, expected=None):
    """Everything sent so far: flush() returns once the client wrote it to the socket."""
    assert metrics.flush()
    samples = receiver.samples(expected)
    assert_in_catalogue(samples)
    return samples


def assert_in_catalogue(samples):
    """Every sample is a catalogue metric of its type, with its tags and no others (outside the
    LiteLLM proxy, nothing says who called)."""
    for sample in samples:
        metric = catalogue.METRICS_BY_NAME[sample.name]
        assert sample.type == TYPE_CODES[metric.type], sample.raw
        keys = set(sample.tags)
        assert keys <= set(catalogue.COMMON_METRIC_TAGS) | set(metric.tags), sample.raw
        always = set(metric.tags) - set(catalogue.PROXY_CALLER_METRIC_TAGS)  # those only in the proxy
        assert {"provider", "model", "env", "service"} | always <= keys, sample.raw
        assert not any(isinstance(value, list) for value in sample.tags.values()), "a tag key twice: " + sample.raw
        assert sample.tags["env"] == os.environ["DD_ENV"] and sample.tags["service"] == os.environ["DD_SERVICE"]


def tags_of(samples, *keys):
    return [tuple(sample.tags.get(key) for key in keys) for sample in samples]


def deployment(group, model, mock_response):
    return {
        "model_name": group,
        "litellm_params": {"model": model, "api_key": "sk-test-" + group, "mock_response": mock_response},
    }


def retry_then_fallback_router():
    """Two failing deployments in `primary`, then `backup` answers. (A failure other than a 429,
    and two deployments: the Router retries on the other one at once. A rate-limited single
    deployment would be retried after a backoff of seconds; the fallback tests cover 429s.)"""
    return Router(
        model_list=[
            deployment("primary", "openai/gpt-4o-mini", SERVER_ERROR),
            deployment("primary", "openai/gpt-4o-mini", SERVER_ERROR),
            deployment("backup", "anthropic/claude-3-5-haiku-20241022", "hello from backup"),
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=1,
        retry_after=0,
    )


def assert_retry_then_fallback(samples):
    durations = named(samples, "ddllm.attempt.duration")
    assert tags_of(
        durations, "provider", "model", "model_group", "operation", "outcome", "fallback", "stream", "error_type"
    ) == [
        (*OPENAI, "primary", "chat", "error", "false", "false", "InternalServerError"),
        (*OPENAI, "primary", "chat", "error", "false", "false", "InternalServerError"),
        (*ANTHROPIC, "backup", "chat", "success", "true", "false", "none"),
    ]
    assert all(sample.value > 0 for sample in durations)
    for name in ("ddllm.attempt.tokens.input", "ddllm.attempt.tokens.output"):
        [tokens] = named(samples, name)
        assert tags_of([tokens], "provider", "model", "model_group") == [(*ANTHROPIC, "backup")]
        assert tokens.value > 0
    assert tags_of(named(samples, "ddllm.attempt.cost"), "model") in ([], [(ANTHROPIC[1],)])
    assert named(samples, "ddllm.attempt.time_to_first_token") == []
    assert named(samples, "ddllm.ratelimit.remaining_requests") == []
    [fallback] = named(samples, "ddllm.fallback")
    assert fallback.value == 1
    assert tags_of([fallback], "from_model", "to_model", "reason", "type", "model_group") == [
        ("openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022", "InternalServerError", "default", "backup")
    ]
    [request] = named(samples, "ddllm.request.duration")
    assert tags_of(
        [request], "provider", "model", "model_group", "operation", "outcome", "fallback_used", "attempts"
    ) == [(*ANTHROPIC, "primary", "chat", "success", "true", "3")]
    assert request.value >= sum(sample.value for sample in durations)


def test_router_retry_then_fallback(dsd):
    response = retry_then_fallback_router().completion(model="primary", messages=MESSAGES)
    assert response.choices[0].message.content == "hello from backup"
    samples = sent(dsd)
    assert_retry_then_fallback(samples)
    assert not any(b"sk-test" in packet for packet in dsd.packets), "an API key in a metric"


async def test_router_async_retry_then_fallback(dsd):
    response = await retry_then_fallback_router().acompletion(model="primary", messages=MESSAGES)
    assert response.choices[0].message.content == "hello from backup"
    assert_retry_then_fallback(sent(dsd))


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_completion_with_fallbacks(dsd, use_async):
    call = dict(
        model="openai/gpt-4o-mini",
        messages=MESSAGES,
        api_key="sk-test",
        mock_response=RATE_LIMITED,
        fallbacks=[{"model": "anthropic/claude-3-5-haiku-20241022", "mock_response": "from fallback"}],
    )
    response = asyncio.run(litellm.acompletion(**call)) if use_async else litellm.completion(**call)
    assert response.choices[0].message.content == "from fallback"
    samples = sent(dsd)
    durations = named(samples, "ddllm.attempt.duration")
    assert tags_of(durations, "provider", "model", "outcome", "fallback") == [
        (*OPENAI, "rate_limited", "false"),
        (*ANTHROPIC, "success", "true"),
    ]
    assert all("model_group" not in sample.tags for sample in durations)  # not routed
    [fallback] = named(samples, "ddllm.fallback")
    assert tags_of([fallback], "from_model", "to_model", "reason") == [
        ("openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022", "RateLimitError")
    ]
    [request] = named(samples, "ddllm.request.duration")
    # model_group of a request is what the caller asked for: here the primary model.
    assert tags_of([request], "model_group", "model", "attempts", "fallback_used") == [
        ("openai/gpt-4o-mini", ANTHROPIC[1], "2", "true")
    ]


def test_plain_completion_is_attempt_metrics_only(dsd):
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test")
    samples = sent(dsd)
    [duration] = named(samples, "ddllm.attempt.duration")
    assert tags_of([duration], "provider", "model", "outcome", "fallback", "error_type") == [
        (*OPENAI, "success", "false", "none")
    ]
    assert "model_group" not in duration.tags
    assert named(samples, "ddllm.request.duration") == named(samples, "ddllm.fallback") == []


class _RefusingContextProvider:
    """An LLM Observability context provider that refuses to put a context back."""

    def active(self):
        return object()  # never what was saved: putting it back is always asked

    def activate(self, context):
        raise RuntimeError("this context provider activates nothing")


def test_a_failure_putting_the_callers_context_back_loses_no_metric(dsd, monkeypatch):
    """The caller's context is put back when the span has finished, before the metrics: a
    failure there is reported and the attempt's and the request's metrics still go out."""
    from ddllm.instrument import safety, spans

    monkeypatch.setattr(spans, "_llmobs_context_provider", _RefusingContextProvider)
    monkeypatch.setattr(safety, "_reported_kinds", set())
    router = Router(model_list=[deployment("primary", "openai/gpt-4o-mini", "hi")])
    router.completion(model="primary", messages=MESSAGES)
    samples = sent(dsd)
    assert len(named(samples, "ddllm.attempt.duration")) == 1
    assert len(named(samples, "ddllm.request.duration")) == 1
    assert {"attempt.span", "request.span"} <= safety._reported_kinds


def test_every_model_fails(dsd):
    router = Router(
        model_list=[
            deployment("primary", "openai/gpt-4o-mini", RATE_LIMITED),
            deployment("backup", "openai/gpt-4.1-nano", "litellm.InternalServerError"),
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
        retry_after=0,
    )
    with pytest.raises(litellm.RateLimitError):
        router.completion(model="primary", messages=MESSAGES)
    samples = sent(dsd)
    durations = named(samples, "ddllm.attempt.duration")
    assert tags_of(durations, "model", "outcome", "fallback", "error_type") == [
        ("gpt-4o-mini", "rate_limited", "false", "RateLimitError"),
        ("gpt-4.1-nano", "error", "true", "InternalServerError"),
    ]
    assert named(samples, "ddllm.attempt.tokens.input") == []
    [fallback] = named(samples, "ddllm.fallback")
    assert tags_of([fallback], "from_model", "to_model", "reason") == [
        ("openai/gpt-4o-mini", "openai/gpt-4.1-nano", "RateLimitError")
    ]
    [request] = named(samples, "ddllm.request.duration")
    assert tags_of([request], "model", "model_group", "outcome", "fallback_used", "attempts") == [
        ("gpt-4.1-nano", "primary", "rate_limited", "true", "2")
    ]


def test_four_attempts_and_more_share_one_bucket(dsd):
    router = Router(
        model_list=[
            deployment("primary", "openai/gpt-4o-mini", RATE_LIMITED),
            deployment("second", "openai/gpt-4.1-nano", RATE_LIMITED),
            deployment("third", "anthropic/claude-3-haiku-20240307", "litellm.InternalServerError"),
            deployment("fourth", "anthropic/claude-3-5-haiku-20241022", "hello"),
        ],
        fallbacks=[{"primary": ["second", "third", "fourth"]}],
        num_retries=0,
        retry_after=0,
    )
    router.completion(model="primary", messages=MESSAGES)
    samples = sent(dsd)
    assert tags_of(named(samples, "ddllm.fallback"), "from_model", "to_model", "reason") == [
        ("openai/gpt-4o-mini", "openai/gpt-4.1-nano", "RateLimitError"),
        ("openai/gpt-4.1-nano", "anthropic/claude-3-haiku-20240307", "RateLimitError"),
        ("anthropic/claude-3-haiku-20240307", "anthropic/claude-3-5-haiku-20241022", "InternalServerError"),
    ]
    [request] = named(samples, "ddllm.request.duration")
    # A bucket value every Datadog tag can carry as it is (a `4+` would become `4_`: docs/design.md, "Metric catalogue").
    assert catalogue.attempt_bucket(4) == "4_or_more" == normalize_tag_value("4_or_more")
    assert tags_of([request], "attempts", "outcome", "model_group") == [("4_or_more", "success", "primary")]


def test_streams_send_time_to_first_token(dsd):
    stream = Router(
        model_list=[
            deployment("primary", "openai/gpt-4o-mini", RATE_LIMITED),
            deployment("backup", "anthropic/claude-3-5-haiku-20241022", "streamed words from backup"),
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
        retry_after=0,
    ).completion(model="primary", messages=MESSAGES, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    plain = litellm.completion(
        model="openai/gpt-4o-mini", messages=MESSAGES, api_key="sk-test", mock_response="a plain stream", stream=True
    )
    assert sum(1 for _ in plain) > 0
    samples = sent(dsd)
    ttft = named(samples, "ddllm.attempt.time_to_first_token")
    assert tags_of(ttft, "provider", "model", "model_group", "fallback") == [
        (*ANTHROPIC, "backup", "true"),
        (*OPENAI, None, "false"),
    ]
    durations = named(samples, "ddllm.attempt.duration")
    assert tags_of(durations, "model", "stream", "outcome") == [
        (OPENAI[1], "true", "rate_limited"),
        (ANTHROPIC[1], "true", "success"),
        (OPENAI[1], "true", "success"),
    ]
    for first_token, duration in zip(ttft, durations[1:]):
        assert 0 < first_token.value <= duration.value
    [request] = named(samples, "ddllm.request.duration")
    assert tags_of([request], "outcome", "attempts") == [("success", "2")]


def test_rate_limit_headers_on_success_and_on_429(dsd):
    response = ModelResponse(
        model="gpt-4o-mini",
        choices=[{"message": {"role": "assistant", "content": "hi"}}],
        usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    )
    response._hidden_params["additional_headers"] = {
        "x-ratelimit-remaining-requests": "99",
        "x-ratelimit-remaining-tokens": "149984",
    }
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_key="sk-test", mock_response=response)
    rate_limited = litellm.RateLimitError(
        message="rate limited",
        llm_provider="anthropic",
        model=ANTHROPIC[1],
        response=httpx.Response(
            429,
            request=httpx.Request("POST", "https://api.anthropic.com/v1/messages"),
            headers={"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-tokens-remaining": "17"},
        ),
    )
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(
            model="anthropic/" + ANTHROPIC[1], messages=MESSAGES, api_key="sk-test", mock_response=rate_limited
        )
    samples = sent(dsd)
    assert [(s.tags["provider"], s.value) for s in named(samples, "ddllm.ratelimit.remaining_requests")] == [
        ("openai", 99),
        ("anthropic", 0),
    ]
    assert [(s.tags["provider"], s.value) for s in named(samples, "ddllm.ratelimit.remaining_tokens")] == [
        ("openai", 149984),
        ("anthropic", 17),
    ]
    assert [s.value for s in named(samples, "ddllm.attempt.tokens.input")] == [5]
    assert [s.value for s in named(samples, "ddllm.attempt.tokens.output")] == [2]
    [cost] = named(samples, "ddllm.attempt.cost")
    assert cost.value > 0


def test_flush_with_a_datadog_release_whose_waits_take_no_time_limit(dsd, monkeypatch):
    monkeypatch.setattr(metrics, "_BOUNDED_WAITS", False)
    litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test")
    assert len(named(sent(dsd), "ddllm.attempt.duration")) == 1


def test_model_names_are_normalised(dsd):
    litellm.completion(model="openai/my model@v1,beta|x#1", messages=MESSAGES, mock_response="hi", api_key="sk-test")
    [duration] = named(sent(dsd), "ddllm.attempt.duration")
    assert duration.tags["model"] == "my_model_v1_beta_x_1"


def test_unified_service_tags_from_environment_and_patch(receiver, monkeypatch):
    monkeypatch.setenv("DD_ENV", "prod")
    monkeypatch.setenv("DD_SERVICE", "checkout")
    monkeypatch.setenv("DD_VERSION", "1.2.3")
    cases = (({}, ("prod", "checkout", "1.2.3")), ({"env": "staging"}, ("staging", "checkout", "1.2.3")))
    for overrides, expected in cases:
        assert ddllm.patch(dogstatsd_url=receiver.udp_url, **overrides)
        try:
            assert metrics.flush()
            receiver.clear()
            litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test")
            assert metrics.flush()
            samples = receiver.samples()
        finally:
            ddllm.unpatch()
        assert samples
        for sample in samples:
            assert tags_of([sample], "env", "service", "version") == [expected]
            assert not any(isinstance(value, list) for value in sample.tags.values()), sample.raw


@pytest.mark.parametrize("configure_by", ["DD_DOGSTATSD_URL", "patch"])
def test_unix_datagram_socket(receiver, monkeypatch, configure_by):
    if configure_by == "patch":
        assert ddllm.patch(dogstatsd_url=receiver.uds_url)
    else:
        monkeypatch.setenv("DD_DOGSTATSD_URL", receiver.uds_url)
        assert ddllm.patch()
    try:
        receiver.clear()
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test")
        samples = sent(receiver)
    finally:
        ddllm.unpatch()
    assert [s.tags["model"] for s in named(samples, "ddllm.attempt.duration")] == ["gpt-4o-mini"]
    assert str(metrics._sink.target) == receiver.uds_url


def test_agent_host_and_dogstatsd_port(receiver, monkeypatch):
    monkeypatch.delenv("DD_DOGSTATSD_URL", raising=False)
    monkeypatch.setenv("DD_AGENT_HOST", "127.0.0.1")
    monkeypatch.setenv("DD_DOGSTATSD_PORT", str(receiver.port))
    assert ddllm.patch()
    try:
        receiver.clear()
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test")
        samples = sent(receiver)
    finally:
        ddllm.unpatch()
    assert len(named(samples, "ddllm.attempt.duration")) == 1


def test_bad_url_warns_once_and_uses_the_agent_host(receiver, monkeypatch, caplog):
    monkeypatch.setenv("DD_DOGSTATSD_URL", "tcp://127.0.0.1:8125")
    monkeypatch.setenv("DD_AGENT_HOST", "127.0.0.1")
    monkeypatch.setenv("DD_DOGSTATSD_PORT", str(receiver.port))
    with caplog.at_level(logging.WARNING):
        assert ddllm.patch()
        try:
            receiver.clear()
            for _ in range(3):
                litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test")
            samples = sent(receiver)
        finally:
            ddllm.unpatch()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    warnings = [m for m in messages if "DD_DOGSTATSD_URL" in m or "DogStatsD" in m]
    assert warnings == [
        "ddllm: DD_DOGSTATSD_URL='tcp://127.0.0.1:8125' is not udp://host:port or "
        "unix:///path/to/socket; using the default 'udp://127.0.0.1:%d'" % receiver.port
    ]
    assert len(named(samples, "ddllm.attempt.duration")) == 3


def _closed_udp_port():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("where", ["no agent on the port", "no socket file", "no such host"])
def test_agent_not_there_one_warning_nothing_raised(where, caplog, tmp_path):
    url = {
        "no agent on the port": "udp://127.0.0.1:%d" % _closed_udp_port(),
        "no socket file": "unix://%s" % (tmp_path / "missing" / "dsd.socket"),
        "no such host": "udp://no-such-host.invalid:8125",
    }[where]
    with caplog.at_level(logging.DEBUG, logger="ddllm"), caplog.at_level(logging.WARNING):
        assert ddllm.patch(dogstatsd_url=url)
        try:
            for _ in range(4):  # one packet per flush: UDP reports a refusal on the next send
                response = litellm.completion(
                    model="openai/gpt-4o-mini", messages=MESSAGES, mock_response="hi", api_key="sk-test"
                )
                assert response.choices[0].message.content == "hi"
                metrics.flush()
            with pytest.raises(litellm.RateLimitError):
                litellm.completion(
                    model="openai/gpt-4o-mini", messages=MESSAGES, mock_response=RATE_LIMITED, api_key="sk-test"
                )
            metrics.flush()
        finally:
            ddllm.unpatch()
    from_datadog = [r for r in caplog.records if r.name.startswith("datadog")]
    assert from_datadog == []
    ours = [r.getMessage() for r in caplog.records if "DogStatsD" in r.getMessage()]
    assert len(ours) == 1, ours
    assert ours[0].startswith("ddllm: cannot send metrics to DogStatsD at %s (" % url)
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]


@pytest.mark.parametrize("disable", ["environment", "patch"])
def test_metrics_disabled(receiver, monkeypatch, disable):
    if disable == "environment":
        monkeypatch.setenv("DDLLM_METRICS_ENABLED", "false")
        assert ddllm.patch(dogstatsd_url=receiver.udp_url)
    else:
        assert ddllm.patch(dogstatsd_url=receiver.udp_url, metrics_enabled=False)
    try:
        receiver.clear()
        retry_then_fallback_router().completion(model="primary", messages=MESSAGES)
        assert metrics.flush()
    finally:
        ddllm.unpatch()
    assert receiver.samples() == []
    assert receiver.packets == []


def test_tag_cap_from_environment_holds_on_every_metric(receiver, monkeypatch, caplog):
    """The cap itself is test_metrics_tags'; here, that the sender applies the configured one
    to every metric, per tag key, with one warning."""
    monkeypatch.setenv("DDLLM_METRIC_TAG_LIMIT", "3")
    assert ddllm.patch(dogstatsd_url=receiver.udp_url)
    try:
        receiver.clear()
        with caplog.at_level(logging.WARNING, logger="ddllm"):
            for name in ("a", "b", "c", "d", "a", "e"):
                litellm.completion(model="openai/" + name, messages=MESSAGES, mock_response="hi", api_key="sk-test")
            samples = sent(receiver)
    finally:
        ddllm.unpatch()
    assert [s.tags["model"] for s in named(samples, "ddllm.attempt.duration")] == ["a", "b", "c", "other", "a", "other"]
    assert {sample.tags["model"] for sample in samples} == {"a", "b", "c", "other"}
    assert {sample.tags["provider"] for sample in samples} == {"openai"}
    warnings = [r.getMessage() for r in caplog.records if "distinct values" in r.getMessage()]
    assert warnings == [
        "ddllm: metric tag 'model' reached 3 distinct values (DDLLM_METRIC_TAG_LIMIT); "
        "further new values are sent as 'other'"
    ]


def _call_in_child(model):
    litellm.completion(model="openai/" + model, messages=MESSAGES, mock_response="hi", api_key="sk-test")


def test_forked_child_sends_its_own_metrics_once(dsd):
    _call_in_child("parent-before-fork")  # buffered, not yet sent, when the process forks
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            signal.alarm(30)  # a child stuck on a lock inherited from the parent dies, the test fails
            _call_in_child("child")
            code = 0 if metrics.flush() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    _call_in_child("parent-after-fork")
    durations = named(sent(dsd, expected=None), "ddllm.attempt.duration")
    assert sorted(sample.tags["model"] for sample in durations) == ["child", "parent-after-fork", "parent-before-fork"]


def test_multiprocessing_worker_flushes_when_it_exits(dsd):
    worker = multiprocessing.get_context("fork").Process(target=_call_in_child, args=("worker",))
    worker.start()
    worker.join(30)
    assert worker.exitcode == 0
    # The worker left through os._exit without calling flush(): its exit hook flushed.
    durations = named(sent(dsd), "ddllm.attempt.duration")
    assert [sample.tags["model"] for sample in durations] == ["worker"]


def test_a_client_that_cannot_be_built_is_reported_once(receiver, monkeypatch, caplog):
    from ddllm.instrument import safety

    monkeypatch.setattr(safety, "_reported_kinds", set())

    def broken(*args, **kwargs):
        raise OSError("no client today")

    monkeypatch.setattr(metrics, "_new_client", broken)
    with caplog.at_level(logging.WARNING, logger="ddllm"):
        assert ddllm.patch(dogstatsd_url="udp://127.0.0.1:9")  # a destination no earlier test used
        try:
            for _ in range(3):
                response = retry_then_fallback_router().completion(model="primary", messages=MESSAGES)
                assert response.choices[0].message.content == "hello from backup"
            metrics.flush()  # the drain thread may not have run yet: the client is built here
        finally:
            ddllm.unpatch()
    reports = [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()]
    assert reports == ["ddllm: internal error in metrics.client; ddllm goes on without it (reported once)"]


def test_callers_thread_only_queues_the_drain_thread_tags_and_sends(dsd, monkeypatch):
    """Tagging and formatting happen off the caller's thread, and the metrics arrive
    without a flush (the drain thread and the client's sender deliver them)."""
    threads = []
    real_distribution = metrics.DdllmDogStatsd.distribution

    def distribution(client, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return real_distribution(client, *args, **kwargs)

    monkeypatch.setattr(metrics.DdllmDogStatsd, "distribution", distribution)
    retry_then_fallback_router().completion(model="primary", messages=MESSAGES)
    # three attempt durations and one request duration, counted as they arrive
    received = dsd.samples(expected=RETRY_THEN_FALLBACK_SAMPLES)
    names = [sample.name for sample in received]
    assert names.count("ddllm.attempt.duration") == 3
    assert names.count("ddllm.request.duration") == 1
    assert threads and set(threads) == {"ddllm-background"}


def test_pending_records_are_bounded(dsd, monkeypatch):
    monkeypatch.setattr(background, "_pending", collections.deque(maxlen=3))
    with background._run_lock:  # the background thread waits: records pile up
        for _ in range(10):
            metrics.record_request(_FinishedRequest(), "success", 0.1)
        assert background.pending_count() == 3
    assert metrics.flush()
    assert len(named(dsd.samples(expected=3), "ddllm.request.duration")) == 3


class _FinishedRequest:
    final_provider, final_model, resource, fallback_used, attempts, caller = (
        "openai",
        "gpt-4o-mini",
        "primary",
        False,
        1,
        None,
    )
    operation = "chat"


def test_background_thread_sleeps_until_there_is_work():
    """In a process that never calls an LLM the thread does not run; once it has carried out
    the work queued, it blocks reading its wake-up pipe instead of waking on a timer."""
    script = r"""
import sys, threading, time, ddllm
from ddllm.instrument import background
ddllm.patch()
print(any(t.name == "ddllm-background" for t in threading.enumerate()))
done = threading.Event()
background.defer(lambda _: done.set(), None)
assert done.wait(30)
[thread] = [t for t in threading.enumerate() if t.name == "ddllm-background"]

def idle_wait():
    # the thread's innermost frame: the wake-up's sleep, blocked in os.read (no timeout),
    # called from _run's `_wakeup.sleep()`
    frame = sys._current_frames()[thread.ident]
    def line(frame):
        return open(frame.f_code.co_filename).read().splitlines()[frame.f_lineno - 1]
    return (frame.f_code.co_name == "sleep" and "os.read(" in line(frame)
            and frame.f_back.f_code.co_name == "_run" and "_wakeup.sleep()" in line(frame.f_back))

deadline = time.monotonic() + 30  # the thread's batch wait ends, it runs nothing, it goes back to sleep
while not idle_wait() and time.monotonic() < deadline:
    time.sleep(0.01)
print(idle_wait())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_a_finalizer_queues_and_wakes_without_taking_a_lock():
    """An abandoned stream's finalizer may run while its thread holds any lock: waking the
    background thread from there takes none (the thread's start lock is held here, as a
    finalizer's thread may hold it) and starts no thread; the next wake carries the work out."""
    script = r"""
import threading, ddllm
from ddllm.instrument import background
ending, later = threading.Event(), threading.Event()
with background._worker._start_lock:
    background.queue((ending.set, ()))
    background.wake_from_finalizer()
print(any(t.name == "ddllm-background" for t in threading.enumerate()))
background.defer(lambda _: later.set(), None)
print(ending.wait(30), later.wait(30))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "True"]
