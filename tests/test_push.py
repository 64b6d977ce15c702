"""`ddllm push` against a fake Datadog API on 127.0.0.1, through the `datadog` package's client:
creates, then changes nothing, updates what changed, writes nothing on --dry-run, and says
clearly what is wrong on a missing key, a 403 or a 400 with `errors`, never printing a key."""
import json
import os
import shutil

import pytest
from fake_datadog_api import FakeDatadogAPI

from ddllm.assets import files as assets, push
from ddllm.cli.main import main

API_KEY = "fake-api-key-0123456789abcdef"
APP_KEY = "fake-app-key-fedcba9876543210"


@pytest.fixture(scope="module")
def server():
    with FakeDatadogAPI(API_KEY, APP_KEY) as api:
        yield api


@pytest.fixture
def datadog(server, monkeypatch):
    server.reset()
    for name in ("DD_SITE", "DD_APPLICATION_KEY", "DATADOG_API_KEY", "DATADOG_APP_KEY", "DATADOG_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    monkeypatch.setenv("DD_APP_KEY", APP_KEY)
    monkeypatch.setenv("DD_API_HOST", server.url)
    return server


def push_cli(capsys, *arguments):
    code = main(["push"] + list(arguments))
    out, err = capsys.readouterr()
    assert API_KEY not in out + err and APP_KEY not in out + err
    return code, out, err


def shipped_count():
    return len(assets.load_assets())


def test_first_push_creates_every_asset_and_shows_progress(datadog, capsys):
    code, out, err = push_cli(capsys)
    assert code == 0, out + err
    total = shipped_count()
    assert len(datadog.dashboards) == 1 and len(datadog.monitors) == total - 1
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == total
    assert lines[0].startswith('[1/%d] dashboard "ddllm: LiteLLM attempts, fallbacks and rate limits": created (id ' % total)
    assert any(line.startswith('[%d/%d] monitor "ddllm: ' % (total, total)) and ": created (id " in line
               for line in lines)
    assert out.strip().endswith("ddllm push: %d created, 0 updated, 0 unchanged" % total)
    stored = next(iter(datadog.dashboards.values()))
    shipped = next(asset["body"] for asset in assets.load_assets() if asset["kind"] == assets.DASHBOARD)
    assert push.differences(shipped, stored) == []


def test_second_push_changes_nothing_and_says_so(datadog, capsys):
    push_cli(capsys)
    before = len(datadog.writes())
    code, out, _ = push_cli(capsys)
    assert code == 0
    assert len(datadog.writes()) == before
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert lines and all(": unchanged (id " in line for line in lines)
    assert "nothing to change, all %d unchanged" % shipped_count() in out


def test_a_changed_monitor_is_updated_and_only_it(datadog, capsys, tmp_path):
    push_cli(capsys)
    folder = tmp_path / "monitors"
    source = assets.shipped_asset_dirs()[assets.MONITOR]
    shutil.copytree(source, str(folder))
    changed_path = folder / "error_rate.json"
    body = json.loads(changed_path.read_text())
    body["options"]["thresholds"]["warning"] = 0.04
    changed_path.write_text(json.dumps(body))
    writes_before = len(datadog.writes())

    code, out, _ = push_cli(capsys, "--monitors", str(folder))

    assert code == 0
    new_writes = datadog.writes()[writes_before:]
    stored = next(item for item in datadog.monitors.values() if item["name"] == body["name"])
    assert new_writes == [("PUT", "/api/v1/monitor/%d" % stored["id"])]
    assert stored["options"]["thresholds"]["warning"] == 0.04
    assert '"%s": updated (id %d): $.options.thresholds.warning differs' % (body["name"], stored["id"]) in out
    assert "0 created, 1 updated, %d unchanged" % (len(os.listdir(str(folder))) - 1) in out


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
    assert len(lines) == shipped_count() and all(line.endswith(": would create") for line in lines)
    assert "nothing was written" in out


def test_dry_run_after_a_push_shows_updates_and_unchanged(datadog, capsys, tmp_path):
    push_cli(capsys)
    folder = tmp_path / "monitors"
    shutil.copytree(assets.shipped_asset_dirs()[assets.MONITOR], str(folder))
    path = folder / "fallback_rate.json"
    body = json.loads(path.read_text())
    body["priority"] = 1
    path.write_text(json.dumps(body))
    writes_before = len(datadog.writes())
    code, out, _ = push_cli(capsys, "--dry-run", str(folder))
    assert code == 0
    assert len(datadog.writes()) == writes_before
    assert ": would update (id " in out and "$.priority differs" in out
    assert "0 to create, 1 to update, %d unchanged" % (len(os.listdir(str(folder))) - 1) in out


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
    assert '[1/%d] dashboard "ddllm: LiteLLM attempts, fallbacks and rate limits": failed' % shipped_count() in err
    assert "Datadog answered 403" in err
    assert "[2/" not in out + err
    assert datadog.monitors == {}


def test_a_400_with_errors_is_shown_and_the_rest_still_pushed(datadog, capsys):
    reason = "The value provided for parameter 'query' is invalid: invalid operator"
    datadog.fail("POST", r"^/api/v1/monitor$", 400, {"errors": [reason]})
    code, out, err = push_cli(capsys)
    assert code == 1
    assert "Datadog answered 400" in err and reason in err
    assert len(datadog.dashboards) == 1  # the dashboard went through
    assert "%d failed" % (shipped_count() - 1) in err


def test_a_4xx_without_errors_is_still_a_failure(datadog, capsys):
    datadog.fail("GET", r"^/api/v1/monitor$", 404, {"message": "not here"})
    code, _, err = push_cli(capsys, "--monitors")
    assert code == 1
    assert "Datadog answered 404" in err


def test_an_unreachable_api_is_a_clear_message(datadog, capsys, monkeypatch):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("DD_API_HOST", "http://127.0.0.1:%d" % port)
    code, _, err = push_cli(capsys, "--dashboards")
    assert code == 1
    assert "Could not request GET http://127.0.0.1:%d/api/v1/dashboard" % port in err


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
    assert push.api_host_from_environment({"DD_SITE": "us5.datadoghq.com",
                                           "DD_API_HOST": "http://127.0.0.1:1/"}) == "http://127.0.0.1:1"
    with pytest.raises(push.PushError, match="DD_SITE must be a Datadog site"):
        push.api_host_from_environment({"DD_SITE": "https://app.datadoghq.com"})


def test_differences_ignore_what_the_server_adds():
    ours = {"a": 1, "b": [{"c": 2.0}], "d": True}
    assert push.differences(ours, {"a": 1.0, "b": [{"c": 2, "id": 9}], "d": True, "id": "x"}) == []
    assert push.differences(ours, {"a": 1, "b": [{"c": 3}], "d": 1}) == ["$.b[0].c", "$.d"]
    assert push.differences(ours, {"a": 1, "b": [], "d": True}) == ["$.b"]
