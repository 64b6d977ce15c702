"""DogStatsD metrics of attempts and requests: exactly `ddllm.catalogue.METRICS`, sent through a
`datadog` client of our own (the application's `datadog.statsd` is never touched).

- Cheap for the caller: a finished attempt or request is one append to the bounded queue of
  `ddllm.instrument.background` (the oldest is dropped when an agent-less burst fills it).
  Its thread, asleep until there is work, turns them into tagged lines in the client's buffer; the client's own
  threads send the buffer (one datagram for many lines) through a bounded queue that drops
  a packet rather than wait. Tagging, formatting, socket work and DNS never happen in the
  caller's thread.
- The client is created on the first metric: a pre-forking server that patches in its master
  and forks before any LLM call carries no client and no thread across the fork. A client
  that exists at a fork is handled by the `datadog` package's fork hooks (the fork waits
  for its flush thread, up to 0.3 s): the child gets its own empty buffer, socket and
  threads, so a forked worker sends its own metrics. With those hooks turned off
  (DD_DOGSTATSD_DISABLE_FORK_SUPPORT), the child drops the inherited client and makes one.
- Flushed at exit (`atexit`, and multiprocessing's exit hook in its forked workers, which
  leave through `os._exit`). `flush()` sends what is buffered now.
- An agent that is not there costs nothing but the data: the client's warnings, one per
  dropped packet, become one ddllm warning.

Tags (docs/design.md, "Metric catalogue"): `provider`, `model` (`unknown` when LiteLLM does not say),
`model_group` when routed, `env`, `service`, `version` (when set) on every metric.
`operation` (`catalogue.OPERATIONS`) tells chat from the voice legs on the durations.
`error_type` is the exception class name, `none` on attempts that raised nothing, so every
series of `ddllm.attempt.duration` carries the same keys. `ddllm.fallback`'s `from_model` and
`to_model` are `{provider}/{model}` (the span resource), so a hop between providers of one
model is visible. On `ddllm.request.duration`, `provider` and `model` are the last
attempt's and `model_group` is what the caller asked for (the Router model group, or the
primary model of a `completion(fallbacks=...)` call). Where LiteLLM's proxy names the caller,
the durations, tokens and cost also carry `team` and `key_alias`, and `user` when
DDLLM_METRICS_USER_TAG opts in (`catalogue.OPT_IN_METRIC_TAGS`); the rate-limit gauges,
facts of the provider, do not. Values are normalised by `ddllm.instrument.tags` and capped per key.
"""

import atexit
import inspect
import logging
import multiprocessing.util
import os
import sys
import threading
from typing import Any

from datadog.dogstatsd import base as dogstatsd_base

from ddllm import catalogue
from ddllm.instrument import background, forksafe
from ddllm.instrument.config import DEFAULT_METRIC_TAG_LIMIT, Config
from ddllm.instrument.safety import guarded, report_once
from ddllm.instrument.tags import TagCardinalityCap, normalize_tag

log = logging.getLogger("ddllm")

ATTEMPT_DURATION = catalogue.METRICS_BY_NAME["ddllm.attempt.duration"].name
TIME_TO_FIRST_TOKEN = catalogue.METRICS_BY_NAME["ddllm.attempt.time_to_first_token"].name
INPUT_TOKENS = catalogue.METRICS_BY_NAME["ddllm.attempt.tokens.input"].name
OUTPUT_TOKENS = catalogue.METRICS_BY_NAME["ddllm.attempt.tokens.output"].name
COST = catalogue.METRICS_BY_NAME["ddllm.attempt.cost"].name
REMAINING_REQUESTS = catalogue.METRICS_BY_NAME["ddllm.ratelimit.remaining_requests"].name
REMAINING_TOKENS = catalogue.METRICS_BY_NAME["ddllm.ratelimit.remaining_tokens"].name
LIMIT_REQUESTS = catalogue.METRICS_BY_NAME["ddllm.ratelimit.limit_requests"].name
LIMIT_TOKENS = catalogue.METRICS_BY_NAME["ddllm.ratelimit.limit_tokens"].name
REQUEST_DURATION = catalogue.METRICS_BY_NAME["ddllm.request.duration"].name
FALLBACK = catalogue.METRICS_BY_NAME["ddllm.fallback"].name
AUDIO_SECONDS = catalogue.METRICS_BY_NAME["ddllm.audio.seconds"].name
SPEECH_CHARACTERS = catalogue.METRICS_BY_NAME["ddllm.speech.characters"].name

UNKNOWN = "unknown"  # provider or model LiteLLM did not say, as the span resource has it
NO_ERROR = "none"  # error_type of an attempt that raised nothing

# The client method of each catalogue type: all take (name, value, tags).
_METHOD_OF_TYPE = {"distribution": "distribution", "count": "increment", "gauge": "gauge"}
_UNIFIED_SERVICE_TAG_PREFIXES = ("env:", "service:", "version:")

SENDER_QUEUE_PACKETS = 1024  # at most ~1.4 MB (UDP) / 8 MB (UDS) waiting for a slow agent
FLUSH_TIMEOUT_SECONDS = 2.0
_RETIRE_TIMEOUT_SECONDS = 1.0


class DdllmDogStatsd(dogstatsd_base.DogStatsd):
    """Our own client. A subclass only so that its threads are named after it
    (`DdllmDogStatsd_sender_thread`): that is how its log records are told apart."""


_CLIENT_THREAD_PREFIX = DdllmDogStatsd.__name__ + "_"
# Older `datadog` releases (setup.cfg allows >=0.49) wait for their sender without a time limit.
_BOUNDED_WAITS = "timeout" in inspect.signature(dogstatsd_base.DogStatsd.wait_for_pending).parameters
_calling_client = threading.local()  # set while this thread calls our client synchronously


def _bool_value(flag):
    return "true" if flag else "false"


class _Sink:
    """One DogStatsD destination: its client (created on first use) and the constant tags."""

    def __init__(self, target, constant_tags):
        self.target = target
        self.constant_tags = constant_tags
        self.delivery_problem_reported = False
        self._client = None
        self._senders = None  # metric name -> bound client method
        self._broken = False
        self._lock = threading.Lock()
        forksafe.renew_after_fork(self, "_lock")

    def senders(self):
        senders = self._senders
        if senders is None and not self._broken:
            senders = self._create_client()
        return senders

    def _create_client(self):
        with self._lock:
            if self._senders is not None or self._broken:
                return self._senders
            try:
                client = _new_client(self.target, self.constant_tags)
                self._senders = {
                    metric.name: getattr(client, _METHOD_OF_TYPE[metric.type]) for metric in catalogue.METRICS
                }
                self._client = client
            except Exception:
                self._broken = True  # no second try per call: one report, then no metrics
                report_once("metrics.client")
            return self._senders

    @property
    def client(self):
        return self._client

    def forget_client_in_child(self):
        """After a fork without the `datadog` fork hooks the inherited client has no threads:
        the child makes its own (its lock is a new one there: `ddllm.instrument.forksafe`)."""
        self._client, self._senders = None, None

    def detach_client(self):
        with self._lock:
            client, self._client, self._senders = self._client, None, None
            self._broken = True
            return client


def _new_client(target, constant_tags):
    if target.socket_path is not None:
        where = {"socket_path": target.socket_path}
    else:
        where = {"host": target.host, "port": target.port}
    with _client_call():
        client = DdllmDogStatsd(
            disable_buffering=False,
            disable_background_sender=False,
            sender_queue_size=SENDER_QUEUE_PACKETS,
            sender_queue_timeout=0,  # a full queue drops its oldest packet: never wait
            disable_telemetry=True,  # the catalogue and nothing else
            **where,
        )
    # The client reads DD_ENV / DD_SERVICE / DD_VERSION itself; ours come from the Config
    # (where `patch()` may override them) and must not appear twice.
    kept = [tag for tag in client.constant_tags if not tag.startswith(_UNIFIED_SERVICE_TAG_PREFIXES)]
    client.constant_tags = kept + list(constant_tags)
    _install_log_filter()
    return client


class _client_call:
    """Marks the current thread as calling our client, so its log records are ours."""

    def __enter__(self):
        _calling_client.active = True

    def __exit__(self, *exc_info):
        _calling_client.active = False


class _OneDeliveryWarning(logging.Filter):
    """On the `datadog.dogstatsd` logger: a warning of our client (one per dropped packet when
    the agent is away) becomes one ddllm warning per destination. Other clients' records and
    debug records pass untouched."""

    def filter(self, record):
        if record.levelno < logging.WARNING:
            return True
        # Filters run in the thread that logs: its name says whether it is one of our client's.
        if not (
            threading.current_thread().name.startswith(_CLIENT_THREAD_PREFIX)
            or getattr(_calling_client, "active", False)
        ):
            return True
        try:
            _report_delivery_problem(record.getMessage())
        except Exception:
            pass
        return False


_log_filter = _OneDeliveryWarning()
_log_filter_installed = False


def _install_log_filter():
    global _log_filter_installed
    if not _log_filter_installed:
        logging.getLogger(dogstatsd_base.log.name).addFilter(_log_filter)
        _log_filter_installed = True


def _report_delivery_problem(message):
    sink = _sink
    if sink is None or sink.delivery_problem_reported:
        return
    sink.delivery_problem_reported = True
    log.warning(
        "ddllm: cannot send metrics to DogStatsD at %s (%s); they are dropped while it does not answer (reported once)",
        sink.target,
        message,
    )


_sink = None  # None until configured, and while metrics are disabled
_tag_cap = TagCardinalityCap(DEFAULT_METRIC_TAG_LIMIT)
_opted_out_tags = frozenset(catalogue.OPT_IN_METRIC_TAGS)  # caller tags left off until the user opts in
_configure_lock = threading.Lock()
forksafe.renew_after_fork(sys.modules[__name__], "_configure_lock")


@guarded("metrics.configure")
def configure(config: Config) -> None:
    """Called by `ddllm.patch()` with the loaded `ddllm.instrument.config.Config`. Keeps the client when
    the destination and constant tags are unchanged; the tag cap starts afresh. A failure here
    costs the metrics, never the patch."""
    global _sink, _tag_cap, _opted_out_tags
    background.run_pending()  # what was recorded goes where it was configured to go
    retired = None
    with _configure_lock:
        _tag_cap = TagCardinalityCap(config.metric_tag_limit)
        _opted_out_tags = frozenset() if config.metrics_user_tag else frozenset(catalogue.OPT_IN_METRIC_TAGS)
        if not config.metrics_enabled:
            retired, _sink = _sink, None
        else:
            constant_tags = tuple(
                normalize_tag(key, value)
                for key, value in (("env", config.env), ("service", config.service), ("version", config.version))
                if value
            )
            if _sink is None or (_sink.target, _sink.constant_tags) != (config.dogstatsd, constant_tags):
                retired, _sink = _sink, _Sink(config.dogstatsd, constant_tags)
            _flush_multiprocessing_workers_at_exit()
    if retired is not None:
        _retire(retired.detach_client())


@guarded("metrics.retire")
def _retire(client):
    if client is None:
        return
    with _client_call():
        client.disable_buffering = True  # a last flush into its queue, and its flush thread ends
        if _BOUNDED_WAITS:
            client.disable_background_sender(_RETIRE_TIMEOUT_SECONDS)
        else:
            client.disable_background_sender()
        client.close_socket()


def record_attempt(facts: Any) -> None:
    """One finished attempt (`ddllm.instrument.tracing.Attempt.facts`, not changed after this)."""
    if _sink is not None:
        background.defer(_send_attempt, facts)


def record_request(state: Any, outcome: str, duration: float) -> None:
    """One finished logical request (`ddllm.instrument.request_state.RequestState`)."""
    if _sink is not None:
        background.defer(
            _send_request,
            (
                state.final_provider,
                state.final_model,
                state.resource,
                state.operation,
                outcome,
                state.fallback_used,
                state.attempts,
                duration,
                state.caller,
            ),
        )


@guarded("metrics.attempt")
def _send_attempt(facts):
    sink = _sink
    if sink is None:
        return
    senders = sink.senders()
    if senders is None:
        return
    tag = _tag_cap.tag
    common = [tag("provider", facts.provider or UNKNOWN), tag("model", facts.model or UNKNOWN)]
    if facts.model_group:
        common.append(tag("model_group", facts.model_group))
    fallback = tag("fallback", _bool_value(facts.is_fallback))
    with_caller = common + _caller_tags(tag, facts.caller)
    if facts.duration is not None:
        senders[ATTEMPT_DURATION](
            ATTEMPT_DURATION,
            facts.duration,
            with_caller
            + [
                tag("operation", facts.operation or UNKNOWN),
                tag("outcome", facts.outcome or UNKNOWN),
                fallback,
                tag("stream", _bool_value(facts.stream)),
                tag("error_type", facts.error_type or NO_ERROR),
            ],
        )
    if facts.time_to_first_token is not None:
        senders[TIME_TO_FIRST_TOKEN](TIME_TO_FIRST_TOKEN, facts.time_to_first_token, common + [fallback])
    for name, value in (
        (INPUT_TOKENS, facts.input_tokens),
        (OUTPUT_TOKENS, facts.output_tokens),
        (COST, facts.cost_usd),
        (AUDIO_SECONDS, facts.audio_seconds),
        (SPEECH_CHARACTERS, facts.speech_characters if facts.outcome == "success" else None),  # spoken
    ):
        if value is not None:
            senders[name](name, value, with_caller)
    for name, value in (
        (REMAINING_REQUESTS, facts.remaining_requests),
        (REMAINING_TOKENS, facts.remaining_tokens),
        (LIMIT_REQUESTS, facts.limit_requests),
        (LIMIT_TOKENS, facts.limit_tokens),
    ):
        if value is not None:
            senders[name](name, value, common)
    if facts.fallback_hop:
        senders[FALLBACK](
            FALLBACK,
            1,
            common
            + [
                tag("from_model", facts.fallback_from or UNKNOWN),
                tag("to_model", facts.target),
                tag("reason", facts.fallback_reason or UNKNOWN),
                tag("type", facts.fallback_type or "default"),
            ],
        )


def _caller_tags(tag, caller):
    """Who called, where LiteLLM's proxy says so: on the metrics whose catalogue entry lists
    `catalogue.PROXY_CALLER_METRIC_TAGS` (durations, tokens, cost), capped like every tag; the
    opt-in ones only when opted in."""
    if not caller:
        return []
    opted_out = _opted_out_tags
    return [
        tag(key, value)
        for key, value in zip(catalogue.PROXY_CALLER_METRIC_TAGS, caller)
        if value and key not in opted_out
    ]


@guarded("metrics.request")
def _send_request(request):
    provider, model, model_group, operation, outcome, fallback_used, attempts, duration, caller = request
    sink = _sink
    if sink is None:
        return
    senders = sink.senders()
    if senders is None:
        return
    tag = _tag_cap.tag
    tags = [tag("provider", provider or UNKNOWN), tag("model", model or UNKNOWN)]
    if model_group:
        tags.append(tag("model_group", model_group))
    tags.append(tag("operation", operation or UNKNOWN))
    tags.append(tag("outcome", outcome or UNKNOWN))
    tags.append(tag("fallback_used", _bool_value(fallback_used)))
    tags.append(tag("attempts", catalogue.attempt_bucket(attempts)))
    senders[REQUEST_DURATION](REQUEST_DURATION, duration, tags + _caller_tags(tag, caller))


@guarded("metrics.flush", default=False)
def flush(timeout=FLUSH_TIMEOUT_SECONDS):
    """Send what is pending and buffered now, and wait (at most `timeout` seconds) until the
    client's sender has written it to the socket. True when nothing is left waiting."""
    background.run_pending()
    sink = _sink
    client = sink.client if sink is not None else None
    if client is None:
        return True
    with _client_call():
        if _BOUNDED_WAITS:
            return bool(client.wait_for_pending(timeout))
        client.wait_for_pending()  # returns when the sender wrote or dropped every packet
        return True


def _flush_at_exit():
    flush(FLUSH_TIMEOUT_SECONDS)


atexit.register(_flush_at_exit)


class _ExitFlushInWorkers:
    """Kept alive by this module: multiprocessing runs its after-fork hooks per live object."""


_exit_flush_in_workers = _ExitFlushInWorkers()
_exit_flush_in_workers_registered = False


def _register_exit_flush_in_worker(_key):
    multiprocessing.util.Finalize(None, _flush_at_exit, exitpriority=10)


@guarded("metrics.multiprocessing")
def _flush_multiprocessing_workers_at_exit():
    """A multiprocessing worker leaves through `os._exit`, without atexit: its exit hook
    (run in every process it starts) flushes instead."""
    global _exit_flush_in_workers_registered
    if _exit_flush_in_workers_registered:
        return
    multiprocessing.util.register_after_fork(_exit_flush_in_workers, _register_exit_flush_in_worker)
    _exit_flush_in_workers_registered = True


def _forget_inherited_client():
    sink = _sink
    if sink is not None:
        sink.forget_client_in_child()


if hasattr(os, "register_at_fork"):
    # Without the `datadog` fork hooks (DD_DOGSTATSD_DISABLE_FORK_SUPPORT or instance tracking
    # off), a client inherited by a child has no threads there: the child makes its own.
    if not (dogstatsd_base.SUPPORTS_FORKING and dogstatsd_base.TRACK_INSTANCES):
        os.register_at_fork(after_in_child=_forget_inherited_client)
