"""`ddllm validate`: the shipped dashboards and monitors are clean, and broken copies of them
fail with the error and the JSON path a person needs to fix them."""

import copy
import json
import os
import re
import subprocess
import sys

import pytest

from ddllm import catalogue
from ddllm.assets import customize, queries, validation as asset_validation, files as assets
from ddllm.cli.main import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shipped(kind):
    found = [asset for asset in assets.load_assets() if asset["kind"] == kind]
    assert found, "no shipped %s" % kind
    return found


def overview():
    return copy.deepcopy(
        next(asset["body"] for asset in shipped(assets.DASHBOARD) if asset["path"].endswith("ddllm_overview.json"))
    )


def monitor(file_name):
    return copy.deepcopy(
        next(asset["body"] for asset in shipped(assets.MONITOR) if os.path.basename(asset["path"]) == file_name)
    )


def widget_of_type(dashboard, widget_type):
    """(JSON path, definition) of the first widget of a type, inside groups too."""
    for group_index, widget in enumerate(dashboard["widgets"]):
        for index, inner in enumerate(widget["definition"].get("widgets", [])):
            if inner["definition"]["type"] == widget_type:
                return "$.widgets[%d].definition.widgets[%d].definition" % (group_index, index), inner["definition"]
    raise AssertionError("no %s widget" % widget_type)


def write(tmp_path, kind, body, name="broken.json"):
    folder = tmp_path / assets.FOLDER_OF_KIND[kind]
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(body, indent=2))
    return str(path)


def validate(capsys, *arguments):
    code = main(["validate"] + list(arguments))
    out, err = capsys.readouterr()
    return code, out, err


AUDIENCE = ("--notify", "@team-llm", "--tag", "team:llm-platform")


def test_shipped_assets_are_clean(capsys):
    code, out, err = validate(capsys, "--strict", *AUDIENCE)
    assert code == 0, out + err
    lines = out.strip().splitlines()
    assert lines == ["ddllm validate: %d files, 0 errors, 0 warnings" % len(assets.shipped_asset_paths())]


def placeholder_count():
    """The shipped assets' placeholders: a handle and a team tag in each monitor, a team tag in each SLO."""
    return 2 * len(shipped(assets.MONITOR)) + len(shipped(assets.SLO))


def test_placeholders_are_warnings_that_fail_strict(capsys):
    code, out, _ = validate(capsys)
    assert code == 0
    monitors = len(shipped(assets.MONITOR))
    assert out.count("warning: $.message: @your-team-handle is a placeholder") == monitors
    assert out.count("warning: $.tags[2]: team:your-team is a placeholder") == monitors + len(shipped(assets.SLO))
    assert "0 errors, %d warnings" % placeholder_count() in out
    code, _, _ = validate(capsys, "--strict")
    assert code == 1


def test_every_shipped_monitor_and_dashboard_is_found():
    kinds = [asset["kind"] for asset in assets.load_assets()]
    assert kinds.count(assets.DASHBOARD) >= 1
    assert kinds.count(assets.MONITOR) == 16


def test_python_dash_m_ddllm_validate_runs_without_litellm_or_ddtrace():
    probe = (
        "import sys, runpy; sys.argv = ['ddllm', 'validate']\n"
        "try:\n    runpy.run_module('ddllm', run_name='__main__')\n"
        "except SystemExit as exit_:\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & {'litellm', 'ddtrace'})\n"
        "    print('loaded:', loaded)\n    sys.exit(exit_.code)\n"
    )
    environment = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, %d warnings" % placeholder_count() in result.stdout  # the placeholders
    assert "loaded: []" in result.stdout


def test_python_dash_m_ddllm_validate_fails_on_a_broken_file(tmp_path):
    body = overview()
    body["layout_type"] = "stacked"
    path = write(tmp_path, assets.DASHBOARD, body)
    environment = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, "-m", "ddllm", "validate", path],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: $.layout_type: bad value 'stacked'" in result.stdout


def test_unknown_widget_type_is_an_error_with_its_path(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "query_value")
    definition["type"] = "query_valu"
    path = write(tmp_path, assets.DASHBOARD, body)
    code, out, _ = validate(capsys, path)
    assert code == 1
    assert (
        "%s: error: %s.type: unknown widget type 'query_valu' (did you mean 'query_value'?)"
        % (assets.display_path(path), where)
        in out
    )


def test_bad_enum_deep_in_a_widget_is_an_error_with_its_path(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "timeseries")
    definition["requests"][0]["display_type"] = "linez"
    path = write(tmp_path, assets.DASHBOARD, body)
    code, out, _ = validate(capsys, path)
    assert code == 1
    assert "error: %s.requests[0].display_type: bad value 'linez' for display_type" % where in out
    assert "did you mean 'line'?" in out


def test_wrong_type_is_an_error_with_its_path(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "query_table")
    index, formula = next(
        (index, formula) for index, formula in enumerate(definition["requests"][0]["formulas"]) if "limit" in formula
    )
    formula["limit"]["count"] = "fifty"
    path = write(tmp_path, assets.DASHBOARD, body)
    code, out, _ = validate(capsys, path)
    assert code == 1
    assert "error: %s.requests[0].formulas[%d].limit.count: Invalid type" % (where, index) in out


def test_unknown_key_is_a_warning_and_fails_only_under_strict(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "timeseries")
    definition["requests"][0]["display_typ"] = "line"
    path = write(tmp_path, assets.DASHBOARD, body)
    code, out, _ = validate(capsys, path)
    assert code == 0
    assert (
        "warning: %s.requests[0].display_typ: unknown key 'display_typ' in TimeseriesWidgetRequest "
        "(did you mean 'display_type'?)" % where in out
    )
    assert "0 errors, 1 warning" in out
    code, _, _ = validate(capsys, "--strict", path)
    assert code == 1


def test_missing_required_field_is_an_error(tmp_path, capsys):
    body = overview()
    del body["title"]
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, body))
    assert code == 1
    assert "error: $: required field 'title' is missing" in out


def test_metric_not_in_the_catalogue_is_an_error(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "timeseries")
    query = definition["requests"][0]["queries"][0]
    query["query"] = query["query"].replace(query["query"].split(":")[1].split("{")[0], "ddllm.attempt.latency")
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, body))
    assert code == 1
    assert (
        "error: %s.requests[0].queries[0].query: metric 'ddllm.attempt.latency' is not in ddllm's "
        "catalogue" % where in out
    )


def test_query_without_a_template_variable_is_an_error(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "toplist")
    query = definition["requests"][0]["queries"][0]
    query["query"] = query["query"].replace(",$provider", "")
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, body))
    assert code == 1
    assert "error: %s.requests[0].queries[0].query: query does not use the template variable $provider" % where in out


def test_apm_queries_take_env_and_service_only(tmp_path, capsys):
    body = overview()
    text = json.dumps(body)
    assert "trace.llm.attempt.hits{$env,$service}" in text
    broken = json.loads(
        text.replace("trace.llm.attempt.hits{$env,$service}", "trace.llm.attempt.hits{$env,$service,$provider}")
    )
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, broken))
    assert code == 1
    assert "$provider filters on 'provider', which trace.llm.attempt.hits does not have" in out


def test_legacy_q_request_is_an_error(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "timeseries")
    definition["requests"] = [{"q": "avg:ddllm.attempt.duration{*}", "display_type": "line"}]
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, body))
    assert code == 1
    assert "error: %s.requests[0].q: legacy request" % where in out


def test_unknown_tag_value_and_group_by_are_errors(tmp_path, capsys):
    body = overview()
    text = (
        json.dumps(body)
        .replace("outcome:rate_limited", "outcome:ratelimited")
        .replace("by {provider,error_type}", "by {provider,errortype}")
    )
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, json.loads(text)))
    assert code == 1
    assert "'ratelimited' is not a value of the outcome tag" in out
    assert "cannot group ddllm.attempt.duration by 'errortype'" in out


def test_unparseable_monitor_query_is_an_error(tmp_path, capsys):
    body = monitor("attempt_latency_p95.json")
    body["query"] = body["query"].replace(" > ", " >> ")
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "error: $.query: cannot parse the monitor query: expected an operator" in out


@pytest.mark.parametrize(
    "query, message",
    [
        ("p95:ddllm.attempt.duration{*} > 5", "expected `aggregation(last_Nm):`"),
        ("avg(last_5m):avg:ddllm.attempt.duration{*}", "expected a comparator"),
        ("sum(last_5m):count:ddllm.request.duration{*}.as_count() / > 1", "the expression ends where"),
        ("sum(last_5m):count:ddllm.request.duration{*}.as_count() / total > 1", "expected `aggregator:metric{filters}"),
        ("sum(last_5m):(count:ddllm.request.duration{*}.as_count() > 1", "unbalanced '('"),
    ],
)
def test_monitor_query_grammar_errors(query, message):
    with pytest.raises(asset_validation.QueryError, match=re.escape(message)):
        asset_validation.parse_monitor_query(query)


def test_monitor_query_parses_into_its_parts():
    parsed = asset_validation.parse_monitor_query(monitor("fallback_rate.json")["query"])
    assert parsed.time_aggregator == "sum"
    assert parsed.window == "last_15m"
    assert [query.metric for query in parsed.metric_queries] == ["ddllm.request.duration"] * 3
    assert [query.aggregator for query in parsed.metric_queries] == ["count"] * 3
    assert parsed.metric_queries[0].filters == ["fallback_used:true"]
    assert parsed.groups == ["env", "service", "model_group"]
    assert parsed.comparator == ">"
    assert parsed.threshold == 20
    assert queries.minimum_volume(parsed)[0] == 20


def test_every_shipped_monitor_query_uses_catalogue_metrics():
    for asset in shipped(assets.MONITOR):
        parsed = asset_validation.parse_monitor_query(asset["body"]["query"])
        for query in parsed.metric_queries:
            assert query.metric in catalogue.METRICS_BY_NAME, asset["path"]


def test_every_monitor_is_scoped_by_env_and_service_and_says_so():
    for asset in shipped(assets.MONITOR):
        parsed = asset_validation.parse_monitor_query(asset["body"]["query"])
        assert parsed.groups[:2] == ["env", "service"], asset["path"]
        assert "{{env.name}}" in asset["body"]["message"] and "{{service.name}}" in asset["body"]["message"]
        assert "datadoghq.com" not in asset["body"]["message"], asset["path"]


def test_every_ratio_monitor_has_default_zero_and_a_minimum_volume():
    ratios = [asset for asset in shipped(assets.MONITOR) if ".as_count()" in asset["body"]["query"]]
    assert len(ratios) == 5
    for asset in ratios:
        parsed = asset_validation.parse_monitor_query(asset["body"]["query"])
        assert [call.name for call in queries.calls_of(parsed.tree)] == ["default_zero", "is_greater"], asset["path"]
        assert queries.minimum_volume(parsed)[0] >= 10


def test_latency_alerts_split_streams_from_the_rest():
    latency = asset_validation.parse_monitor_query(monitor("attempt_latency_p95.json")["query"])
    assert latency.metric_queries[0].metric == "ddllm.attempt.duration"
    assert "stream:false" in latency.metric_queries[0].filters
    first_token = asset_validation.parse_monitor_query(monitor("time_to_first_token_p95.json")["query"])
    assert first_token.metric_queries[0].metric == "ddllm.attempt.time_to_first_token"


@pytest.mark.parametrize("kind", ["requests", "tokens"])
def test_headroom_is_a_percentage_of_the_limit(kind):
    body = monitor("ratelimit_headroom_%s.json" % kind)
    parsed = asset_validation.parse_monitor_query(body["query"])
    assert [query.metric for query in parsed.metric_queries] == [
        "ddllm.ratelimit.remaining_" + kind,
        "ddllm.ratelimit.limit_" + kind,
    ]
    assert parsed.expression.startswith("100 * ") and " / " in parsed.expression
    assert parsed.comparator == "<" and 0 < parsed.threshold < 100
    assert catalogue.METRICS_BY_NAME["ddllm.ratelimit.limit_" + kind].type == "gauge"


def test_failed_requests_monitor_divides_rather_than_adds():
    parsed = asset_validation.parse_monitor_query(monitor("failed_requests.json")["query"])
    assert len(parsed.metric_queries) == 3
    assert " / " in parsed.expression and "+" not in parsed.expression


TOTAL = "count:ddllm.attempt.duration{*} by {env,service,provider}.as_count()"
ERRORS = "count:ddllm.attempt.duration{outcome:error} by {env,service,provider}.as_count()"


@pytest.mark.parametrize(
    "query",
    [
        "sum(last_15m):(100 * default_zero(%s) / %s) * is_greater(%s, 20) > 10" % (ERRORS, TOTAL, TOTAL),
        "sum(last_15m):100 * default_zero(%s) / %s * is_greater_equal(%s, 5) > 10" % (ERRORS, TOTAL, TOTAL),
        "avg(last_5m):top(avg:ddllm.attempt.duration{*} by {env,service,provider}.rollup(max, 60), 10, 'mean', 'desc')"
        " > 2",
        "max(last_5m):default_zero(avg:ddllm.ratelimit.remaining_requests{*} by {env,service}.fill(zero)) < 3",
        "sum(last_5m):abs(sum:ddllm.fallback{*} by {env,service}.as_rate()) - 2 > 1",
    ],
)
def test_documented_monitor_functions_are_understood(tmp_path, capsys, query):
    body = monitor("error_rate.json")
    body["query"] = query
    body["options"]["thresholds"] = {"critical": asset_validation.parse_monitor_query(query).threshold}
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 0, out
    assert " error: " not in out


@pytest.mark.parametrize(
    "query, message",
    [
        (
            "sum(last_5m):default_zer(%s) > 1" % ERRORS,
            "default_zer() is not a Datadog query function (did you mean default_zero()?)",
        ),
        ("sum(last_5m):default_zero(%s, 3) > 1" % ERRORS, "default_zero() takes (query), got 2 arguments"),
        ("sum(last_5m):is_greater(%s) > 1" % ERRORS, "is_greater() takes (query, number), got 1 argument"),
        ("avg(last_5m):top(%s, 7, 'mean', 'desc') > 1" % ERRORS, "top() takes (query, limit, 'method', 'order')"),
        ("avg(last_5m):top(%s, 10, 'avg', 'desc') > 1" % ERRORS, "top() takes (query, limit, 'method', 'order')"),
        (
            "avg(last_5m):100 * anomalies(%s, 'basic', 2) > 1" % ERRORS,
            "anomalies() is the whole query of an anomaly monitor",
        ),
        ("avg(last_5m):outliers(%s, 'DBSCAN', 3) > 1" % ERRORS, "outliers() needs an outlier monitor"),
        ("sum(last_5m):default_zero(%s, interval=60) > 1" % ERRORS, "default_zero() takes no named arguments"),
        ("sum(last_5m):(%s > 1" % ERRORS, "unbalanced '('"),
    ],
)
def test_what_datadog_refuses_in_a_monitor_query_is_an_error(query, message):
    with pytest.raises(asset_validation.QueryError, match=re.escape(message)):
        asset_validation.parse_monitor_query(query)


@pytest.mark.parametrize(
    "modifiers, message",
    [
        (".as_count().as_rate()", "either .as_count() or .as_rate(), not both"),
        (".rollup(median, 60)", "expected .rollup(method[, seconds])"),
        (".rollup(sum, 1.5)", "expected .rollup(method[, seconds])"),
        (".fill(nothing)", "expected .fill(mode[, seconds])"),
        (".as_count(1)", ".as_count() takes no arguments"),
        (".as_counts()", "unknown modifier .as_counts()"),
    ],
)
def test_bad_modifiers_are_errors(tmp_path, capsys, modifiers, message):
    body = monitor("error_rate.json")
    body["query"] = "sum(last_5m):sum:ddllm.fallback{*} by {env,service}%s > 1" % modifiers
    body["options"]["thresholds"] = {"critical": 1}
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert message in out


def test_a_percentile_with_as_count_is_an_error(tmp_path, capsys):
    body = monitor("attempt_latency_p95.json")
    body["query"] = body["query"].replace(
        " by {env,service,provider,model}", " by {env,service,provider,model}.as_count()"
    )
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "a percentile (p95) is neither a count nor a rate: .as_count() does not apply" in out


def test_a_ratio_without_guard_or_default_zero_is_warned(tmp_path, capsys):
    body = monitor("error_rate.json")
    body["query"] = "sum(last_15m):100 * %s / %s > 10" % (ERRORS, TOTAL)
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 0
    assert "the numerator of a ratio of counts should be default_zero(...)" in out
    assert "a ratio of counts needs a minimum-volume guard" in out


def test_a_monitor_not_grouped_by_env_and_service_is_warned(tmp_path, capsys):
    body = monitor("attempt_latency_p95.json")
    body["query"] = body["query"].replace("by {env,service,provider,model}", "by {provider,model}")
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert "the monitor does not group by env and service" in out


def test_a_link_to_one_datadog_site_is_an_error(tmp_path, capsys):
    body = monitor("error_rate.json")
    body["message"] += "\nSee https://app.datadoghq.com/dashboard/lists?q=ddllm"
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert (
        "https://app.datadoghq.com/dashboard/lists?q=ddllm is a link to one Datadog site: write it relative "
        "(/dashboard/lists?q=ddllm)" in out
    )


def test_set_changes_a_threshold_in_the_query_and_the_options(capsys, tmp_path):
    shipped_assets = assets.load_assets()
    changed = customize.apply_settings(
        shipped_assets, {"error_rate.critical": 12, "error_rate.min_volume": 50, "error_rate.warning": 6}
    )
    body = next(asset["body"] for asset in changed if asset["path"].endswith("error_rate.json"))
    parsed = asset_validation.parse_monitor_query(body["query"])
    assert parsed.threshold == 12 and body["options"]["thresholds"]["critical"] == 12
    assert body["options"]["thresholds"]["warning"] == 6
    assert queries.minimum_volume(parsed)[0] == 50
    assert monitor("error_rate.json")["options"]["thresholds"]["critical"] == 10  # the shipped file is untouched
    with pytest.raises(customize.SettingError, match=re.escape("did you mean error_rate.critical?")):
        customize.apply_settings(shipped_assets, {"error_rate.critcal": 1})
    with pytest.raises(customize.SettingError, match="is not a number"):
        customize.parse_settings(["error_rate.critical=high"])
    code, out, _ = validate(capsys, *AUDIENCE, "--set", "error_rate.critical=2")
    assert code == 1
    assert "warning threshold 5 must be below the critical 2" in out


def test_warning_threshold_on_the_wrong_side_is_an_error(tmp_path, capsys):
    body = monitor("attempt_latency_p95.json")
    body["options"]["thresholds"]["warning"] = body["options"]["thresholds"]["critical"] + 1
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "error: $.options.thresholds.warning: warning threshold" in out
    assert "must be below the critical" in out


def test_warning_threshold_of_a_below_monitor_must_be_above_critical(tmp_path, capsys):
    body = monitor("ratelimit_headroom_requests.json")
    assert " < " in body["query"]
    body["options"]["thresholds"]["warning"] = body["options"]["thresholds"]["critical"] - 1
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "must be above the critical" in out


def test_critical_threshold_must_match_the_query(tmp_path, capsys):
    body = monitor("error_rate.json")
    body["options"]["thresholds"]["critical"] = 0.5
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "error: $.options.thresholds.critical: critical threshold 0.5 differs from the query's 10.0" in out


def test_monitor_without_source_tag_or_alert_block_is_an_error(tmp_path, capsys):
    body = monitor("error_rate.json")
    body["tags"] = ["team:x"]
    body["message"] = body["message"].replace("{{#is_recovery}}", "").replace("{{/is_recovery}}", "")
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "error: $.tags: tags must include source:ddllm" in out
    assert "error: $.message: the message needs an {{#is_recovery}} block" in out


def test_bad_monitor_enum_is_an_error(tmp_path, capsys):
    body = monitor("error_rate.json")
    body["options"]["on_missing_data"] = "panic"
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "error: $.options.on_missing_data: bad value 'panic'" in out


def test_file_that_is_not_json_is_an_error(tmp_path, capsys):
    path = tmp_path / "monitors" / "broken.json"
    path.parent.mkdir()
    path.write_text("{not json")
    code, out, _ = validate(capsys, str(path))
    assert code == 1
    assert "error: $: not valid JSON" in out


def test_missing_path_is_a_clear_error(tmp_path, capsys):
    code, _, err = validate(capsys, str(tmp_path / "nowhere.json"))
    assert code == 2
    assert "nowhere.json: no such file or folder" in err


def test_a_folder_is_searched_for_assets(tmp_path, capsys):
    write(tmp_path, assets.MONITOR, monitor("error_rate.json"), name="ok.json")
    write(tmp_path, assets.DASHBOARD, overview(), name="ok.json")
    code, out, _ = validate(capsys, str(tmp_path))
    assert code == 0, out
    assert "2 files, 0 errors" in out


def test_a_subcommand_whose_module_lacks_the_entry_points_fails_alone(capsys, monkeypatch):
    from ddllm.cli import main as cli

    monkeypatch.setitem(cli.COMMANDS, "demo", ("ddllm.catalogue", "a module without configure_parser/run"))
    monkeypatch.setitem(cli.COMMANDS, "doctor", ("ddllm.no_such_module", "a module that is not there"))
    assert main(["demo"]) == 2
    assert "ddllm demo is not available: ddllm.catalogue has no configure_parser and no run" in capsys.readouterr().err
    assert main(["doctor"]) == 2
    assert "ddllm doctor is not available: cannot import ddllm.no_such_module" in capsys.readouterr().err
    code, out, _ = validate(capsys)
    assert code == 0 and "0 errors" in out


def test_no_subcommand_prints_usage(capsys):
    assert main([]) == 2
    assert "validate" in capsys.readouterr().err


def all_widgets(widgets):
    for widget in widgets:
        yield widget["definition"]
        yield from all_widgets(widget["definition"].get("widgets", []))


def group(dashboard, title):
    return next(widget["definition"] for widget in dashboard["widgets"] if widget["definition"].get("title") == title)


def test_where_requests_ended_sits_beside_p95_and_429_rate_per_model():
    served, table = [
        widget
        for widget in group(overview(), "Where requests ended")["widgets"]
        if widget["definition"]["type"] != "note"
    ]
    [query] = served["definition"]["requests"][0]["queries"]
    parsed, _ = asset_validation.parse_metric_query(query["query"])
    assert (parsed.metric, parsed.groups) == ("ddllm.request.duration", ["model_group", "fallback_used", "model"])
    request = table["definition"]["requests"][0]
    metrics = {query["name"]: asset_validation.parse_metric_query(query["query"])[0] for query in request["queries"]}
    assert metrics["p95"].aggregator == "p95" and "outcome:rate_limited" in metrics["rate_limited"].filters
    assert {formula["alias"] for formula in request["formulas"]} >= {"p95", "429 rate", "as a fallback"}


def test_headroom_and_skipped_deployments_are_on_the_dashboard():
    rate_limits = [widget["definition"] for widget in group(overview(), "Rate limits")["widgets"]]
    headroom = [widget for widget in rate_limits if "headroom" in (widget.get("title") or "")]
    assert len(headroom) == 2
    for widget in headroom:
        request = widget["requests"][0]
        assert request["formulas"][0]["formula"] == "100 * remaining / limit"
        assert [query["query"].split("{")[0] for query in request["queries"]][1].startswith(
            "max:ddllm.ratelimit.limit_"
        )
    [skipped] = [widget for widget in rate_limits if widget.get("title", "").startswith("Deployments skipped")]
    query = skipped["requests"][0]["queries"][0]
    assert query["data_source"] == "spans"
    assert query["compute"]["metric"] == "@" + next(
        field.name for field in catalogue.REQUEST_SPAN_FIELDS if field.name == "llm.request.skipped_deployments"
    )


def test_env_and_service_drive_every_widget():
    for definition in all_widgets(overview()["widgets"]):
        for request in definition.get("requests", []):
            for query in request.get("queries", []):
                text = query.get("query") or query.get("search", {}).get("query")
                assert "$env" in text and "$service" in text, text


def test_span_query_template_variables_are_checked(tmp_path, capsys):
    body = overview()
    text = json.dumps(body)
    assert "operation_name:llm.request $env $service" in text
    broken = json.loads(
        text.replace("operation_name:llm.request $env $service", "operation_name:llm.request $env $provider")
    )
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, broken))
    assert code == 1
    assert "span query does not use the template variable $service" in out
    assert "$provider filters on 'provider', which spans do not have" in out


def test_a_note_linking_to_one_site_is_an_error(tmp_path, capsys):
    body = overview()
    note = body["widgets"][0]["definition"]
    note["content"] = note["content"].replace("](/monitors/manage", "](https://app.datadoghq.eu/monitors/manage")
    code, out, _ = validate(capsys, write(tmp_path, assets.DASHBOARD, body))
    assert code == 1
    assert "error: $.widgets[0].definition.content: https://app.datadoghq.eu/monitors/manage" in out


def test_the_readme_table_lists_every_monitor_with_its_default_thresholds():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    table = text.split("<!-- monitor table:", 1)[1].split("\n\n", 1)[0]
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([a-z0-9_]+)` \| [^|]+ \| ([^|]+) \|", table, re.MULTILINE)
    }
    shipped_monitors = {
        os.path.splitext(os.path.basename(asset["path"]))[0]: asset["body"] for asset in shipped(assets.MONITOR)
    }
    assert set(rows) == set(shipped_monitors)
    for key, body in shipped_monitors.items():
        levels = body["options"]["thresholds"]
        numbers = [float(number) for number in re.findall(r"\d+(?:\.\d+)?", rows[key])]
        assert numbers == [levels[level] for level in ("critical", "warning") if level in levels], key
        if queries.minimum_volume(asset_validation.parse_monitor_query(body["query"])):
            volume = queries.minimum_volume(asset_validation.parse_monitor_query(body["query"]))[0]
            assert "at least %d" % volume in table.split("| `%s` |" % key)[1].split("\n")[0], key


# Anomaly and forecast monitors


@pytest.mark.parametrize(
    "file_name, metric",
    [
        ("attempt_latency_anomaly.json", "ddllm.attempt.duration"),
        ("time_to_first_token_anomaly.json", "ddllm.attempt.time_to_first_token"),
    ],
)
def test_anomaly_monitors_judge_each_model_against_its_own_history(file_name, metric):
    body = monitor(file_name)
    parsed = asset_validation.parse_monitor_query(body["query"])
    assert parsed.algorithm.name == "anomalies"
    [query] = parsed.metric_queries
    assert (query.aggregator, query.metric, query.groups) == ("p95", metric, ["env", "service", "provider", "model"])
    named = {
        argument.name: argument.value.value
        for argument in parsed.algorithm.arguments
        if isinstance(argument, queries.Keyword)
    }
    assert parsed.algorithm.arguments[1].value == "robust" and named["seasonality"] == "daily"
    assert named["direction"] == "above"
    assert body["options"]["threshold_windows"]["trigger_window"] == named["alert_window"]
    # The fixed-threshold monitors stay as hard ceilings.
    ceiling = {
        "attempt_latency_anomaly.json": "attempt_latency_p95.json",
        "time_to_first_token_anomaly.json": "time_to_first_token_p95.json",
    }[file_name]
    assert asset_validation.parse_monitor_query(monitor(ceiling)["query"]).metric_queries[0].metric == metric


@pytest.mark.parametrize(
    "file_name, metric",
    [
        ("ratelimit_headroom_tokens_forecast.json", "ddllm.ratelimit.remaining_tokens"),
        ("ratelimit_headroom_requests_forecast.json", "ddllm.ratelimit.remaining_requests"),
    ],
)
def test_forecast_monitors_alert_before_the_headroom_runs_out(file_name, metric):
    body = monitor(file_name)
    parsed = asset_validation.parse_monitor_query(body["query"])
    assert parsed.algorithm.name == "forecast"
    assert parsed.metric_queries[0].metric == metric
    assert (parsed.time_aggregator, parsed.window, parsed.comparator, parsed.threshold) == ("min", "next_12h", "<=", 0)
    # The message says why it forecasts the bare remaining count, not the percentage of the limit.
    assert "takes one metric query, not arithmetic of two" in body["message"]


def test_the_team_p95_monitor_sits_beside_the_team_429_rate():
    p95 = asset_validation.parse_monitor_query(monitor("request_latency_p95_by_team.json")["query"])
    rate = asset_validation.parse_monitor_query(monitor("rate_limited_429_rate_by_team.json")["query"])
    assert p95.groups == rate.groups == ["env", "service", "team"]
    assert p95.metric_queries[0].aggregator == "p95" and "team:*" in p95.metric_queries[0].filters


ANOMALY = monitor("attempt_latency_anomaly.json")["query"]
FORECAST = monitor("ratelimit_headroom_tokens_forecast.json")["query"]


@pytest.mark.parametrize(
    "file_name, change, message",
    [
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace("ddllm.attempt.duration", "ddllm.attempt.durration")),
            "metric 'ddllm.attempt.durration' is not in ddllm's catalogue",
        ),
        (
            "ratelimit_headroom_tokens_forecast.json",
            lambda body: body.update(query=FORECAST.replace("remaining_tokens", "remaning_tokens")),
            "metric 'ddllm.ratelimit.remaning_tokens' is not in ddllm's catalogue",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace(", seasonality='daily'", "")),
            "anomalies() with 'robust' needs seasonality=",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace("'robust'", "'basic'")),
            "anomalies() with 'basic' takes no seasonality=",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace("'robust'", "'smart'")),
            "anomalies()'s algorithm must be one of 'basic', 'agile', 'robust'",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace("direction=", "directon=")),
            "anomalies() has no argument directon=",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace("interval=300", "interval=600")),
            "interval=600 is more than a fifth of alert_window last_30m",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace(">= 1", "> 1")),
            "an anomaly monitor ends with `>= FRACTION`",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body.update(query=ANOMALY.replace("avg(last_3h)", "max(last_3h)")),
            "an anomaly monitor's time aggregation is avg(...), not max(...)",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body["options"].pop("threshold_windows"),
            "an anomaly monitor needs options.threshold_windows",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: body["options"]["threshold_windows"].update(trigger_window="last_15m"),
            "threshold_windows.trigger_window 'last_15m' must be the query's alert_window",
        ),
        (
            "attempt_latency_anomaly.json",
            lambda body: (
                body.update(query=ANOMALY.replace(">= 1", ">= 0.5")),
                body["options"]["thresholds"].update(critical=0.5),
                body["options"]["threshold_windows"].update(recovery_window="last_5m"),
            ),
            "recovery_window last_5m is shorter than 16 minutes",
        ),
        (
            "ratelimit_headroom_tokens_forecast.json",
            lambda body: body.update(query=FORECAST.replace("next_12h", "next_1h")),
            "a forecast horizon is 12 hours to 3 months",
        ),
        (
            "ratelimit_headroom_tokens_forecast.json",
            lambda body: body.update(query=FORECAST.replace("next_12h", "last_12h")),
            "a forecast monitor's window is the horizon ahead, like next_1d",
        ),
        (
            "ratelimit_headroom_tokens_forecast.json",
            lambda body: body.update(query=FORECAST.replace("min(next", "max(next")),
            "a forecast monitor that alerts below its threshold aggregates with min(...)",
        ),
        (
            "ratelimit_headroom_tokens_forecast.json",
            lambda body: body.update(
                query=FORECAST.replace(
                    "min:ddllm.ratelimit.remaining_tokens{*} by {env,service,provider,model}",
                    "100 * min:ddllm.ratelimit.remaining_tokens{*} by {env,service,provider,model} / "
                    "max:ddllm.ratelimit.limit_tokens{*} by {env,service,provider,model}",
                )
            ),
            "forecast()'s first argument must be one metric query",
        ),
        (
            "ratelimit_headroom_tokens_forecast.json",
            lambda body: body.update(
                query=FORECAST.replace(", seasonality='daily'", ", seasonality='daily', history='1w'")
            ),
            "forecast() with 'seasonal' takes no history= or model=",
        ),
        (
            "ratelimit_headroom_tokens_forecast.json",
            lambda body: body["options"].update(
                threshold_windows={"trigger_window": "last_30m", "recovery_window": "last_30m"}
            ),
            "threshold_windows belong to anomaly monitors",
        ),
        (
            "attempt_latency_p95.json",
            lambda body: body.update(query=body["query"].replace("last_10m", "next_10m")),
            "window 'next_10m' is not like last_5m, last_1h",
        ),
    ],
)
def test_broken_anomaly_and_forecast_monitors_are_errors(tmp_path, capsys, file_name, change, message):
    assert_a_changed_copy_fails(tmp_path, capsys, assets.MONITOR, monitor(file_name), change, message)


def assert_a_changed_copy_fails(tmp_path, capsys, kind, body, change, message):
    change(body)
    code, out, _ = validate(capsys, *AUDIENCE, write(tmp_path, kind, body))
    assert code == 1, out
    assert message in out


# SLOs


def slo(file_name):
    return copy.deepcopy(
        next(asset["body"] for asset in shipped(assets.SLO) if os.path.basename(asset["path"]) == file_name)
    )


def test_the_slos_measure_each_model_group():
    availability = slo("model_group_availability.json")
    assert availability["type"] == "metric"
    numerator, _ = queries.parse_metric_query(availability["query"]["numerator"])
    denominator, _ = queries.parse_metric_query(availability["query"]["denominator"])
    assert numerator.metric == denominator.metric == "ddllm.request.duration"
    assert numerator.filters == ["outcome:success"] and denominator.filters == ["!outcome:cancelled"]
    assert numerator.groups == denominator.groups == ["env", "service", "model_group"]
    latency = slo("model_group_latency_p95.json")
    time_slice = latency["sli_specification"]["time_slice"]
    assert latency["type"] == "time_slice" and time_slice["query_interval_seconds"] == 300
    [query] = time_slice["query"]["queries"]
    parsed, _ = queries.parse_metric_query(query["query"])
    assert (parsed.aggregator, parsed.metric, parsed.groups) == (
        "p95",
        "ddllm.request.duration",
        ["env", "service", "model_group"],
    )
    assert (time_slice["comparator"], time_slice["threshold"]) == ("<=", 20)


def test_an_slo_is_found_by_its_shape_and_by_its_folder(tmp_path, capsys):
    body = slo("model_group_availability.json")
    path = write(tmp_path, assets.SLO, body, name="availability.json")
    assert assets.load_asset(path)["kind"] == assets.SLO
    code, out, _ = validate(capsys, *AUDIENCE, path)
    assert code == 0 and "1 file, 0 errors, 0 warnings" in out, out


def _time_slice(body):
    return body["sli_specification"]["time_slice"]


@pytest.mark.parametrize(
    "file_name, change, message",
    [
        (
            "model_group_availability.json",
            lambda body: body["query"].update(
                numerator=body["query"]["numerator"].replace("ddllm.request.duration", "ddllm.request.durations")
            ),
            "$.query.numerator: metric 'ddllm.request.durations' is not in ddllm's catalogue",
        ),
        (
            "model_group_latency_p95.json",
            lambda body: _time_slice(body)["query"]["queries"][0].update(
                query="p95:ddllm.requests.duration{*} by {env,service,model_group}"
            ),
            "metric 'ddllm.requests.duration' is not in ddllm's catalogue",
        ),
        (
            "model_group_latency_p95.json",
            lambda body: _time_slice(body).update(query_interval_seconds=120),
            "query_interval_seconds",
        ),
        (
            "model_group_latency_p95.json",
            lambda body: _time_slice(body)["query"]["formulas"][0].update(formula="query2"),
            "'query2' is not the name of a query of this SLO",
        ),
        (
            "model_group_availability.json",
            lambda body: body["query"].update(denominator=body["query"]["denominator"].replace(".as_count()", "")),
            "a metric SLO counts events: denominator must be a count with .as_count()",
        ),
        (
            "model_group_availability.json",
            lambda body: body["query"].update(denominator=body["query"]["denominator"].replace("env,service,", "")),
            "numerator and denominator must group by the same tags",
        ),
        (
            "model_group_availability.json",
            lambda body: body["query"].update(
                numerator=body["query"]["numerator"].replace("model_group}", "model_grup}")
            ),
            "cannot group ddllm.request.duration by 'model_grup'",
        ),
        (
            "model_group_availability.json",
            lambda body: body["thresholds"][0].update(warning=99),
            "the warning 99 must be above the target 99.5",
        ),
        (
            "model_group_availability.json",
            lambda body: body["thresholds"][1].update(timeframe="7d"),
            "two objectives for 7d",
        ),
        (
            "model_group_availability.json",
            lambda body: body.update(tags=["team:llm-platform"]),
            "tags must include source:ddllm",
        ),
        (
            "model_group_latency_p95.json",
            lambda body: body.update(type="metric"),
            "a metric SLO needs query.numerator and query.denominator",
        ),
    ],
)
def test_broken_slos_are_errors(tmp_path, capsys, file_name, change, message):
    assert_a_changed_copy_fails(tmp_path, capsys, assets.SLO, slo(file_name), change, message)


def test_the_readme_says_what_each_slo_measures_and_why():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as readme:
        table = readme.read().split("<!-- SLO table:", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", table, re.MULTILINE)
    assert sorted(row[0] for row in rows) == sorted(
        os.path.splitext(os.path.basename(asset["path"]))[0] for asset in shipped(assets.SLO)
    )
    for name, _, objective, why in rows:
        target = slo(name + ".json")["thresholds"][0]["target"]
        assert "%g %%" % target in objective, name
        assert why.strip(), name
