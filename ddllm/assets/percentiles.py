"""Percentiles on the distribution metrics the assets query.

Datadog computes p50/p95/p99 of a distribution only once percentiles are enabled on that
metric, through its tag configuration (`include_percentiles`, API v2
`/api/v2/metrics/{metric_name}/tags`). Until then every `p95:` widget and `percentile(...)`
monitor stays empty. For each such metric `ddllm push`:

- creates the configuration when there is none (POST; its queryable tags are the metric's
  tags in ddllm's catalogue, since a configuration must list them);
- updates it when it exists without percentiles (PATCH, keeping its tags and mode as they are);
- leaves it alone when percentiles are already on.
"""
from ddllm import catalogue
from ddllm.assets.files import DASHBOARD, MONITOR
from ddllm.assets.queries import QueryError, parse_metric_query, parse_monitor_query

TAG_CONFIGURATION_TYPE = "manage_tags"


def _dashboard_queries(widgets):
    for widget in widgets or ():
        definition = widget.get("definition") if isinstance(widget, dict) else None
        if not isinstance(definition, dict):
            continue
        yield from _dashboard_queries(definition.get("widgets"))
        for request in definition.get("requests") or ():
            for query in (request.get("queries") or ()) if isinstance(request, dict) else ():
                if isinstance(query, dict) and query.get("data_source") == "metrics" \
                        and isinstance(query.get("query"), str):
                    yield query["query"]


def metrics_queried(asset):
    """Names of the metrics an asset's metric queries read (unparseable queries are skipped:
    `ddllm validate` reports them)."""
    names = set()
    body = asset["body"]
    try:
        if asset["kind"] == DASHBOARD:
            for text in _dashboard_queries(body.get("widgets")):
                names.add(parse_metric_query(text.strip())[0].metric)
        elif asset["kind"] == MONITOR and isinstance(body.get("query"), str):
            names.update(query.metric for query in parse_monitor_query(body["query"]).metric_queries)
    except QueryError:
        pass
    return names


def distributions_queried(assets):
    """ddllm's distribution metrics that the assets query, sorted."""
    queried = set()
    for asset in assets:
        queried |= metrics_queried(asset)
    return sorted(name for name in catalogue.DISTRIBUTIONS if name in queried)


def create_body(metric_name):
    return {"data": {"type": TAG_CONFIGURATION_TYPE, "id": metric_name, "attributes": {
        "metric_type": "distribution",
        "tags": sorted(catalogue.metric_tag_keys(metric_name)),
        "include_percentiles": True,
    }}}


def update_body(metric_name, current_attributes):
    """Percentiles on; the configuration's tags and mode as they are."""
    attributes = {"include_percentiles": True}
    for key in ("tags", "exclude_tags_mode"):
        if key in (current_attributes or {}):
            attributes[key] = current_attributes[key]
    return {"data": {"type": TAG_CONFIGURATION_TYPE, "id": metric_name, "attributes": attributes}}


def plan(current):
    """create, update or unchanged, from the current configuration's attributes (None: none)."""
    if current is None:
        return "create"
    return "unchanged" if current.get("include_percentiles") is True else "update"
