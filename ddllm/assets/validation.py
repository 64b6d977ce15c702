"""`ddllm validate [PATH...]`: check dashboards, monitors and SLOs offline, strictly.

Two passes over each file:

1. Schema: the body is parsed with datadog-api-client's own models (`Dashboard`, `Monitor`,
   `ServiceLevelObjectiveRequest`)
   through `validate_and_convert_types`, as the client does with an API answer. That parse
   raises on a wrong type, but an unknown widget type or a bad enum value anywhere in a
   widget only marks the object `_unparsed` and carries on, and unknown keys are kept as
   they are. So the parsed result is walked next to the JSON: every `_unparsed` spot is
   diagnosed (the candidate models are tried one by one, so the error names the deepest
   JSON path the library can point at), unknown keys are warnings.
2. Meaning, from ddllm's catalogue: every metric queried exists (or is the `llm.attempt`
   span's APM metric), filters and group-bys name tags the metric has, bounded tag values
   are known, every dashboard query applies every template variable whose tag the metric
   has (and none whose tag it lacks: on APM metrics only env and service apply), requests
   are formula-and-function with units, and monitor queries parse into time aggregation,
   metric queries, group-by, comparator and a threshold consistent with the options
   (anomalies() and forecast() monitors: ddllm.assets.algorithm_monitors; SLOs: ddllm.assets.slos).

Output: one line per finding, `FILE: error|warning: JSON-PATH: message`, then a summary.
Exit status: 1 on any error (or warning, with --strict), 2 when nothing could be checked.
"""

import copy
import difflib
import json
import os
import re
import sys
from collections import namedtuple

from ddllm import catalogue
from ddllm.assets import algorithm_monitors, customize, slos
from ddllm.assets.files import (
    DASHBOARD,
    INSTALL_ASSETS_EXTRA,
    MONITOR,
    SLO,
    AssetError,
    display_path,
    expand_paths,
    load_asset,
    shipped_asset_paths,
)
from ddllm.assets.queries import (  # noqa: F401  (QueryError and the parsers are part of this module's API)
    PERCENTILE_AGGREGATOR,
    Binary,
    Call,
    MetricQuery,
    MonitorQuery,
    QueryError,
    metric_queries_of,
    modifier_problems,
    parse_metric_query,
    parse_monitor_query,
    walk,
)

ERROR = "error"
WARNING = "warning"

Finding = namedtuple("Finding", "file severity path message")

# APM trace metrics of the `llm.attempt` span (docs/design.md, "Span model": the span is measured). Their tags are
# APM's, not ddllm's: env, service, version, resource_name and the span's peer tags.
APM_METRIC_PREFIX = "trace." + catalogue.ATTEMPT_SPAN
APM_METRICS = {
    APM_METRIC_PREFIX: "distribution",  # latency, with percentiles
    APM_METRIC_PREFIX + ".hits": "count",
    APM_METRIC_PREFIX + ".errors": "count",
    APM_METRIC_PREFIX + ".duration": "gauge",
    APM_METRIC_PREFIX + ".apdex": "gauge",
}
APM_TAGS = frozenset(
    (
        "env",
        "service",
        "version",
        "resource_name",
        "span.kind",
        "peer.service",
        "http.status_code",
        "operation_name",
        "host",
    )
)

# Tags of ddllm's spans that a dashboard's template variables can filter on.
SPAN_TEMPLATE_TAGS = frozenset(("env", "service", "version"))

BOOLEAN_VALUES = ("true", "false")
# Tags of bounded value sets, as ddllm.instrument.metrics writes them.
KNOWN_TAG_VALUES = {
    "outcome": catalogue.OUTCOMES,
    "operation": catalogue.OPERATIONS,
    "type": catalogue.FALLBACK_TYPES,
    "attempts": catalogue.ATTEMPT_BUCKETS,
    "fallback": BOOLEAN_VALUES,
    "fallback_used": BOOLEAN_VALUES,
    "stream": BOOLEAN_VALUES,
}

SPACE_AGGREGATORS = ("avg", "sum", "min", "max")
DISTRIBUTION_AGGREGATORS = SPACE_AGGREGATORS + ("count",)
MONITOR_TIME_AGGREGATORS = ("avg", "sum", "min", "max", "last", "percentile")
MONITOR_WINDOW = re.compile(r"^last_(\d+)(m|h|d|w)$")
COMPARATORS = (">=", "<=", ">", "<")

# Request keys of the legacy (pre formula-and-function) widget requests.
LEGACY_REQUEST_KEYS = (
    "q",
    "apm_query",
    "log_query",
    "event_query",
    "rum_query",
    "process_query",
    "network_query",
    "security_query",
    "profile_metrics_query",
    "audit_query",
    "apm_stats_query",
)
# Widgets that hold no queries of their own.
QUERYLESS_WIDGETS = (
    "note",
    "free_text",
    "image",
    "iframe",
    "group",
    "manage_status",
    "alert_graph",
    "alert_value",
    "check_status",
    "event_stream",
    "event_timeline",
    "slo",
    "slo_list",
    "powerpack",
)

# What a team replaces before pushing (`ddllm push --notify/--tag`).
PLACEHOLDER_HANDLES = ("@your-team-handle",)
PLACEHOLDER_TAGS = ("team:your-team",)
GUARD_FUNCTIONS = ("is_greater", "is_greater_equal")
SITE_LINK = re.compile(r"https?://(?:[a-z0-9-]+\.)*(?:datadoghq\.com|datadoghq\.eu|ddog-gov\.com)(?P<path>/[^\s)\]]*)?")
MESSAGE_BLOCK = re.compile(r"\{\{([#^/])\s*([a-z_]+)\s*\}\}")
TEMPLATE_VARIABLE_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\.name\s*\}\}")
FORMULA_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?=\s*(\()?)")


# ---------------------------------------------------------------------------------------------
# JSON paths


def format_path(tokens):
    """('$', 'widgets', 3, 'definition') -> '$.widgets[3].definition'"""
    text = ""
    for token in tokens:
        if isinstance(token, int):
            text += "[%d]" % token
        elif text:
            text += "." + str(token) if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(token)) else "[%r]" % token
        else:
            text = str(token)
    return text or "$"


class Findings:
    """Collects the findings of one file."""

    def __init__(self, file):
        self.file = file
        self.items = []

    def error(self, path, message):
        self.items.append(Finding(self.file, ERROR, format_path(path), message))

    def warning(self, path, message):
        self.items.append(Finding(self.file, WARNING, format_path(path), message))

    def errors(self):
        return [item for item in self.items if item.severity == ERROR]


def _did_you_mean(value, choices):
    close = difflib.get_close_matches(str(value), [str(choice) for choice in choices], n=1)
    return " (did you mean %r?)" % close[0] if close else ""


def _choices(values, limit=12):
    values = sorted(str(value) for value in values)
    shown = ", ".join(values[:limit])
    return shown + (", ..." if len(values) > limit else "")


# ---------------------------------------------------------------------------------------------
# Pass 1: datadog-api-client's models


class SchemaChecker:
    """Parses a body with datadog-api-client's models and explains what they silently accept."""

    def __init__(self, findings, configuration=None):
        from datadog_api_client import Configuration
        from datadog_api_client import model_utils

        self.findings = findings
        self.utils = model_utils
        self.configuration = configuration or Configuration()

    def check(self, body, model_class):
        self._check_value(body, (model_class,), ("$",))

    # One value against its expected types: parse, then walk the result.
    def _check_value(self, raw, expected_types, path):
        parsed, failure = self._parse(raw, expected_types, path)
        if failure is not None:
            self._report_failure(failure, path)
            return
        self._walk(parsed, raw, expected_types, path)

    def _parse(self, raw, expected_types, path):
        try:
            parsed = self.utils.validate_and_convert_types(
                copy.deepcopy(raw), expected_types, list(path), True, True, configuration=self.configuration
            )
        except (TypeError, ValueError) as failure:  # ApiTypeError / ApiValueError / a missing argument
            return None, failure
        return parsed, None

    def _report_failure(self, failure, path):
        where = getattr(failure, "path_to_item", None)
        where = tuple(where) if where else path
        message = str(failure)
        missing = re.search(r"missing \d+ required (?:positional|keyword-only) arguments?: (.*)", message)
        if missing:
            names = re.findall(r"'([^']+)'", missing.group(1))
            for name in names:
                self.findings.error(path, "required field %r is missing" % name)
            return
        # The library's messages end with its own rendering of the path: ours is in front.
        message = re.sub(r"\s+at \[.*\]$", "", message)
        self.findings.error(where, message)

    def _walk(self, parsed, raw, expected_types, path):
        utils = self.utils
        if isinstance(parsed, utils.UnparsedObject):
            self._diagnose(raw, expected_types, path)
        elif isinstance(parsed, utils.ModelComposed):
            instances = parsed._composed_instances
            if not instances or isinstance(instances[0], utils.UnparsedObject):
                self._diagnose(raw, (type(parsed),), path)
            else:
                self._walk(instances[0], raw, (type(instances[0]),), path)
        elif isinstance(parsed, utils.ModelSimple):
            if parsed._unparsed:
                allowed = type(parsed).allowed_values
                field = path[-1] if len(path) > 1 else "value"
                self.findings.error(
                    path,
                    "bad value %r for %s: allowed are %s%s"
                    % (raw, field, _choices(allowed), _did_you_mean(raw, allowed)),
                )
        elif isinstance(parsed, utils.ModelNormal):
            self._walk_model(parsed, raw, path)
        elif isinstance(parsed, list) and isinstance(raw, list):
            inner = self._inner_types(expected_types, list)
            for index, (item, raw_item) in enumerate(zip(parsed, raw)):
                self._walk(item, raw_item, inner, path + (index,))
        elif isinstance(parsed, dict) and isinstance(raw, dict):
            inner = self._inner_types(expected_types, dict)
            for key, value in parsed.items():
                if key in raw:
                    self._walk(value, raw[key], inner, path + (key,))

    def _walk_model(self, model, raw, path):
        if not isinstance(raw, dict):
            return
        model_class = type(model)
        spec_to_python = {spec: python for python, spec in model_class.attribute_map.items()}
        read_only = set(getattr(model_class, "read_only_vars", ()))
        for key, raw_value in raw.items():
            python_name = spec_to_python.get(key)
            if python_name is None:
                if model_class.attribute_map:
                    self.findings.warning(
                        path + (key,),
                        "unknown key %r in %s%s" % (key, model_class.__name__, _did_you_mean(key, spec_to_python)),
                    )
                continue
            if python_name in read_only:
                self.findings.warning(path + (key,), "%r is read-only: the API ignores it" % key)
            value = model._data_store.get(python_name)
            if value is None:
                continue
            self._walk(value, raw_value, model_class.openapi_types[python_name], path + (key,))

    def _inner_types(self, expected_types, container):
        """The item types of the list (or dict) types among `expected_types`."""
        inner = []
        for expected in expected_types:
            if container is list and isinstance(expected, list):
                inner.extend(expected)
            elif container is dict and isinstance(expected, dict):
                for value_types in expected.values():
                    inner.extend(value_types)
        return tuple(inner) or self.utils.OpenApiModel.additional_properties_type

    # An object the library could not place: try each model it could be, report the closest.
    def _diagnose(self, raw, expected_types, path):
        candidates = []
        for expected in expected_types:
            found = self._candidates(expected, raw, path)
            if found is None:  # an unknown `type`: reported, nothing to try
                return
            candidates.extend(found)
        best = None
        for candidate in candidates:
            trial = Findings(self.findings.file)
            checker = SchemaChecker(trial, self.configuration)
            parsed, failure = checker._parse(raw, (candidate,), path)
            if failure is not None:
                checker._report_failure(failure, path)
            else:
                checker._walk(parsed, raw, (candidate,), path)
                if not trial.errors() and getattr(parsed, "_unparsed", False):
                    trial.error(path, "datadog-api-client cannot parse this %s" % candidate.__name__)
            score = (len(trial.errors()), len(trial.items))
            if best is None or score < best[0]:
                best = (score, trial)
        if best is None:
            self.findings.error(path, "datadog-api-client cannot parse this value")
        else:
            self.findings.items.extend(best[1].items)

    def _candidates(self, expected, raw, path):
        """Model classes `raw` could be an instance of: a composed model's oneOf entries, narrowed
        by the discriminating `type` / `data_source` value when the entries declare one. None when
        that value is unknown (reported here)."""
        utils = self.utils
        if not isinstance(expected, type) or not issubclass(expected, utils.OpenApiModel):
            return []
        if not issubclass(expected, utils.ModelComposed):
            return [expected]
        options = [
            option
            for option in expected._composed_schemas.get("oneOf", ())
            if isinstance(option, type) and issubclass(option, utils.OpenApiModel)
        ]
        if isinstance(raw, dict):
            for discriminator in ("type", "data_source"):
                value = raw.get(discriminator)
                declared = {option: self._enum_values(option, discriminator) for option in options}
                declared = {option: values for option, values in declared.items() if values}
                if not isinstance(value, str) or not declared:
                    continue
                matching = [option for option, values in declared.items() if value in values]
                if not matching:
                    every_value = set().union(*declared.values())
                    what = (
                        "widget type"
                        if expected.__name__ == "WidgetDefinition"
                        else "%s %s" % (expected.__name__, discriminator)
                    )
                    self.findings.error(
                        path + (discriminator,), "unknown %s %r%s" % (what, value, _did_you_mean(value, every_value))
                    )
                    return None
                options = matching
        candidates = []
        for option in options:
            found = self._candidates(option, raw, path)
            if found is None:
                return None
            candidates.extend(found)
        return candidates

    def _enum_values(self, model_class, field):
        try:
            types = model_class.openapi_types.get(field, ())
        except Exception:  # a model whose types cannot be imported: no discriminator
            return ()
        values = set()
        for field_type in types:
            if isinstance(field_type, type) and issubclass(field_type, self.utils.ModelSimple):
                values.update(field_type.allowed_values)
        return values


# ---------------------------------------------------------------------------------------------
# Metric queries


def metric_kind_and_tags(metric):
    """(type, tag keys) of a metric ddllm knows, or (None, None)."""
    known = catalogue.METRICS_BY_NAME.get(metric)
    if known is not None:
        return known.type, frozenset(catalogue.COMMON_METRIC_TAGS) | frozenset(known.tags)
    if metric in APM_METRICS:
        return APM_METRICS[metric], APM_TAGS
    return None, None


def check_metric_query(query, findings, path, template_variables=None):
    """Catalogue, aggregation, tags and tag values of one metric query. `template_variables`
    ({name: tag key}) is given for dashboard queries, None for monitors (which have none)."""
    kind, tags = metric_kind_and_tags(query.metric)
    if kind is None:
        known = [metric.name for metric in catalogue.METRICS] + sorted(APM_METRICS)
        findings.error(
            path,
            "metric %r is not in ddllm's catalogue (ddllm.catalogue.METRICS) nor an %s APM "
            "metric%s" % (query.metric, catalogue.ATTEMPT_SPAN, _did_you_mean(query.metric, known)),
        )
        return
    aggregator = query.aggregator
    if PERCENTILE_AGGREGATOR.match(aggregator):
        if kind != "distribution":
            findings.error(path, "%s is a %s: percentiles (%s) need a distribution" % (query.metric, kind, aggregator))
        for modifier in ("as_count", "as_rate"):
            if modifier in query.modifiers:
                findings.error(
                    path,
                    "a percentile (%s) is neither a count nor a rate: .%s() does not apply" % (aggregator, modifier),
                )
    elif aggregator not in (DISTRIBUTION_AGGREGATORS if kind == "distribution" else SPACE_AGGREGATORS):
        findings.error(path, "aggregator %r is not valid on the %s %s" % (aggregator, kind, query.metric))
    for problem in modifier_problems(query):
        findings.error(path, problem)
    used_variables = set()
    for item in query.filters:
        if item == "*":
            continue
        if item.startswith("$"):
            name = item[1:]
            used_variables.add(name)
            if template_variables is None:
                findings.error(path, "%s: a monitor query cannot use template variables" % item)
            elif name not in template_variables:
                findings.error(path, "%s is not a template variable of this dashboard" % item)
            continue
        key, _, value = item.lstrip("!").partition(":")
        if not value:
            findings.error(path, "filter %r is not `tag:value`" % item)
            continue
        if key not in tags:
            findings.error(
                path,
                "%s has no tag %r (its tags: %s)%s" % (query.metric, key, _choices(tags), _did_you_mean(key, tags)),
            )
        elif key in KNOWN_TAG_VALUES and value not in KNOWN_TAG_VALUES[key] and "*" not in value:
            findings.error(
                path, "%r is not a value of the %s tag (values: %s)" % (value, key, _choices(KNOWN_TAG_VALUES[key]))
            )
    for key in query.groups:
        if key not in tags:
            findings.error(
                path,
                "cannot group %s by %r: no such tag (its tags: %s)%s"
                % (query.metric, key, _choices(tags), _did_you_mean(key, tags)),
            )
    if template_variables is not None:
        for name, tag_key in sorted(template_variables.items()):
            if tag_key in tags and name not in used_variables:
                findings.error(
                    path,
                    "query does not use the template variable $%s: the dashboard's %s filter "
                    "would not apply to it" % (name, tag_key),
                )
            elif tag_key not in tags and name in used_variables:
                findings.error(
                    path,
                    "$%s filters on %r, which %s does not have: the widget would be empty "
                    "whenever it is set" % (name, tag_key, query.metric),
                )


# ---------------------------------------------------------------------------------------------
# Monitor queries


def check_thresholds(comparator, thresholds, findings, path):
    """Warning before critical in the direction of the comparator; recoveries on the safe side."""
    critical = thresholds.get("critical")
    if not isinstance(critical, (int, float)):
        return
    above = comparator in (">", ">=")
    direction = "above" if above else "below"

    def safer(value, than):  # strictly on the healthy side of `than`
        return value < than if above else value > than

    warning = thresholds.get("warning")
    if isinstance(warning, (int, float)) and not safer(warning, critical):
        findings.error(
            path + ("warning",),
            "warning threshold %s must be %s the critical %s for %r: it alerts "
            "%s its value" % (warning, "below" if above else "above", critical, comparator, direction),
        )
    for recovery_key, of_key in (("critical_recovery", "critical"), ("warning_recovery", "warning")):
        recovery, level = thresholds.get(recovery_key), thresholds.get(of_key)
        if isinstance(recovery, (int, float)) and isinstance(level, (int, float)) and not safer(recovery, level):
            findings.error(
                path + (recovery_key,),
                "%s %s must be %s the %s threshold %s for %r"
                % (recovery_key, recovery, "below" if above else "above", of_key, level, comparator),
            )


# ---------------------------------------------------------------------------------------------
# Dashboards


def check_dashboard(body, findings):
    variables = {}
    for index, variable in enumerate(body.get("template_variables") or []):
        if not isinstance(variable, dict) or not isinstance(variable.get("name"), str):
            continue
        name = variable["name"]
        if name in variables:
            findings.error(("$", "template_variables", index, "name"), "template variable %r is defined twice" % name)
        prefix = variable.get("prefix")
        if not prefix:
            findings.warning(("$", "template_variables", index), "template variable %r has no prefix (tag key)" % name)
        variables[name] = prefix or name
    reflow_auto = body.get("reflow_type") == "auto"
    for index, widget in enumerate(body.get("widgets") or []):
        _check_widget(widget, ("$", "widgets", index), variables, reflow_auto, findings)


def _check_widget(widget, path, variables, reflow_auto, findings):
    if not isinstance(widget, dict):
        return
    if reflow_auto and "layout" in widget:
        findings.error(path + ("layout",), "the dashboard's reflow_type is auto: widgets must not have a layout")
    definition = widget.get("definition")
    if not isinstance(definition, dict):
        return
    path = path + ("definition",)
    widget_type = definition.get("type")
    if widget_type == "group":
        inner = definition.get("widgets") or []
        if not any(
            isinstance(item, dict)
            and isinstance(item.get("definition"), dict)
            and item["definition"].get("type") == "note"
            for item in inner
        ):
            findings.warning(path, "group %r has no note saying what it shows" % definition.get("title"))
        for index, item in enumerate(inner):
            _check_widget(item, path + ("widgets", index), variables, reflow_auto, findings)
        return
    if widget_type == "note":
        check_site_links(definition.get("content"), findings, path + ("content",))
    if widget_type in QUERYLESS_WIDGETS:
        return
    for index, request in enumerate(definition.get("requests") or []):
        if isinstance(request, dict):
            _check_request(request, path + ("requests", index), variables, findings)


def _check_request(request, path, variables, findings):
    legacy = [key for key in LEGACY_REQUEST_KEYS if key in request]
    if legacy:
        findings.error(
            path + (legacy[0],),
            "legacy request (%s): use formula-and-function `queries` and "
            "`formulas` with a `response_format`" % legacy[0],
        )
    queries = request.get("queries")
    if queries is None:
        if not legacy:
            findings.error(path, "request without `queries`")
        return
    if "response_format" not in request:
        findings.error(path, "formula-and-function request without `response_format`")
    names = set()
    for index, query in enumerate(queries):
        if not isinstance(query, dict):
            continue
        names.add(query.get("name"))
        if query.get("data_source") == "spans":
            _check_span_query(query, path + ("queries", index), variables, findings)
            continue
        if query.get("data_source") != "metrics":
            findings.warning(path + ("queries", index), "data source %r is not checked" % query.get("data_source"))
            continue
        query_path = path + ("queries", index, "query")
        text = query.get("query")
        if not isinstance(text, str):
            continue
        try:
            parsed, _ = parse_metric_query(text.strip())
        except QueryError as error:
            findings.error(query_path, "cannot parse %r: %s" % (text, error))
            continue
        check_metric_query(parsed, findings, query_path, variables)
        aggregator = query.get("aggregator")
        if aggregator == "percentile" and not PERCENTILE_AGGREGATOR.match(parsed.aggregator):
            findings.error(
                path + ("queries", index, "aggregator"),
                "the percentile reducer needs a percentile query (p50:, p95:, ...)",
            )
    formulas = request.get("formulas")
    if not formulas:
        findings.error(path, "request without `formulas`")
        return
    for index, formula in enumerate(formulas):
        if not isinstance(formula, dict) or not isinstance(formula.get("formula"), str):
            continue
        for match in FORMULA_IDENTIFIER.finditer(formula["formula"]):
            if match.group(1) is None and match.group(0) not in names:
                findings.error(
                    path + ("formulas", index, "formula"),
                    "%r is not the name of a query of this "
                    "request (%s)" % (match.group(0), _choices(name for name in names if name)),
                )
        unit = (formula.get("number_format") or {}).get("unit")
        if not unit:
            findings.warning(
                path + ("formulas", index), "formula %r has no unit (number_format.unit)" % formula["formula"]
            )


def _check_span_query(query, path, variables, findings):
    """A span query reads ddllm's spans (by operation name) and applies the template variables
    whose tags spans carry (env, service) and no other."""
    search = (query.get("search") or {}).get("query") if isinstance(query.get("search"), dict) else None
    if not isinstance(search, str):
        findings.error(path, "a spans query needs search.query")
        return
    operations = re.findall(r"(?:^|\s)operation_name:(\S+)", search)
    ours = (catalogue.ATTEMPT_SPAN, catalogue.REQUEST_SPAN)
    if not operations or any(operation not in ours for operation in operations):
        findings.error(path + ("search", "query"), "a spans query reads operation_name:%s or operation_name:%s" % ours)
    used = set(re.findall(r"\$([A-Za-z0-9_]+)", search))
    for name, tag_key in sorted(variables.items()):
        if tag_key in SPAN_TEMPLATE_TAGS and name not in used:
            findings.error(path + ("search", "query"), "span query does not use the template variable $%s" % name)
        elif tag_key not in SPAN_TEMPLATE_TAGS and name in used:
            findings.error(path + ("search", "query"), "$%s filters on %r, which spans do not have" % (name, tag_key))


# ---------------------------------------------------------------------------------------------
# Monitors


def check_monitor(body, findings):
    for field in ("name", "type", "query", "message", "options"):
        if field not in body:
            findings.error(("$",), "required field %r is missing" % field)
    _check_placeholders(body, findings)
    check_site_links(body.get("message") if isinstance(body.get("message"), str) else "", findings, ("$", "message"))
    tags = body.get("tags") or []
    if "source:ddllm" not in tags:
        findings.error(("$", "tags"), "tags must include source:ddllm: `ddllm push` finds its monitors by it")
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    thresholds = options.get("thresholds") if isinstance(options.get("thresholds"), dict) else {}
    if "critical" not in thresholds:
        findings.error(("$", "options", "thresholds"), "a critical threshold is required")
    query = None
    if body.get("type") in ("query alert", "metric alert") and isinstance(body.get("query"), str):
        try:
            query = parse_monitor_query(body["query"])
        except QueryError as error:
            findings.error(("$", "query"), "cannot parse the monitor query: %s" % error)
    elif "query" in body:
        findings.warning(("$", "type"), "monitor type %r: its query is not checked" % body.get("type"))
    if query is not None:
        _check_monitor_query(query, thresholds, options, findings)
    _check_message(body.get("message"), query, thresholds, findings)


def _check_monitor_query(query, thresholds, options, findings):
    path = ("$", "query")
    if query.algorithm is not None:  # anomalies() or forecast(): windows and aggregation of their own
        for problem in algorithm_monitors.problems_of(query, options):
            findings.error(path, problem)
    else:
        if query.time_aggregator not in MONITOR_TIME_AGGREGATORS:
            findings.error(
                path,
                "time aggregation %r is not one of %s" % (query.time_aggregator, _choices(MONITOR_TIME_AGGREGATORS)),
            )
        if not MONITOR_WINDOW.match(query.window):
            findings.error(path, "window %r is not like last_5m, last_1h" % query.window)
        percentiles = [PERCENTILE_AGGREGATOR.match(item.aggregator) is not None for item in query.metric_queries]
        if (query.time_aggregator == "percentile") != all(percentiles) or (any(percentiles) and not all(percentiles)):
            findings.error(
                path, "percentile(...) time aggregation goes with percentile queries (p95:...) and only them"
            )
    for metric_query in query.metric_queries:
        check_metric_query(metric_query, findings, path)
    for metric_query in query.metric_queries[1:]:
        if sorted(metric_query.groups) != sorted(query.groups):
            findings.error(
                path,
                "every metric query must group by the same tags: {%s} vs {%s}"
                % (",".join(query.groups), ",".join(metric_query.groups)),
            )
    counts = any("as_count" in item.modifiers for item in query.metric_queries)
    if counts and len(query.metric_queries) > 1 and query.time_aggregator != "sum":
        findings.warning(
            path,
            "a ratio of .as_count() queries should use sum(...): each side is summed over the window before dividing",
        )
    _check_ratios(query.tree, findings, path)
    if not {"env", "service"} <= set(query.groups):
        findings.warning(
            path, "the monitor does not group by env and service: staging and production would alert as one"
        )
    critical = thresholds.get("critical")
    if isinstance(critical, (int, float)) and critical != query.threshold:
        findings.error(
            ("$", "options", "thresholds", "critical"),
            "critical threshold %s differs from the query's %s" % (critical, query.threshold),
        )
    check_thresholds(query.comparator, thresholds, findings, ("$", "options", "thresholds"))
    if query.groups:
        if options.get("include_tags") is not True:
            findings.warning(("$", "options"), "a multi-alert monitor should set include_tags: true")
        if "new_group_delay" not in options:
            findings.warning(("$", "options"), "a multi-alert monitor should set new_group_delay")


def _check_ratios(tree, findings, path):
    """A ratio of counts reads 100% on one failure out of one attempt, and has no value where its
    numerator has no point: each such ratio needs default_zero() on its numerator and an
    is_greater(denominator, N) guard beside it."""
    for node in walk(tree):
        if not (isinstance(node, Binary) and node.operator == "/"):
            continue
        numerator = [query for query in metric_queries_of(node.left) if "as_count" in query.modifiers]
        if not numerator:
            continue
        wrapped = [
            inner
            for call in walk(node.left)
            if isinstance(call, Call) and call.name == "default_zero"
            for inner in metric_queries_of(call)
        ]
        if any(query not in wrapped for query in numerator):
            findings.warning(
                path,
                "the numerator of a ratio of counts should be default_zero(...): a window "
                "without failures would have no value instead of 0",
            )
        guards = [call for call in walk(tree) if isinstance(call, Call) and call.name in GUARD_FUNCTIONS]
        if not guards:
            findings.warning(
                path,
                "a ratio of counts needs a minimum-volume guard, e.g. `* is_greater(total, 20)`: "
                "one failure out of one attempt reads 100%",
            )


def _check_placeholders(body, findings):
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    for handle in PLACEHOLDER_HANDLES:
        if handle in message:
            findings.warning(
                ("$", "message"),
                "%s is a placeholder: `ddllm push --notify @your-handle` (or DDLLM_NOTIFY) replaces it" % handle,
            )
    for index, tag in enumerate(body.get("tags") or []):
        if tag in PLACEHOLDER_TAGS:
            findings.warning(
                ("$", "tags", index),
                "%s is a placeholder: `ddllm push --tag team:yours` (or DDLLM_TAGS) replaces it" % tag,
            )


def check_site_links(text, findings, path):
    """A link to one Datadog site is wrong on every other one: links are relative (/dashboard/...)
    and `ddllm push` fills in the user's site."""
    for match in SITE_LINK.finditer(text or ""):
        findings.error(
            path,
            "%s is a link to one Datadog site: write it relative (%s), `ddllm push` fills in "
            "the site" % (match.group(0), match.group("path") or "/"),
        )


def _check_message(message, query, thresholds, findings):
    path = ("$", "message")
    if not isinstance(message, str):
        return
    opened = []
    for match in MESSAGE_BLOCK.finditer(message):
        sign, name = match.groups()
        if sign in "#^":
            opened.append(name)
        elif not opened or opened.pop() != name:
            findings.error(path, "{{/%s}} closes no open block" % name)
    if opened:
        findings.error(path, "{{#%s}} is never closed" % opened[-1])
    blocks = {name for sign, name in MESSAGE_BLOCK.findall(message) if sign == "#"}
    for required in ("is_alert", "is_recovery"):
        if required not in blocks:
            findings.error(path, "the message needs an {{#%s}} block" % required)
    if "warning" in thresholds and "is_warning" not in blocks:
        findings.warning(path, "a warning threshold is set but the message has no {{#is_warning}} block")
    if "{{value}}" not in message:
        findings.warning(path, "the message does not show {{value}}")
    if "{{threshold}}" not in message:
        findings.warning(path, "the message does not show {{threshold}}")
    if query is not None:
        named = set(TEMPLATE_VARIABLE_REFERENCE.findall(message))
        for key in query.groups:
            if key not in named:
                findings.warning(path, "the message does not name the group: {{%s.name}}" % key)
    if "runbook" not in message.lower():
        findings.warning(path, "the message has no runbook section")
    if not re.search(r"(^|\s)@[\w.\-]+", message):
        findings.warning(path, "the message notifies nobody (no @handle)")


# ---------------------------------------------------------------------------------------------
# Files and the command


# Findings by (kind, file, body as JSON): the schema pass takes about a second for the shipped
# assets, and a process that pushes them more than once (one site after another, the tests)
# need not pay it again for the same body.
_FINDINGS_OF_BODY: dict = {}
_FINDINGS_KEPT = 256


def validate_asset(asset, file=None):
    """Findings of one loaded asset (see ddllm.assets.files)."""
    file = file or display_path(asset["path"])
    key = (asset["kind"], file, json.dumps(asset["body"], sort_keys=True))
    if key not in _FINDINGS_OF_BODY:
        if len(_FINDINGS_OF_BODY) >= _FINDINGS_KEPT:
            _FINDINGS_OF_BODY.clear()
        _FINDINGS_OF_BODY[key] = tuple(_findings_of(asset, file))
    return list(_FINDINGS_OF_BODY[key])


def _findings_of(asset, file):
    from datadog_api_client.v1.model.dashboard import Dashboard
    from datadog_api_client.v1.model.monitor import Monitor
    from datadog_api_client.v1.model.service_level_objective_request import ServiceLevelObjectiveRequest

    findings = Findings(file)
    model_class = {DASHBOARD: Dashboard, MONITOR: Monitor, SLO: ServiceLevelObjectiveRequest}[asset["kind"]]
    SchemaChecker(findings).check(asset["body"], model_class)
    if asset["kind"] == DASHBOARD:
        check_dashboard(asset["body"], findings)
    elif asset["kind"] == MONITOR:
        check_monitor(asset["body"], findings)
    else:
        _check_placeholders(asset["body"], findings)
        slos.check_slo(asset["body"], findings, check_metric_query)
    return findings.items


def validate_paths(paths=None, change=None):
    """Findings of the files (or folders) in `paths`, or of the shipped assets; `change` (a list
    of assets -> a list of assets) is applied first, as `ddllm push` would."""
    files = expand_paths(paths) if paths else shipped_asset_paths()
    results = []
    assets = []
    for path in files:
        try:
            assets.append(load_asset(path))
        except AssetError as error:
            results.append(Finding(display_path(path), ERROR, "$", error.message))
    for asset in change(assets) if change else assets:
        results.extend(validate_asset(asset))
    return files, results


def configure_parser(parser):
    parser.description = (
        "Check dashboards, monitors and SLOs offline: datadog-api-client's schema, ddllm's metric "
        "catalogue, template variables, monitor and SLO queries and thresholds. Without PATH, the "
        "assets ddllm ships."
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="JSON files or folders of them")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    customize.add_arguments(parser)  # to check what `ddllm push` with the same options would send


def run(args):
    try:
        import datadog_api_client  # noqa: F401
    except ImportError:
        print("ddllm validate: needs the datadog-api-client package: %s" % INSTALL_ASSETS_EXTRA, file=sys.stderr)
        return 2

    try:
        files, findings = validate_paths(args.paths, lambda assets: customize.customized(assets, args, os.environ))
    except customize.SettingError as error:
        print("ddllm validate: %s" % error, file=sys.stderr)
        return 2
    except AssetError as error:
        print("ddllm validate: %s" % error, file=sys.stderr)
        return 2
    if not files:
        print("ddllm validate: no dashboards, monitors or SLOs found", file=sys.stderr)
        return 2
    for finding in findings:
        print("%s: %s: %s: %s" % finding)
    errors = sum(1 for finding in findings if finding.severity == ERROR)
    warnings = len(findings) - errors
    print(
        "ddllm validate: %d file%s, %d error%s, %d warning%s"
        % (
            len(files),
            "" if len(files) == 1 else "s",
            errors,
            "" if errors == 1 else "s",
            warnings,
            "" if warnings == 1 else "s",
        )
    )
    return 1 if errors or (args.strict and warnings) else 0
