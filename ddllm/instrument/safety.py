"""The rule that never bends: an error inside ddllm is logged once and swallowed.

Every step ddllm takes inside the caller's LLM call goes through `guarded`: a failing step
returns its default, and the first failure of each kind is logged (with its traceback) so a
broken release is visible without flooding the application's logs once per call.
"""

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from ddllm.instrument import forksafe

log = logging.getLogger("ddllm")

_reported_kinds: set[str] = set()
_reported_lock = threading.Lock()
forksafe.renew_after_fork(sys.modules[__name__], "_reported_lock")


def report_once(kind: str, exc_info: bool = True) -> None:
    """Log a failure of `kind` the first time it happens in this process."""
    with _reported_lock:
        if kind in _reported_kinds:
            return
        _reported_kinds.add(kind)
    try:
        log.warning("ddllm: internal error in %s; ddllm goes on without it (reported once)", kind, exc_info=exc_info)
    except Exception:
        pass


def guarded(kind: str, default: Any = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: run the step, or return `default` and report the failure once per kind."""

    def decorate(step):
        @functools.wraps(step)
        def run(*args, **kwargs):
            try:
                return step(*args, **kwargs)
            except Exception:
                report_once(kind)
                return default

        return run

    return decorate
