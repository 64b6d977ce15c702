"""The fake provider (`ddllm.cli.fake_provider`) in a process of its own, as a real provider
is: its CPU is not the measured process's, and its threads take no GIL from it."""

import subprocess
import sys

from ddllm.cli.fake_provider import FakeProvider

_PROVIDER_PROGRAM = r"""
import sys
from ddllm.cli.fake_provider import Answer, FakeProvider

provider = FakeProvider().start()
for model in sys.argv[1:]:
    provider.policy(model, lambda n: Answer.rate_limit())
print(provider.url, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
provider.stop()
"""


class ProviderProcess:
    """The fake provider answering on loopback; the models named answer 429, every time.
    Holds what `tests/proxy_server.ProxyServer` asks of a provider: its bases."""

    openai_base = FakeProvider.openai_base  # read off `url`, as the provider's own
    anthropic_base = FakeProvider.anthropic_base

    def __init__(self, *rate_limited_models):
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PROVIDER_PROGRAM, *rate_limited_models],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise RuntimeError("the fake provider did not start (exit code %s)" % self.process.wait())

    def stop(self):
        self.process.stdin.close()
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
