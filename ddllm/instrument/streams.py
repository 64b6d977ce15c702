"""Stream proxies: a streamed attempt or request ends when its stream does, exactly once.

The caller gets a `TracedStream` around LiteLLM's stream object: `isinstance` checks and
attribute access reach the real object, iteration (sync and async) goes through us. The end
comes in one of these ways, and each finishes the span once: the last chunk was read, the
stream raised, `close()`/`aclose()`, or the stream was garbage-collected unread or half read
(a caller that breaks out of its loop), or a `with` / `async with` block left before the
end. An early end is `cancelled`. A stream dropped unread is ended by ddllm's background
thread, never inside the garbage collector, at the time of the drop.

A request that hands the caller its attempt's stream as is (`litellm.completion(fallbacks=...)`;
LiteLLM's Router wraps it in a fallback wrapper of its own) hands over our proxy of that
attempt. The request does not wrap it again (each chunk would pass two proxies); it asks the
attempt's proxy to end the request too, after the attempt (`also_end`).
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
        self._self_observers = [observer]  # ended in this order (`also_end` adds one)
        # One token, taken by the first of the ways a stream can end (list.pop is atomic):
        # a lock would have to be made fresh in a forked child, and its calls can fail.
        self._self_end_token = [True]
        # the generators the caller reads through, by the function that made them (`_read`, `_read_async`)
        self._self_readers: dict[object, object] = {}

    def also_end(self, observer: StreamObserver) -> bool:
        """End `observer` too when this stream ends, after the observers it has. False if the
        stream has begun to end already: the caller then wraps it in a proxy of its own."""
        if not self._self_end_token:
            return False
        self._self_observers.append(observer)
        return True

    # The caller reads the stream through one generator (an async one for `async for`), which
    # `iter()` hands to a `for` loop and `next()` resumes: resuming it costs a third of a call
    # of a proxy's own `__next__`, whose every attribute read goes through the proxy
    # (benchmarks/README.md). It holds the stream's parts, not this proxy, so that dropping the
    # proxy drops it too.

    def __iter__(self):
        return self._self_reader_of(_read)

    def __next__(self):
        return next(self._self_reader_of(_read))

    def __aiter__(self):
        return self._self_reader_of(_read_async)

    def __anext__(self):
        return self._self_reader_of(_read_async).__anext__()

    def _self_reader_of(self, read):
        reader = self._self_readers.get(read)
        if reader is None:
            observer = self._self_observers[0]
            # an observer that reads no chunk (a request's: its attempt's reads them) is not called
            observe = observer.chunk if type(observer).chunk is not StreamObserver.chunk else None
            reader = read(self.__wrapped__, observe, self._self_observers, self._self_end_token)
            self._self_readers[read] = reader
        return reader

    def close(self):
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                return close()
        finally:
            _end(self._self_observers, self._self_end_token, cancelled=True)

    async def aclose(self):
        try:
            aclose = getattr(self.__wrapped__, "aclose", None)
            if aclose is not None:
                return await aclose()
        finally:
            _end(self._self_observers, self._self_end_token, cancelled=True)

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
        finally:  # a no-op when the stream was read to its end
            _end(self._self_observers, self._self_end_token, cancelled=True)

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
            _end(self._self_observers, self._self_end_token, cancelled=True)

    def __del__(self):
        # Abandoned unread or half read. A finalizer may run while this thread holds a tracer
        # or queue lock: it only queues the ending, which ddllm's background thread carries out.
        try:  # nothing may escape a finalizer, and it must not log (a lock may be held)
            token = getattr(self, "_self_end_token", None)  # None: its __init__ did not finish
            if not token:
                return
            token.pop()  # nobody else can reach an object being finalized
            # queued before any code of ours runs: the endings (its observers' own) are not lost
            dropped_at = (time.time(), time.perf_counter())
            for observer in self._self_observers:
                background.queue((observer.end, (None, True, dropped_at)))
            background.wake_from_finalizer()
        except Exception:
            pass


def _read(stream, observe, observers, end_token):
    """The chunks of `stream`, each handed to `observe`; its end ends the observers (once:
    `end_token`). A generator closed or dropped before the end ends nothing: the proxy's own
    close, exit or drop does. The chunks come from the stream's iterator, which for a stream
    that is our proxy (its attempt's, in a request's stream) is that proxy's generator."""
    next_chunk = None
    while True:
        try:
            if next_chunk is None:  # a stream with no iterator raises here what Python would
                next_chunk = (iter(stream) if hasattr(type(stream), "__iter__") else stream).__next__
            chunk = next_chunk()
        except StopIteration:
            _end(observers, end_token)
            return
        except BaseException as exc:
            _end(observers, end_token, exc)
            raise
        if observe is not None:
            try:
                observe(chunk)
            except Exception:
                report_once("stream.chunk")
        yield chunk


async def _read_async(stream, observe, observers, end_token):
    """`_read` for `async for`."""
    next_chunk = None
    while True:
        try:
            if next_chunk is None:
                next_chunk = (stream.__aiter__() if hasattr(type(stream), "__aiter__") else stream).__anext__
            chunk = await next_chunk()
        except StopAsyncIteration:
            _end(observers, end_token)
            return
        except BaseException as exc:
            _end(observers, end_token, exc)
            raise
        if observe is not None:
            try:
                observe(chunk)
            except Exception:
                report_once("stream.chunk")
        yield chunk


def _end(observers, end_token, exc=None, cancelled=False):
    """A stream's end, on the thread that reads it: each observer's, in order, once."""
    try:  # the whole ending: it runs inside the caller's read of the stream
        try:
            end_token.pop()
        except IndexError:  # ended already
            return
        for observer in observers:
            try:  # each observer's ending whole, the next one's too
                observer.end(exc, cancelled)
            except Exception:
                report_once("stream.end")
    except Exception:
        report_once("stream.end")


def _not_a_context_manager(stream, method):
    """What Python raises for `with` / `async with` on a stream that has no such protocol
    (LiteLLM's before 1.108): the caller gets that with ddllm too."""
    if sys.version_info < (3, 11):
        return AttributeError(method)
    kind = "asynchronous context manager" if method == "__aenter__" else "context manager"
    return TypeError("'%s' object does not support the %s protocol" % (type(stream).__name__, kind))


def is_stream(result: object) -> bool:
    return hasattr(result, "__next__") or hasattr(result, "__anext__")
