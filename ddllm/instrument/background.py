"""ddllm's one background thread, for the work whose delay changes no fact.

- Finished attempts and requests become metric lines here (`ddllm.instrument.metrics`):
  their facts are final when they are queued, so sending them later changes nothing.
- A stream the caller dropped ends here (`ddllm.instrument.streams`): its finalizer may run
  while its thread holds a tracer or queue lock, so it only queues the ending, with the time
  of the drop; the span measures up to the drop and is finished within a second of it.

Every other ending of a span happens on the caller's thread (`ddllm.instrument.tracing`).

The thread is started on the caller's thread whenever work is queued and whenever a stream
is handed to the caller (so that a drop finds it running), and started again if it died or
if this is a forked child. It sleeps until woken, then waits `BATCH_SECONDS` more so that
one wake-up carries a burst of metric records.

Each piece of work is `(step, arguments)`, carried out as `step(*arguments)`. A finalizer
queues with `queue` (the deque's own `append`: no code of ours runs before the work is
queued) and then calls `wake_from_finalizer`, which takes no lock.
"""

import collections
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ddllm.instrument import forksafe
from ddllm.instrument.safety import report_once

# Metric records waiting for the thread; past it new records are dropped. Endings of dropped
# streams are never dropped: there is at most one per stream the caller held.
PENDING_METRICS = 65536
BATCH_SECONDS = 0.2

_pending: collections.deque[tuple[Callable[..., object], tuple]] = collections.deque()  # append and popleft are atomic
queue = _pending.append  # `queue((step, arguments))`: queued, not yet woken
_run_lock = threading.RLock()  # re-entrant: a step that flushes ddtrace runs what is queued too
forksafe.renew_after_fork(sys.modules[__name__], "_run_lock", threading.RLock)


def defer(step: Callable[[Any], object], argument: object) -> None:
    """Run `step(argument)` on the background thread, soon; never raises. Past
    `PENDING_METRICS` the record is dropped (an agent-less burst must not grow memory)."""
    if len(_pending) >= PENDING_METRICS:
        return
    _pending.append((step, (argument,)))
    if not _woken:
        wake()


def wake() -> None:
    """The thread carries out what is queued, soon (started first if need be)."""
    global _woken
    _worker.ensure_running()
    _woken = True
    _wakeup.wake()


def ensure_running() -> None:
    """Start the thread if it is not running in this process: before a stream is handed to
    the caller, so that its drop is ended even in a process that makes no other call."""
    _worker.ensure_running()


def wake_from_finalizer() -> None:
    """`wake` for a finalizer, which may run while its thread holds any lock (threading's and
    an Event's included): one os.write, no lock taken, no thread started."""
    _wakeup.wake()


def run_pending() -> None:
    """Carry out every piece of work queued so far, on this thread (a flush, exit, a test)."""
    with _run_lock:
        while True:
            try:
                step, arguments = _pending.popleft()
            except IndexError:
                return
            try:
                step(*arguments)
            except Exception:
                report_once("background." + getattr(step, "__name__", "step"))


def pending_count() -> int:
    return len(_pending)


class _Wakeup:
    """What the thread sleeps on: a pipe. Waking it is one os.write, which takes no lock of
    Python's (a threading.Event takes one, which a finalizer's thread may already hold)."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)

    def wake(self):
        try:
            os.write(self.write_fd, b"\0")
        except OSError:  # full (the thread has wake-ups enough to read) or closed
            pass

    def sleep(self):
        """Block until woken; takes every wake-up written so far."""
        os.read(self.read_fd, 4096)

    def close(self):
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


_wakeup = _Wakeup()
_woken = False  # set when work was queued since the thread last looked


class _Worker:
    def __init__(self):
        self._thread = None
        self._pid = None
        self._start_lock = threading.Lock()
        forksafe.renew_after_fork(self, "_start_lock")

    def ensure_running(self):
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            return
        try:
            with self._start_lock:
                thread = self._thread
                if thread is not None and self._pid == os.getpid() and thread.is_alive():
                    return
                self._thread = threading.Thread(target=self._run, name="ddllm-background", daemon=True)
                self._pid = os.getpid()
                self._thread.start()
            if _pending:
                _wakeup.wake()  # what was queued while no thread ran
        except Exception:
            report_once("background.start")

    def _run(self):
        global _woken
        while True:
            try:
                _wakeup.sleep()
                time.sleep(BATCH_SECONDS)  # one wake-up carries a burst
                _woken = False  # before running: work queued from now on wakes the thread again
                run_pending()
            except Exception:  # the thread outlives any failure of a step or of its pipe
                report_once("background.thread")
                time.sleep(BATCH_SECONDS)

    def forget_in_child(self):
        """A forked child has no background thread: it starts its own on its first work. What
        the parent queued is the parent's to carry out."""
        global _wakeup, _woken
        self._thread = self._pid = None
        _pending.clear()
        _wakeup.close()  # the parent's pipe: a wake-up written here would wake the parent's thread
        _wakeup = _Wakeup()
        _woken = False


_worker = _Worker()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_worker.forget_in_child)
