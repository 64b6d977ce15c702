"""In-process capture for `ddllm demo`: the finished traces (a ddtrace trace processor) and
ddllm's DogStatsD lines (a UDP socket on loopback read by a background thread), installed and
removed together so that the process is left as it was found.
"""

import collections
import contextlib
import itertools
import logging
import socket
import threading

Sample = collections.namedtuple("Sample", "name value type tags")
Sample.__doc__ = "One DogStatsD line: `tags` maps each tag key to its value."

_DATAGRAM_BYTES = 65536
_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
# A datagram no DogStatsD client sends (a NUL first), marking a point in the socket's queue.
_MARK = b"\x00ddllm-demo-mark:"


def parse_line(line):
    """`name:value|type[|@rate][|#k:v,...]` as a Sample, or None for a line it cannot read."""
    head, *fields = line.split("|")
    name, _, value = head.rpartition(":")
    if not name or not fields:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    tags = {}
    for field in fields[1:]:
        if field.startswith("#"):
            for tag in field[1:].split(","):
                key, _, tag_value = tag.partition(":")
                tags[key] = tag_value
    return Sample(name, number, fields[0], tags)


class TraceCapture:
    """A ddtrace trace processor keeping every finished trace. It passes them on to the next
    processors (and the agent) only when `forward` is true."""

    def __init__(self, forward=False):
        self.forward = forward
        self.traces = []
        self._lock = threading.Lock()

    def process_trace(self, trace):
        with self._lock:
            self.traces.append(list(trace))
        return trace if self.forward else None

    def spans(self, name=None):
        with self._lock:
            return [span for trace in self.traces for span in trace if name is None or span.name == name]


class DogStatsdCapture:
    """A UDP socket on 127.0.0.1 and a thread parsing what arrives into `samples`.

    `sync()` returns once every datagram sent before it was read: it sends a mark to the socket
    and waits for the reader to reach it (datagrams on loopback arrive in the order sent).
    """

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
        self._socket.bind(("127.0.0.1", 0))
        self._address = self._socket.getsockname()
        self._lock = threading.Lock()
        self._samples = []
        self._marks = {}
        self._mark_numbers = itertools.count()
        self._stop_mark = None
        self._reader = threading.Thread(target=self._read, name="ddllm-demo-dogstatsd", daemon=True)
        self._reader.start()

    @property
    def url(self):
        return "udp://%s:%d" % self._address

    @property
    def samples(self):
        with self._lock:
            return list(self._samples)

    def _read(self):
        while True:
            packet = self._socket.recv(_DATAGRAM_BYTES)
            if packet.startswith(_MARK):
                number = int(packet[len(_MARK) :])
                self._marks.pop(number).set()
                if number == self._stop_mark:
                    return
                continue
            parsed = [parse_line(line) for line in packet.decode("utf-8", "replace").split("\n") if line]
            with self._lock:
                self._samples.extend(sample for sample in parsed if sample is not None)

    def _send_mark(self, stop=False):
        number = next(self._mark_numbers)
        reached = self._marks[number] = threading.Event()
        if stop:
            self._stop_mark = number
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(_MARK + str(number).encode(), self._address)
        return reached

    def sync(self, timeout=5.0):
        """True when everything sent before this call has been read."""
        return self._send_mark().wait(timeout)

    def close(self, timeout=5.0):
        if self._reader.is_alive():
            self._send_mark(stop=True).wait(timeout)
        self._socket.close()


def _user_trace_processors(tracer):
    """The trace processors configured before the demo (ddtrace keeps them on its span
    aggregator and has no public getter), so that they keep running and come back after."""
    aggregator = getattr(tracer, "_span_aggregator", None)
    return list(getattr(aggregator, "user_processors", None) or [])


@contextlib.contextmanager
def trace_filter(capture):
    """`capture` runs after the trace processors already configured, until the block ends."""
    from ddtrace.trace import tracer

    previous = _user_trace_processors(tracer)
    tracer.configure(trace_processors=previous + [capture])
    try:
        yield capture
    finally:
        tracer.flush()  # the traces finished in the block go through `capture` now
        tracer.configure(trace_processors=previous)


class SendFailures(logging.Handler):
    """What ddtrace's trace writer logs when traces do not reach the agent ("failed to send
    ..."), collected while the block runs: the demo reports them as its own failure."""

    LOGGER = "ddtrace.internal.writer"

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("failed to send"):
            self.messages.append(message)

    def __enter__(self):
        logging.getLogger(self.LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc_info):
        logging.getLogger(self.LOGGER).removeHandler(self)


class NotPatched(Exception):
    """ddllm.patch() declined (DDLLM_ENABLED=false, an unsupported LiteLLM)."""


@contextlib.contextmanager
def ddllm_patched(**overrides):
    """ddllm patched with `overrides` for the block; patched as before (or not) after it."""
    import ddllm

    was_patched = ddllm.is_patched()
    if was_patched:
        ddllm.unpatch()  # patch() keeps its first configuration: this run wants its own
    try:
        if not ddllm.patch(**overrides):
            raise NotPatched("ddllm did not patch LiteLLM (DDLLM_ENABLED=false, or see `ddllm doctor`)")
        try:
            yield
        finally:
            ddllm.unpatch()
    finally:
        if was_patched:
            ddllm.patch()
