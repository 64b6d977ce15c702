"""`ddllm doctor --check-percentiles` asks Datadog (here the fake API on 127.0.0.1) whether
percentiles are on for each of ddllm's distributions, and says what to do when they are not."""

import argparse
import json

import pytest
from fake_datadog_api import server_fixture

from ddllm import catalogue
from ddllm.assets import percentiles
from ddllm.cli import doctor

API_KEY = "fake-api-key-for-doctor-0123456789"
APP_KEY = "fake-app-key-for-doctor-9876543210"
HEADERS = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY}


server = server_fixture(API_KEY, APP_KEY)


@pytest.fixture
def datadog(server, monkeypatch):
    return server.point_environment_here(monkeypatch)


def percentile_finding(capsys, *argv):
    parser = doctor.configure_parser(argparse.ArgumentParser(prog="ddllm doctor"))
    doctor.run(parser.parse_args(["--json", "--no-subprocess", "--timeout", "2", *argv]))
    out = capsys.readouterr().out
    assert API_KEY not in out and APP_KEY not in out
    return next(finding for finding in json.loads(out)["checks"] if finding["name"] == "percentiles")


def test_off_percentiles_are_a_problem_with_the_fix(datadog, capsys):
    finding = percentile_finding(capsys, "--check-percentiles")
    assert finding["status"] == "problem"
    for name in catalogue.DISTRIBUTIONS:
        assert name in finding["detail"]
    assert "ddllm push" in finding["fix"]
    assert datadog.writes() == []  # doctor only reads


def test_percentiles_on_everywhere_are_ok(datadog, capsys):
    for name in catalogue.DISTRIBUTIONS:
        status, _ = datadog.handle(
            "POST",
            "/api/v2/metrics/%s/tags" % name,
            HEADERS,
            {"data": {"type": "manage_tags", "id": name, "attributes": percentiles.deny_list_attributes()}},
        )
        assert status == 201
    finding = percentile_finding(capsys, "--check-percentiles")
    assert finding["status"] == "ok", finding
    assert finding["detail"].startswith("on for ddllm.attempt.duration")


def test_without_the_option_datadog_is_not_asked(datadog, capsys):
    finding = percentile_finding(capsys)
    assert finding["status"] == "ok" and finding["detail"].startswith("not checked")
    assert datadog.requests == []


def test_a_refused_key_is_a_warning(datadog, capsys, monkeypatch):
    monkeypatch.setenv("DD_APP_KEY", "another-app-key-that-is-wrong")
    finding = percentile_finding(capsys, "--check-percentiles")
    assert finding["status"] == "warn"
    assert "Datadog answered 403" in finding["detail"]
