"""What a team changes in the shipped assets without editing their JSON: who a monitor notifies
and its team tag (the placeholders `@your-team-handle` and `team:your-team`), the thresholds,
and the Datadog site that the monitors' links point at.

Thresholds live in one place, the monitor files, and each has a name: `<file stem>.<level>`,
e.g. `attempt_latency_p95.critical`, `error_rate.warning`, `fallback_rate.min_volume` (the
`N` of the monitor's `is_greater(total, N)` guard). `ddllm push --set NAME=VALUE` and the
Terraform export's variables (`NAME` with `.` as `_`) tune them; `thresholds(assets)` lists
them all with their defaults. The critical threshold is written twice in a monitor (the query
and `options.thresholds.critical`): a setting changes both.
"""

import copy
import os
import re

from ddllm.assets.files import MONITOR, SLO
from ddllm.assets.queries import QueryError, minimum_volume, parse_monitor_query, replace_spans

DEFAULT_SITE = "datadoghq.com"
# Datadog's sites, as DD_SITE names them (US1, US3, US5, EU1, AP1, AP2, US1-FED). Another API
# (a proxy, a fake one in tests) is a full URL in DD_API_HOST instead.
KNOWN_SITES = (
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
)
THRESHOLD_LEVELS = ("critical", "warning", "critical_recovery", "warning_recovery")
MIN_VOLUME = "min_volume"
PLACEHOLDER_HANDLE = "@your-team-handle"
PLACEHOLDER_TAG = "team:your-team"
NOTIFY_VARIABLE = "DDLLM_NOTIFY"
TAGS_VARIABLE = "DDLLM_TAGS"
HANDLE = re.compile(r"^@[\w.\-]+$")
TAG = re.compile(r"^[A-Za-z][\w.\-/]*:[\w.\-/:]+$")
# A markdown link whose target is a path on the Datadog site: [text](/dashboard/...)
RELATIVE_LINK = re.compile(r"\]\((/[^)\s]*)\)")


class SettingError(ValueError):
    """A setting that names no threshold, or a value that is not one."""


def monitor_key(asset):
    return os.path.splitext(os.path.basename(asset["path"]))[0]


def thresholds(assets):
    """[(NAME, default value, asset)] of every tunable number of the monitors, in file order."""
    found = []
    for asset in assets:
        if asset["kind"] != MONITOR:
            continue
        levels = (asset["body"].get("options") or {}).get("thresholds") or {}
        for level in THRESHOLD_LEVELS:
            if isinstance(levels.get(level), (int, float)):
                found.append(("%s.%s" % (monitor_key(asset), level), levels[level], asset))
        guard = _guard(asset)
        if guard is not None:
            found.append(("%s.%s" % (monitor_key(asset), MIN_VOLUME), _plain(guard[0]), asset))
    return found


def _guard(asset):
    try:
        return minimum_volume(parse_monitor_query(asset["body"].get("query")))
    except QueryError:
        return None


def _plain(value):
    """10.0 -> 10: a whole number reads as one in JSON and in a query."""
    return int(value) if float(value).is_integer() else value


def number_text(value):
    return repr(_plain(value))


def parse_settings(items):
    """["error_rate.critical=15", ...] -> {NAME: number}."""
    settings = {}
    for item in items or ():
        name, equals, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            raise SettingError("--set %r: expected NAME=VALUE, e.g. error_rate.critical=15" % item)
        try:
            number = float(value)
        except ValueError:
            raise SettingError("--set %s: %r is not a number" % (name, value))
        if number != number or number in (float("inf"), float("-inf")):
            raise SettingError("--set %s: %r is not a finite number" % (name, value))
        settings[name] = _plain(number)
    return settings


def apply_settings(assets, settings):
    """Copies of `assets` with the named thresholds set. Raises SettingError on an unknown name."""
    known = {name: asset["path"] for name, _, asset in thresholds(assets)}
    unknown = [name for name in settings if name not in known]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        raise SettingError(
            "--set %s: no such threshold%s (the thresholds: %s)"
            % (unknown[0], " (did you mean %s?)" % close[0] if close else "", ", ".join(sorted(known)))
        )
    result = []
    for asset in assets:
        mine = {name.split(".", 1)[1]: value for name, value in settings.items() if known[name] == asset["path"]}
        result.append(_set_thresholds(asset, mine) if mine else asset)
    return result


def _set_thresholds(asset, levels):
    asset = dict(asset, body=copy.deepcopy(asset["body"]))
    body = asset["body"]
    try:
        query = parse_monitor_query(body["query"])
    except QueryError as error:
        raise SettingError("%s: cannot set a threshold in a query that does not parse: %s" % (asset["path"], error))
    replacements = []
    for level, value in levels.items():
        if level == MIN_VOLUME:
            replacements.append((minimum_volume(query)[1], number_text(value)))
        else:
            body["options"]["thresholds"][level] = value
            if level == "critical":
                replacements.append((query.threshold_span, number_text(value)))
    body["query"] = replace_spans(body["query"], replacements)
    return asset


def audience_from(notify, tags, environ):
    """(handles, tags) from the command line, else from DDLLM_NOTIFY / DDLLM_TAGS (comma- or
    space-separated). Raises SettingError on a handle without @ or a tag without a value."""
    notify = list(notify or ()) or environ.get(NOTIFY_VARIABLE, "").replace(",", " ").split()
    tags = list(tags or ()) or [item.strip() for item in environ.get(TAGS_VARIABLE, "").split(",") if item.strip()]
    for handle in notify:
        if not HANDLE.match(handle) or handle == PLACEHOLDER_HANDLE:
            raise SettingError(
                "--notify %r: expected a Datadog handle such as @team-llm, @slack-llm-alerts or @pagerduty-llm" % handle
            )
    for tag in tags:
        if not TAG.match(tag) or tag == PLACEHOLDER_TAG:
            raise SettingError("--tag %r: expected key:value, such as team:llm-platform" % tag)
    return notify, tags


# The kinds that carry the team's placeholders: monitors (handle and tag) and SLOs (tag).
AUDIENCE_KINDS = (MONITOR, SLO)


def apply_audience(assets, notify, tags):
    """Copies of `assets` whose monitors notify `notify`, and whose monitors and SLOs carry `tags`,
    instead of the placeholders."""
    result = []
    for asset in assets:
        body = asset["body"]
        if asset["kind"] not in AUDIENCE_KINDS:
            result.append(asset)
            continue
        body = copy.deepcopy(body)
        if notify and isinstance(body.get("message"), str):
            body["message"] = body["message"].replace(PLACEHOLDER_HANDLE, " ".join(notify))
        if tags and isinstance(body.get("tags"), list) and PLACEHOLDER_TAG in body["tags"]:
            kept = [tag for tag in body["tags"] if tag != PLACEHOLDER_TAG]
            body["tags"] = kept + [tag for tag in tags if tag not in kept]
        result.append(dict(asset, body=body))
    return result


def placeholders_left(assets):
    """[(asset, placeholder)] for each placeholder still in a monitor or an SLO."""
    left = []
    for asset in assets:
        if asset["kind"] not in AUDIENCE_KINDS:
            continue
        body = asset["body"]
        if PLACEHOLDER_HANDLE in (body.get("message") or ""):
            left.append((asset, PLACEHOLDER_HANDLE))
        if PLACEHOLDER_TAG in (body.get("tags") or []):
            left.append((asset, PLACEHOLDER_TAG))
    return left


def app_url(site):
    """The web app of a Datadog site: datadoghq.com -> https://app.datadoghq.com, us5.datadoghq.com
    -> https://us5.datadoghq.com, datadoghq.eu -> https://app.datadoghq.eu, ddog-gov.com ->
    https://app.ddog-gov.com."""
    site = (site or DEFAULT_SITE).strip().lower()
    return "https://" + (site if site.count(".") >= 2 else "app." + site)


def fill_links(assets, base_url):
    """Copies of `assets` whose monitor messages link to `base_url` instead of relative paths: a
    notification is read outside the app (mail, Slack), where a relative link leads nowhere."""
    result = []
    for asset in assets:
        message = asset["body"].get("message") if asset["kind"] == MONITOR else None
        if not isinstance(message, str) or not RELATIVE_LINK.search(message):
            result.append(asset)
            continue
        body = dict(
            asset["body"], message=RELATIVE_LINK.sub(lambda match: "](%s%s)" % (base_url, match.group(1)), message)
        )
        result.append(dict(asset, body=body))
    return result


def add_arguments(parser):
    """The options of `ddllm push` and `ddllm validate` that customize the assets."""
    parser.add_argument(
        "--notify",
        action="append",
        metavar="@HANDLE",
        help="who the monitors notify, instead of %s (repeatable; default: $%s)"
        % (PLACEHOLDER_HANDLE, NOTIFY_VARIABLE),
    )
    parser.add_argument(
        "--tag",
        action="append",
        metavar="KEY:VALUE",
        help="tag for the monitors, instead of %s (repeatable; default: $%s)" % (PLACEHOLDER_TAG, TAGS_VARIABLE),
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        dest="settings",
        help="a monitor threshold, e.g. error_rate.critical=15 or fallback_rate.min_volume=50 "
        "(repeatable; the README lists them)",
    )


def customized(assets, args, environ):
    """The assets with the thresholds of --set and the audience of --notify/--tag (or the
    environment). Raises SettingError."""
    assets = apply_settings(assets, parse_settings(getattr(args, "settings", None)))
    notify, tags = audience_from(getattr(args, "notify", None), getattr(args, "tag", None), environ)
    return apply_audience(assets, notify, tags)
