"""LiteLLM's own proxy server (`litellm --config`), run as users run it: under `ddtrace-run`,
as a child process on a free loopback port, its models pointed at the fake provider, its
traces sent to the test agent and its metrics to a UDP DogStatsD capture.

Each request a test sends carries a header naming its case; ddtrace puts it on the proxy's
root `fastapi.request` span (DD_TRACE_HEADER_TAGS), which is how a test finds its own trace
among everything the agent received.
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from agent import free_port

CASE_HEADER = "x-ddllm-test-case"
CASE_TAG = "ddllm.test.case"
PRIMARY_MODEL = "gpt-4o-mini"
FALLBACK_MODEL = "claude-3-5-haiku-20241022"
EMBEDDING_MODEL = "text-embedding-3-small"
# The voice legs, each a group that falls back to another: speech to text, text to speech.
VOICE_MODELS = {"stt": ("whisper-1", "gpt-4o-transcribe"), "tts": ("tts-1", "gpt-4o-mini-tts")}

_BIN = os.path.dirname(sys.executable)

_CONFIG = """\
model_list:
  - model_name: primary
    litellm_params:
      model: openai/{primary}
      api_base: {openai_base}
      api_key: sk-fake-primary
  - model_name: backup
    litellm_params:
      model: anthropic/{fallback}
      api_base: {anthropic_base}
      api_key: sk-ant-fake-backup
  - model_name: embeddings
    litellm_params:
      model: openai/{embedding}
      api_base: {openai_base}
      api_key: sk-fake-primary
  - model_name: stt
    litellm_params: {{model: openai/{stt}, api_base: {openai_base}, api_key: sk-fake-primary}}
  - model_name: stt-backup
    litellm_params: {{model: openai/{stt_backup}, api_base: {openai_base}, api_key: sk-fake-primary}}
  - model_name: tts
    litellm_params: {{model: openai/{tts}, api_base: {openai_base}, api_key: sk-fake-primary}}
  - model_name: tts-backup
    litellm_params: {{model: openai/{tts_backup}, api_base: {openai_base}, api_key: sk-fake-primary}}
{model_list}router_settings:
  num_retries: 0
  fallbacks: [{{"primary": ["backup"]}}, {{"stt": ["stt-backup"]}}, {{"tts": ["tts-backup"]}}]
{router_settings}litellm_settings:
  num_retries: 0
  request_timeout: 30
general_settings:
  master_key: {master_key}
{general_settings}"""

_CONFIG_PARTS = ("model_list", "router_settings", "general_settings")


class ProxyServer:
    """`ddtrace-run litellm --config ... --port FREE --host 127.0.0.1 [--num_workers N]`."""

    __test__ = False

    def __init__(
        self,
        directory,
        provider,
        agent_url,
        dogstatsd_url,
        workers=1,
        environment=None,
        service="ddllm-proxy",
        config=None,
        files=None,
    ):
        self.directory = str(directory)
        self.provider = provider
        self.agent_url = agent_url
        self.dogstatsd_url = dogstatsd_url
        self.workers = workers
        self.environment = dict(environment or {})  # beyond the defaults of child_environment
        self.service = service  # DD_SERVICE: tells this proxy's traces and metrics from others'
        # YAML lines added to the config's `model_list`, `router_settings` and `general_settings`
        # (each indented as it goes there), and files written beside the config (a custom auth module)
        self.config = dict(config or {})
        self.files = dict(files or {})
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.master_key = "sk-" + secrets.token_hex(32)  # the proxy refuses to start on a weak key
        self.config_path = os.path.join(self.directory, "config.yaml")
        self.log_path = os.path.join(self.directory, "proxy.log")
        self.process = None
        self.returncode = None
        self.cases = {}  # what the tests sent: case -> provider calls it made

    def write_config(self):
        with open(self.config_path, "w") as config:
            config.write(
                _CONFIG.format(
                    primary=PRIMARY_MODEL,
                    fallback=FALLBACK_MODEL,
                    embedding=EMBEDDING_MODEL,
                    stt=VOICE_MODELS["stt"][0],
                    stt_backup=VOICE_MODELS["stt"][1],
                    tts=VOICE_MODELS["tts"][0],
                    tts_backup=VOICE_MODELS["tts"][1],
                    openai_base=self.provider.openai_base,
                    anthropic_base=self.provider.anthropic_base,
                    master_key=self.master_key,
                    **{part: self.config.get(part, "") for part in _CONFIG_PARTS},
                )
            )
        for name, text in self.files.items():
            with open(os.path.join(self.directory, name), "w") as extra:
                extra.write(text)

    def child_environment(self):
        # Nothing of the test process's own Datadog or ddllm settings leaks into the proxy.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DD_", "_DD_", "DDLLM_", "PYTHONPATH"))
        }
        env.update(
            PATH=_BIN + os.pathsep + env.get("PATH", ""),
            DD_TRACE_AGENT_URL=self.agent_url,
            DD_SERVICE=self.service,
            DD_ENV="test",
            DD_LLMOBS_ENABLED="1",
            DD_LLMOBS_ML_APP=self.service,
            DD_LLMOBS_AGENTLESS_ENABLED="0",
            DD_DOGSTATSD_URL=self.dogstatsd_url,
            DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
            DD_REMOTE_CONFIGURATION_ENABLED="false",
            DD_SYMBOL_DATABASE_UPLOAD_ENABLED="false",
            DD_TRACE_STARTUP_LOGS="false",
            DD_TRACE_HEADER_TAGS="%s:%s" % (CASE_HEADER, CASE_TAG),
            # Finished traces and LLM Observability events leave every 0.1 s instead of every
            # second, so a test waits for its own trace briefly.
            DD_TRACE_WRITER_INTERVAL_SECONDS="0.1",
            _DD_LLMOBS_WRITER_INTERVAL="0.1",
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            LITELLM_OFFLINE_MODE="true",
            LITELLM_DONT_SHOW_FEEDBACK_BOX="true",
            NO_PROXY="127.0.0.1,localhost",
        )
        env.update(self.environment)
        return env

    def start(self):
        self.launch()
        self.wait_until_ready()
        return self

    def launch(self):
        """Start the process; `wait_until_ready` then waits for it to serve."""
        self.write_config()
        command = [
            os.path.join(_BIN, "ddtrace-run"),
            os.path.join(_BIN, "litellm"),
            "--config",
            self.config_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.workers > 1:
            command += ["--num_workers", str(self.workers)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=self.child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_until_ready(self, timeout=300.0):
        # Readiness of a child process: ask its health endpoint until it answers.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the proxy exited with %s:\n%s" % (self.process.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + "/health/readiness", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the proxy did not answer on %s in %.0f s:\n%s" % (self.url, timeout, self.log_tail()))

    def stop(self, timeout=60.0):
        """SIGTERM, as an orchestrator stops it, and wait: returns the exit code."""
        self.terminate()
        return self.wait(timeout)

    def terminate(self):
        """SIGTERM: uvicorn finishes the requests in flight, then exits; ddtrace's handler of
        that signal sends the traces it holds."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout=60.0):
        if self.process is None:
            return self.returncode
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: this proxy and its workers
            self.process.wait()
            self.returncode = "killed after %.0f s" % timeout
        self.process = None
        return self.returncode

    def log_tail(self, characters=6000):
        with open(self.log_path, "rb") as log:
            return log.read().decode(errors="replace")[-characters:]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


@contextlib.contextmanager
def running(servers):
    """The proxies of `servers` (name -> ProxyServer), launched all at once (their start-up is
    mostly importing), each then ready; every one launched is stopped at the end."""
    launched = []
    try:
        for server in servers.values():
            launched.append(server.launch())
        for server in launched:
            server.wait_until_ready()
        yield servers
    finally:
        for server in launched:
            server.stop()


def poll(read, enough, timeout=30.0):
    """`read()` again until `enough(result)` or `timeout` passes; the last result either way.
    For what a child process sends on its own schedule: the caller asserts on the result."""
    deadline = time.monotonic() + timeout
    while True:
        result = read()
        if enough(result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.1)


def traces_of_case(agent, case, timeout=30.0):
    """The traces whose proxy root span carries `case`, once that root span has arrived.

    A trace is sent when its last span finishes, so the root span's arrival means the whole
    trace arrived; if it never does, the trace was lost and the caller's assertion says so.
    """

    def read():
        return [trace for trace in agent.traces() if any(span.get("meta", {}).get(CASE_TAG) == case for span in trace)]

    return poll(read, bool, timeout)
