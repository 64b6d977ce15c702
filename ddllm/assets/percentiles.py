"""Percentiles on the distribution metrics the assets query.

Datadog computes p50/p95/p99 of a distribution only once percentiles are enabled on that
metric, through its tag configuration (`include_percentiles`, API v2
`/api/v2/metrics/{metric_name}/tags`). Until then every `p95:` widget and `percentile(...)`
monitor stays empty. For each such metric `ddllm push`:

- creates the configuration when there is none (POST): a deny-list that excludes no tag, so
  every tag submitted with the metric stays queryable, ddllm's and the user's alike;
- turns an allow-list that an earlier ddllm created (the catalogue's tags) into that deny-list;
- keeps a configuration the user made as it is, with percentiles turned on (PATCH), and names
  the ddllm tags it hides;
- leaves it alone when it is ddllm's and percentiles are on.
"""

from collections import namedtuple

from ddllm import catalogue
from ddllm.assets import slos
from ddllm.assets.files import DASHBOARD, MONITOR, SLO
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
                if (
                    isinstance(query, dict)
                    and query.get("data_source") == "metrics"
                    and isinstance(query.get("query"), str)
                ):
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
        elif asset["kind"] == SLO:
            names.update(parse_metric_query(text.strip())[0].metric for _, text in slos.metric_queries(body))
    except QueryError:
        pass
    return names


def distributions_queried(assets):
    """ddllm's distribution metrics that the assets query, sorted."""
    queried = set()
    for asset in assets:
        queried |= metrics_queried(asset)
    return sorted(name for name in catalogue.DISTRIBUTIONS if name in queried)


# A deny-list that excludes no submitted tag: every tag stays queryable (`host`, `kube_*`, the
# user's DD_TAGS), where an allow-list would hide every tag it does not name. Datadog refuses a
# deny-list without tags (its Terraform provider: "cannot use exclude_tags_mode without
# configuring any tags"), so it names one tag key that nothing sends.
EXCLUDES_NO_TAG = "ddllm_excludes_no_tag"

TagConfigurationPlan = namedtuple("TagConfigurationPlan", "action body note")


def deny_list_attributes(metric_type="distribution"):
    """The attributes of the configuration ddllm creates: percentiles on, every tag queryable."""
    attributes = {"exclude_tags_mode": True, "tags": [EXCLUDES_NO_TAG], "include_percentiles": True}
    if metric_type:
        attributes = dict({"metric_type": metric_type}, **attributes)
    return attributes


def _body(metric_name, attributes):
    return {"data": {"type": TAG_CONFIGURATION_TYPE, "id": metric_name, "attributes": attributes}}


def is_ours(current):
    """A configuration ddllm creates now: the deny-list that excludes no tag."""
    return current.get("exclude_tags_mode") is True and list(current.get("tags") or []) == [EXCLUDES_NO_TAG]


def is_earlier_allow_list(metric_name, current):
    """An allow-list an earlier ddllm created: exactly the metric's catalogue tags, with or without
    the proxy's caller tags (added to the catalogue later)."""
    if current.get("exclude_tags_mode") is True:
        return False
    keys = set(catalogue.metric_tag_keys(metric_name))
    return set(current.get("tags") or []) in (keys, keys - set(catalogue.PROXY_CALLER_METRIC_TAGS))


def hidden_ddllm_tags(metric_name, current):
    """ddllm's tags of the metric that a configuration makes unqueryable, sorted."""
    keys = set(catalogue.metric_tag_keys(metric_name))
    listed = set(current.get("tags") or [])
    return sorted(keys & listed if current.get("exclude_tags_mode") is True else keys - listed)


def percentiles_on(current):
    return current is not None and current.get("include_percentiles") is True


def plan(metric_name, current):
    """What to do with the metric's tag configuration (`current`: its attributes, None when it has
    none): create ddllm's deny-list; turn an earlier ddllm's allow-list into it; keep a
    configuration the user made as it is, percentiles turned on, and name the ddllm tags it hides."""
    if current is None:
        return TagConfigurationPlan("create", _body(metric_name, deny_list_attributes()), None)
    if is_ours(current):
        if percentiles_on(current):
            return TagConfigurationPlan("unchanged", None, None)
        return TagConfigurationPlan("update", _body(metric_name, deny_list_attributes(None)), None)
    if is_earlier_allow_list(metric_name, current):
        return TagConfigurationPlan(
            "update",
            _body(metric_name, deny_list_attributes(None)),
            "an earlier ddllm's allow-list becomes a deny-list that hides no tag",
        )
    hidden = hidden_ddllm_tags(metric_name, current)
    note = (
        "your tag configuration is kept; it hides ddllm's tag%s %s"
        % ("" if len(hidden) == 1 else "s", ", ".join(hidden))
        if hidden
        else None
    )
    if percentiles_on(current):
        return TagConfigurationPlan("unchanged", None, note)
    # Percentiles on; the configuration's tags and mode as they are.
    attributes = {"include_percentiles": True}
    for key in ("tags", "exclude_tags_mode"):
        if key in current:
            attributes[key] = current[key]
    return TagConfigurationPlan("update", _body(metric_name, attributes), note)
