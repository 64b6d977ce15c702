"""Probes for `ddllm doctor`: what is installed, what answers on the network, what a process
started by ddtrace-run does. Each probe returns plain facts (or raises); judging them is
`ddllm.cli.doctor`'s job. Nothing here imports ddtrace, litellm or datadog.
"""

import errno
import http.client
import importlib.metadata
import json
import os
import re
import site
import socket
import stat
import struct
import subprocess
import sys
from urllib.parse import urlsplit

from ddllm.tested_versions import release_tuple

STARTUP_HOOK_FILE = "ddllm.pth"
STARTUP_MODULE = "ddllm._startup"

# ddtrace's own defaults (ddtrace/internal/settings/_agent.py): the trace agent URL is
# DD_TRACE_AGENT_URL, else host and port from the environment, else the agent's Unix socket
# when it exists, else localhost:8126.
DEFAULT_TRACE_AGENT_HOST = "localhost"
DEFAULT_TRACE_AGENT_PORT = 8126
DEFAULT_TRACE_AGENT_SOCKET = "/var/run/datadog/apm.socket"
LLMOBS_AGENT_PROXY_ENDPOINT = "/evp_proxy/v2"  # what ddtrace looks for in /info to use the agent

DOGSTATSD_CHECK_DATAGRAM = b"ddllm.doctor.check:1|c"


# -- installed packages ------------------------------------------------------------------


def installed_version(distribution):
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def ddllm_requirements():
    """({distribution: specifier string}, Requires-Python) of the installed ddllm, without
    extras; (None, None) when ddllm is not installed as a distribution."""
    try:
        distribution = importlib.metadata.distribution("ddllm")
    except importlib.metadata.PackageNotFoundError:
        return None, None
    ranges = {}
    for line in distribution.requires or ():
        requirement, _, marker = line.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[[^\]]*\])?\s*(.*)", requirement)
        if match:
            ranges[normalize_name(match.group(1))] = match.group(2).strip().strip("()")
    return ranges, distribution.metadata.get("Requires-Python")


def normalize_name(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _fallback_satisfies(version, specifier):
    """PEP 440 comparison of release numbers only, for when `packaging` is not installed."""
    have = release_tuple(version)
    for clause in filter(None, (part.strip() for part in specifier.split(","))):
        match = re.match(r"(~=|===|==|!=|<=|>=|<|>)\s*(.+)", clause)
        if not match:
            raise ValueError("cannot read the requirement %r" % clause)
        operator, wanted = match.groups()
        if wanted.endswith(".*"):
            prefix = release_tuple(wanted[:-2])
            same = (have + (0,) * len(prefix))[: len(prefix)] == prefix
            if (operator == "==") != same:
                return False
            continue
        want = release_tuple(wanted)
        if operator == "~=":
            ok = have >= want and have[: len(want) - 1] == want[:-1]
        else:
            ok = {
                "==": have == want,
                "===": have == want,
                "!=": have != want,
                "<=": have <= want,
                ">=": have >= want,
                "<": have < want,
                ">": have > want,
            }[operator]
        if not ok:
            return False
    return True


def version_satisfies(version, specifier):
    """Whether `version` is within `specifier` (e.g. '<5,>=3.19'); pre-releases count."""
    if not specifier:
        return True
    try:
        from packaging.specifiers import SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return _fallback_satisfies(version, specifier)
    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return _fallback_satisfies(version, specifier)


# -- start-up hook -----------------------------------------------------------------------


def site_packages_dirs():
    """Every directory whose .pth files this interpreter reads at start-up."""
    directories = []
    try:
        directories.extend(site.getsitepackages())
    except AttributeError:  # some embedded and old virtualenv `site` modules lack it
        pass
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    unique = []
    for directory in directories:
        if directory not in unique:
            unique.append(directory)
    return unique


def startup_hook_files():
    """[(path of a ddllm.pth, whether it imports ddllm._startup)] in site-packages order."""
    found = []
    for directory in site_packages_dirs():
        path = os.path.join(directory, STARTUP_HOOK_FILE)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as hook_file:
            # site.py executes only the lines that start with `import`
            imports_startup = any(
                line.startswith(("import ", "import\t")) and STARTUP_MODULE in line for line in hook_file
            )
        found.append((path, imports_startup))
    return found


# -- ddtrace-run -------------------------------------------------------------------------

PROBE_MARKER = "DDLLM_DOCTOR_PROBE "
_PROBE_SCRIPT = """
import json, sys
import litellm, ddllm
from ddllm.instrument import patching
print(%r + json.dumps({
    "patched": ddllm.is_patched(),
    "who_traces_litellm": patching.who_traces_litellm(),
    "ddllm_path": getattr(ddllm, "__file__", None),
    "startup_hook_ran": %r in sys.modules,
    "ddtrace_bootstrapped": "ddtrace.bootstrap.preload" in sys.modules,
}))
""" % (PROBE_MARKER, STARTUP_MODULE)

# Quiet the tracer in the probe: no telemetry, no remote configuration, no start-up logs.
_QUIET_PROBE_ENVIRONMENT = {
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "DD_REMOTE_CONFIGURATION_ENABLED": "false",
    "DD_TRACE_STARTUP_LOGS": "false",
}


def ddtrace_run_command(code):
    """ddtrace-run of this interpreter: `python -m ddtrace.commands.ddtrace_run` does not
    depend on PATH or on which environment a `ddtrace-run` script found there belongs to."""
    return [sys.executable, "-m", "ddtrace.commands.ddtrace_run", sys.executable, "-c", code]


def ddtrace_run_script_on_path():
    """(the `ddtrace-run` that PATH finds or None, the one beside this interpreter or None)."""
    import shutil

    beside = os.path.join(os.path.dirname(sys.executable), "ddtrace-run")
    return shutil.which("ddtrace-run"), beside if os.path.isfile(beside) else None


def probe_ddtrace_run(timeout):
    """Import litellm and ddllm in a new process under ddtrace-run. Returns a dict: the
    probe's facts ('patched', ...) or 'error' (with 'stderr' when the process wrote any)."""
    environment = dict(os.environ)
    environment.update(_QUIET_PROBE_ENVIRONMENT)
    # LiteLLM downloads its price map at import unless told not to: the doctor stays off the network.
    environment.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        completed = subprocess.run(
            ddtrace_run_command(_PROBE_SCRIPT),
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"error": "did not finish within %g s" % timeout}
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(PROBE_MARKER):
            return json.loads(line[len(PROBE_MARKER) :])
    return {
        "error": "exited with status %d without an answer" % completed.returncode,
        "stderr": completed.stderr,
    }


# -- trace agent -------------------------------------------------------------------------


def trace_agent_url(environ):
    """Where ddtrace sends traces, derived from the environment as ddtrace does."""
    url = (environ.get("DD_TRACE_AGENT_URL") or "").strip()
    if url:
        return url
    host = (environ.get("DD_TRACE_AGENT_HOSTNAME") or environ.get("DD_AGENT_HOST") or "").strip() or None
    port = (environ.get("DD_TRACE_AGENT_PORT") or environ.get("DD_AGENT_PORT") or "").strip() or None
    if host is None and port is None and os.path.exists(DEFAULT_TRACE_AGENT_SOCKET):
        return "unix://" + DEFAULT_TRACE_AGENT_SOCKET
    host = host or DEFAULT_TRACE_AGENT_HOST
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "http://%s:%s" % (host, port or DEFAULT_TRACE_AGENT_PORT)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._socket_path)


def agent_info(url, timeout):
    """GET /info from the trace agent at `url` (http, https or unix): the decoded JSON."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "unix":
        connection = _UnixHTTPConnection(parts.path or parts.netloc, timeout)
        path = "/info"
    elif scheme in ("http", "https"):
        connection_class = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
        path = parts.path.rstrip("/") + "/info"
    else:
        raise ValueError("%r is not an http://, https:// or unix:// URL" % url)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise AgentHTTPError(response.status)
    return json.loads(body.decode("utf-8"))


class AgentHTTPError(Exception):
    """Something answered at the trace agent's address, but not /info with 200."""

    def __init__(self, status):
        super().__init__("GET /info answered HTTP %d" % status)
        self.status = status


# -- DogStatsD ---------------------------------------------------------------------------


def ddtrace_refuses_dogstatsd_url(url):
    """Whether ddtrace raises on this DD_DOGSTATSD_URL when it is imported (so `ddtrace-run`
    fails before the application starts): it takes udp:// and unix:// only, and a bare path
    or host:port (ddtrace/internal/dogstatsd.py), not the `datadog` client's unixgram:// or
    unixstream:// forms."""
    url = url.strip()
    if not url or url.startswith("/") or "://" not in url:
        return False
    return url.partition("://")[0] not in ("udp", "unix")


def probe_udp(host, port, timeout):
    """Send the check datagram over a connected UDP socket and wait up to `timeout` for a
    refusal: Linux reports an ICMP port-unreachable on a connected socket as
    ConnectionRefusedError. Returns 'no refusal' or 'refused'; raises OSError otherwise
    (e.g. the host does not resolve)."""
    family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, protocol) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        try:
            sock.send(DOGSTATSD_CHECK_DATAGRAM)
            sock.recv(1)  # DogStatsD never answers: this returns only with a refusal or a timeout
        except ConnectionRefusedError:
            return "refused"
        except socket.timeout:
            return "no refusal"
    return "no refusal"


def unix_socket_path(socket_path):
    """The file path of a `datadog` client socket_path: a plain path, or unixgram:// and
    unixstream:// forms. Returns (path, socket kinds to try in order)."""
    both = (socket.SOCK_DGRAM, socket.SOCK_STREAM)  # what the client tries for unix://
    for prefix, kinds in (
        ("unixgram://", (socket.SOCK_DGRAM,)),
        ("unixstream://", (socket.SOCK_STREAM,)),
        ("unix://", both),
    ):
        if socket_path.startswith(prefix):
            return socket_path[len(prefix) :], kinds
    return socket_path, both


def probe_unix(socket_path, timeout):
    """Send the check datagram to DogStatsD's Unix socket. Returns 'sent', or raises OSError
    (FileNotFoundError, a 'not a socket' OSError, ConnectionRefusedError, ...)."""
    path, kinds = unix_socket_path(socket_path)
    if not stat.S_ISSOCK(os.stat(path).st_mode):
        raise OSError(errno.ENOTSOCK, "%s exists but is not a socket" % path)
    last_error = None
    for kind in kinds:
        with socket.socket(socket.AF_UNIX, kind) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(path)
                if kind == socket.SOCK_STREAM:  # a stream carries length-prefixed packets
                    sock.sendall(struct.pack("<I", len(DOGSTATSD_CHECK_DATAGRAM)))
                sock.sendall(DOGSTATSD_CHECK_DATAGRAM)
                return "sent"
            except OSError as error:  # EPROTOTYPE: the socket is of the other kind
                last_error = error
    raise last_error
