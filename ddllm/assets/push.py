"""`ddllm push [--dashboards] [--monitors] [--slos] [--dry-run] [--notify @H] [--tag K:V]
[--set NAME=VALUE] [PATH...]`: create or update ddllm's dashboards, monitors and SLOs in Datadog,
through the `datadog` package's API client.

First the assets are made what will be sent (thresholds of --set, the team's handles and tags
instead of the placeholders) and validated as `ddllm validate` does: on any error, or a
placeholder left, nothing is pushed. Monitor messages' relative links are then filled in for
the user's site. Then percentiles are enabled on the distribution metrics the assets query (see
ddllm.assets.percentiles), and each asset is created or updated. The URL of each asset on the
user's site is printed at the end.

Idempotent: a dashboard is found by its title, a monitor or an SLO by its name among those
tagged `source:ddllm` (SLOs are pushed after the monitors). One that exists is compared with
the file on the fields the file sets (Datadog adds ids, authors and defaults of its own) and
updated only when one differs, so a second push changes nothing and says so. `--dry-run` reads Datadog and prints the plan.

Environment:
- DD_API_KEY and DD_APP_KEY (or DD_APPLICATION_KEY): required, never printed.
- DD_SITE: the Datadog site, e.g. datadoghq.eu, us5.datadoghq.com (default datadoghq.com);
  the API is https://api.{DD_SITE}.
- DD_API_HOST: a full base URL that overrides DD_SITE, e.g. a proxy, or a fake API on
  http://127.0.0.1:PORT in tests. Links and printed URLs still follow DD_SITE.
- DDLLM_NOTIFY, DDLLM_TAGS: the monitors' handles and tags when --notify / --tag are not given.
"""

import os
import re
import sys
from urllib.parse import urlsplit

from ddllm.assets import customize, percentiles
from ddllm.assets.files import DASHBOARD, INSTALL_ASSETS_EXTRA, KINDS, MONITOR, SLO, AssetError, load_assets

DEFAULT_SITE = customize.DEFAULT_SITE
SOURCE_TAG = "source:ddllm"
REQUEST_TIMEOUT_SECONDS = 30
AUTH_STATUSES = (401, 403)
# Fields Datadog sets itself: never sent, never compared. (An `id` would also turn the
# `datadog` package's create call into a POST to /resource/{id}.)
SERVER_FIELDS = {
    DASHBOARD: ("id", "author_handle", "author_name", "created_at", "modified_at", "url"),
    MONITOR: (
        "id",
        "created",
        "created_at",
        "modified",
        "creator",
        "deleted",
        "multi",
        "org_id",
        "overall_state",
        "overall_state_modified",
        "matching_downtimes",
        "state",
    ),
    SLO: ("id", "creator", "created_at", "modified_at", "monitor_tags", "configured_alert_ids"),
}


class PushError(Exception):
    """What went wrong, said so a person can fix it; `status` is the HTTP status, if any."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Unreachable(PushError):
    """No answer from the API at all: its host name does not resolve, nothing listens, or no
    answer came in time. Said in one line, not the HTTP library's."""

    def __init__(self, api_host, why):
        self.host = urlsplit(api_host).netloc or api_host
        super().__init__("could not reach %s (%s)" % (self.host, why))


# Words of the HTTP library's messages, and what they mean for a person.
_UNREACHABLE_CLUES = (
    ("NameResolution", "its name does not resolve"),
    ("Name or service not known", "its name does not resolve"),
    ("nodename nor servname", "its name does not resolve"),
    ("Connection refused", "connection refused"),
    ("timed out", "no answer in time"),
    ("Too many timeouts", "no answer in time"),
)


def _why_unreachable(text):
    """A few words on why a request got no answer, from the HTTP library's long message."""
    for clue, why in _UNREACHABLE_CLUES:
        if clue in text:
            return why
    return "no connection"


# ---------------------------------------------------------------------------------------------
# Settings


def api_host_from_environment(environ):
    override = environ.get("DD_API_HOST", "").strip()
    if override:
        if not re.match(r"^https?://[^/\s]+", override):
            raise PushError("DD_API_HOST must be a URL like https://api.datadoghq.eu, not %r" % override)
        return override.rstrip("/")
    site = environ.get("DD_SITE", "").strip().lower() or DEFAULT_SITE
    if site not in customize.KNOWN_SITES:
        raise PushError(
            "DD_SITE=%r is not a Datadog site; the sites are %s (for another API, a proxy say, set "
            "DD_API_HOST to its URL)" % (site, ", ".join(customize.KNOWN_SITES))
        )
    return "https://api." + site


def keys_from_environment(environ):
    api_key = environ.get("DD_API_KEY", "").strip()
    app_key = (environ.get("DD_APP_KEY", "") or environ.get("DD_APPLICATION_KEY", "")).strip()
    missing = [name for name, value in (("DD_API_KEY", api_key), ("DD_APP_KEY", app_key)) if not value]
    if missing:
        raise PushError(
            "%s not set: ddllm push needs an API key and an application key that may read and write "
            "dashboards, monitors and SLOs (Organization Settings > API Keys / Application Keys)"
            % (" and ".join(missing) + (" is" if len(missing) == 1 else " are"))
        )
    return api_key, app_key


# ---------------------------------------------------------------------------------------------
# The datadog package's client, with the HTTP status of each answer kept


class _StatusRecordingHTTPClient:
    """Wraps the `datadog` package's HTTP client to keep the last answer's status: its API
    returns a 4xx answer without `errors` as if it had succeeded, and its exceptions for
    answers with `errors` do not carry the status."""

    def __init__(self, inner):
        self.inner = inner
        self.last_status = None
        self.last_reason = None

    def request(self, method, url, headers, params, data, timeout, proxies, verify, max_retries):
        self.last_status = self.last_reason = None
        result = self.inner.request(
            method=method,
            url=url,
            headers=headers,
            params=params,
            data=data,
            timeout=timeout,
            proxies=proxies,
            verify=verify,
            max_retries=max_retries,
        )
        self.last_status = result.status_code
        self.last_reason = getattr(result, "reason", None)
        return result


MIN_SECRET_LENGTH = 8  # shorter values are no Datadog key: not redacted


class DatadogClient:
    """The calls ddllm push makes, each raising PushError with a clear message on failure."""

    def __init__(self, api_key, app_key, api_host, timeout=REQUEST_TIMEOUT_SECONDS):
        from datadog import api, initialize
        from datadog.api.api_client import APIClient
        from datadog.api.http_client import resolve_http_client

        self.api = api
        self.api_host = api_host
        # Only values that look like secrets, as whole words: Datadog's keys are 32 and 40
        # characters; a short value (DD_API_KEY=x) would otherwise mangle every line it is in.
        self._secret_patterns = [
            re.compile(r"(?<![A-Za-z0-9])%s(?![A-Za-z0-9])" % re.escape(secret))
            for secret in (api_key, app_key)
            if secret and len(secret) >= MIN_SECRET_LENGTH
        ]
        self._previous_mute = api._mute
        # mute=False: errors raise instead of coming back as {"errors": ...} dicts. An explicit
        # host name: initialize() would otherwise look for one (agent config, hostname command).
        # initialize() also reconfigures the package's global `statsd`; ddllm's metrics have a
        # client of their own, so that touches nothing ddllm sends.
        initialize(
            api_key=api_key,
            app_key=app_key,
            api_host=api_host,
            host_name="ddllm-push",
            hostname_from_config=False,
            mute=False,
            timeout=timeout,
        )
        self._api_client = APIClient
        self._previous_http_client = APIClient._http_client
        self._recorder = _StatusRecordingHTTPClient(resolve_http_client())
        APIClient._http_client = self._recorder

    def close(self):
        self._api_client._http_client = self._previous_http_client
        self.api._mute = self._previous_mute  # for whoever uses the package next in this process

    def call(self, description, function, args=(), kwargs=None):
        # Bodies go in as one dict, not **kwargs here: a body key would clash with a parameter.
        from datadog.api.exceptions import ApiError, ClientError, DatadogException, HttpBackoff, HttpTimeout, ProxyError

        try:
            answer = function(*args, **(kwargs or {}))
        except (ClientError, ProxyError, HttpTimeout, HttpBackoff) as error:
            raise Unreachable(self.api_host, _why_unreachable(str(error)))
        except ApiError as error:
            answer = error.args[0] if error.args else None
            # The package raises on any `errors` key, an empty list too: the SLO API's lists carry
            # `"errors": []` in a 200 answer.
            if not (isinstance(answer, dict) and not answer.get("errors") and (self._recorder.last_status or 0) < 400):
                raise self._failure(description, _error_texts(answer))
        except DatadogException as error:
            raise self._failure(description, [str(error)])
        except ValueError as error:  # the package's "Invalid JSON response"
            raise self._failure(description, [str(error)[:300]])
        status = self._recorder.last_status
        if (status is not None and status >= 400) or (isinstance(answer, dict) and answer.get("errors")):
            raise self._failure(description, _error_texts(answer))
        return answer

    def _failure(self, description, texts):
        status = self._recorder.last_status
        said = "; ".join(texts) or "no reason given"
        if status is not None:
            message = "Datadog answered %s%s to %s: %s" % (
                status,
                " " + self._recorder.last_reason if self._recorder.last_reason else "",
                description,
                said,
            )
        else:
            message = "%s failed: %s" % (description, said)
        if status in AUTH_STATUSES:
            message += (
                "\nCheck that DD_API_KEY and DD_APP_KEY belong to the organisation at %s (DD_SITE) and "
                "that the application key may read and write dashboards, monitors and SLOs and manage metric "
                "tags (scopes dashboards_read, dashboards_write, monitors_read, monitors_write, slos_read, "
                "slos_write, metrics_read, metric_tags_write)." % self.api_host
            )
        return PushError(self.redact(message), status)

    def redact(self, text):
        for pattern in self._secret_patterns:
            text = pattern.sub("<redacted>", text)
        return text

    # The resources
    def dashboards(self):
        answer = self.call("GET /api/v1/dashboard (list dashboards)", self.api.Dashboard.get_all)
        return list((answer or {}).get("dashboards") or [])

    def dashboard(self, dashboard_id):
        return self.call("GET /api/v1/dashboard/%s" % dashboard_id, self.api.Dashboard.get, (dashboard_id,))

    def create_dashboard(self, body):
        return self.call(
            "POST /api/v1/dashboard (create %r)" % body.get("title"), self.api.Dashboard.create, kwargs=body
        )

    def update_dashboard(self, dashboard_id, body):
        return self.call(
            "PUT /api/v1/dashboard/%s (update %r)" % (dashboard_id, body.get("title")),
            self.api.Dashboard.update,
            (dashboard_id,),
            body,
        )

    def monitors(self):
        answer = self.call(
            "GET /api/v1/monitor?monitor_tags=%s (list monitors)" % SOURCE_TAG,
            self.api.Monitor.get_all,
            kwargs={"monitor_tags": SOURCE_TAG},
        )
        return list(answer or [])

    def create_monitor(self, body):
        return self.call("POST /api/v1/monitor (create %r)" % body.get("name"), self.api.Monitor.create, kwargs=body)

    def update_monitor(self, monitor_id, body):
        return self.call(
            "PUT /api/v1/monitor/%s (update %r)" % (monitor_id, body.get("name")),
            self.api.Monitor.update,
            (monitor_id,),
            body,
        )

    def slos(self):
        answer = self.call(
            "GET /api/v1/slo?tags_query=%s (list SLOs)" % SOURCE_TAG,
            self.api.ServiceLevelObjective.get_all,
            kwargs={"tags_query": SOURCE_TAG, "limit": 1000},
        )
        return list((answer or {}).get("data") or [])

    def create_slo(self, body):
        answer = self.call(
            "POST /api/v1/slo (create %r)" % body.get("name"), self.api.ServiceLevelObjective.create, kwargs=body
        )
        return _first_of_data(answer)

    def update_slo(self, slo_id, body):
        return self.call(
            "PUT /api/v1/slo/%s (update %r)" % (slo_id, body.get("name")),
            self.api.ServiceLevelObjective.update,
            (slo_id,),
            body,
        )

    # Metric tag configurations (API v2): where percentiles are enabled
    def _v2(self, method, path, body=None):
        return self.call(
            "%s /api/v2/%s" % (method, path),
            self._api_client.submit,
            (method, path),
            {"api_version": "v2", "body": body},
        )

    def tag_configuration(self, metric_name):
        """The configuration's attributes, or None when the metric has none (404)."""
        try:
            answer = self._v2("GET", "metrics/%s/tags" % metric_name)
        except PushError as error:
            if error.status == 404:
                return None
            raise
        return ((answer or {}).get("data") or {}).get("attributes") or {}

    def create_tag_configuration(self, metric_name, body):
        return self._v2("POST", "metrics/%s/tags" % metric_name, body)

    def update_tag_configuration(self, metric_name, body):
        return self._v2("PATCH", "metrics/%s/tags" % metric_name, body)


def _first_of_data(answer):
    """The SLO API answers `{"data": [slo]}` where the monitor API answers the monitor itself."""
    data = (answer or {}).get("data") if isinstance(answer, dict) else None
    return data[0] if isinstance(data, list) and data else answer


def _error_texts(answer):
    if isinstance(answer, dict):
        errors = answer.get("errors")
        if isinstance(errors, list):
            return [str(error) for error in errors]
        if errors:
            return [str(errors)]
    return []


# ---------------------------------------------------------------------------------------------
# Comparing and planning


def differences(ours, theirs, path="$"):
    """JSON paths where `theirs` does not carry what `ours` sets. Keys only `theirs` has (ids,
    authors, server defaults) do not count."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [path]
        found = []
        for key, value in ours.items():
            if key not in theirs:
                found.append("%s.%s" % (path, key))
            else:
                found.extend(differences(value, theirs[key], "%s.%s" % (path, key)))
        return found
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [path]
        found = []
        for index, (mine, other) in enumerate(zip(ours, theirs)):
            found.extend(differences(mine, other, "%s[%d]" % (path, index)))
        return found
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return [] if ours is theirs else [path]
    return [] if ours == theirs else [path]


class Plan:
    """What to do with one asset: `action` is create, update or unchanged."""

    def __init__(self, asset, action, remote_id=None, changed=(), note=None):
        self.asset = asset
        self.action = action
        self.remote_id = remote_id
        self.changed = list(changed)
        self.note = note


def plan_dashboard(client, asset, existing_by_title):
    matches = existing_by_title.get(asset["name"], [])
    if not matches:
        return Plan(asset, "create")
    note = None
    if len(matches) > 1:
        note = "%d dashboards have this title; using %s" % (len(matches), matches[0]["id"])
    remote = client.dashboard(matches[0]["id"])
    changed = differences(request_body(asset), remote or {})
    return Plan(asset, "update" if changed else "unchanged", matches[0]["id"], changed, note)


def plan_by_name(asset, existing_by_name):
    """A monitor's or an SLO's plan: found by its name among those tagged source:ddllm."""
    matches = existing_by_name.get(asset["name"], [])
    if not matches:
        return Plan(asset, "create")
    note = None
    if len(matches) > 1:
        note = "%d %ss tagged %s have this name; using %s" % (len(matches), asset["kind"], SOURCE_TAG, matches[0]["id"])
    changed = differences(request_body(asset), matches[0])
    return Plan(asset, "update" if changed else "unchanged", matches[0]["id"], changed, note)


def _index_by(items, key):
    index = {}
    for item in sorted(items, key=lambda item: str(item.get("id"))):
        index.setdefault(item.get(key), []).append(item)
    return index


def request_body(asset):
    return {key: value for key, value in asset["body"].items() if key not in SERVER_FIELDS[asset["kind"]]}


def carry_out(client, plan):
    body = request_body(plan.asset)
    create, update = {
        DASHBOARD: (client.create_dashboard, client.update_dashboard),
        MONITOR: (client.create_monitor, client.update_monitor),
        SLO: (client.create_slo, client.update_slo),
    }[plan.asset["kind"]]
    if plan.action == "create":
        answer = create(body)
        if not isinstance(answer, dict) or "id" not in answer:
            raise PushError("Datadog's answer to creating %s %r has no id" % (plan.asset["kind"], plan.asset["name"]))
        plan.remote_id = answer["id"]
    elif plan.action == "update":
        update(plan.remote_id, body)


# ---------------------------------------------------------------------------------------------
# The command


def configure_parser(parser):
    parser.description = (
        "Validate, then create or update ddllm's dashboards, monitors and SLOs in Datadog: found by "
        "title (dashboards) or by name and the %s tag (monitors, SLOs), updated only when they "
        "differ; and "
        "enable percentiles on the distribution metrics they query. Keys from DD_API_KEY and "
        "DD_APP_KEY, site from DD_SITE (or a full URL in DD_API_HOST)." % SOURCE_TAG
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="JSON files or folders to push (default: the assets ddllm ships)"
    )
    parser.add_argument("--dashboards", action="store_true", help="push dashboards (default: every kind)")
    parser.add_argument("--monitors", action="store_true", help="push monitors (default: every kind)")
    parser.add_argument("--slos", action="store_true", help="push SLOs (default: every kind)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    customize.add_arguments(parser)


def run(args, environ=None, out=None, err=None):
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    kinds = tuple(
        kind
        for kind, chosen in (
            (DASHBOARD, args.dashboards),
            (MONITOR, args.monitors),
            (SLO, getattr(args, "slos", False)),
        )
        if chosen
    )
    kinds = kinds or KINDS
    try:
        from ddllm.assets import validation
    except ImportError as error:
        print(
            "ddllm push: validates before it pushes and needs the datadog-api-client package: %s (%s)"
            % (INSTALL_ASSETS_EXTRA, error),
            file=err,
        )
        return 2
    try:
        assets = load_assets(args.paths or None, kinds)
    except AssetError as error:
        print("ddllm push: %s" % error, file=err)
        return 2
    if not assets:
        print("ddllm push: no %s to push" % " or ".join(kind + "s" for kind in kinds), file=err)
        return 2
    unnamed = [asset["path"] for asset in assets if not isinstance(asset["name"], str) or not asset["name"]]
    if unnamed:
        print("ddllm push: %s has no title or name: it could not be found again" % unnamed[0], file=err)
        return 2
    site = environ.get("DD_SITE", "").strip().lower() or DEFAULT_SITE
    try:
        api_host = api_host_from_environment(environ)
        assets = customize.customized(assets, args, environ)
    except (PushError, customize.SettingError) as error:
        print("ddllm push: %s" % error, file=err)
        return 2
    if not _valid(assets, validation, err):
        return 1
    assets = customize.fill_links(assets, customize.app_url(site))
    try:
        api_key, app_key = keys_from_environment(environ)
    except PushError as error:
        print("ddllm push: %s" % error, file=err)
        return 2
    client = DatadogClient(api_key, app_key, api_host)
    try:
        return _push(client, assets, kinds, args.dry_run, api_host, customize.app_url(site), out, err)
    finally:
        client.close()


def _valid(assets, validation, err):
    """Validates what would be sent; prints its findings. False (push nothing) on any error or a
    placeholder left."""
    findings = [finding for asset in assets for finding in validation.validate_asset(asset)]
    findings = [
        finding
        for finding in findings
        if finding.severity == validation.ERROR
        or not any(
            placeholder in finding.message for placeholder in (customize.PLACEHOLDER_HANDLE, customize.PLACEHOLDER_TAG)
        )
    ]
    for finding in findings:
        print("%s: %s: %s: %s" % finding, file=err)
    errors = [finding for finding in findings if finding.severity == validation.ERROR]
    left = customize.placeholders_left(assets)
    for placeholder in sorted({placeholder for _, placeholder in left}):
        files = [os.path.basename(asset["path"]) for asset, used in left if used == placeholder]
        print(
            "error: %s is a placeholder, in %d file%s (%s): give the real one with %s"
            % (
                placeholder,
                len(files),
                "" if len(files) == 1 else "s",
                ", ".join(files),
                "--notify @handle (or %s)" % customize.NOTIFY_VARIABLE
                if placeholder.startswith("@")
                else "--tag key:value (or %s)" % customize.TAGS_VARIABLE,
            ),
            file=err,
        )
    if errors or left:
        print(
            "ddllm push: %d error%s%s: nothing was pushed"
            % (
                len(errors),
                "" if len(errors) == 1 else "s",
                ", %d placeholder%s left" % (len(left), "" if len(left) == 1 else "s") if left else "",
            ),
            file=err,
        )
        return False
    return True


def _push(client, assets, kinds, dry_run, api_host, base_url, out, err):
    def say(text, stream=None):
        print(client.redact(text), file=stream or out, flush=True)

    say(
        "ddllm push%s: %d asset%s to %s"
        % (" (dry run)" if dry_run else "", len(assets), "" if len(assets) == 1 else "s", api_host)
    )
    try:
        dashboards_by_title = _index_by(client.dashboards(), "title") if DASHBOARD in kinds else {}
        monitors_by_name = (
            _index_by(
                [monitor for monitor in client.monitors() if SOURCE_TAG in (monitor.get("tags") or [])],
                "name",
            )
            if MONITOR in kinds
            else {}
        )
        slos_by_name = (
            _index_by(
                [slo for slo in client.slos() if SOURCE_TAG in (slo.get("tags") or [])],
                "name",
            )
            if SLO in kinds
            else {}
        )
    except Unreachable as error:
        if dry_run:  # one might expect a dry run to need no network
            say(
                "ddllm push (dry run): a dry run reads the organisation's current dashboards, monitors and SLOs to "
                "compare them with these, and %s" % error,
                err,
            )
        else:
            say("ddllm push: %s" % error, err)
        return 1
    except PushError as error:
        say("ddllm push: %s" % error, err)
        return 1
    counts = {}
    failures = 0
    # Percentiles first: a percentile monitor on a metric without them would have no data.
    distributions = percentiles.distributions_queried(assets)
    steps = [("percentiles", name) for name in distributions] + [("asset", asset) for asset in assets]
    done = []
    for number, (step, item) in enumerate(steps, 1):
        if step == "percentiles":
            label = "[%d/%d] percentiles on %s" % (number, len(steps), item)
        else:
            label = '[%d/%d] %s "%s"' % (number, len(steps), item["kind"], item["name"])
        try:
            if step == "percentiles":
                action, note = _enable_percentiles(client, item, dry_run)
                plan = Plan(None, action)
                if note:
                    say("%s: note: %s" % (label, note))
            else:
                if item["kind"] == DASHBOARD:
                    plan = plan_dashboard(client, item, dashboards_by_title)
                else:
                    plan = plan_by_name(item, monitors_by_name if item["kind"] == MONITOR else slos_by_name)
                if plan.note:
                    say("%s: note: %s" % (label, plan.note))
                if not dry_run:
                    carry_out(client, plan)
                    done.append(plan)
        except PushError as error:
            failures += 1
            say("%s: failed\nddllm push: %s" % (label, error), err)
            if step == "percentiles" and error.status not in AUTH_STATUSES:
                say(
                    "ddllm push: enable percentiles on %s by hand in Metrics > Summary, or check that the "
                    "application key has the metric_tags_write scope" % item,
                    err,
                )
            if error.status in AUTH_STATUSES:
                break  # every other call would be refused the same way
            continue
        counts[plan.action] = counts.get(plan.action, 0) + 1
        say("%s: %s" % (label, _describe(plan, dry_run)))
    code = _summary(counts, failures, dry_run, say, err)
    for plan in done:
        say("%s: %s" % (plan.asset["name"], asset_url(base_url, plan)))
    return code


def _enable_percentiles(client, metric_name, dry_run):
    """(action, note) for the metric's tag configuration, carried out unless dry_run."""
    planned = percentiles.plan(metric_name, client.tag_configuration(metric_name))
    if not dry_run and planned.action == "create":
        client.create_tag_configuration(metric_name, planned.body)
    elif not dry_run and planned.action == "update":
        client.update_tag_configuration(metric_name, planned.body)
    return planned.action, planned.note


def asset_url(base_url, plan):
    """Where the pushed asset is on the user's site."""
    if plan.asset["kind"] == DASHBOARD:
        return "%s/dashboard/%s" % (base_url, plan.remote_id)
    if plan.asset["kind"] == SLO:
        return "%s/slo?slo_id=%s" % (base_url, plan.remote_id)
    return "%s/monitors/%s" % (base_url, plan.remote_id)


def _describe(plan, dry_run):
    past = {"create": "created", "update": "updated", "unchanged": "unchanged"}[plan.action]
    text = ("would " + plan.action if plan.action != "unchanged" else past) if dry_run else past
    if plan.remote_id is not None:
        text += " (id %s)" % plan.remote_id
    if plan.changed:
        shown = ", ".join(plan.changed[:3]) + (", ..." if len(plan.changed) > 3 else "")
        text += ": %s differ%s" % (shown, "s" if len(plan.changed) == 1 else "")
    return text


def _summary(counts, failures, dry_run, say, err):
    created, updated, unchanged = (counts.get(action, 0) for action in ("create", "update", "unchanged"))
    if dry_run:
        text = "ddllm push (dry run): %d to create, %d to update, %d unchanged; nothing was written" % (
            created,
            updated,
            unchanged,
        )
    elif not created and not updated and not failures:
        text = "ddllm push: nothing to change, all %d unchanged" % unchanged
    else:
        text = "ddllm push: %d created, %d updated, %d unchanged" % (created, updated, unchanged)
    if failures:
        text += ", %d failed" % failures
    say(text, err if failures else None)
    return 1 if failures else 0
