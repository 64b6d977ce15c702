"""What ddllm's SLO files mean, checked beyond datadog-api-client's `ServiceLevelObjectiveRequest`
(the body of `/api/v1/slo`):

- a metric SLO (`type: metric`) divides two metric queries, good events over all events: both
  counts (`.as_count()`), grouped alike;
- a time-slice SLO (`type: time_slice`) compares a formula of metric queries with a threshold in
  each slice of `query_interval_seconds` (60 or 300);
- every metric queried is in ddllm's catalogue, with its tags, as in monitors;
- targets are percentages, warnings above them, one objective per timeframe;
- `source:ddllm` is among the tags: `ddllm push` finds its SLOs by it.
"""

import re

from ddllm.assets.queries import PERCENTILE_AGGREGATOR, QueryError, parse_metric_query

SOURCE_TAG = "source:ddllm"
TYPES = ("metric", "time_slice")
FORMULA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def metric_queries(body):
    """[(JSON path, query text)] of every metric query an SLO body holds."""
    found = []
    query = body.get("query")
    if isinstance(query, dict):
        for side in ("numerator", "denominator"):
            if isinstance(query.get(side), str):
                found.append((("$", "query", side), query[side]))
    time_slice = _time_slice(body)
    for index, item in enumerate(time_slice.get("query", {}).get("queries") or ()):
        if isinstance(item, dict) and isinstance(item.get("query"), str):
            found.append((("$", "sli_specification", "time_slice", "query", "queries", index, "query"), item["query"]))
    return found


def _time_slice(body):
    specification = body.get("sli_specification")
    time_slice = specification.get("time_slice") if isinstance(specification, dict) else None
    return time_slice if isinstance(time_slice, dict) else {}


def check_slo(body, findings, check_metric_query):
    """Findings of an SLO body's meaning; `check_metric_query(parsed, findings, path)` checks one
    metric query against the catalogue, as for monitors."""
    for field in ("name", "type", "thresholds"):
        if field not in body:
            findings.error(("$",), "required field %r is missing" % field)
    if SOURCE_TAG not in (body.get("tags") or []):
        findings.error(("$", "tags"), "tags must include %s: `ddllm push` finds its SLOs by it" % SOURCE_TAG)
    slo_type = body.get("type")
    if slo_type not in TYPES:
        findings.error(("$", "type"), "ddllm's SLOs are metric or time_slice SLOs, not %r" % (slo_type,))
    parsed = {}
    for path, text in metric_queries(body):
        try:
            parsed[path], _ = parse_metric_query(text.strip())
        except QueryError as error:
            findings.error(path, "cannot parse %r: %s" % (text, error))
            continue
        check_metric_query(parsed[path], findings, path)
    if slo_type == "metric":
        _check_ratio(body, parsed, findings)
    elif slo_type == "time_slice":
        _check_time_slice(body, parsed, findings)
    groups = [query.groups for query in parsed.values()]
    if groups and not {"env", "service"} <= set(groups[0]):
        findings.warning(("$",), "the SLO does not group by env and service: staging and production would count as one")
    _check_thresholds(body.get("thresholds"), findings)


def _check_ratio(body, parsed, findings):
    sides = {path[-1]: query for path, query in parsed.items() if path[1] == "query"}
    if not isinstance(body.get("query"), dict):
        findings.error(("$", "query"), "a metric SLO needs query.numerator and query.denominator")
        return
    if "sli_specification" in body:
        findings.error(("$", "sli_specification"), "a metric SLO takes query, not sli_specification")
    for side, query in sides.items():
        if "as_count" not in query.modifiers or PERCENTILE_AGGREGATOR.match(query.aggregator):
            findings.error(
                ("$", "query", side), "a metric SLO counts events: %s must be a count with .as_count()" % side
            )
    if len(sides) == 2 and sorted(sides["numerator"].groups) != sorted(sides["denominator"].groups):
        findings.error(("$", "query"), "numerator and denominator must group by the same tags")


def _check_time_slice(body, parsed, findings):
    time_slice = _time_slice(body)
    path = ("$", "sli_specification", "time_slice")
    if not time_slice:
        findings.error(("$", "sli_specification"), "a time_slice SLO needs sli_specification.time_slice")
        return
    if "query" in body:
        findings.error(("$", "query"), "a time_slice SLO takes sli_specification, not query")
    queries = time_slice.get("query", {}).get("queries") or []
    names = [item.get("name") for item in queries if isinstance(item, dict)]
    for index, item in enumerate(queries):
        if isinstance(item, dict) and item.get("data_source") != "metrics":
            findings.error(path + ("query", "queries", index, "data_source"), "ddllm's SLOs read metrics")
    for index, formula in enumerate(time_slice.get("query", {}).get("formulas") or []):
        text = formula.get("formula") if isinstance(formula, dict) else None
        for name in FORMULA_NAME.findall(text or ""):
            if name not in names:
                findings.error(
                    path + ("query", "formulas", index, "formula"),
                    "%r is not the name of a query of this SLO (%s)" % (name, ", ".join(str(item) for item in names)),
                )
    if not isinstance(time_slice.get("threshold"), (int, float)):
        findings.error(path + ("threshold",), "a time slice needs a numeric threshold")


def _check_thresholds(thresholds, findings):
    if not isinstance(thresholds, list) or not thresholds:
        findings.error(("$", "thresholds"), "an SLO needs at least one objective (timeframe and target)")
        return
    seen = set()
    for index, objective in enumerate(thresholds):
        if not isinstance(objective, dict):
            continue
        path = ("$", "thresholds", index)
        target, warning = objective.get("target"), objective.get("warning")
        if isinstance(target, (int, float)) and not 0 < target < 100:
            findings.error(path + ("target",), "a target is a percentage between 0 and 100, not %s" % target)
        if isinstance(warning, (int, float)) and isinstance(target, (int, float)) and not target < warning <= 100:
            findings.error(
                path + ("warning",),
                "the warning %s must be above the target %s: it warns before the "
                "objective is missed" % (warning, target),
            )
        if objective.get("timeframe") in seen:
            findings.error(path + ("timeframe",), "two objectives for %s" % objective.get("timeframe"))
        seen.add(objective.get("timeframe"))
