"""What `ddllm demo` prints and writes.

The figures come from ddllm's DogStatsD samples, as Datadog computes them from the metrics
(per-model percentiles of `ddllm.attempt.duration` and `ddllm.attempt.time_to_first_token`,
the fallback flow from `ddllm.fallback`, the last `ddllm.ratelimit.*` gauges); the attempt
trees come from the captured spans, as the APM trace view shows them. Latencies in the JSON
are milliseconds.
"""

import collections
import math

from ddllm import catalogue

ATTEMPT_DURATION = "ddllm.attempt.duration"
TIME_TO_FIRST_TOKEN = "ddllm.attempt.time_to_first_token"
REQUEST_DURATION = "ddllm.request.duration"
FALLBACK = "ddllm.fallback"
REMAINING_REQUESTS = "ddllm.ratelimit.remaining_requests"
REMAINING_TOKENS = "ddllm.ratelimit.remaining_tokens"
PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _ms(seconds):
    return round(seconds * 1e3, 1)


def _target(sample):
    return "%s/%s" % (sample.tags.get("provider", "unknown"), sample.tags.get("model", "unknown"))


def _spans_named(traces, name):
    return [span for trace in traces for span in trace if span.name == name]


def summarize(samples, traces, requests, seed):
    """The demo's results as plain data: what `--json` writes."""
    durations, ttfts = collections.defaultdict(list), collections.defaultdict(list)
    rate_limited, headroom = collections.Counter(), {}
    flow, request_outcomes, request_durations = collections.Counter(), collections.Counter(), []
    for sample in samples:
        if sample.name == ATTEMPT_DURATION:
            durations[_target(sample)].append(sample.value)
            rate_limited[_target(sample)] += sample.tags.get("outcome") == "rate_limited"
        elif sample.name == TIME_TO_FIRST_TOKEN:
            ttfts[_target(sample)].append(sample.value)
        elif sample.name in (REMAINING_REQUESTS, REMAINING_TOKENS):  # a gauge: the last value counts
            headroom.setdefault(_target(sample), {})[sample.name.rsplit(".", 1)[1]] = int(sample.value)
        elif sample.name == FALLBACK:
            tags = sample.tags
            flow[
                (tags.get("from_model", ""), tags.get("to_model", ""), tags.get("reason", ""), tags.get("type", ""))
            ] += int(sample.value)
        elif sample.name == REQUEST_DURATION:
            request_outcomes[sample.tags.get("outcome", "unknown")] += 1
            request_durations.append(sample.value)
    return {
        "requests": requests,
        "seed": seed,
        "attempts": {target: len(values) for target, values in sorted(durations.items())},
        "fallbacks": [
            {"from": source, "to": target, "reason": reason, "type": kind, "count": count}
            for (source, target, reason, kind), count in sorted(flow.items(), key=lambda item: (-item[1], item[0]))
        ],
        "latency_unit": "ms",
        "latency": {
            target: dict({name: _ms(percentile(values, q)) for name, q in PERCENTILES}, count=len(values))
            for target, values in sorted(durations.items())
        },
        "ttft_p95": {target: _ms(percentile(values, 0.95)) for target, values in sorted(ttfts.items())},
        "rate_limited": {target: rate_limited[target] for target in sorted(durations)},
        "ratelimit_headroom": {target: headroom[target] for target in sorted(headroom)},
        "request_outcomes": dict(sorted(request_outcomes.items())),
        "request_latency": (
            {name: _ms(percentile(request_durations, q)) for name, q in PERCENTILES} if request_durations else {}
        ),
        "spans": {
            "requests": len(_spans_named(traces, catalogue.REQUEST_SPAN)),
            "attempts": len(_spans_named(traces, catalogue.ATTEMPT_SPAN)),
        },
        "metrics": dict(
            sorted(collections.Counter(sample.name for sample in samples if sample.name.startswith("ddllm.")).items())
        ),
    }


def agent_summary(traces, requests, seed, agent_url, dogstatsd_url):
    """With --agent the metrics went to DogStatsD: what the spans say, and where all went."""
    attempts = _spans_named(traces, catalogue.ATTEMPT_SPAN)
    request_spans = _spans_named(traces, catalogue.REQUEST_SPAN)
    return {
        "requests": requests,
        "seed": seed,
        "agent": agent_url,
        "dogstatsd": dogstatsd_url,
        "service": next((span.service for span in request_spans if span.service), None),
        "attempts": dict(sorted(collections.Counter(span.resource for span in attempts).items())),
        "request_outcomes": dict(
            sorted(collections.Counter(_tag(span, "llm.outcome") for span in request_spans).items())
        ),
        "spans": {"requests": len(request_spans), "attempts": len(attempts)},
    }


# -- attempt trees ---------------------------------------------------------------------------


def _tag(span, key):
    return span.get_tag(key) or ""


def _attempts_of(trace):
    return sorted(
        (s for s in trace if s.name == catalogue.ATTEMPT_SPAN), key=lambda s: int(_tag(s, "llm.attempt.number") or 0)
    )


def _request_of(trace):
    return next((s for s in trace if s.name == catalogue.REQUEST_SPAN), None)


# The stories worth a tree, in the order they are printed: the first trace telling each.
_STORIES = (
    (
        "retried, then fell back",
        lambda attempts, request: (
            any(_tag(s, "llm.attempt.retry") not in ("", "0") for s in attempts)
            and any(_tag(s, "llm.fallback.type") == "default" for s in attempts)
        ),
    ),
    (
        "context window",
        lambda attempts, request: any(_tag(s, "llm.fallback.type") == "context_window" for s in attempts),
    ),
    (
        "cut mid-stream, then fell back",
        lambda attempts, request: any(
            _tag(s, "llm.fallback.type") == "mid_stream" or _tag(s, "error.type").endswith("MidStreamFallbackError")
            for s in attempts[:-1]
        ),
    ),
    ("two fallbacks deep", lambda attempts, request: any(_tag(s, "llm.fallback.depth") == "2" for s in attempts)),
    ("failed", lambda attempts, request: request is not None and _tag(request, "llm.outcome") != "success"),
)


def pick_trees(traces, count):
    """Up to `count` traces, one per story of `_STORIES`."""
    picked = []
    for _, tells in _STORIES:
        for trace in traces:
            if len(picked) == count:
                return picked
            if any(trace is chosen for chosen in picked):
                continue
            if tells(_attempts_of(trace), _request_of(trace)):
                picked.append(trace)
                break
    return picked


def _why(span):
    reason = _tag(span, "llm.fallback.reason")
    if not reason:
        return ""
    if _tag(span, "llm.attempt.retry") not in ("", "0"):
        return "retry after " + reason
    kind = _tag(span, "llm.fallback.type") or "default"
    return "%s fallback after %s" % (kind, reason)


def attempt_tree(trace):
    """One request and its attempts, as the trace view shows them."""
    request = _request_of(trace)
    attempts = _attempts_of(trace)
    rows = []
    for index, span in enumerate(attempts):
        ttft = span.get_metric("llm.time_to_first_token")
        notes = [_why(span)] + (["ttft %.1f ms" % (ttft * 1e3)] if ttft is not None else [])
        rows.append(
            (
                ("└─ " if index == len(attempts) - 1 else "├─ ") + "#" + _tag(span, "llm.attempt.number"),
                span.resource,
                "depth " + _tag(span, "llm.fallback.depth"),
                _tag(span, "llm.outcome"),
                _tag(span, "http.status_code") or "-",
                "%.1f ms" % (span.duration * 1e3),
                ", ".join(note for note in notes if note),
            )
        )
    lines = []
    if request is not None:
        lines.append(
            "llm.request %s · %s · %d attempts · %.1f ms"
            % (request.resource, _tag(request, "llm.outcome"), len(attempts), request.duration * 1e3)
        )
    lines.extend(_aligned(rows, right=(4, 5)))
    return "\n".join(lines)


# -- text -------------------------------------------------------------------------------------


def _aligned(rows, right=()):
    """Rows of cells as lines of aligned columns; the columns in `right` aligned right."""
    if not rows:
        return []
    widths = [max(len(str(cell)) for cell in column) for column in zip(*rows)]
    return [
        "  ".join(
            str(cell).rjust(width) if i in right else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    ]


def _table(header, rows, right=()):
    rule = tuple("─" * max(len(str(cell)) for cell in column) for column in zip(header, *rows))
    return "\n".join(_aligned([header, rule] + [tuple(row) for row in rows], right))


def _number(value):
    return "-" if value is None else "{:,}".format(value)


def _heading(text):
    return "%s\n%s" % (text, "=" * len(text))


def render(summary, trees):
    """The text report."""
    parts = [_heading("Attempt trees (APM trace view: llm.request → llm.attempt)")]
    for trace in trees:
        parts.extend([attempt_tree(trace), ""])
    if not trees:
        parts.extend(["(no request needed more than one attempt)", ""])

    rows = []
    for target, count in summary["attempts"].items():
        latency = summary["latency"][target]
        left = summary["ratelimit_headroom"].get(target, {})
        ttft = summary["ttft_p95"].get(target)
        rows.append(
            (
                target,
                count,
                summary["rate_limited"][target],
                latency["p50"],
                latency["p95"],
                latency["p99"],
                "-" if ttft is None else ttft,
                _number(left.get("remaining_requests")),
                _number(left.get("remaining_tokens")),
            )
        )
    parts.append(_heading("Per model (ddllm.attempt.duration, ddllm.attempt.time_to_first_token, ddllm.ratelimit.*)"))
    parts.append(
        _table(
            (
                "provider/model",
                "attempts",
                "429s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "TTFT p95 ms",
                "requests left",
                "tokens left",
            ),
            rows,
            right=range(1, 9),
        )
    )
    parts.append("")

    parts.append(_heading("Fallback flow (ddllm.fallback)"))
    if summary["fallbacks"]:
        parts.append(
            _table(
                ("from", "", "to", "reason", "type", "count"),
                [
                    (hop["from"], "→", hop["to"], hop["reason"], hop["type"], hop["count"])
                    for hop in summary["fallbacks"]
                ],
                right=(5,),
            )
        )
    else:
        parts.append("(none)")
    parts.append("")

    total_attempts = sum(summary["attempts"].values())
    outcomes = _outcomes(summary["request_outcomes"])
    latency = summary["request_latency"]
    parts.append(_heading("Requests (ddllm.request.duration)"))
    parts.append(
        "%d requests (%s), %d attempts, %.2f attempts per request%s."
        % (
            summary["requests"],
            outcomes or "none measured",
            total_attempts,
            total_attempts / max(summary["requests"], 1),
            "; end to end p50 %.1f ms, p95 %.1f ms, p99 %.1f ms" % (latency["p50"], latency["p95"], latency["p99"])
            if latency
            else "",
        )
    )
    parts.append(
        "Captured in this process: %d llm.request and %d llm.attempt spans, %d DogStatsD samples."
        % (summary["spans"]["requests"], summary["spans"]["attempts"], sum(summary["metrics"].values()))
    )
    return "\n".join(parts)


def _outcomes(counts):
    return ", ".join("%d %s" % (count, outcome) for outcome, count in sorted(counts.items(), key=lambda i: -i[1]))


def render_agent_summary(summary):
    outcomes = _outcomes(summary["request_outcomes"])
    lines = [
        "%d requests (%s), %d attempts." % (summary["requests"], outcomes or "none", summary["spans"]["attempts"]),
        "Traces sent to the agent at %s; metrics to DogStatsD at %s." % (summary["agent"], summary["dogstatsd"]),
        "In Datadog: APM > Traces, operation llm.request (service %s); metrics ddllm.*." % summary["service"],
        "Nothing there after a minute? `ddllm doctor` checks the agent and DogStatsD.",
    ]
    return "\n".join(lines)
