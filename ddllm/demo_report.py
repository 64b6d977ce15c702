"""What `ddllm demo` prints and writes: figures computed from the captured spans, as Datadog
computes them from ddllm's metrics (per-model percentiles, fallback flow, 429s, headroom),
and a few attempt trees."""
import collections
import math


def percentile(values, fraction):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _tag(span, key):
    return span.get_tag(key) or ""


def _attempts_of(trace):
    return sorted((s for s in trace if s.name == "llm.attempt"), key=lambda s: int(_tag(s, "llm.attempt.number") or 0))


def summarize(traces, requests, seed, metric_lines=None):
    """The demo's results as plain data (what `--json` writes)."""
    request_spans = [s for trace in traces for s in trace if s.name == "llm.request"]
    attempts = [s for trace in traces for s in _attempts_of(trace)]
    durations, ttfts = collections.defaultdict(list), collections.defaultdict(list)
    outcomes = collections.defaultdict(collections.Counter)
    headroom, flow = {}, collections.Counter()
    for span in attempts:
        target = span.resource
        durations[target].append(span.duration)
        outcomes[target][_tag(span, "llm.outcome")] += 1
        ttft = span.get_metric("llm.time_to_first_token")
        if ttft is not None:
            ttfts[target].append(ttft)
        left = span.get_metric("llm.ratelimit.remaining_requests"), span.get_metric("llm.ratelimit.remaining_tokens")
        if left != (None, None):
            headroom[target] = {"remaining_requests": left[0], "remaining_tokens": left[1]}
        if _tag(span, "llm.fallback.type"):  # a hop to another model group (a retry has no type)
            flow[(_tag(span, "llm.fallback.from"), target, _tag(span, "llm.fallback.reason"),
                  _tag(span, "llm.fallback.type"))] += 1
    return {
        "requests": requests,
        "seed": seed,
        "spans": {"requests": len(request_spans), "attempts": len(attempts)},
        "request_outcomes": dict(collections.Counter(_tag(s, "llm.outcome") for s in request_spans)),
        "attempts": {target: len(values) for target, values in sorted(durations.items())},
        "outcomes": {target: dict(counts) for target, counts in sorted(outcomes.items())},
        "latency_ms": {
            target: {name: round(percentile(values, q) * 1e3, 1)
                     for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}
            for target, values in sorted(durations.items())
        },
        "ttft_ms_p95": {target: round(percentile(values, 0.95) * 1e3, 1) for target, values in sorted(ttfts.items())},
        "rate_limited": {target: counts.get("rate_limited", 0) for target, counts in sorted(outcomes.items())},
        "headroom": headroom,
        "fallbacks": [
            {"from": source, "to": target, "reason": reason, "type": kind, "count": count}
            for (source, target, reason, kind), count in flow.most_common()
        ],
        "metrics": dict(collections.Counter(line.split(":", 1)[0] for line in metric_lines or ())),
        "metric_attempts": _attempts_per_model(metric_lines or ()),
    }


def _attempts_per_model(metric_lines):
    """`{provider}/{model}` -> ddllm.attempt.duration samples, from the DogStatsD lines."""
    counts = collections.Counter()
    for line in metric_lines:
        if line.startswith("ddllm.attempt.duration:"):
            tags = dict(tag.split(":", 1) for field in line.split("|") if field.startswith("#")
                        for tag in field[1:].split(",") if ":" in tag)
            counts["%s/%s" % (tags.get("provider"), tags.get("model"))] += 1
    return dict(sorted(counts.items()))


def pick_trees(traces, count):
    """Traces of requests with more than one attempt, one per shape (the attempts' outcomes and
    fallback types, streamed or not), so the few printed show different stories."""
    picked, shapes = [], set()
    for trace in traces:
        attempts = _attempts_of(trace)
        shape = tuple((_tag(s, "llm.outcome"), _tag(s, "llm.fallback.type"), _tag(s, "llm.stream")) for s in attempts)
        if len(attempts) > 1 and shape not in shapes:
            shapes.add(shape)
            picked.append(trace)
            if len(picked) == count:
                break
    return picked


def attempt_tree(trace):
    """One request and its attempts, as the trace view shows them."""
    request = next((s for s in trace if s.name == "llm.request"), None)
    attempts = _attempts_of(trace)
    lines = []
    if request is not None:
        lines.append("llm.request %s  %d attempts, %s, %.0f ms" % (
            request.resource, len(attempts), _tag(request, "llm.outcome"), request.duration * 1e3))
    for index, span in enumerate(attempts):
        branch = "└─" if index == len(attempts) - 1 else "├─"
        line = "%s %-36s #%s depth %s retry %s  %-12s %4s %7.1f ms" % (
            branch, span.resource, _tag(span, "llm.attempt.number"), _tag(span, "llm.fallback.depth"),
            _tag(span, "llm.attempt.retry"), _tag(span, "llm.outcome"), _tag(span, "http.status_code"),
            span.duration * 1e3)
        if _tag(span, "llm.fallback.reason"):
            kind = _tag(span, "llm.fallback.type")
            line += "  ← %s%s" % (_tag(span, "llm.fallback.reason"), " (%s fallback)" % kind if kind else " (retry)")
        ttft = span.get_metric("llm.time_to_first_token")
        if ttft is not None:
            line += "  ttft %.1f ms" % (ttft * 1e3)
        lines.append(line)
    return "\n".join(lines)


def _table(header, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    out = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths))]
    out.append("  ".join("-" * width for width in widths))
    out.extend("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows)
    return "\n".join(out)


def render(summary, trees):
    """The text report."""
    parts = ["Attempt trees (as in the APM trace view):", ""]
    for tree in trees:
        parts.extend([tree, ""])
    rows = []
    for target, count in summary["attempts"].items():
        latency = summary["latency_ms"][target]
        left = summary["headroom"].get(target, {})
        rows.append((
            target, count, summary["rate_limited"][target],
            latency["p50"], latency["p95"], latency["p99"], summary["ttft_ms_p95"].get(target, "-"),
            _number(left.get("remaining_requests")), _number(left.get("remaining_tokens")),
        ))
    parts.append("Per model (ddllm.attempt.duration, time_to_first_token, ratelimit.*):")
    parts.append(_table(("provider/model", "attempts", "429s", "p50 ms", "p95 ms", "p99 ms", "ttft p95 ms",
                         "req left", "tokens left"), rows))
    parts.append("")
    parts.append("Fallback flow (ddllm.fallback):")
    parts.append(_table(("from", "to", "reason", "type", "count"), [
        (hop["from"], hop["to"], hop["reason"], hop["type"], hop["count"]) for hop in summary["fallbacks"]]))
    parts.append("")
    outcomes = ", ".join("%s %d" % item for item in sorted(summary["request_outcomes"].items()))
    parts.append("%d requests (%s), %d attempts." % (summary["spans"]["requests"], outcomes, summary["spans"]["attempts"]))
    if summary["metrics"]:
        parts.append("DogStatsD lines captured: " + ", ".join(
            "%s %d" % item for item in sorted(summary["metrics"].items())))
    return "\n".join(parts)


def _number(value):
    return "-" if value is None else "%d" % value
