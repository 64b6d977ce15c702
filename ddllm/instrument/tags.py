"""Tag values as Datadog can carry them, the same for spans, metrics and dashboards, and the
per-key cardinality cap of metric tags.

Normalisation: every run of characters outside `[A-Za-z0-9_\\-:./]` becomes one `_`, and the
result is cut to 200 characters (Datadog's tag limit). Case is kept: Datadog lowercases
metric tags on intake anyway, and span tags keep the model's own spelling that way.
`vertex_ai/claude-3-5-sonnet@20240620` gives `vertex_ai/claude-3-5-sonnet_20240620`.
"""

import functools
import logging
import re
import threading

from ddllm.instrument import forksafe

log = logging.getLogger("ddllm")

MAX_TAG_LENGTH = 200  # Datadog drops or truncates longer tags
OVERFLOW_VALUE = "other"

_NOT_IN_A_TAG = re.compile(r"[^A-Za-z0-9_\-:./]+")


@functools.lru_cache(maxsize=4096)
def normalize_tag_value(value: str, max_length: int = MAX_TAG_LENGTH) -> str:
    """`value` as a Datadog tag value: disallowed characters replaced, at most `max_length`
    characters. Pure and cached (the cache is bounded), so it is cheap on every call."""
    text = value if isinstance(value, str) else str(value)
    return _NOT_IN_A_TAG.sub("_", text)[:max_length]


def normalize_tag(key: str, value: str) -> str:
    """`key:value` with the value normalised, the whole tag within Datadog's 200 characters."""
    return "%s:%s" % (key, normalize_tag_value(value, MAX_TAG_LENGTH - len(key) - 1))


class TagCardinalityCap:
    """Per tag key, the first `limit` distinct (normalised) values are sent as they are; later
    new values are sent as `other`, and one warning per key says so the first time.

    `tag(key, value)` is the per-metric path: one dict lookup for a value seen before. The
    raw-value lookup tables are bounded too, so values past the cap cannot grow them.
    """

    def __init__(self, limit, limit_variable="DDLLM_METRIC_TAG_LIMIT"):
        self.limit = limit
        self._limit_variable = limit_variable
        self._tag_of_raw = {}  # key -> {raw value: "key:value"}
        self._kept = {}  # key -> set of normalised values kept
        self._overflowed = set()  # keys that reached the limit (warned once)
        self._lock = threading.Lock()
        forksafe.renew_after_fork(self, "_lock")
        self._raw_table_size = 2 * limit + 64

    def tag(self, key, value):
        table = self._tag_of_raw.get(key)
        if table is not None:
            tag = table.get(value)
            if tag is not None:
                return tag
        return self._new_value(key, value)

    def _new_value(self, key, value):
        normalized = normalize_tag_value(value, MAX_TAG_LENGTH - len(key) - 1)
        warn = False
        with self._lock:
            kept = self._kept.setdefault(key, set())
            table = self._tag_of_raw.setdefault(key, {})
            if normalized in kept or len(kept) < self.limit:
                kept.add(normalized)
                tag = "%s:%s" % (key, normalized)
            else:
                tag = "%s:%s" % (key, OVERFLOW_VALUE)
                if key not in self._overflowed:
                    self._overflowed.add(key)
                    warn = True
            if len(table) < self._raw_table_size:
                table[value] = tag
        if warn:
            log.warning(
                "ddllm: metric tag %r reached %d distinct values (%s); further new values are sent as %r",
                key,
                self.limit,
                self._limit_variable,
                OVERFLOW_VALUE,
            )
        return tag

    def kept_values(self, key):
        """The values of `key` kept so far (a copy)."""
        with self._lock:
            return set(self._kept.get(key, ()))
