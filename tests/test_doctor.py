"""`ddllm doctor` against the session's real test agent and real sockets on loopback, and
against nothing listening."""

import argparse
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

from agent import free_port
from ddllm.cli import doctor, doctor_probes

PROBE_TIMEOUT = "0.2"  # how long a UDP probe waits for a refusal that does not come
SECRET_API_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def environment(monkeypatch):
    """Only the settings a test sets, beyond the session's agent URL and service tags."""
    for name in list(os.environ):
        if name.startswith(("DDLLM_", "DD_LLMOBS_")) or name in (
            "DD_API_KEY",
            "DD_APP_KEY",
            "DD_SITE",
            "DD_TRACE_ENABLED",
            "DD_AGENT_HOST",
            "DD_DOGSTATSD_PORT",
        ):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def dogstatsd_receiver(environment):
    """A real UDP socket on loopback where DD_DOGSTATSD_URL points."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(5)
        environment.setenv("DD_DOGSTATSD_URL", "udp://127.0.0.1:%d" % receiver.getsockname()[1])
        yield receiver


@pytest.fixture
def nothing_listening(environment):
    """The trace agent and DogStatsD pointed at loopback ports where nothing listens."""
    environment.setenv("DD_TRACE_AGENT_URL", "http://127.0.0.1:%d" % free_port())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        udp_port = closed.getsockname()[1]
    environment.setenv("DD_DOGSTATSD_URL", "udp://127.0.0.1:%d" % udp_port)
    return udp_port


def run_doctor(capsys, *argv):
    """(exit status, stdout) of `ddllm doctor` with these arguments."""
    parser = doctor.configure_parser(argparse.ArgumentParser(prog="ddllm doctor"))
    status = doctor.run(parser.parse_args(["--timeout", PROBE_TIMEOUT, *argv]))
    return status, capsys.readouterr().out


def run_doctor_json(capsys, *argv):
    status, out = run_doctor(capsys, "--json", *argv)
    return status, json.loads(out)


def findings_named(document):
    found = {}
    for finding in document["checks"]:
        found.setdefault(finding["name"], finding)
    return found


def test_an_agent_that_answers_and_a_listening_dogstatsd_are_ok(capsys, agent, dogstatsd_receiver, environment):
    environment.setenv("DD_TRACE_AGENT_URL", agent.url)
    status, document = run_doctor_json(capsys, "--no-subprocess")
    findings = findings_named(document)
    assert findings["trace agent"]["status"] == "ok"
    assert findings["trace agent"]["detail"] == (
        "%s answers (agent test, LLM Observability proxy available)" % agent.url
    )
    assert findings["dogstatsd"]["status"] == "ok", findings["dogstatsd"]
    assert "no refusal" in findings["dogstatsd"]["detail"]
    assert dogstatsd_receiver.recv(1024) == b"ddllm.doctor.check:1|c"
    for name in ("ddllm", "ddtrace", "litellm", "wrapt", "datadog", "python", "start-up hook"):
        assert findings[name]["status"] == "ok", findings[name]
    assert findings["ddtrace"]["detail"].endswith("(supported: >=3.19,<5)")
    assert "ddtrace-run" not in findings  # --no-subprocess
    assert document["problems"] == 0, document
    assert status == 0


def test_nothing_listening_is_a_problem_with_a_fix(capsys, nothing_listening):
    status, out = run_doctor(capsys, "--no-subprocess")
    assert status == 1
    lines = out.splitlines()
    [agent_line] = [line for line in lines if line.startswith("  PROBLEM  trace agent")]
    assert "nothing listening at %s" % os.environ["DD_TRACE_AGENT_URL"] in agent_line
    assert " → fix: start the Datadog agent" in agent_line
    [dogstatsd_line] = [line for line in lines if line.startswith("  PROBLEM  dogstatsd")]
    assert "refused: nothing listening on 127.0.0.1:%d → fix: " % nothing_listening in dogstatsd_line
    assert "DD_DOGSTATSD_URL" in dogstatsd_line
    assert lines[-1].startswith("2 problems")


class QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_an_http_server_without_info_is_taken_for_an_old_agent(capsys, dogstatsd_receiver, environment):
    empty_directory = tempfile.mkdtemp()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietFileHandler, directory=empty_directory)
    )
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        environment.setenv("DD_TRACE_AGENT_URL", "http://127.0.0.1:%d" % server.server_address[1])
        status, document = run_doctor_json(capsys, "--no-subprocess")
    finally:
        server.shutdown()
        server.server_close()
        os.rmdir(empty_directory)
    finding = findings_named(document)["trace agent"]
    assert finding["status"] == "warn"
    assert finding["detail"].endswith("answers but has no /info: an old agent?")
    assert status == 0


def test_json_counts_the_problems_and_each_has_a_fix(capsys, nothing_listening):
    status, document = run_doctor_json(capsys, "--no-subprocess")
    problems = [finding for finding in document["checks"] if finding["status"] == "problem"]
    assert status == 1
    assert document["problems"] == len(problems) == 2
    assert all(finding["fix"] and "\n" not in finding["fix"] for finding in problems)
    assert {finding["status"] for finding in document["checks"]} <= {"ok", "warn", "problem"}


def test_an_invalid_setting_is_reported_as_the_runtime_reports_it(capsys, dogstatsd_receiver, environment, caplog):
    environment.setenv("DDLLM_METRIC_TAG_LIMIT", "abc")
    status, document = run_doctor_json(capsys, "--no-subprocess")
    finding = findings_named(document)["DDLLM_METRIC_TAG_LIMIT"]
    assert finding["status"] == "problem"
    assert finding["detail"] == "'abc' is not a positive integer; the default 200 is used"
    assert finding["fix"] == "set DDLLM_METRIC_TAG_LIMIT to a positive integer, or unset it"
    assert status == 1
    # the summary of the settings says the same, and so does the count of problems
    summary = findings_named(document)["settings"]
    assert summary["status"] == "problem" and summary["detail"].endswith(", 1 invalid: DDLLM_METRIC_TAG_LIMIT")
    assert document["problems"] == sum(1 for check in document["checks"] if check["status"] == "problem")
    _, out = run_doctor(capsys, "--no-subprocess")
    [summary_line] = [line for line in out.splitlines() if line.split()[1:2] == ["settings"]]
    assert summary_line.split()[0] == "PROBLEM"
    assert out.splitlines()[-1].startswith("%d problem" % document["problems"])
    # what the application itself would log, from the same code
    from ddllm.instrument import config

    with caplog.at_level("WARNING", logger="ddllm"):
        config.load()
    assert "DDLLM_METRIC_TAG_LIMIT='abc' is not a positive integer; using the default 200" in caplog.text


def test_an_unknown_ddllm_setting_is_a_warning(capsys, dogstatsd_receiver, environment, agent):
    environment.setenv("DD_TRACE_AGENT_URL", agent.url)
    environment.setenv("DDLLM_METRIC_TAGS_LIMIT", "10")
    status, document = run_doctor_json(capsys, "--no-subprocess")
    assert findings_named(document)["DDLLM_METRIC_TAGS_LIMIT"]["status"] == "warn"
    assert status == 0


def test_secrets_are_never_printed(capsys, dogstatsd_receiver, environment):
    environment.setenv("DD_API_KEY", SECRET_API_KEY)
    environment.setenv("DD_APP_KEY", "short-app-key")
    environment.setenv("DD_PROXY_HTTPS", "http://user:hunter2@proxy.example:3128")
    status, out = run_doctor(capsys, "--no-subprocess")
    _, document = run_doctor_json(capsys, "--no-subprocess")
    printed = out + json.dumps(document)
    assert SECRET_API_KEY[:-4] not in printed
    assert "short-app-key" not in printed and "hunter2" not in printed
    assert "DD_API_KEY=****" + SECRET_API_KEY[-4:] in out
    assert findings_named(document)["settings"]["facts"]["DD_APP_KEY"] == "****"
    assert findings_named(document)["settings"]["facts"]["DD_PROXY_HTTPS"] == "http://****@proxy.example:3128"


def test_llmobs_agentless_without_an_api_key_is_a_problem(capsys, agent, dogstatsd_receiver, environment):
    environment.setenv("DD_TRACE_AGENT_URL", agent.url)
    environment.setenv("DD_LLMOBS_ENABLED", "1")
    environment.setenv("DD_LLMOBS_AGENTLESS_ENABLED", "true")
    status, document = run_doctor_json(capsys, "--no-subprocess")
    finding = findings_named(document)["llmobs"]
    assert finding["status"] == "problem"
    assert "DD_API_KEY" in finding["detail"] and "DD_API_KEY" in finding["fix"]
    assert status == 1


def test_llmobs_goes_through_an_agent_that_offers_the_proxy(capsys, agent, dogstatsd_receiver, environment):
    environment.setenv("DD_TRACE_AGENT_URL", agent.url)
    environment.setenv("DD_LLMOBS_ENABLED", "true")
    status, document = run_doctor_json(capsys, "--no-subprocess")
    finding = findings_named(document)["llmobs"]
    assert finding["status"] == "ok"
    assert finding["detail"].startswith("on, through the agent at %s" % agent.url)
    assert status == 0


def test_llmobs_with_no_agent_needs_an_api_key(capsys, nothing_listening, environment):
    environment.setenv("DD_LLMOBS_ENABLED", "1")
    _, document = run_doctor_json(capsys, "--no-subprocess")
    finding = findings_named(document)["llmobs"]
    assert finding["status"] == "problem"
    assert "no agent with the LLM Observability proxy answers" in finding["detail"]


def test_a_unix_socket_dogstatsd(capsys, environment):
    directory = tempfile.mkdtemp()  # short: a Unix socket path is limited to ~100 bytes
    path = os.path.join(directory, "dsd.socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        environment.setenv("DD_DOGSTATSD_URL", "unix://" + path)
        _, document = run_doctor_json(capsys, "--no-subprocess")
        assert findings_named(document)["dogstatsd"]["status"] == "ok"
        assert receiver.recv(1024) == b"ddllm.doctor.check:1|c"
    os.unlink(path)
    _, document = run_doctor_json(capsys, "--no-subprocess")
    finding = findings_named(document)["dogstatsd"]
    assert finding["status"] == "problem"
    assert finding["detail"] == "no socket at %s" % path
    os.rmdir(directory)


def test_a_dogstatsd_url_that_ddtrace_refuses(capsys, environment):
    # datadog's client and ddllm take unixgram://; ddtrace raises on it when imported
    environment.setenv("DD_DOGSTATSD_URL", "unixgram:///nonexistent/dsd.socket")
    status, document = run_doctor_json(capsys, "--no-subprocess")
    finding = findings_named(document)["DD_DOGSTATSD_URL"]
    assert finding["status"] == "problem"
    assert "ddtrace refuses" in finding["detail"]
    assert status == 1


def test_a_check_that_fails_unexpectedly_becomes_a_problem_line(capsys, dogstatsd_receiver, monkeypatch):
    def broken_probe(url, timeout):
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(doctor_probes, "agent_info", broken_probe)
    status, document = run_doctor_json(capsys, "--no-subprocess")
    finding = findings_named(document)["trace agent"]
    assert finding["status"] == "problem"
    assert finding["detail"] == "the doctor could not check this: RuntimeError: probe exploded"
    assert findings_named(document)["dogstatsd"]["status"] == "ok"  # the other checks still ran
    assert status == 1


def test_version_ranges_without_packaging():
    assert doctor_probes._fallback_satisfies("4.16.0", "<5,>=3.19")
    assert not doctor_probes._fallback_satisfies("5.0.1", "<5,>=3.19")
    assert not doctor_probes._fallback_satisfies("3.18.2", "<5,>=3.19")
    assert doctor_probes._fallback_satisfies("3.19", ">=3.19.0")
    assert doctor_probes._fallback_satisfies("1.2.9", "~=1.2") and not doctor_probes._fallback_satisfies("2.0", "~=1.2")


def test_a_process_started_by_ddtrace_run_patches_litellm(capsys, agent, dogstatsd_receiver, environment):
    """Slow (it imports litellm under ddtrace-run): the one test of the subprocess probe."""
    environment.setenv("DD_TRACE_AGENT_URL", agent.url)
    status, document = run_doctor_json(capsys)
    finding = findings_named(document)["ddtrace-run"]
    assert finding["status"] == "ok", finding
    assert finding["detail"].startswith("a process started by ddtrace-run patches litellm on import")


def test_python_m_ddllm_doctor(nothing_listening):
    completed = subprocess.run(
        [sys.executable, "-m", "ddllm.cli.doctor", "--json", "--no-subprocess", "--timeout", PROBE_TIMEOUT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    document = json.loads(completed.stdout)
    assert completed.returncode == 1
    assert findings_named(document)["trace agent"]["status"] == "problem"


@pytest.mark.parametrize(
    "arguments, said",
    [
        (["--timeout", "-1"], "argument --timeout: '-1' is not a positive number of seconds"),
        (["--timeout", "soon"], "argument --timeout: 'soon' is not a positive number of seconds"),
        (["--ddtrace-run-timeout", "0"], "argument --ddtrace-run-timeout: '0' is not a positive number of seconds"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
    ids=["negative-timeout", "word-timeout", "zero-ddtrace-run-timeout", "unknown-option"],
)
def test_bad_arguments_are_a_usage_error(capsys, arguments, said):
    from ddllm.cli import main as cli

    assert cli.main(["doctor"] + arguments) == 2
    captured = capsys.readouterr()
    assert said in captured.err and captured.out == ""
