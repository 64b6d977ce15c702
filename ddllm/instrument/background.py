"""ddllm's one background thread: work that must not run on the caller's thread, or in a
garbage collector's finalizer, queued here and carried out in order.

- A non-streamed attempt or request that returned ends here (`ddllm.instrument.tracing`): its
  facts read, its span tagged and finished at the time it ended, its metrics recorded; the
  caller's call does not wait for it.
- Finished attempts and requests become metric lines here (`ddllm.instrument.metrics`).
- A stream the caller abandoned ends here (`ddllm.instrument.streams`): a finalizer can run
  while its thread holds a tracer or queue lock, so it only queues the ending.

The thread starts on the first piece of work in each process (a pre-forking server that
patches in its master carries no thread across a fork) and sleeps until there is work; it
then waits `BATCH_SECONDS` more so that one wake-up carries a burst of records.
Queueing is one `deque.append` and one flag check on the caller's thread.

Each piece of work is `(step, arguments)`, carried out as `step(*arguments)`. A finalizer
queues with `queue` (the deque's own `append`: no code of ours runs before the work is
queued, whatever fails after it) and then calls `wake_from_finalizer`, which takes no lock.
"""
import collections
import os
import threading
import time

from ddllm.instrument.safety import report_once

PENDING_ITEMS = 65536  # work waiting for the thread; past it new metric records are dropped
# Endings are queued only while the queue is this far from full, so that no span's ending is
# dropped: past it the caller's thread ends its own (the thread is stalled, or far behind).
ENDINGS_HEADROOM = 4096
BATCH_SECONDS = 0.2

_pending = collections.deque(maxlen=PENDING_ITEMS)  # append and popleft are atomic
queue = _pending.append  # `queue((step, arguments))`: queued, not yet woken
_run_lock = threading.RLock()  # re-entrant: a step that flushes ddtrace runs what is queued too


def defer(step, argument):
    """Run `step(argument)` on the background thread, soon; never raises. A full queue drops
    this piece of work, not the oldest: that may be a span's ending."""
    if len(_pending) >= PENDING_ITEMS - 1:
        return
    _pending.append((step, (argument,)))
    if not _woken:
        wake()


def defer_ending(step, arguments):
    """Run `step(*arguments)` on the background thread, soon, if the queue has room to spare:
    True when queued. False means the caller ends it now, so an ending is never dropped."""
    if len(_pending) >= PENDING_ITEMS - ENDINGS_HEADROOM:
        return False
    _pending.append((step, arguments))
    if not _woken:
        wake()
    return True


def wake():
    """The thread carries out what is queued, soon (started first in this process if need be)."""
    global _woken
    _worker.ensure_running()
    _woken = True
    _wakeup.wake()


def wake_from_finalizer():
    """`wake` for a finalizer, which may run while its thread holds any lock (threading's and
    an Event's included): one os.write, no lock taken, no thread started. If the thread has
    not started in this process, what is queued waits for the next `wake` (the flag is left
    unset so that the next `defer` starts it)."""
    _wakeup.wake()


def run_pending():
    """Carry out every piece of work queued so far, on this thread (a flush, a test)."""
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


def pending_count():
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
        self._pid = None
        self._start_lock = threading.Lock()

    def ensure_running(self):
        if self._pid == os.getpid():
            return
        try:
            with self._start_lock:
                if self._pid == os.getpid():
                    return
                threading.Thread(target=self._run, name="ddllm-background", daemon=True).start()
                self._pid = os.getpid()
        except Exception:
            report_once("background.start")

    def _run(self):
        global _woken
        while True:
            _wakeup.sleep()
            time.sleep(BATCH_SECONDS)  # one wake-up carries a burst
            _woken = False  # before running: work queued from now on wakes the thread again
            run_pending()

    def forget_in_child(self):
        """A forked child has no background thread, and the parent carries out what was queued."""
        global _run_lock, _wakeup, _woken
        _run_lock = threading.RLock()  # its holder may be a thread the child does not have
        self._pid = None
        self._start_lock = threading.Lock()
        _pending.clear()
        _wakeup.close()  # the parent's pipe: a wake-up written here would wake the parent's thread
        _wakeup = _Wakeup()
        _woken = False


_worker = _Worker()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_worker.forget_in_child)
