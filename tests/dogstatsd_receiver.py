"""A DogStatsD server for tests: a real UDP socket on 127.0.0.1 and a real Unix datagram
socket, receiving what the `datadog` client sends, parsed into samples.

Synchronisation is by count, never by sleeping: `samples(expected)` reads until that many
samples arrived (or a timeout passes: then it returns what came, and the test's assertion
says what is missing); `samples()` without a count takes what is already in the sockets,
which after `ddllm.instrument.metrics.flush()` is everything sent (loopback delivery is synchronous).
"""

import os
import selectors
import socket
import tempfile
import time
from collections import namedtuple

_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
_DATAGRAM_BYTES = 65536

Sample = namedtuple("Sample", "name value type tags raw")
Sample.__doc__ = """One metric line: `tags` maps each key to its value (a list if a key came twice:
tests assert it never does); `raw` is the line as received."""


def parse_line(line):
    """`name:value|type[|@rate][|#k:v,...][|c:...][|T...]` as a Sample."""
    head, *fields = line.split("|")
    name, _, value = head.rpartition(":")
    metric_type = fields[0]
    tags = {}
    for field in fields[1:]:
        if field.startswith("#"):
            for tag in field[1:].split(","):
                key, _, tag_value = tag.partition(":")
                if key in tags:
                    previous = tags[key]
                    tags[key] = (previous if isinstance(previous, list) else [previous]) + [tag_value]
                else:
                    tags[key] = tag_value
    return Sample(name, float(value), metric_type, tags, line)


def parse_packet(packet):
    return [parse_line(line) for line in packet.decode("utf-8").split("\n") if line]


class DogStatsdReceiver:
    """UDP on 127.0.0.1 (a free port) and a Unix datagram socket in a temporary directory."""

    def __init__(self):
        self._directory = tempfile.TemporaryDirectory(prefix="ddllm-dsd-")
        self.socket_path = os.path.join(self._directory.name, "dsd.socket")
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.uds = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock in (self.udp, self.uds):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
            sock.setblocking(False)
        self.udp.bind(("127.0.0.1", 0))
        self.uds.bind(self.socket_path)
        self.port = self.udp.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.udp, selectors.EVENT_READ)
        self._selector.register(self.uds, selectors.EVENT_READ)
        self.packets = []  # every datagram received, raw: for assertions on what was sent at all

    @property
    def udp_url(self):
        return "udp://127.0.0.1:%d" % self.port

    @property
    def uds_url(self):
        return "unix://" + self.socket_path

    def _read_ready(self, sock, into):
        while True:
            try:
                packet = sock.recv(_DATAGRAM_BYTES)
            except BlockingIOError:
                return
            self.packets.append(packet)
            into.extend(parse_packet(packet))

    def samples(self, expected=None, timeout=5.0):
        """The samples received: at least `expected` of them unless `timeout` passed first;
        without `expected`, those already waiting in the sockets."""
        received = []
        for sock in (self.udp, self.uds):
            self._read_ready(sock, received)
        deadline = time.monotonic() + timeout
        while expected is not None and len(received) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in self._selector.select(remaining):
                self._read_ready(key.fileobj, received)
        return received

    def clear(self):
        self.samples()
        self.packets.clear()

    def close(self):
        self._selector.close()
        self.udp.close()
        self.uds.close()
        self._directory.cleanup()


def named(samples, name):
    return [sample for sample in samples if sample.name == name]
