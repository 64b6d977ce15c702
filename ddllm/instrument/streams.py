"""Stream proxies: a streamed attempt or request ends when its stream does, exactly once.

The caller gets a `TracedStream` around LiteLLM's stream object: `isinstance` checks and
attribute access reach the real object, iteration (sync and async) goes through us. The end
comes in one of these ways, and each finishes the span once: the last chunk was read, the
stream raised, `close()`/`aclose()`, or the stream was garbage-collected unread or half read
(a caller that breaks out of its loop), or a `with` / `async with` block left before the
end. An early end is `cancelled`. A stream dropped unread is ended by ddllm's background
thread, never inside the garbage collector, at the time of the drop.
"""

import sys
import time

import wrapt

from ddllm.instrument import background
from ddllm.instrument.safety import report_once


class StreamObserver:
    """What a stream proxy reports to: one chunk at a time, then one end. An observer that
    reads no chunk leaves `chunk` as it is here: its proxy then makes no call per chunk."""

    def chunk(self, chunk: object) -> None:
        pass

    def end(self, exc: BaseException | None, cancelled: bool, dropped_at: tuple[float, float] | None = None) -> None:
        """`dropped_at`: when a stream dropped before its end was dropped, as (seconds since
        the epoch, `time.perf_counter()`); else None."""


class TracedStream(wrapt.ObjectProxy):
    def __init__(self, stream: object, observer: StreamObserver) -> None:
        background.ensure_running()  # a drop is ended there, even if no other call comes
        super().__init__(stream)
        self._self_observer = observer
        # What each chunk needs, in one attribute: reading an attribute of a proxy costs ~90 ns,
        # five times a plain object's, and this runs on the caller's thread for every chunk.
        # The stream's own next and anext (None where it has none: then looked up as before,
        # to raise what it raised), and the observer's chunk (None for an observer that reads
        # none, such as a request's: its attempt's observer reads them).
        self._self_per_chunk = (
            getattr(stream, "__next__", None),
            getattr(stream, "__anext__", None),
            observer.chunk if type(observer).chunk is not StreamObserver.chunk else None,
        )
        # One token, taken by the first of the ways a stream can end (list.pop is atomic):
        # a lock would have to be made fresh in a forked child, and its calls can fail.
        self._self_end_token = [True]

    def _self_end(self, exc=None, cancelled=False):
        try:  # the whole ending: it runs inside the caller's read of the stream
            try:
                self._self_end_token.pop()
            except IndexError:  # ended already
                return
            self._self_observer.end(exc, cancelled)
        except Exception:
            report_once("stream.end")

    def __iter__(self):
        return self

    def __next__(self):
        next_chunk, _, observe = self._self_per_chunk
        try:
            chunk = next_chunk() if next_chunk is not None else self.__wrapped__.__next__()
        except StopIteration:
            self._self_end()
            raise
        except BaseException as exc:
            self._self_end(exc)
            raise
        if observe is not None:
            try:  # in line, not in a method of ours: this runs once per chunk
                observe(chunk)
            except Exception:
                report_once("stream.chunk")
        return chunk

    def __aiter__(self):
        return self

    async def __anext__(self):
        _, next_chunk, observe = self._self_per_chunk
        try:
            chunk = await (next_chunk() if next_chunk is not None else self.__wrapped__.__anext__())
        except StopAsyncIteration:
            self._self_end()
            raise
        except BaseException as exc:
            self._self_end(exc)
            raise
        if observe is not None:
            try:  # in line, not in a method of ours: this runs once per chunk
                observe(chunk)
            except Exception:
                report_once("stream.chunk")
        return chunk

    def close(self):
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                return close()
        finally:
            self._self_end(cancelled=True)

    async def aclose(self):
        try:
            aclose = getattr(self.__wrapped__, "aclose", None)
            if aclose is not None:
                return await aclose()
        finally:
            self._self_end(cancelled=True)

    def __enter__(self):
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is None:
            raise _not_a_context_manager(self.__wrapped__, "__enter__")
        enter()
        return self  # the caller reads through us, not the stream `enter` returned

    def __exit__(self, exc_type, exc, tb):
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_end(cancelled=True)  # no-op when the stream was read to its end

    async def __aenter__(self):
        aenter = getattr(self.__wrapped__, "__aenter__", None)
        if aenter is None:
            raise _not_a_context_manager(self.__wrapped__, "__aenter__")
        await aenter()
        return self

    async def __aexit__(self, exc_type, exc, tb):
        try:
            aexit = getattr(self.__wrapped__, "__aexit__", None)
            return (await aexit(exc_type, exc, tb)) if aexit is not None else None
        finally:
            self._self_end(cancelled=True)

    def __del__(self):
        # Abandoned unread or half read. A finalizer may run while this thread holds a tracer
        # or queue lock: it only queues the ending, which ddllm's background thread carries out.
        try:  # nothing may escape a finalizer, and it must not log (a lock may be held)
            token = getattr(self, "_self_end_token", None)  # None: its __init__ did not finish
            if not token:
                return
            token.pop()  # nobody else can reach an object being finalized
            # queued before any code of ours runs: the ending (its observer's own) is not lost
            background.queue((self._self_observer.end, (None, True, (time.time(), time.perf_counter()))))
            background.wake_from_finalizer()
        except Exception:
            pass


def _not_a_context_manager(stream, method):
    """What Python raises for `with` / `async with` on a stream that has no such protocol
    (LiteLLM's before 1.108): the caller gets that with ddllm too."""
    if sys.version_info < (3, 11):
        return AttributeError(method)
    kind = "asynchronous context manager" if method == "__aenter__" else "context manager"
    return TypeError("'%s' object does not support the %s protocol" % (type(stream).__name__, kind))


def is_stream(result: object) -> bool:
    return hasattr(result, "__next__") or hasattr(result, "__anext__")
