"""What `ddllm push` would create, for the demo's report: the dashboards, monitors and SLOs
ddllm ships, by name, each monitor with the kind of judgement it makes (a fixed threshold, each
model against its own history, a forecast)."""

from ddllm.assets.files import DASHBOARD, MONITOR, SLO, load_assets

HEADINGS = ((DASHBOARD, "dashboards"), (MONITOR, "monitors"), (SLO, "slos"))


def _judgement(asset):
    query = asset["body"].get("query")
    if asset["kind"] == MONITOR and isinstance(query, str):
        for function, what in (("anomalies(", "anomaly"), ("forecast(", "forecast")):
            if function in query:
                return what
        return "threshold"
    if asset["kind"] == SLO:
        return asset["body"].get("type")
    return None


def shipped():
    """{"dashboards": [...], "monitors": [...], "slos": [...]}: each asset's name and judgement."""
    listing = {heading: [] for _, heading in HEADINGS}
    for asset in load_assets():
        heading = dict(HEADINGS)[asset["kind"]]
        entry = {"name": asset["name"]}
        if _judgement(asset):
            entry["kind"] = _judgement(asset)
        listing[heading].append(entry)
    return listing


SINGULAR = {"dashboards": "dashboard", "monitors": "monitor", "slos": "SLO"}
TITLE = "What `ddllm push --notify @you --tag team:yours` would create"


def render(listing):
    lines = [TITLE, "=" * len(TITLE)]
    for _, heading in HEADINGS:
        entries = listing.get(heading) or []
        lines.append("%d %s%s:" % (len(entries), SINGULAR[heading], "" if len(entries) == 1 else "s"))
        lines += ["  %s%s" % (entry["name"], " (%s)" % entry["kind"] if "kind" in entry else "") for entry in entries]
    return "\n".join(lines)
