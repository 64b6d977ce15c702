"""A small fake of Datadog's v1 dashboard, monitor and SLO API and v2 metric tag configurations
on 127.0.0.1, for `ddllm push`.

It answers the way the real API does where ddllm depends on it: keys in the DD-API-KEY and
DD-APPLICATION-KEY headers (403 {"errors": ["Forbidden"]} otherwise), 400 with `errors` on a
body it refuses, ids and defaults of its own added to what it stores (widget ids, monitor
options), the dashboard list as summaries and the monitor list filtered by `monitor_tags`.
`fail(...)` makes chosen requests answer an error; `requests` records every request.

SLOs (`/api/v1/slo`) answer as the real API does: `{"data": [...]}` for a list, a creation and
an update, the list filtered by `tags_query` (one tag) and `query` (in the name), a body refused
with 400 where datadog-api-client's `ServiceLevelObjectiveRequest` refuses it or its type lacks
its SLI (a metric SLO's `query`, a time-slice SLO's `sli_specification`), and display strings of
the server's own added to the objectives (`target_display`).

Metric tag configurations (`/api/v2/metrics/{metric_name}/tags`) answer as the real API does:
GET and PATCH of a metric without one are 404, POST on a metric that has one is 409 ("use
PATCH to update"), and a body is refused with 400 where datadog-api-client's own request
models refuse it (a missing `data`, `id`, `type` or `metric_type`, a wrong type), where the
type is not `manage_tags`, where `include_percentiles` is set on a metric that is not a
distribution, and where `exclude_tags_mode` is true without tags. `tag_configurations` holds
the stored attributes by metric name; `queryable(metric, tag_key)` says whether a tag submitted
with the metric can be queried under its configuration.
"""

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DASHBOARD_LIST = re.compile(r"^/api/v1/dashboard/?$")
DASHBOARD_ONE = re.compile(r"^/api/v1/dashboard/(?P<id>[a-z0-9-]+)/?$")
MONITOR_LIST = re.compile(r"^/api/v1/monitor/?$")
MONITOR_VALIDATE = re.compile(r"^/api/v1/monitor/validate/?$")
MONITOR_ONE = re.compile(r"^/api/v1/monitor/(?P<id>\d+)/?$")
TAG_CONFIGURATION = re.compile(r"^/api/v2/metrics/(?P<name>[^/]+)/tags/?$")
SLO_LIST = re.compile(r"^/api/v1/slo/?$")
SLO_ONE = re.compile(r"^/api/v1/slo/(?P<id>[a-f0-9]+)/?$")

# What the real API adds to a monitor's options when the body leaves them out.
MONITOR_OPTION_DEFAULTS = {
    "notify_audit": False,
    "silenced": {},
    "include_tags": True,
    "new_host_delay": 300,
    "notify_no_data": False,
}


class FakeDatadogAPI:
    def __init__(self, api_key, app_key):
        self.api_key = api_key
        self.app_key = app_key
        self.dashboards = {}
        self.monitors = {}
        self.tag_configurations = {}
        self.slos = {}
        self.requests = []
        self._failures = []
        self._lock = threading.Lock()
        self._dashboard_numbers = itertools.count(1)
        self._monitor_ids = itertools.count(1001)
        self._slo_numbers = itertools.count(1)
        self._server = None
        self._thread = None

    # Lifecycle
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-datadog-api", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return "http://%s:%d" % (host, port)

    # Test controls
    def reset(self):
        with self._lock:
            self.dashboards.clear()
            self.monitors.clear()
            self.tag_configurations.clear()
            self.slos.clear()
            self.requests.clear()
            self._failures.clear()

    def fail(self, method, path_pattern, status, body):
        """Answer `status` with `body` to every `method` request whose path matches."""
        with self._lock:
            self._failures.append((method, re.compile(path_pattern), status, body))

    def point_environment_here(self, monkeypatch):
        """A clean fake, with the environment's keys and API host pointing at it (the site and
        the other key names Datadog's clients read removed)."""
        self.reset()
        for name in ("DD_SITE", "DD_APPLICATION_KEY", "DATADOG_API_KEY", "DATADOG_APP_KEY", "DATADOG_HOST"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DD_API_KEY", self.api_key)
        monkeypatch.setenv("DD_APP_KEY", self.app_key)
        monkeypatch.setenv("DD_API_HOST", self.url)
        return self

    def queryable(self, metric_name, tag_key):
        """Whether a tag key submitted with the metric can be queried: every one without a tag
        configuration; with one, those an allow-list names or a deny-list does not."""
        stored = self.tag_configurations.get(metric_name)
        if stored is None:
            return True
        listed = tag_key in (stored.get("tags") or [])
        return not listed if stored.get("exclude_tags_mode") else listed

    def writes(self):
        return [(method, path) for method, path, _ in self.requests if method in ("POST", "PUT", "PATCH", "DELETE")]

    # Request handling
    def handle(self, method, url, headers, body):
        parts = urlsplit(url)
        path, query = parts.path, parse_qs(parts.query)
        with self._lock:
            self.requests.append((method, path, query))
            if headers.get("DD-API-KEY") != self.api_key or headers.get("DD-APPLICATION-KEY") != self.app_key:
                return 403, {"errors": ["Forbidden"]}
            for fail_method, pattern, status, answer in self._failures:
                if fail_method == method and pattern.search(path):
                    return status, answer
            if body is not None and not isinstance(body, dict):
                return 400, {"errors": ["The request body must be a JSON object"]}
            return self._route(method, path, query, body)

    def _route(self, method, path, query, body):
        if DASHBOARD_LIST.match(path):
            if method == "GET":
                return 200, {"dashboards": [self._dashboard_summary(item) for item in self.dashboards.values()]}
            if method == "POST":
                return self._save_dashboard(None, body)
        match = DASHBOARD_ONE.match(path)
        if match:
            dashboard_id = match.group("id")
            if dashboard_id not in self.dashboards:
                return 404, {"errors": ["Dashboard %s not found" % dashboard_id]}
            if method == "GET":
                return 200, self.dashboards[dashboard_id]
            if method == "PUT":
                return self._save_dashboard(dashboard_id, body)
        if MONITOR_VALIDATE.match(path) and method == "POST":
            problems = self._monitor_problems(body)
            return (400, {"errors": problems}) if problems else (200, {})
        if MONITOR_LIST.match(path):
            if method == "GET":
                wanted = [tag for value in query.get("monitor_tags", []) for tag in value.split(",") if tag]
                name = (query.get("name") or [""])[0]
                return 200, [
                    item
                    for item in self.monitors.values()
                    if all(tag in item.get("tags", []) for tag in wanted) and name in item["name"]
                ]
            if method == "POST":
                return self._save_monitor(None, body)
        match = MONITOR_ONE.match(path)
        if match:
            monitor_id = int(match.group("id"))
            if monitor_id not in self.monitors:
                return 404, {"errors": ["Monitor not found"]}
            if method == "GET":
                return 200, self.monitors[monitor_id]
            if method == "PUT":
                return self._save_monitor(monitor_id, body)
        match = TAG_CONFIGURATION.match(path)
        if match:
            return self._tag_configuration(method, match.group("name"), body)
        if SLO_LIST.match(path):
            if method == "GET":
                tag = (query.get("tags_query") or [""])[0]
                name = (query.get("query") or [""])[0]
                found = [
                    item
                    for item in self.slos.values()
                    if (not tag or tag in item.get("tags", [])) and name in item["name"]
                ]
                return 200, {"data": found, "errors": [], "metadata": {"page": {"total_count": len(found)}}}
            if method == "POST":
                return self._save_slo(None, body)
        match = SLO_ONE.match(path)
        if match:
            slo_id = match.group("id")
            if slo_id not in self.slos:
                return 404, {"errors": ["SLO not found"]}
            if method == "GET":
                return 200, {"data": self.slos[slo_id], "errors": []}
            if method == "PUT":
                return self._save_slo(slo_id, body)
        return 404, {"errors": ["No route for %s %s" % (method, path)]}

    def _tag_configuration(self, method, metric_name, body):
        stored = self.tag_configurations.get(metric_name)
        if method == "GET":
            if stored is None:
                return 404, {"errors": ["Tag configuration for metric %s not found" % metric_name]}
            return 200, _tag_configuration_answer(metric_name, stored)
        if method == "DELETE":
            if self.tag_configurations.pop(metric_name, None) is None:
                return 404, {"errors": ["Tag configuration for metric %s not found" % metric_name]}
            return 204, None
        if method not in ("POST", "PATCH"):
            return 405, {"errors": ["Method not allowed"]}
        problems = _tag_configuration_problems(body, creating=method == "POST")
        if problems:
            return 400, {"errors": problems}
        attributes = body["data"].get("attributes") or {}
        if method == "POST":
            if stored is not None:
                return 409, {
                    "errors": [
                        "New %s conflicts with existing tag configuration, use PATCH to update"
                        % attributes["metric_type"]
                    ]
                }
            stored = {
                "tags": [],
                "exclude_tags_mode": False,
                "include_percentiles": False,
                "created_at": "2024-01-01T00:00:00+00:00",
            }
        elif stored is None:
            return 404, {"errors": ["Tag configuration for metric %s not found: create it first" % metric_name]}
        merged = dict(stored, **attributes)
        if merged.get("include_percentiles") and merged.get("metric_type") != "distribution":
            return 400, {
                "errors": ["include_percentiles can only be applied to metrics that have a metric_type of distribution"]
            }
        if merged.get("exclude_tags_mode") and not merged.get("tags"):
            return 400, {"errors": ["exclude_tags_mode requires a non-empty list of tags"]}
        merged["modified_at"] = "2024-01-01T00:00:00+00:00"
        self.tag_configurations[metric_name] = merged
        return (201 if method == "POST" else 200), _tag_configuration_answer(metric_name, merged)

    def _save_dashboard(self, dashboard_id, body):
        missing = [field for field in ("title", "widgets", "layout_type") if field not in (body or {})]
        if missing:
            return 400, {"errors": ["Missing required field(s): %s" % ", ".join(missing)]}
        if dashboard_id is None:
            number = next(self._dashboard_numbers)
            dashboard_id = "abc-%03d-xyz" % number
        stored = json.loads(json.dumps(body))
        _number_widgets(stored["widgets"], itertools.count(1000))
        stored.update(
            id=dashboard_id,
            author_handle="someone@example.com",
            url="/dashboard/%s" % dashboard_id,
            created_at="2024-01-01T00:00:00.000000+00:00",
            modified_at="2024-01-01T00:00:00.000000+00:00",
        )
        self.dashboards[dashboard_id] = stored
        return 200, stored

    def _monitor_problems(self, body):
        problems = ["Missing required field %r" % field for field in ("type", "query") if field not in (body or {})]
        return problems

    def _save_monitor(self, monitor_id, body):
        problems = self._monitor_problems(body)
        if problems:
            return 400, {"errors": problems}
        if monitor_id is None:
            monitor_id = next(self._monitor_ids)
        stored = json.loads(json.dumps(body))
        options = dict(MONITOR_OPTION_DEFAULTS)
        options.update(stored.get("options") or {})
        stored["options"] = options
        stored.update(
            id=monitor_id,
            overall_state="No Data",
            created="2024-01-01T00:00:00.000000+00:00",
            modified="2024-01-01T00:00:00.000000+00:00",
            multi=" by " in stored["query"],
        )
        self.monitors[monitor_id] = stored
        return 200, stored

    def _save_slo(self, slo_id, body):
        problems = _slo_problems(body)
        if problems:
            return 400, {"errors": problems}
        if slo_id is None:
            slo_id = "%032x" % next(self._slo_numbers)
        stored = json.loads(json.dumps(body))
        for objective in stored["thresholds"]:
            for key in ("target", "warning"):
                if key in objective:
                    objective.setdefault(key + "_display", "%.1f" % objective[key])
        stored.update(
            id=slo_id,
            creator={"handle": "someone@example.com"},
            created_at=1704067200,
            modified_at=1704067200,
            monitor_tags=[],
        )
        self.slos[slo_id] = stored
        return 200, {"data": [stored], "error": None}

    @staticmethod
    def _dashboard_summary(dashboard):
        return {
            key: dashboard[key]
            for key in ("id", "title", "url", "layout_type", "author_handle", "created_at", "modified_at")
        }


def server_fixture(api_key, app_key):
    """A module-scoped pytest fixture: one fake for the test module, accepting these keys."""
    import pytest

    @pytest.fixture(scope="module")
    def server():
        with FakeDatadogAPI(api_key, app_key) as api:
            yield api

    return server


def _tag_configuration_problems(body, creating):
    """What the API refuses in a tag-configuration body, checked with datadog-api-client's models."""
    from datadog_api_client import Configuration
    from datadog_api_client.model_utils import validate_and_convert_types
    from datadog_api_client.v2.model.metric_tag_configuration_create_request import (
        MetricTagConfigurationCreateRequest,
    )
    from datadog_api_client.v2.model.metric_tag_configuration_update_request import (
        MetricTagConfigurationUpdateRequest,
    )

    model = MetricTagConfigurationCreateRequest if creating else MetricTagConfigurationUpdateRequest
    try:
        parsed = validate_and_convert_types(
            json.loads(json.dumps(body)), (model,), ["body"], True, True, configuration=Configuration()
        )
    except (TypeError, ValueError) as error:
        return [str(error)]
    if getattr(parsed, "_unparsed", False) or getattr(parsed.data, "_unparsed", False):
        return ["Invalid request body: %s" % json.dumps(body)[:200]]
    data = body["data"]
    if data.get("type") != "manage_tags":
        return ["Invalid type %r: expected manage_tags" % data.get("type")]
    attributes = data.get("attributes") or {}
    for key in ("include_percentiles", "exclude_tags_mode"):
        if key in attributes and not isinstance(attributes[key], bool):
            return ["%s must be a boolean" % key]
    return []


def _slo_problems(body):
    """What the API refuses in an SLO body: datadog-api-client's request model, and the SLI its type needs."""
    from datadog_api_client import Configuration
    from datadog_api_client.model_utils import validate_and_convert_types
    from datadog_api_client.v1.model.service_level_objective_request import ServiceLevelObjectiveRequest

    try:
        parsed = validate_and_convert_types(
            json.loads(json.dumps(body)),
            (ServiceLevelObjectiveRequest,),
            ["body"],
            True,
            True,
            configuration=Configuration(),
        )
    except (TypeError, ValueError) as error:
        return [str(error)]
    if getattr(parsed, "_unparsed", False):
        return ["Invalid request body: %s" % json.dumps(body)[:200]]
    needed = {"metric": "query", "time_slice": "sli_specification"}.get(body.get("type"))
    if needed is None:
        return ["Unsupported SLO type %r" % body.get("type")]
    if needed not in body:
        return ["A %s SLO requires %s" % (body["type"], needed)]
    if not body.get("thresholds"):
        return ["thresholds must not be empty"]
    return []


def _tag_configuration_answer(metric_name, attributes):
    return {"data": {"type": "manage_tags", "id": metric_name, "attributes": attributes}}


def _number_widgets(widgets, numbers):
    for widget in widgets:
        widget["id"] = next(numbers)
        _number_widgets(widget.get("definition", {}).get("widgets", []), numbers)


def _handler_for(api):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                status, answer = 400, {"errors": ["Invalid JSON"]}
            else:
                status, answer = api.handle(self.command, self.path, self.headers, body)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args):  # quiet: the tests read `requests`
            pass

    return Handler
