"""Metrics configuration: where DogStatsD is (DD_DOGSTATSD_URL, DD_AGENT_HOST /
DD_DOGSTATSD_PORT, `patch(dogstatsd_url=...)`), and a child forked without the `datadog`
package's fork hooks."""

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from ddllm.instrument import config
from ddllm.instrument.config import DogStatsdTarget, parse_dogstatsd_url, read_dogstatsd_target

DEFAULT = DogStatsdTarget("localhost", 8125, None)


@pytest.mark.parametrize(
    "url,target",
    [
        ("udp://127.0.0.1:8125", DogStatsdTarget("127.0.0.1", 8125, None)),
        ("udp://datadog-agent:9125", DogStatsdTarget("datadog-agent", 9125, None)),
        ("udp://datadog-agent", DogStatsdTarget("datadog-agent", 8125, None)),
        ("udp://[::1]:8125", DogStatsdTarget("::1", 8125, None)),
        (" UDP://host:1/ ", DogStatsdTarget("host", 1, None)),
        ("unix:///var/run/datadog/dsd.socket", DogStatsdTarget(None, None, "/var/run/datadog/dsd.socket")),
        ("unixgram:///tmp/dsd.socket", DogStatsdTarget(None, None, "unixgram:///tmp/dsd.socket")),
        ("unixstream:///tmp/dsd.socket", DogStatsdTarget(None, None, "unixstream:///tmp/dsd.socket")),
    ],
)
def test_dogstatsd_urls(url, target):
    assert parse_dogstatsd_url(url) == target


@pytest.mark.parametrize(
    "url",
    ["udp://127.0.0.1:8125", "udp://[::1]:8125", "unix:///var/run/datadog/dsd.socket", "unixgram:///tmp/dsd.socket"],
)
def test_a_target_reads_as_its_url(url):
    assert str(parse_dogstatsd_url(url)) == url


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8125",
        "tcp://host:8125",
        "udp://host:notaport",
        "udp://host:70000",
        "udp://:8125",
        "udp://host:8125/path",
        "unix://",
        "http://localhost:8126",
        "",
        None,
        8125,
    ],
)
def test_bad_dogstatsd_urls(url):
    assert parse_dogstatsd_url(url) is None


def test_target_from_environment_in_datadog_order(caplog):
    with caplog.at_level(logging.WARNING, logger="ddllm"):
        assert read_dogstatsd_target({}) == DEFAULT
        assert str(read_dogstatsd_target({})) == "udp://localhost:8125"
        assert read_dogstatsd_target({"DD_AGENT_HOST": "10.0.0.7", "DD_DOGSTATSD_PORT": "18125"}) == DogStatsdTarget(
            "10.0.0.7", 18125, None
        )
        assert read_dogstatsd_target(
            {"DD_AGENT_HOST": "10.0.0.7", "DD_DOGSTATSD_URL": "udp://1.2.3.4:5"}
        ) == DogStatsdTarget("1.2.3.4", 5, None)
        assert read_dogstatsd_target({"DD_DOGSTATSD_URL": "  "}) == DEFAULT
    assert caplog.records == []


def test_bad_values_warn_once_each_naming_the_variable_and_the_default(caplog):
    with caplog.at_level(logging.WARNING, logger="ddllm"):
        target = read_dogstatsd_target({"DD_DOGSTATSD_URL": "nonsense", "DD_DOGSTATSD_PORT": "99999"})
    assert target == DEFAULT
    assert [record.getMessage() for record in caplog.records] == [
        "ddllm: DD_DOGSTATSD_PORT='99999' is not a port number; using the default 8125",
        "ddllm: DD_DOGSTATSD_URL='nonsense' is not udp://host:port or unix:///path/to/socket; "
        "using the default 'udp://localhost:8125'",
    ]


def test_patch_option_wins_over_environment_and_a_bad_one_warns(caplog):
    environ = {"DD_DOGSTATSD_URL": "udp://1.2.3.4:5"}
    assert config.load(environ, dogstatsd_url="unix:///tmp/x.socket").dogstatsd.socket_path == "/tmp/x.socket"
    with caplog.at_level(logging.WARNING, logger="ddllm"):
        assert config.load(environ, dogstatsd_url="somewhere").dogstatsd == DogStatsdTarget("1.2.3.4", 5, None)
    assert [record.getMessage() for record in caplog.records] == [
        "ddllm: patch(dogstatsd_url='somewhere') is not udp://host:port or unix:///path/to/socket; "
        "using udp://1.2.3.4:5"
    ]


_CHILD_WITHOUT_DATADOG_FORK_HOOKS = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from dogstatsd_receiver import DogStatsdReceiver, named
    from ddllm.instrument import attempt_facts, config, metrics

    receiver = DogStatsdReceiver()
    metrics.configure(config.load(dogstatsd_url=receiver.udp_url))

    def attempt(model):
        facts = attempt_facts.AttemptFacts()
        facts.provider, facts.model, facts.outcome, facts.duration = "openai", model, "success", 0.5
        metrics.record_attempt(facts)

    attempt("parent")  # the client exists, with its threads, when the process forks
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            attempt("child")
            code = 0 if metrics.flush() else 2
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert metrics.flush()
    print(sorted(s.tags["model"] for s in named(receiver.samples(), "ddllm.attempt.duration")))
""")


def test_forked_child_without_datadog_fork_hooks_makes_its_own_client():
    tests = os.path.dirname(os.path.abspath(__file__))
    environment = dict(os.environ, DD_DOGSTATSD_DISABLE_FORK_SUPPORT="true")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD_WITHOUT_DATADOG_FORK_HOOKS, tests],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['child', 'parent']"


def test_agent_socket_is_the_default_when_it_exists_as_ddtrace_does(tmp_path):
    socket_path = tmp_path / "dsd.socket"
    socket_path.touch()
    assert read_dogstatsd_target({}, default_socket=str(socket_path)) == DogStatsdTarget(None, None, str(socket_path))
    # any DogStatsD setting wins over the mounted socket
    assert read_dogstatsd_target({"DD_AGENT_HOST": "10.0.0.7"}, default_socket=str(socket_path)).host == "10.0.0.7"
    assert read_dogstatsd_target({}, default_socket=str(tmp_path / "absent.socket")).port == 8125


def test_the_user_tag_on_metrics_is_opt_in_through_one_variable(caplog):
    assert config.load({}).metrics_user_tag is False
    assert config.load({"DDLLM_METRICS_USER_TAG": "true"}).metrics_user_tag is True
    assert config.load({"DDLLM_METRICS_USER_TAG": "true"}, metrics_user_tag=False).metrics_user_tag is False
    with caplog.at_level(logging.WARNING, logger="ddllm"):
        assert config.load({"DDLLM_METRICS_USER_TAG": "emails"}).metrics_user_tag is False
    assert "DDLLM_METRICS_USER_TAG='emails' is not a boolean (true/false); using the default False" in caplog.text
