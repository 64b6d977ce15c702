"""Configuration: environment first, `ddllm.patch(**overrides)` second, Datadog conventions.

A bad value never stops the application: it gets one warning naming the variable and the
default used instead. Overrides: `metrics_enabled`, `metric_tag_limit`, `metrics_user_tag`,
`dogstatsd_url` (like DD_DOGSTATSD_URL), `env`, `service`, `version`.
"""

import logging
import os
from collections import namedtuple
from collections.abc import Mapping
from urllib.parse import urlsplit

log = logging.getLogger("ddllm")

_TRUE_WORDS = ("true", "1", "yes", "on")
_FALSE_WORDS = ("false", "0", "no", "off")

DEFAULT_METRIC_TAG_LIMIT = 200
DEFAULT_DOGSTATSD_HOST = "localhost"  # the `datadog` client's own defaults
DEFAULT_DOGSTATSD_PORT = 8125
_UNIX_SCHEMES = ("unix", "unixgram", "unixstream")
_DOGSTATSD_URL_FORM = "udp://host:port or unix:///path/to/socket"


class DogStatsdTarget(namedtuple("DogStatsdTarget", "host port socket_path")):
    """Where metrics go: a UDP host and port, or a Unix socket. `socket_path` is what the
    `datadog` client takes: a plain path for `unix://` (every release reads it, and tries a
    datagram socket, then a stream one), `unixgram://...` or `unixstream://...` to force one."""

    __slots__ = ()

    def __str__(self):
        if self.socket_path is not None:
            return self.socket_path if "://" in self.socket_path else "unix://" + self.socket_path
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "udp://%s:%d" % (host, self.port)


class Config:
    """The settings in force: the environment's, then `ddllm.patch(**overrides)`'s."""

    enabled: bool
    metrics_enabled: bool
    metric_tag_limit: int
    metrics_user_tag: bool
    dogstatsd: DogStatsdTarget
    env: str | None
    service: str | None
    version: str | None

    __slots__ = (
        "enabled",
        "metrics_enabled",
        "metric_tag_limit",
        "metrics_user_tag",
        "dogstatsd",
        "env",
        "service",
        "version",
    )

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__slots__)


def _warn_default(variable, raw, expected, default):
    log.warning("ddllm: %s=%r is not %s; using the default %r", variable, raw, expected, default)


def read_bool(variable: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = (os.environ if environ is None else environ).get(variable)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    _warn_default(variable, raw, "a boolean (true/false)", default)
    return default


def _read_int(variable, default, environ, is_valid, expected):
    raw = (os.environ if environ is None else environ).get(variable)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if not is_valid(value):
        _warn_default(variable, raw, expected, default)
        return default
    return value


def read_positive_int(variable: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    return _read_int(variable, default, environ, lambda value: value > 0, "a positive integer")


def read_port(variable: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    return _read_int(variable, default, environ, lambda value: 0 < value < 65536, "a port number")


def parse_dogstatsd_url(url: object) -> DogStatsdTarget | None:
    """The target of a DD_DOGSTATSD_URL value (`udp://host[:port]`, `unix:///path`,
    `unixgram://...`, `unixstream://...`), or None when it is none of those."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator:
        return None
    if scheme in _UNIX_SCHEMES:
        if not rest:
            return None
        return DogStatsdTarget(None, None, rest if scheme == "unix" else "%s://%s" % (scheme, rest))
    if scheme != "udp":
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if not parts.hostname or parts.path not in ("", "/"):
        return None
    return DogStatsdTarget(parts.hostname, DEFAULT_DOGSTATSD_PORT if port is None else port, None)


# The agent's DogStatsD socket where the agent's container or host mounts it.
DEFAULT_DOGSTATSD_SOCKET = "/var/run/datadog/dsd.socket"


def read_dogstatsd_target(
    environ: Mapping[str, str] | None = None, default_socket: str = DEFAULT_DOGSTATSD_SOCKET
) -> DogStatsdTarget:
    """DD_DOGSTATSD_URL first, else DD_AGENT_HOST and DD_DOGSTATSD_PORT, as Datadog's clients
    do; with none of them set, the agent's socket when it exists, as ddtrace does (so that
    ddtrace's metrics and ours reach the same agent), else localhost:8125."""
    environ = os.environ if environ is None else environ
    raw = environ.get("DD_DOGSTATSD_URL")
    target = parse_dogstatsd_url(raw) if raw is not None and raw.strip() else None
    if target is not None:
        return target
    unset = not any(
        (environ.get(name) or "").strip() for name in ("DD_DOGSTATSD_URL", "DD_AGENT_HOST", "DD_DOGSTATSD_PORT")
    )
    if unset and default_socket and os.path.exists(default_socket):
        return DogStatsdTarget(None, None, default_socket)
    host = (environ.get("DD_AGENT_HOST") or "").strip() or DEFAULT_DOGSTATSD_HOST
    fallback = DogStatsdTarget(host, read_port("DD_DOGSTATSD_PORT", DEFAULT_DOGSTATSD_PORT, environ), None)
    if raw is not None and raw.strip():
        _warn_default("DD_DOGSTATSD_URL", raw, _DOGSTATSD_URL_FORM, str(fallback))
    return fallback


def _override(overrides, name, check, expected, default):
    value = overrides.pop(name)
    if check(value):
        return value
    log.warning("ddllm: patch(%s=%r) is not %s; using %r", name, value, expected, default)
    return default


def load(environ: Mapping[str, str] | None = None, **overrides: object) -> Config:
    environ = os.environ if environ is None else environ
    config = Config()
    config.enabled = read_bool("DDLLM_ENABLED", True, environ)
    config.metrics_enabled = read_bool("DDLLM_METRICS_ENABLED", True, environ)
    config.metric_tag_limit = read_positive_int("DDLLM_METRIC_TAG_LIMIT", DEFAULT_METRIC_TAG_LIMIT, environ)
    # Off by default: user ids are often e-mail addresses, and each user multiplies the series.
    config.metrics_user_tag = read_bool("DDLLM_METRICS_USER_TAG", False, environ)
    config.dogstatsd = read_dogstatsd_target(environ)
    config.env = environ.get("DD_ENV") or None
    config.service = environ.get("DD_SERVICE") or None
    config.version = environ.get("DD_VERSION") or None
    if "metrics_enabled" in overrides:
        config.metrics_enabled = _override(
            overrides, "metrics_enabled", lambda v: isinstance(v, bool), "a bool", config.metrics_enabled
        )
    if "metric_tag_limit" in overrides:
        config.metric_tag_limit = _override(
            overrides,
            "metric_tag_limit",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "a positive int",
            config.metric_tag_limit,
        )
    if "metrics_user_tag" in overrides:
        config.metrics_user_tag = _override(
            overrides, "metrics_user_tag", lambda v: isinstance(v, bool), "a bool", config.metrics_user_tag
        )
    if "dogstatsd_url" in overrides:
        url = overrides.pop("dogstatsd_url")
        target = parse_dogstatsd_url(url)
        if target is None:
            log.warning(
                "ddllm: patch(dogstatsd_url=%r) is not %s; using %s", url, _DOGSTATSD_URL_FORM, config.dogstatsd
            )
        else:
            config.dogstatsd = target
    for name in ("env", "service", "version"):
        if name in overrides:
            config.__setattr__(name, overrides.pop(name))
    for name in overrides:
        log.warning("ddllm: patch() got an unknown option %r; ignored", name)
    return config


_warned_newer_than_tested = False


def warn_if_newer_than_tested() -> None:
    """One warning line, once per process, when the LiteLLM or ddtrace installed is newer than
    the newest release the tests ran against: ddllm patches it anyway (a private read it cannot
    make leaves its fact out), and the line names the tested range."""
    global _warned_newer_than_tested
    if _warned_newer_than_tested:
        return
    try:
        from importlib.metadata import version

        from ddllm import tested_versions

        newer = []
        for distribution in ("litellm", "ddtrace"):
            installed = version(distribution)
            if tested_versions.newer_than_tested(distribution, installed):
                newer.append((distribution, installed))
        if not newer:
            return
        _warned_newer_than_tested = True
        log.warning(
            "ddllm: %s %s newer than the releases ddllm was tested with (%s); ddllm patches it, and a "
            "fact it cannot read there is left out",
            ", ".join("%s %s" % pair for pair in newer),
            "is" if len(newer) == 1 else "are",
            ", ".join("%s %s" % (name, tested_versions.tested_range(name)) for name, _ in newer),
        )
    except Exception:  # a version that cannot be read is no reason to stop patching
        log.debug("ddllm: cannot compare the installed versions with the tested ones", exc_info=True)
