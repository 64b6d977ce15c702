"""Configuration: environment first, `ddllm.patch(**overrides)` second, Datadog conventions.

A bad value never stops the application: it gets one warning naming the variable and the
default used instead.
"""
import logging
import os

log = logging.getLogger("ddllm")

_TRUE_WORDS = ("true", "1", "yes", "on")
_FALSE_WORDS = ("false", "0", "no", "off")

DEFAULT_METRIC_TAG_LIMIT = 200


class Config:
    __slots__ = ("enabled", "metrics_enabled", "metric_tag_limit", "env", "service", "version")

    def __repr__(self):
        return "Config(%s)" % ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__slots__)


def _warn_default(variable, raw, expected, default):
    log.warning("ddllm: %s=%r is not %s; using the default %r", variable, raw, expected, default)


def read_bool(variable, default, environ=None):
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


def read_positive_int(variable, default, environ=None):
    raw = (os.environ if environ is None else environ).get(variable)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if value <= 0:
        _warn_default(variable, raw, "a positive integer", default)
        return default
    return value


def _override(overrides, name, check, expected, default):
    value = overrides.pop(name)
    if check(value):
        return value
    log.warning("ddllm: patch(%s=%r) is not %s; using %r", name, value, expected, default)
    return default


def load(environ=None, **overrides):
    environ = os.environ if environ is None else environ
    config = Config()
    config.enabled = read_bool("DDLLM_ENABLED", True, environ)
    config.metrics_enabled = read_bool("DDLLM_METRICS_ENABLED", True, environ)
    config.metric_tag_limit = read_positive_int("DDLLM_METRIC_TAG_LIMIT", DEFAULT_METRIC_TAG_LIMIT, environ)
    config.env = environ.get("DD_ENV") or None
    config.service = environ.get("DD_SERVICE") or None
    config.version = environ.get("DD_VERSION") or None
    if "metrics_enabled" in overrides:
        config.metrics_enabled = _override(
            overrides, "metrics_enabled", lambda v: isinstance(v, bool), "a bool", config.metrics_enabled
        )
    if "metric_tag_limit" in overrides:
        config.metric_tag_limit = _override(
            overrides, "metric_tag_limit",
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "a positive int", config.metric_tag_limit,
        )
    for name in ("env", "service", "version"):
        if name in overrides:
            config.__setattr__(name, overrides.pop(name))
    for name in overrides:
        log.warning("ddllm: patch() got an unknown option %r; ignored", name)
    return config
