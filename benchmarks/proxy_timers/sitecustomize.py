"""Timers on ddllm's steps inside a running proxy (benchmarks/proxy_profile.py --timers).

ddtrace-run's own sitecustomize imports this one after it (it is first on PYTHONPATH).
Each function named below is replaced, as its module's attribute, by a wrapper that adds the
thread's CPU time it took and its calls to a table; ddllm's modules call each other through
module attributes and globals, so the wrappers see every call. Times are inclusive (what a
function calls counts in it, timers of the functions it calls included, ~1 µs each).
SIGUSR2 writes the table, as JSON, to $DDLLM_TIMERS_OUTPUT and starts a new one.
"""

import importlib
import json
import os
import signal
import threading
import time

TIMED = {
    "ddllm.instrument.tracing": (
        "begin_request",
        "begin_attempt",
        "attempt_returned",
        "request_returned",
        "end_attempt",
        "end_request",
        "_read_end",
        "_finish_attempt_span",
        "_finish_request_span",
        "_arguments_as_called",
        "_annotate_llmobs",
        "_annotate_request_llmobs",
        "_record_attempt_metrics",
        "_record_request_metrics",
        "_place_in_request",
        "_read_skipped",
        "_leave_attempt_context",
        "_remember_in_request",
    ),
    "ddllm.instrument.attempt_facts": (
        "read_start",
        "proxy_caller",
        "metadata_of",
        "read_response",
        "split_provider",
    ),
    "ddllm.instrument.spans": (
        "start_request_span",
        "start_attempt_span",
        "tag_request_span",
        "tag_attempt_span",
        "save_active",
        "restore_active",
        "finish_at",
        "set_caller_tags",
    ),
    "ddllm.instrument.llmobs": (
        "annotate_attempt",
        "annotate_request",
        "_annotate_span",
        "fallback_tags",
    ),
    "ddllm.instrument.litellm_objects": (
        "call_metadata",
        "router_settings",
        "call_input",
        "answer",
        "streamed_answer",
        "token_metrics",
        "tool_definitions",
    ),
    "ddllm.instrument.cooldowns": ("cooling_in_group",),
    "ddllm.instrument.metrics": ("record_attempt", "record_request", "_send_attempt", "_send_request"),
    "ddllm.instrument.request_state": ("enter", "find", "find_by_span"),
    "ddllm.instrument.patching": (
        "_in_attempt",
        "_is_fallback_request",
        "_close_attempt",
        "_close_request",
        "_request_result",
        "_attempt_result",
    ),
    "ddllm.instrument.background": ("defer",),
}

_lock = threading.Lock()
_table = {}  # "module.function" -> [calls, ns, calls off the main thread, their ns]
_clock = time.thread_time_ns
_main = threading.main_thread()
_calibration = None


def _timed(function, name):
    def timer(*args, **kwargs):
        start = _clock()
        try:
            return function(*args, **kwargs)
        finally:
            spent = _clock() - start
            with _lock:
                entry = _table.setdefault(name, [0, 0, 0, 0])
                entry[0] += 1
                entry[1] += spent
                if threading.current_thread() is not _main:
                    entry[2] += 1
                    entry[3] += spent

    timer.__wrapped__ = function
    timer.__name__ = getattr(function, "__name__", name)
    return timer


def _calibrate(calls=2000):
    """What a timer adds: inside its own reading (`self`), and to the reading of a timed
    function that calls it (`nested`), in ns."""
    inner = _timed(lambda: None, "_calibration.inner")
    outer_empty = _timed(lambda: None, "_calibration.empty")
    outer = _timed(lambda: inner(), "_calibration.outer")
    for _ in range(calls):
        outer_empty()
        outer()
    with _lock:
        empty, nesting = _table.pop("_calibration.empty"), _table.pop("_calibration.outer")
        _table.pop("_calibration.inner")
    return {"self": empty[1] / calls, "nested": (nesting[1] - empty[1]) / calls}


def _dump(signum, frame):
    global _table
    with _lock:
        table, _table = _table, {}
    table["_calibration"] = _calibration
    with open(os.environ["DDLLM_TIMERS_OUTPUT"], "w") as output:
        json.dump(table, output)


def install():
    global _calibration
    _calibration = _calibrate()
    for module_name, names in TIMED.items():
        module = importlib.import_module(module_name)
        for name in names:
            function = getattr(module, name, None)
            if callable(function):
                setattr(module, name, _timed(function, "%s.%s" % (module_name.rpartition(".")[2], name)))
    signal.signal(signal.SIGUSR2, _dump)


if os.environ.get("DDLLM_TIMERS_OUTPUT") and os.environ.get("DDLLM_ENABLED", "true") != "false":
    install()
