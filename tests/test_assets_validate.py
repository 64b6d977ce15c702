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
from ddllm.assets import validation as asset_validation, files as assets
from ddllm.cli.main import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shipped(kind):
    found = [asset for asset in assets.load_assets() if asset["kind"] == kind]
    assert found, "no shipped %s" % kind
    return found


def overview():
    return copy.deepcopy(next(asset["body"] for asset in shipped(assets.DASHBOARD)
                              if asset["path"].endswith("ddllm_overview.json")))


def monitor(file_name):
    return copy.deepcopy(next(asset["body"] for asset in shipped(assets.MONITOR)
                              if os.path.basename(asset["path"]) == file_name))


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


def test_shipped_assets_are_clean(capsys):
    code, out, err = validate(capsys, "--strict")
    assert code == 0, out + err
    lines = out.strip().splitlines()
    assert lines == ["ddllm validate: %d files, 0 errors, 0 warnings" % len(assets.shipped_asset_paths())]


def test_every_shipped_monitor_and_dashboard_is_found():
    kinds = [asset["kind"] for asset in assets.load_assets()]
    assert kinds.count(assets.DASHBOARD) >= 1
    assert kinds.count(assets.MONITOR) == 7


def test_python_dash_m_ddllm_validate_runs_without_litellm_or_ddtrace():
    probe = ("import sys, runpy; sys.argv = ['ddllm', 'validate']\n"
             "try:\n    runpy.run_module('ddllm', run_name='__main__')\n"
             "except SystemExit as exit_:\n"
             "    loaded = sorted({m.split('.')[0] for m in sys.modules} & {'litellm', 'ddtrace'})\n"
             "    print('loaded:', loaded)\n    sys.exit(exit_.code)\n")
    environment = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors, 0 warnings" in result.stdout
    assert "loaded: []" in result.stdout


def test_python_dash_m_ddllm_validate_fails_on_a_broken_file(tmp_path):
    body = overview()
    body["layout_type"] = "stacked"
    path = write(tmp_path, assets.DASHBOARD, body)
    environment = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-m", "ddllm", "validate", path], cwd=REPO, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "error: $.layout_type: bad value 'stacked'" in result.stdout


def test_unknown_widget_type_is_an_error_with_its_path(tmp_path, capsys):
    body = overview()
    where, definition = widget_of_type(body, "query_value")
    definition["type"] = "query_valu"
    path = write(tmp_path, assets.DASHBOARD, body)
    code, out, _ = validate(capsys, path)
    assert code == 1
    assert "%s: error: %s.type: unknown widget type 'query_valu' (did you mean 'query_value'?)" % (
        assets.display_path(path), where) in out


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
    index, formula = next((index, formula) for index, formula in enumerate(definition["requests"][0]["formulas"])
                          if "limit" in formula)
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
    assert "warning: %s.requests[0].display_typ: unknown key 'display_typ' in TimeseriesWidgetRequest " \
           "(did you mean 'display_type'?)" % where in out
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
    assert "error: %s.requests[0].queries[0].query: metric 'ddllm.attempt.latency' is not in ddllm's " \
           "catalogue" % where in out


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
    broken = json.loads(text.replace("trace.llm.attempt.hits{$env,$service}",
                                     "trace.llm.attempt.hits{$env,$service,$provider}"))
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
    text = json.dumps(body).replace("outcome:rate_limited", "outcome:ratelimited").replace(
        "by {provider,error_type}", "by {provider,errortype}")
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


@pytest.mark.parametrize("query, message", [
    ("p95:ddllm.attempt.duration{*} > 5", "expected `aggregation(last_Nm):`"),
    ("avg(last_5m):avg:ddllm.attempt.duration{*}", "expected a comparator"),
    ("sum(last_5m):count:ddllm.request.duration{*}.as_count() / > 1", "the expression ends where"),
    ("sum(last_5m):count:ddllm.request.duration{*}.as_count() / total > 1", "expected `aggregator:metric{filters}"),
    ("sum(last_5m):(count:ddllm.request.duration{*}.as_count() > 1", "unbalanced '('"),
])
def test_monitor_query_grammar_errors(query, message):
    with pytest.raises(asset_validation.QueryError, match=re.escape(message)):
        asset_validation.parse_monitor_query(query)


def test_monitor_query_parses_into_its_parts():
    parsed = asset_validation.parse_monitor_query(monitor("fallback_rate.json")["query"])
    assert parsed.time_aggregator == "sum"
    assert parsed.window == "last_15m"
    assert [query.metric for query in parsed.metric_queries] == ["ddllm.request.duration"] * 2
    assert [query.aggregator for query in parsed.metric_queries] == ["count", "count"]
    assert parsed.metric_queries[0].filters == ["fallback_used:true"]
    assert parsed.groups == ["model_group"]
    assert parsed.comparator == ">"
    assert parsed.threshold == 0.2


def test_every_shipped_monitor_query_uses_catalogue_metrics():
    for asset in shipped(assets.MONITOR):
        parsed = asset_validation.parse_monitor_query(asset["body"]["query"])
        for query in parsed.metric_queries:
            assert query.metric in catalogue.METRICS_BY_NAME, asset["path"]


def test_failed_requests_monitor_divides_rather_than_adds():
    parsed = asset_validation.parse_monitor_query(monitor("failed_requests.json")["query"])
    assert len(parsed.metric_queries) == 2
    assert " / " in parsed.expression and "+" not in parsed.expression


def test_warning_threshold_on_the_wrong_side_is_an_error(tmp_path, capsys):
    body = monitor("attempt_latency_p95.json")
    body["options"]["thresholds"]["warning"] = body["options"]["thresholds"]["critical"] + 1
    code, out, _ = validate(capsys, write(tmp_path, assets.MONITOR, body))
    assert code == 1
    assert "error: $.options.thresholds.warning: warning threshold" in out
    assert "must be below the critical" in out


def test_warning_threshold_of_a_below_monitor_must_be_above_critical(tmp_path, capsys):
    body = monitor("ratelimit_headroom.json")
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
    assert "error: $.options.thresholds.critical: critical threshold 0.5 differs from the query's 0.1" in out


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
