"""`ddllm push` against a fake Datadog API on 127.0.0.1, through the `datadog` package's client:
validates first and pushes nothing when that fails or a placeholder is left; enables
percentiles on the distributions the assets query; creates, then changes nothing, updates what
changed, writes nothing on --dry-run, fills links in for the site and prints where each asset
is; and says clearly what is wrong on a missing key, a 403 or a 400 with `errors`, never
printing a key."""

import json
import os
import shutil

import pytest
from fake_datadog_api import server_fixture

from ddllm import catalogue
from ddllm.assets import customize, files as assets, percentiles, push
from ddllm.cli.main import main

API_KEY = "fake-api-key-0123456789abcdef"
APP_KEY = "fake-app-key-fedcba9876543210"


server = server_fixture(API_KEY, APP_KEY)


@pytest.fixture
def datadog(server, monkeypatch):
    monkeypatch.setenv("DDLLM_NOTIFY", "@team-llm")
    monkeypatch.setenv("DDLLM_TAGS", "team:llm-platform")
    return server.point_environment_here(monkeypatch)


def push_cli(capsys, *arguments):
    code = main(["push"] + list(arguments))
    out, err = capsys.readouterr()
    assert API_KEY not in out + err and APP_KEY not in out + err
    return code, out, err


def shipped_count(kind=None):
    return len([asset for asset in assets.load_assets() if kind in (None, asset["kind"])])


# The distributions the shipped assets query: each gets percentiles, one step of the push each.
# The monitors alone query three of them (the voice metrics are the dashboard's).
MONITORED_DISTRIBUTIONS = ["ddllm.attempt.duration", "ddllm.attempt.time_to_first_token", "ddllm.request.duration"]
DISTRIBUTIONS = [
    "ddllm.attempt.duration",
    "ddllm.attempt.time_to_first_token",
    "ddllm.audio.seconds",
    "ddllm.request.duration",
    "ddllm.speech.characters",
]


def steps():
    return shipped_count() + len(DISTRIBUTIONS)


def asset_lines(out):
    return [line for line in out.splitlines() if line.startswith("[") and "] percentiles on " not in line]


def test_first_push_creates_every_asset_and_shows_progress(datadog, capsys):
    code, out, err = push_cli(capsys)
    assert code == 0, out + err
    assert len(datadog.dashboards) == 1 and len(datadog.monitors) == shipped_count(assets.MONITOR)
    assert len(datadog.slos) == shipped_count(assets.SLO) == 2
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == steps()
    assert lines[0] == "[1/%d] percentiles on ddllm.attempt.duration: created" % steps()
    assert lines[len(DISTRIBUTIONS)].startswith(
        '[%d/%d] dashboard "ddllm: LiteLLM attempts, fallbacks and rate limits": created (id '
        % (len(DISTRIBUTIONS) + 1, steps())
    )
    assert lines[-1].startswith('[%d/%d] slo "ddllm: ' % (steps(), steps())) and ": created (id " in lines[-1]
    # SLOs come after the monitors.
    kinds = [line.split("] ", 1)[1].split(" ", 1)[0] for line in lines]
    assert kinds == ["percentiles"] * len(DISTRIBUTIONS) + ["dashboard"] + ["monitor"] * shipped_count(
        assets.MONITOR
    ) + ["slo"] * shipped_count(assets.SLO)
    assert "ddllm push: %d created, 0 updated, 0 unchanged" % steps() in out
    stored = next(iter(datadog.dashboards.values()))
    shipped = next(asset["body"] for asset in assets.load_assets() if asset["kind"] == assets.DASHBOARD)
    assert push.differences(shipped, stored) == []


def test_first_push_enables_percentiles_on_every_distribution_queried(datadog, capsys):
    code, out, err = push_cli(capsys)
    assert code == 0, out + err
    assert sorted(datadog.tag_configurations) == DISTRIBUTIONS
    assert DISTRIBUTIONS == sorted(name for name in catalogue.DISTRIBUTIONS)
    for name, configuration in datadog.tag_configurations.items():
        assert configuration["include_percentiles"] is True
        assert configuration["metric_type"] == "distribution"
        # A deny-list that excludes no tag anyone sends: ddllm's tags and the user's stay queryable.
        assert configuration["exclude_tags_mode"] is True
        assert configuration["tags"] == [percentiles.EXCLUDES_NO_TAG]
        for tag_key in catalogue.metric_tag_keys(name) + USER_TAG_KEYS:
            assert datadog.queryable(name, tag_key), (name, tag_key)
    assert [(method, path) for method, path in datadog.writes() if "/api/v2/" in path] == [
        ("POST", "/api/v2/metrics/%s/tags" % name) for name in DISTRIBUTIONS
    ]


# Tags ddllm does not send but the agent and the user add: they must stay queryable.
USER_TAG_KEYS = ("region", "host", "kube_namespace", "cost-center")


def configure_tags(datadog, metric_name, **attributes):
    headers = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY}
    body = {
        "data": {"type": "manage_tags", "id": metric_name, "attributes": dict(metric_type="distribution", **attributes)}
    }
    assert datadog.handle("POST", "/api/v2/metrics/%s/tags" % metric_name, headers, body)[0] == 201


@pytest.mark.parametrize("with_caller_tags", [True, False])
def test_an_earlier_ddllm_allow_list_becomes_a_deny_list_and_region_is_queryable_again(
    datadog, capsys, with_caller_tags
):
    name = "ddllm.attempt.duration"
    tags = set(catalogue.metric_tag_keys(name))
    if not with_caller_tags:  # what ddllm created before the proxy's caller tags
        tags -= set(catalogue.PROXY_CALLER_METRIC_TAGS)
    configure_tags(datadog, name, tags=sorted(tags), include_percentiles=True)
    assert not datadog.queryable(name, "region")

    code, out, err = push_cli(capsys, "--dashboards")

    assert code == 0, out + err
    assert datadog.tag_configurations[name]["exclude_tags_mode"] is True
    assert datadog.tag_configurations[name]["tags"] == [percentiles.EXCLUDES_NO_TAG]
    assert datadog.tag_configurations[name]["include_percentiles"] is True
    for tag_key in USER_TAG_KEYS + tuple(tags):
        assert datadog.queryable(name, tag_key), tag_key
    assert "percentiles on %s: note: an earlier ddllm's allow-list becomes a deny-list" % name in out
    before = len(datadog.writes())
    code, out, _ = push_cli(capsys, "--dashboards")
    assert code == 0 and len(datadog.writes()) == before  # a second push writes nothing


def test_a_configuration_the_user_made_is_kept_with_percentiles_on_and_the_hidden_tags_named(datadog, capsys):
    configure_tags(datadog, "ddllm.attempt.duration", tags=["env", "model", "team"], include_percentiles=False)
    configure_tags(datadog, "ddllm.request.duration", tags=["env"], include_percentiles=True)
    configure_tags(
        datadog,
        "ddllm.attempt.time_to_first_token",
        tags=["host", "fallback"],
        exclude_tags_mode=True,
        include_percentiles=False,
    )
    before = len(datadog.writes())

    code, out, err = push_cli(capsys, "--dashboards")

    assert code == 0, out + err
    v2_writes = [(method, path) for method, path in datadog.writes()[before:] if "/api/v2/" in path]
    assert v2_writes == [
        ("PATCH", "/api/v2/metrics/ddllm.attempt.duration/tags"),
        ("PATCH", "/api/v2/metrics/ddllm.attempt.time_to_first_token/tags"),
        ("POST", "/api/v2/metrics/ddllm.audio.seconds/tags"),  # no configuration yet
        ("POST", "/api/v2/metrics/ddllm.speech.characters/tags"),
    ]
    duration = datadog.tag_configurations["ddllm.attempt.duration"]
    assert duration["include_percentiles"] is True and duration["tags"] == ["env", "model", "team"]
    assert duration["exclude_tags_mode"] is False
    ttft = datadog.tag_configurations["ddllm.attempt.time_to_first_token"]
    assert ttft["include_percentiles"] is True and ttft["exclude_tags_mode"] is True
    assert ttft["tags"] == ["host", "fallback"]
    assert datadog.tag_configurations["ddllm.request.duration"]["tags"] == ["env"]
    hidden = sorted(set(catalogue.metric_tag_keys("ddllm.attempt.duration")) - {"env", "model", "team"})
    assert (
        "percentiles on ddllm.attempt.duration: note: your tag configuration is kept; it hides ddllm's tags %s"
        % ", ".join(hidden)
        in out
    )
    assert (
        "percentiles on ddllm.attempt.time_to_first_token: note: your tag configuration is kept; it hides "
        "ddllm's tag fallback" in out
    )
    assert "percentiles on ddllm.attempt.duration: updated" in out
    assert "percentiles on ddllm.request.duration: unchanged" in out


def test_the_fake_api_refuses_tag_configurations_as_datadog_does(datadog):
    headers = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY}
    path = "/api/v2/metrics/ddllm.attempt.duration/tags"

    def body(**attributes):
        return {"data": {"type": "manage_tags", "id": "ddllm.attempt.duration", "attributes": attributes}}

    assert datadog.handle("GET", path, headers, None)[0] == 404
    assert datadog.handle("PATCH", path, headers, body(include_percentiles=True))[0] == 404
    status, answer = datadog.handle("POST", path, headers, body(tags=["env"], include_percentiles=True))
    assert status == 400 and "metric_type" in answer["errors"][0]
    status, answer = datadog.handle("POST", path, headers, body(metric_type="gauge", tags=[], include_percentiles=True))
    assert status == 400 and "distribution" in answer["errors"][0]
    status, _ = datadog.handle("POST", path, headers, body(metric_type="distribution", tags=[], exclude_tags_mode=True))
    assert status == 400
    status, _ = datadog.handle(
        "POST", path, headers, {"data": {"type": "metrics", "id": "x", "attributes": {"metric_type": "distribution"}}}
    )
    assert status == 400
    assert datadog.handle("POST", path, headers, body(metric_type="distribution", tags=["env"]))[0] == 201
    status, answer = datadog.handle("POST", path, headers, body(metric_type="distribution", tags=["env"]))
    assert status == 409 and "use PATCH to update" in answer["errors"][0]
    assert datadog.handle("PATCH", path, headers, body(include_percentiles="yes"))[0] == 400
    assert datadog.tag_configurations["ddllm.attempt.duration"]["include_percentiles"] is False


def test_a_refused_percentile_configuration_is_a_failure_that_says_what_to_do(datadog, capsys):
    datadog.fail(
        "POST", r"^/api/v2/metrics/ddllm\.attempt\.duration/tags$", 400, {"errors": ["Cannot configure tags on metric"]}
    )
    code, out, err = push_cli(capsys)
    assert code == 1
    assert "percentiles on ddllm.attempt.duration: failed" in err
    assert "Datadog answered 400" in err and "Cannot configure tags on metric" in err
    assert "Metrics > Summary" in err
    assert len(datadog.monitors) == shipped_count(assets.MONITOR)  # the rest still went through
    assert "1 failed" in err


def test_second_push_changes_nothing_and_says_so(datadog, capsys):
    push_cli(capsys)
    before = len(datadog.writes())
    code, out, _ = push_cli(capsys)
    assert code == 0
    assert len(datadog.writes()) == before
    lines = asset_lines(out)
    assert lines and all(": unchanged (id " in line for line in lines)
    assert "nothing to change, all %d unchanged" % steps() in out


def changed_copy(tmp_path, kind, file_name, change):
    """(folder, changed body): a copy of the shipped folder of a kind, with one file changed."""
    folder = tmp_path / assets.FOLDER_OF_KIND[kind]
    shutil.copytree(assets.shipped_asset_dirs()[kind], str(folder))
    path = folder / file_name
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))
    return folder, body


def test_a_changed_monitor_is_updated_and_only_it(datadog, capsys, tmp_path):
    push_cli(capsys)
    folder, body = changed_copy(
        tmp_path, assets.MONITOR, "error_rate.json", lambda body: body["options"]["thresholds"].update(warning=4)
    )
    writes_before = len(datadog.writes())

    code, out, _ = push_cli(capsys, "--monitors", str(folder))

    assert code == 0
    new_writes = datadog.writes()[writes_before:]
    stored = next(item for item in datadog.monitors.values() if item["name"] == body["name"])
    assert new_writes == [("PUT", "/api/v1/monitor/%d" % stored["id"])]
    assert stored["options"]["thresholds"]["warning"] == 4
    assert '"%s": updated (id %d): $.options.thresholds.warning differs' % (body["name"], stored["id"]) in out
    assert (
        "0 created, 1 updated, %d unchanged" % (len(os.listdir(str(folder))) - 1 + len(MONITORED_DISTRIBUTIONS)) in out
    )


def test_a_changed_dashboard_is_updated_in_place(datadog, capsys, tmp_path):
    push_cli(capsys)
    shipped = next(asset for asset in assets.load_assets() if asset["kind"] == assets.DASHBOARD)
    body = json.loads(json.dumps(shipped["body"]))
    body["description"] = "changed"
    path = tmp_path / "dashboards" / "overview.json"
    path.parent.mkdir()
    path.write_text(json.dumps(body))
    dashboard_id = next(iter(datadog.dashboards))

    code, out, _ = push_cli(capsys, "--dashboards", str(path))

    assert code == 0
    assert list(datadog.dashboards) == [dashboard_id]
    assert datadog.dashboards[dashboard_id]["description"] == "changed"
    assert "updated (id %s): $.description differs" % dashboard_id in out


def test_dry_run_prints_the_plan_and_writes_nothing(datadog, capsys):
    code, out, _ = push_cli(capsys, "--dry-run")
    assert code == 0
    assert datadog.writes() == []
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == steps() and all(line.endswith(": would create") for line in lines)
    assert "nothing was written" in out


def test_dry_run_after_a_push_shows_updates_and_unchanged(datadog, capsys, tmp_path):
    push_cli(capsys)
    folder, _ = changed_copy(tmp_path, assets.MONITOR, "fallback_rate.json", lambda body: body.update(priority=1))
    writes_before = len(datadog.writes())
    code, out, _ = push_cli(capsys, "--dry-run", str(folder))
    assert code == 0
    assert len(datadog.writes()) == writes_before
    assert ": would update (id " in out and "$.priority differs" in out
    assert (
        "0 to create, 1 to update, %d unchanged" % (len(os.listdir(str(folder))) - 1 + len(MONITORED_DISTRIBUTIONS))
        in out
    )


@pytest.mark.parametrize("missing", ["DD_API_KEY", "DD_APP_KEY"])
def test_a_missing_key_is_a_clear_message_and_no_request(datadog, capsys, monkeypatch, missing):
    monkeypatch.delenv(missing)
    code, out, err = push_cli(capsys)
    assert code == 2
    assert "ddllm push: %s is not set" % missing in err
    assert datadog.requests == []


def test_a_403_is_a_clear_message_and_stops(datadog, capsys, monkeypatch):
    monkeypatch.setenv("DD_APP_KEY", "wrong-app-key-which-is-also-secret")
    code, out, err = push_cli(capsys)
    assert code == 1
    assert "Datadog answered 403" in err and "Forbidden" in err
    assert "DD_API_KEY and DD_APP_KEY" in err
    assert "wrong-app-key-which-is-also-secret" not in out + err
    assert datadog.writes() == []
    assert len(datadog.requests) == 1  # listing failed: nothing else was tried


def test_a_403_on_a_write_stops_the_push(datadog, capsys):
    datadog.fail("POST", r"^/api/v1/dashboard$", 403, {"errors": ["Forbidden"]})
    code, out, err = push_cli(capsys)
    assert code == 1
    assert (
        '[%d/%d] dashboard "ddllm: LiteLLM attempts, fallbacks and rate limits": failed'
        % (len(DISTRIBUTIONS) + 1, steps())
        in err
    )
    assert "Datadog answered 403" in err
    assert "[%d/" % (len(DISTRIBUTIONS) + 2) not in out + err
    assert datadog.monitors == {}


def test_a_400_with_errors_is_shown_and_the_rest_still_pushed(datadog, capsys):
    reason = "The value provided for parameter 'query' is invalid: invalid operator"
    datadog.fail("POST", r"^/api/v1/monitor$", 400, {"errors": [reason]})
    code, out, err = push_cli(capsys)
    assert code == 1
    assert "Datadog answered 400" in err and reason in err
    assert len(datadog.dashboards) == 1  # the dashboard went through
    assert "%d failed" % shipped_count(assets.MONITOR) in err


def test_a_4xx_without_errors_is_still_a_failure(datadog, capsys):
    datadog.fail("GET", r"^/api/v1/monitor$", 404, {"message": "not here"})
    code, _, err = push_cli(capsys, "--monitors")
    assert code == 1
    assert "Datadog answered 404" in err


def test_only_the_chosen_kind_is_pushed(datadog, capsys):
    code, _, _ = push_cli(capsys, "--dashboards")
    assert code == 0
    assert len(datadog.dashboards) == 1 and datadog.monitors == {}


def test_a_monitor_with_the_same_name_but_without_the_source_tag_is_not_ours(datadog, capsys):
    monitor = next(asset["body"] for asset in assets.load_assets() if asset["kind"] == assets.MONITOR)
    foreign = dict(monitor, tags=["team:someone-else"])
    datadog.handle("POST", "/api/v1/monitor", {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY}, foreign)
    push_cli(capsys, "--monitors")
    same_name = [item for item in datadog.monitors.values() if item["name"] == monitor["name"]]
    assert len(same_name) == 2
    assert [item["tags"] for item in same_name][0] == ["team:someone-else"]


def test_site_sets_the_api_host():
    assert push.api_host_from_environment({}) == "https://api.datadoghq.com"
    assert push.api_host_from_environment({"DD_SITE": "datadoghq.eu"}) == "https://api.datadoghq.eu"
    assert (
        push.api_host_from_environment({"DD_SITE": "us5.datadoghq.com", "DD_API_HOST": "http://127.0.0.1:1/"})
        == "http://127.0.0.1:1"
    )
    with pytest.raises(push.PushError, match="is not a Datadog site"):
        push.api_host_from_environment({"DD_SITE": "https://app.datadoghq.com"})


def test_an_unknown_site_is_one_line_naming_the_known_ones_and_the_way_to_another(datadog, capsys, monkeypatch):
    """Said before any request: an unknown site would otherwise fail later, as a DNS error."""
    monkeypatch.delenv("DD_API_HOST")
    monkeypatch.setenv("DD_SITE", "datadoghq.mars")
    code, out, err = push_cli(capsys, "--dry-run")
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert "DD_SITE='datadoghq.mars' is not a Datadog site" in line
    for site in customize.KNOWN_SITES:
        assert site in line
    assert "DD_API_HOST" in line
    assert datadog.requests == []


@pytest.fixture
def port_nothing_listens_on():
    """A loopback port bound and never listened on: a connection to it is refused."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def test_a_dry_run_that_cannot_reach_the_api_says_why_it_needs_it_in_one_line(
    datadog, capsys, monkeypatch, port_nothing_listens_on
):
    monkeypatch.setenv("DD_API_HOST", "http://127.0.0.1:%d" % port_nothing_listens_on)
    code, out, err = push_cli(capsys, "--dry-run")
    assert code == 1
    [line] = err.splitlines()
    assert line == (
        "ddllm push (dry run): a dry run reads the organisation's current dashboards, monitors and SLOs to "
        "compare them with these, and could not reach 127.0.0.1:%d (connection refused)" % port_nothing_listens_on
    )
    code, out, err = push_cli(capsys)
    assert code == 1
    assert err.splitlines() == [
        "ddllm push: could not reach 127.0.0.1:%d (connection refused)" % port_nothing_listens_on
    ]


def test_differences_ignore_what_the_server_adds():
    ours = {"a": 1, "b": [{"c": 2.0}], "d": True}
    assert push.differences(ours, {"a": 1.0, "b": [{"c": 2, "id": 9}], "d": True, "id": "x"}) == []
    assert push.differences(ours, {"a": 1, "b": [{"c": 3}], "d": 1}) == ["$.b[0].c", "$.d"]
    assert push.differences(ours, {"a": 1, "b": [], "d": True}) == ["$.b"]


def test_push_validates_first_and_pushes_nothing_when_validation_fails(datadog, capsys, tmp_path):
    folder = tmp_path / "monitors"
    shutil.copytree(assets.shipped_asset_dirs()[assets.MONITOR], str(folder))
    path = folder / "attempt_latency_p95.json"
    body = json.loads(path.read_text())
    body["query"] = body["query"].replace("ddllm.attempt.duration", "ddllm.attempt.durations")
    path.write_text(json.dumps(body))
    code, out, err = push_cli(capsys, str(folder))
    assert code == 1
    assert "metric 'ddllm.attempt.durations' is not in ddllm's catalogue" in err
    assert "nothing was pushed" in err
    assert "would create" not in out and datadog.requests == []


def test_placeholders_are_an_error_in_push_unless_replaced(datadog, capsys, monkeypatch):
    monkeypatch.delenv("DDLLM_NOTIFY")
    monkeypatch.delenv("DDLLM_TAGS")
    code, _, err = push_cli(capsys, "--dry-run")
    assert code == 1
    monitors, slos = shipped_count(assets.MONITOR), shipped_count(assets.SLO)
    assert (
        "error: @your-team-handle is a placeholder, in %d files (attempt_latency_anomaly.json, "
        "attempt_latency_p95.json, " % monitors in err
    )
    assert "): give the real one with --notify @handle (or DDLLM_NOTIFY)" in err
    # The SLOs carry the team tag too.
    assert "error: team:your-team is a placeholder, in %d files (" % (monitors + slos) in err
    assert (
        "model_group_availability.json, model_group_latency_p95.json): give the real one with --tag key:value "
        "(or DDLLM_TAGS)" in err
    )
    assert "%d placeholders left: nothing was pushed" % (2 * monitors + slos) in err
    assert datadog.requests == []

    code, out, err = push_cli(
        capsys,
        "--notify",
        "@slack-llm-alerts",
        "--notify",
        "@pagerduty-llm",
        "--tag",
        "team:llm",
        "--tag",
        "cost-center:42",
    )
    assert code == 0, out + err
    for stored in datadog.monitors.values():
        assert "@your-team-handle" not in stored["message"]
        assert stored["message"].endswith("@slack-llm-alerts @pagerduty-llm")
        assert stored["tags"] == ["source:ddllm", "integration:litellm", "team:llm", "cost-center:42"]
    for stored in datadog.slos.values():
        assert stored["tags"] == ["source:ddllm", "integration:litellm", "team:llm", "cost-center:42"]


def test_a_handle_or_tag_that_is_not_one_is_refused(datadog, capsys):
    code, _, err = push_cli(capsys, "--notify", "team-llm")
    assert code == 2 and "--notify 'team-llm': expected a Datadog handle" in err
    code, _, err = push_cli(capsys, "--tag", "team")
    assert code == 2 and "--tag 'team': expected key:value" in err
    assert datadog.requests == []


def test_set_tunes_a_threshold_without_editing_json(datadog, capsys):
    code, out, err = push_cli(
        capsys, "--monitors", "--set", "fallback_rate.critical=30", "--set", "fallback_rate.min_volume=100"
    )
    assert code == 0, out + err
    stored = next(item for item in datadog.monitors.values() if item["name"] == "ddllm: fallback rate per model group")
    assert stored["options"]["thresholds"]["critical"] == 30
    assert stored["query"].endswith(".as_count(), 100) > 30")
    code, _, err = push_cli(capsys, "--set", "fallback_rate.critical=3")
    assert code == 1 and "nothing was pushed" in err


@pytest.mark.parametrize(
    "site, app",
    [
        (None, "https://app.datadoghq.com"),
        ("datadoghq.eu", "https://app.datadoghq.eu"),
        ("us5.datadoghq.com", "https://us5.datadoghq.com"),
    ],
)
def test_links_and_printed_urls_follow_the_site(datadog, capsys, monkeypatch, site, app):
    if site:
        monkeypatch.setenv("DD_SITE", site)
    code, out, err = push_cli(capsys)
    assert code == 0, out + err
    for stored in datadog.monitors.values():
        assert "](%s/dashboard/lists?q=" % app in stored["message"]
        assert "](/" not in stored["message"]
        assert "%s: %s/monitors/%d" % (stored["name"], app, stored["id"]) in out
    dashboard_id = next(iter(datadog.dashboards))
    assert "ddllm: LiteLLM attempts, fallbacks and rate limits: %s/dashboard/%s" % (app, dashboard_id) in out
    # The comparison is on what was sent: a second push with the same site changes nothing.
    code, out, _ = push_cli(capsys)
    assert code == 0 and "nothing to change" in out


def test_app_url_of_each_site():
    assert customize.app_url("datadoghq.com") == "https://app.datadoghq.com"
    assert customize.app_url("datadoghq.eu") == "https://app.datadoghq.eu"
    assert customize.app_url("us3.datadoghq.com") == "https://us3.datadoghq.com"
    assert customize.app_url("ap1.datadoghq.com") == "https://ap1.datadoghq.com"
    assert customize.app_url("ddog-gov.com") == "https://app.ddog-gov.com"


def test_a_short_key_does_not_mangle_the_output(datadog, capsys, monkeypatch):
    """Only values that look like secrets are redacted: a one-letter key is no Datadog key."""
    monkeypatch.setenv("DD_API_KEY", "y")
    main(["push", "--dry-run"])
    out, err = capsys.readouterr()
    assert "ddllm push (dry run)" in out
    assert "<redacted>" not in out + err


# The anomaly, forecast and team monitors, and the SLOs: pushed as written, once.
NEW_ASSETS = [
    (assets.MONITOR, name)
    for name in (
        "attempt_latency_anomaly.json",
        "time_to_first_token_anomaly.json",
        "ratelimit_headroom_tokens_forecast.json",
        "ratelimit_headroom_requests_forecast.json",
        "request_latency_p95_by_team.json",
    )
] + [(assets.SLO, name) for name in ("model_group_availability.json", "model_group_latency_p95.json")]


@pytest.mark.parametrize("kind, file_name", NEW_ASSETS)
def test_each_new_monitor_and_slo_is_pushed_as_written_and_a_second_push_writes_nothing(
    datadog, capsys, kind, file_name
):
    [asset] = [asset for asset in assets.load_assets() if os.path.basename(asset["path"]) == file_name]
    code, out, err = push_cli(capsys, asset["path"])
    assert code == 0, out + err
    stored = datadog.monitors if kind == assets.MONITOR else datadog.slos
    [remote] = stored.values()
    sent = customize.fill_links(
        customize.apply_audience([asset], ["@team-llm"], ["team:llm-platform"]),
        customize.app_url(customize.DEFAULT_SITE),
    )[0]["body"]
    assert push.differences(sent, remote) == []
    assert remote["tags"] == ["source:ddllm", "integration:litellm", "team:llm-platform"]
    url = "/slo?slo_id=%s" if kind == assets.SLO else "/monitors/%s"
    assert "%s: https://app.datadoghq.com%s" % (asset["name"], url % remote["id"]) in out
    before = len(datadog.writes())
    code, out, _ = push_cli(capsys, asset["path"])
    assert code == 0 and len(datadog.writes()) == before
    assert "nothing to change" in out


def test_a_changed_slo_is_updated_in_place_and_only_it(datadog, capsys, tmp_path):
    push_cli(capsys)
    folder, body = changed_copy(
        tmp_path,
        assets.SLO,
        "model_group_latency_p95.json",
        lambda body: body["sli_specification"]["time_slice"].update(threshold=15),
    )
    [slo_id] = [key for key, item in datadog.slos.items() if item["name"] == body["name"]]
    before = len(datadog.writes())

    code, out, _ = push_cli(capsys, "--slos", str(folder))

    assert code == 0
    assert datadog.writes()[before:] == [("PUT", "/api/v1/slo/%s" % slo_id)]
    assert len(datadog.slos) == 2
    assert datadog.slos[slo_id]["sli_specification"]["time_slice"]["threshold"] == 15
    assert "$.sli_specification.time_slice.threshold differs" in out


def test_the_fake_api_refuses_slos_as_datadog_does(datadog):
    headers = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY}
    [slo] = [asset["body"] for asset in assets.load_assets() if asset["path"].endswith("model_group_latency_p95.json")]
    without_sli = {key: value for key, value in slo.items() if key != "sli_specification"}
    assert datadog.handle("POST", "/api/v1/slo", headers, without_sli)[0] == 400
    bad_interval = json.loads(json.dumps(slo))
    bad_interval["sli_specification"]["time_slice"]["query_interval_seconds"] = 120
    assert datadog.handle("POST", "/api/v1/slo", headers, bad_interval)[0] == 400
    status, answer = datadog.handle("POST", "/api/v1/slo", headers, slo)
    assert status == 200 and answer["data"][0]["thresholds"][0]["target_display"] == "99.0"
