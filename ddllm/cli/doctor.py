"""`ddllm doctor`: why do I see nothing in Datadog? One line per check, and the fix of each
problem in one line.

It checks the versions against the ranges ddllm was installed with, the start-up hook, what a
process started by ddtrace-run does on `import litellm`, whether the trace agent and DogStatsD
answer where the environment points, LLM Observability's mode, and which DD_/DDLLM_
settings are in force (secrets masked) and which of them are invalid, judged by the same
code that reads them at run time. A doctor never crashes: a check that fails unexpectedly
becomes a problem line with the exception's text.

Exit status: 0 when there is no problem (warnings allowed), 1 otherwise.
"""

import argparse
import contextlib
import json
import logging
import os
import platform
import re
import socket
import sys

from ddllm import tested_versions
from ddllm.cli import doctor_probes as probes

OK, WARN, PROBLEM = "ok", "warn", "problem"
_STATUS_LABELS = {OK: "ok", WARN: "warn", PROBLEM: "PROBLEM"}

SUPPORTED_PACKAGES = ("ddllm", "ddtrace", "litellm", "wrapt", "datadog")
KNOWN_DDLLM_SETTINGS = ("DDLLM_ENABLED", "DDLLM_METRICS_ENABLED", "DDLLM_METRIC_TAG_LIMIT", "DDLLM_METRICS_USER_TAG")
_SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
_FALSE_WORDS = ("false", "0", "no", "off")  # what the start-up hook reads as DDLLM_ENABLED off

DEFAULT_PROBE_TIMEOUT_SECONDS = 1.0
DEFAULT_DDTRACE_RUN_TIMEOUT_SECONDS = 60.0  # importing litellm alone takes seconds


class Check:
    """One finding. `facts` are extra name/value lines (the settings in force)."""

    __slots__ = ("name", "status", "detail", "fix", "facts")

    def __init__(self, name, status, detail, fix=None, facts=None):
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
        self.facts = facts

    def as_json(self):
        document = {"name": self.name, "status": self.status, "detail": self.detail}
        if self.fix:
            document["fix"] = self.fix
        if self.facts is not None:
            document["facts"] = self.facts
        return document

    def __repr__(self):
        return "Check(%r, %r, %r, fix=%r)" % (self.name, self.status, self.detail, self.fix)


class Diagnosis:
    """What the checks share: the options, and what an earlier check learnt (the agent's /info)."""

    def __init__(self, options, environ):
        self.options = options
        self.environ = environ
        self.trace_agent_url = None  # as shown: credentials masked
        self.trace_agent_info = None  # the /info document, when the agent answered


# -- helpers -------------------------------------------------------------------------------


def is_secret_name(name):
    return any(part in name.upper() for part in _SECRET_NAME_PARTS)


def masked_value(name, value):
    """A setting's value fit to print: secrets as `****` and their last 4 characters (only
    when long enough that those 4 say nothing), credentials in URLs masked."""
    if is_secret_name(name):
        if not value:
            return "(empty)"
        return "****" + value[-4:] if len(value) >= 16 else "****"
    return re.sub(r"(://)[^/@\s]+@", r"\1****@", value)


def ddtrace_bool(value):
    """How ddtrace reads its own booleans (DD_LLMOBS_ENABLED, DD_TRACE_ENABLED): true or 1."""
    return value is not None and value.strip().lower() in ("true", "1")


def _one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def runtime_config_warnings():
    """Collect what ddllm.instrument.config logs about bad values (instead of printing it), so the doctor
    reports exactly what the application would be warned about."""
    messages = []

    class Collector(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = logging.getLogger("ddllm")
    collector = Collector(logging.WARNING)
    saved = logger.propagate, logger.level
    logger.addHandler(collector)
    logger.propagate = False
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        logger.removeHandler(collector)
        logger.propagate, logger.level = saved


# The checks in report order, which is the order they are defined in below. The settings come
# last because their listing is long; LLM Observability after the trace agent, whose /info it reads.
_CHECKS: list = []


def check(name):
    """Register a check function (diagnosis -> list of Check) shown under `name`."""

    def register(function):
        function.check_name = name
        _CHECKS.append(function)
        return function

    return register


# -- versions ------------------------------------------------------------------------------


def _readable_range(specifier):
    clauses = [clause.strip() for clause in specifier.split(",") if clause.strip()]
    return ",".join(sorted(clauses, key=lambda clause: 0 if clause.startswith(">") else 1))


@check("versions")
def check_versions(diagnosis):
    ranges, python_range = probes.ddllm_requirements()
    checks = [_check_ddllm_itself()]
    for distribution in SUPPORTED_PACKAGES[1:]:
        supported = None if ranges is None else _readable_range(ranges.get(distribution, ""))
        checks.append(_check_package(distribution, probes.installed_version(distribution), supported))
    python_version = platform.python_version()
    python_range = _readable_range(python_range or "") if ranges is not None else None
    checks.append(_judge_version("python", python_version, python_range, "use a Python %s" % python_range))
    return checks


def _judge_version(name, version, supported, fix):
    if supported is None:
        return Check(name, WARN, "%s (supported range unknown: ddllm is not installed as a package)" % version)
    if not supported:
        return Check(name, OK, version)
    if not probes.version_satisfies(version, supported):
        return Check(name, PROBLEM, "%s is outside the supported range %s" % (version, supported), fix)
    if name in tested_versions.NEWEST_TESTED and tested_versions.newer_than_tested(name, version):
        # Inside the declared range, past what the tests ran: ddllm patches it, so not a problem.
        return Check(
            name,
            WARN,
            "%s (supported: %s) is newer than the releases ddllm was tested with (%s): ddllm patches it, "
            "and a fact it cannot read there is left out" % (version, supported, tested_versions.tested_range(name)),
            "if a span or metric lacks a fact, pin %s<=%s and tell ddllm's maintainers"
            % (name, tested_versions.NEWEST_TESTED[name]),
        )
    return Check(name, OK, "%s (supported: %s)" % (version, supported))


def _check_package(distribution, version, supported):
    requirement = "%s%s" % (distribution, supported or "")
    if version is None:
        return Check(distribution, PROBLEM, "not installed", "pip install '%s'" % requirement)
    return _judge_version(distribution, version, supported, "pip install '%s'" % requirement)


def _check_ddllm_itself():
    import ddllm

    imported_from = os.path.dirname(os.path.abspath(ddllm.__file__))
    installed = probes.installed_version("ddllm")
    if installed is None:
        return Check(
            "ddllm",
            WARN,
            "%s imported from %s, not installed as a package: no start-up hook, no supported ranges"
            % (ddllm.__version__, imported_from),
            "pip install ddllm (from its wheel) in this environment",
        )
    if installed != ddllm.__version__:
        return Check(
            "ddllm",
            WARN,
            "the ddllm imported (%s, from %s) is not the one installed (%s): a checkout on sys.path "
            "shadows it, or the install is stale" % (ddllm.__version__, imported_from, installed),
            "reinstall ddllm, or remove the other copy from sys.path",
        )
    return Check("ddllm", OK, "%s at %s" % (installed, imported_from))


# -- start-up hook and patching ------------------------------------------------------------


@check("start-up hook")
def check_startup_hook(diagnosis):
    name = "start-up hook"
    hook_files = probes.startup_hook_files()
    if not hook_files:
        return [
            Check(
                name,
                PROBLEM,
                "%s is in none of %s" % (probes.STARTUP_HOOK_FILE, ", ".join(probes.site_packages_dirs()) or "(none)"),
                "install ddllm in this environment (its wheel, or `pip install -e .` in a checkout): a checkout "
                "on PYTHONPATH has no start-up hook",
            )
        ]
    working = [path for path, imports_startup in hook_files if imports_startup]
    if not working:
        return [
            Check(
                name,
                PROBLEM,
                "%s does not import %s" % (hook_files[0][0], probes.STARTUP_MODULE),
                "pip install --force-reinstall ddllm",
            )
        ]
    if probes.STARTUP_MODULE not in sys.modules:
        return [
            Check(
                name,
                PROBLEM,
                "%s is installed but did not run in this process (python -S, or its import failed)" % working[0],
                "run `python -c 'import %s'` to see the error" % probes.STARTUP_MODULE,
            )
        ]
    enabled = diagnosis.environ.get("DDLLM_ENABLED", "true").strip().lower()
    if enabled in _FALSE_WORDS:
        return [
            Check(
                name,
                WARN,
                "%s is installed, but DDLLM_ENABLED=%s turns it off" % (working[0], enabled),
                "unset DDLLM_ENABLED to patch litellm automatically under ddtrace-run",
            )
        ]
    return [Check(name, OK, "%s imports %s; it ran in this process" % (working[0], probes.STARTUP_MODULE))]


@check("patched here")
def check_patched_here(diagnosis):
    if not diagnosis.options.check_patch:
        return []
    name = "patched here"
    # LiteLLM downloads its price map at import unless told not to: the doctor stays off the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm  # noqa: F401  (the start-up hook patches on this import under ddtrace-run)

        from ddllm import ddtrace_takeover
        from ddllm.instrument import patching  # patching imports ddtrace

        patched = patching.is_patched()
    except Exception as error:
        return [
            Check(
                name,
                PROBLEM,
                _one_line("importing litellm and ddllm failed: %s: %s" % (type(error).__name__, error)),
                "fix what `python -c 'import litellm, ddllm.instrument.patching'` reports",
            )
        ]
    if patched:
        return [Check(name, OK, "litellm is patched in this process")]
    if ddtrace_takeover.ddtrace_bootstrapped():
        return [
            Check(
                name,
                PROBLEM,
                "this process runs under ddtrace-run, yet litellm is not patched",
                "see the ddtrace-run line, or call ddllm.patch() after importing ddtrace",
            )
        ]
    return [
        Check(
            name,
            WARN,
            "litellm is not patched in this process: it was not started by ddtrace-run",
            "run `ddtrace-run ddllm doctor --check-patch`, or call ddllm.patch() in the application",
        )
    ]


@check("ddtrace-run")
def check_ddtrace_run(diagnosis):
    if diagnosis.options.no_subprocess:
        return []
    name = "ddtrace-run"
    if probes.installed_version("ddtrace") is None:
        return [Check(name, PROBLEM, "ddtrace is not installed", "pip install ddtrace")]
    answer = probes.probe_ddtrace_run(diagnosis.options.ddtrace_run_timeout)
    checks = [_judge_ddtrace_run(name, answer, diagnosis.environ)]
    on_path, beside = probes.ddtrace_run_script_on_path()
    if beside and on_path and os.path.realpath(on_path) != os.path.realpath(beside):
        checks.append(
            Check(
                "ddtrace-run PATH",
                WARN,
                "the ddtrace-run on PATH (%s) is not this environment's (%s)" % (on_path, beside),
                "activate this environment, or start the application with %s" % beside,
            )
        )
    return checks


def _ddllm_lines(stderr):
    return [line.strip() for line in (stderr or "").splitlines() if "ddllm" in line]


def _judge_ddtrace_run(name, answer, environ):
    if "error" in answer:
        last_lines = (answer.get("stderr") or "").strip().splitlines()[-1:]
        detail = "the probe %s%s" % (answer["error"], (": " + last_lines[0]) if last_lines else "")
        return Check(
            name,
            PROBLEM,
            _one_line(detail),
            "run `ddtrace-run python -c 'import litellm, ddllm; print(ddllm.is_patched())'` to see the error",
        )
    where = " (ddllm from %s)" % os.path.dirname(answer["ddllm_path"]) if answer.get("ddllm_path") else ""
    if answer.get("patched"):
        who = answer.get("who_traces_litellm")
        return Check(
            name,
            OK,
            "a process started by ddtrace-run patches litellm on import%s%s" % (where, "; " + who if who else ""),
        )
    if not answer.get("startup_hook_ran"):
        return Check(
            name,
            PROBLEM,
            "litellm not patched: the start-up hook did not run under ddtrace-run",
            "install ddllm (its wheel, or `pip install -e .` in a checkout) in the environment ddtrace-run runs",
        )
    enabled = environ.get("DDLLM_ENABLED", "true").strip().lower()
    if enabled in _FALSE_WORDS:
        return Check(
            name, WARN, "litellm not patched: DDLLM_ENABLED=%s" % enabled, "unset DDLLM_ENABLED to patch automatically"
        )
    if not answer.get("ddtrace_bootstrapped"):
        return Check(
            name,
            PROBLEM,
            "litellm not patched: ddtrace-run did not bootstrap ddtrace in the process",
            "start the application with this environment's ddtrace-run (or `import ddtrace.auto` first)",
        )
    reasons = _ddllm_lines(answer.get("stderr"))
    return Check(
        name,
        PROBLEM,
        _one_line("litellm not patched under ddtrace-run" + (": " + reasons[-1] if reasons else "")),
        "report this with the output of `ddtrace-run python -c 'import litellm, ddllm'`",
    )


# -- the agent -----------------------------------------------------------------------------

_START_AGENT = (
    "start the Datadog agent with APM on (DD_APM_ENABLED=true), or set DD_TRACE_AGENT_URL to where it listens"
)


@check("trace agent")
def check_trace_agent(diagnosis):
    name = "trace agent"
    environ = diagnosis.environ
    url = probes.trace_agent_url(environ)
    shown = diagnosis.trace_agent_url = masked_value("DD_TRACE_AGENT_URL", url)
    checks = []
    if "DD_TRACE_ENABLED" in environ and not ddtrace_bool(environ["DD_TRACE_ENABLED"]):
        checks.append(
            Check(
                "tracing",
                WARN,
                "DD_TRACE_ENABLED=%s: ddtrace records no spans, so no llm.attempt spans" % environ["DD_TRACE_ENABLED"],
                "unset DD_TRACE_ENABLED",
            )
        )
    timeout = diagnosis.options.timeout
    try:
        info = probes.agent_info(url, timeout)
    except ConnectionRefusedError:
        checks.insert(0, Check(name, PROBLEM, "nothing listening at %s" % shown, _START_AGENT))
        return checks
    except FileNotFoundError:
        checks.insert(0, Check(name, PROBLEM, "no socket at %s" % shown, _START_AGENT))
        return checks
    except socket.timeout:
        checks.insert(0, Check(name, PROBLEM, "%s did not answer within %g s" % (shown, timeout), _START_AGENT))
        return checks
    except probes.AgentHTTPError as error:
        if error.status == 404:  # agents before 7.28 have no /info, and no LLM Observability proxy
            checks.insert(
                0, Check(name, WARN, "%s answers but has no /info: an old agent?" % shown, "upgrade the Datadog agent")
            )
        else:
            checks.insert(0, Check(name, PROBLEM, "%s: %s" % (shown, error), _START_AGENT))
        return checks
    except (OSError, ValueError) as error:  # refused by a firewall, unresolvable, not JSON, HTTP error...
        checks.insert(0, Check(name, PROBLEM, _one_line("%s: %s" % (shown, error)), _START_AGENT))
        return checks
    diagnosis.trace_agent_info = info if isinstance(info, dict) else {}
    version = diagnosis.trace_agent_info.get("version", "unknown")
    if agent_offers_llmobs_proxy(diagnosis.trace_agent_info):
        proxy = "LLM Observability proxy available"
    else:
        proxy = "no LLM Observability proxy %s/" % probes.LLMOBS_AGENT_PROXY_ENDPOINT
    checks.insert(0, Check(name, OK, "%s answers (agent %s, %s)" % (shown, version, proxy)))
    return checks


def agent_offers_llmobs_proxy(info):
    endpoints = (info or {}).get("endpoints") or []
    return any(probes.LLMOBS_AGENT_PROXY_ENDPOINT in str(endpoint) for endpoint in endpoints)


@check("dogstatsd")
def check_dogstatsd(diagnosis):
    from ddllm.instrument import config

    name = "dogstatsd"
    environ = diagnosis.environ
    with runtime_config_warnings():  # reported once, by the settings check
        metrics_enabled = config.read_bool("DDLLM_METRICS_ENABLED", True, environ)
        target = config.read_dogstatsd_target(environ)
    checks = []
    url = environ.get("DD_DOGSTATSD_URL") or ""
    if probes.ddtrace_refuses_dogstatsd_url(url):
        checks.append(
            Check(
                "DD_DOGSTATSD_URL",
                PROBLEM,
                "ddtrace refuses %r (udp:// and unix:// only): importing ddtrace raises, ddtrace-run fails" % url,
                "set DD_DOGSTATSD_URL=udp://host:port or unix:///path/to/socket",
            )
        )
    if not metrics_enabled:
        return [Check(name, OK, "not probed: ddllm's metrics are off (DDLLM_METRICS_ENABLED)")] + checks
    return [_probe_dogstatsd(name, target, environ, diagnosis.options.timeout)] + checks


def _probe_dogstatsd(name, target, environ, timeout):
    if target.socket_path is not None:
        return _probe_dogstatsd_socket(name, target, timeout)
    where = "%s:%d" % (target.host, target.port)
    try:
        outcome = probes.probe_udp(target.host, target.port, timeout)
    except socket.gaierror as error:
        return Check(
            name,
            PROBLEM,
            "cannot resolve %s: %s" % (target.host, error),
            "set DD_DOGSTATSD_URL (or DD_AGENT_HOST) to the agent's address",
        )
    if outcome == "refused":
        return Check(
            name,
            PROBLEM,
            "refused: nothing listening on %s" % where,
            "start the Datadog agent with DogStatsD, or set DD_DOGSTATSD_URL",
        )
    return Check(name, OK, "%s: sent ddllm.doctor.check; no refusal (UDP can prove no more)" % (target,))


def _probe_dogstatsd_socket(name, target, timeout):
    path, _ = probes.unix_socket_path(target.socket_path)
    fix = (
        "start the Datadog agent with its DogStatsD socket at %s (mount it into the container), "
        "or set DD_DOGSTATSD_URL" % path
    )
    try:
        probes.probe_unix(target.socket_path, timeout)
    except FileNotFoundError:
        return Check(name, PROBLEM, "no socket at %s" % path, fix)
    except PermissionError:
        return Check(
            name,
            PROBLEM,
            "%s: permission denied" % path,
            "run the application as a user allowed to write %s (the agent's group)" % path,
        )
    except ConnectionRefusedError:
        return Check(name, PROBLEM, "refused: nothing listening on %s" % path, fix)
    except OSError as error:
        return Check(name, PROBLEM, _one_line("%s: %s" % (path, error)), fix)
    return Check(name, OK, "%s: sent ddllm.doctor.check" % (target,))


# -- LLM Observability -----------------------------------------------------------------------


@check("llmobs")
def check_llmobs(diagnosis):
    name = "llmobs"
    environ = diagnosis.environ
    if not ddtrace_bool(environ.get("DD_LLMOBS_ENABLED")):
        return [Check(name, OK, "off (DD_LLMOBS_ENABLED is not true; LLMObs.enable() in code also turns it on)")]
    checks = []
    ml_app = environ.get("DD_LLMOBS_ML_APP") or environ.get("DD_SERVICE")
    if not ml_app:
        checks.append(
            Check(
                "llmobs ml app",
                WARN,
                "neither DD_SERVICE nor DD_LLMOBS_ML_APP is set: ddtrace names the app itself",
                "set DD_SERVICE",
            )
        )
    proxy = agent_offers_llmobs_proxy(diagnosis.trace_agent_info)
    explicit = environ.get("DD_LLMOBS_AGENTLESS_ENABLED")
    if explicit is not None and explicit.strip():
        agentless, why = ddtrace_bool(explicit), "DD_LLMOBS_AGENTLESS_ENABLED=%s" % explicit.strip()
    else:
        # ddtrace decides from the agent's /info: agentless unless the agent offers the proxy
        agentless = not proxy
        why = (
            "the agent offers the LLM Observability proxy"
            if proxy
            else "no agent with the LLM Observability proxy answers at %s" % diagnosis.trace_agent_url
        )
    app = " for ml app %s" % ml_app if ml_app else ""
    if agentless:
        if not environ.get("DD_API_KEY"):
            checks.insert(
                0,
                Check(
                    name,
                    PROBLEM,
                    "agentless mode (%s) needs DD_API_KEY, which is not set" % why,
                    "set DD_API_KEY (and DD_SITE), or run a Datadog agent and leave DD_LLMOBS_AGENTLESS_ENABLED unset",
                ),
            )
        else:
            site = environ.get("DD_SITE") or "datadoghq.com"
            checks.insert(0, Check(name, OK, "on, agentless to %s (%s)%s" % (site, why, app)))
    elif not proxy:
        checks.insert(
            0,
            Check(
                name,
                PROBLEM,
                "%s, but no agent with the LLM Observability proxy answers at %s" % (why, diagnosis.trace_agent_url),
                "start a Datadog agent (7.55 or later), or set DD_LLMOBS_AGENTLESS_ENABLED=true and DD_API_KEY",
            ),
        )
    else:
        detail = "on, through the agent at %s (%s)%s" % (diagnosis.trace_agent_url, why, app)
        checks.insert(0, Check(name, OK, detail))
    return checks


# -- percentiles -----------------------------------------------------------------------------


@check("percentiles")
def check_percentiles(diagnosis):
    """Whether Datadog computes p50/p95/p99 of ddllm's distributions: only once their metric tag
    configuration has percentiles on. Asks Datadog's API, so only with --check-percentiles."""
    name = "percentiles"
    if not getattr(diagnosis.options, "check_percentiles", False):
        return [Check(name, OK, "not checked (--check-percentiles, with DD_API_KEY and DD_APP_KEY, asks Datadog)")]
    from ddllm import catalogue
    from ddllm.assets import percentiles, push

    try:
        api_key, app_key = push.keys_from_environment(diagnosis.environ)
        api_host = push.api_host_from_environment(diagnosis.environ)
    except push.PushError as error:
        return [Check(name, PROBLEM, str(error).split(":")[0], "set DD_API_KEY, DD_APP_KEY and DD_SITE")]
    client = push.DatadogClient(api_key, app_key, api_host, timeout=max(diagnosis.options.timeout, 5.0))
    states = {}
    try:
        for metric_name in catalogue.DISTRIBUTIONS:
            states[metric_name] = percentiles.percentiles_on(client.tag_configuration(metric_name))
    except push.PushError as error:
        return [
            Check(
                name,
                WARN,
                "cannot read the metric tag configurations: %s" % _one_line(str(error)),
                "an application key with the metrics_read permission",
            )
        ]
    finally:
        client.close()
    missing = [metric_name for metric_name, on in states.items() if not on]
    if missing:
        return [
            Check(
                name,
                PROBLEM,
                "percentiles are off on %s: p95 widgets and percentile monitors stay empty" % ", ".join(missing),
                "ddllm push (or Metrics > Summary > the metric > Advanced > percentiles)",
            )
        ]
    return [Check(name, OK, "on for %s at %s" % (", ".join(states), api_host))]


# -- settings --------------------------------------------------------------------------------

# What ddllm.instrument.config logs about a bad value: "ddllm: NAME='raw' is not EXPECTED; using the default D"
_CONFIG_WARNING = re.compile(
    r"ddllm: (?P<variable>\w+)=(?P<raw>.*?) is not (?P<expected>.+?); using the default (?P<default>.*)$"
)


@check("settings")
def check_settings(diagnosis):
    from ddllm.instrument import config

    environ = diagnosis.environ
    names = sorted(name for name in environ if name.startswith(("DD_", "DDLLM_")))
    facts = {name: masked_value(name, environ[name]) for name in names}
    with runtime_config_warnings() as messages:
        config.load(environ)
    invalid = [_invalid_setting(message, environ) for message in messages]
    unknown = [name for name in names if name.startswith("DDLLM_") and name not in KNOWN_DDLLM_SETTINGS]
    detail = "%d DD_/DDLLM_ variable%s set" % (len(names), "" if len(names) == 1 else "s")
    if not names:
        detail = "no DD_ or DDLLM_ variable set: defaults everywhere"
    if invalid:  # the summary's status agrees with the lines that follow it
        detail += ", %d invalid: %s" % (len(invalid), ", ".join(finding.name for finding in invalid))
        summary = Check("settings", PROBLEM, detail, "see the line of each invalid variable below", facts=facts)
    else:
        summary = Check("settings", OK, detail + ", none invalid", facts=facts)
    checks = [summary]
    checks.extend(invalid)
    for name in unknown:
        checks.append(
            Check(
                name,
                WARN,
                "not a ddllm setting: ignored",
                "the ddllm settings are %s" % ", ".join(KNOWN_DDLLM_SETTINGS),
            )
        )
    return checks


def _invalid_setting(message, environ):
    match = _CONFIG_WARNING.match(message)
    if match is None:
        return Check("settings", PROBLEM, _one_line(message), "correct the value named above")
    variable = match.group("variable")
    raw = environ.get(variable, "")
    shown = masked_value(variable, raw) if is_secret_name(variable) else repr(raw)
    return Check(
        variable,
        PROBLEM,
        "%s is not %s; the default %s is used" % (shown, match.group("expected"), match.group("default")),
        "set %s to %s, or unset it" % (variable, match.group("expected")),
    )


# -- running and reporting -----------------------------------------------------------------


def diagnose(options, environ=None):
    """Every check's findings, in report order. Never raises."""
    diagnosis = Diagnosis(options, os.environ if environ is None else environ)
    findings = []
    for check_function in _CHECKS:
        try:
            findings.extend(check_function(diagnosis))
        except Exception as error:  # a doctor never crashes: the failure is itself a finding
            detail = "the doctor could not check this: %s: %s" % (type(error).__name__, error)
            findings.append(
                Check(
                    check_function.check_name,
                    PROBLEM,
                    _one_line(detail),
                    "report this line to ddllm's maintainers",
                )
            )
    return findings


def _arrow(stream):
    try:
        "→".encode(getattr(stream, "encoding", None) or "ascii")
        return "→"
    except (LookupError, UnicodeEncodeError):
        return "->"


def render_text(findings, stream):
    arrow = _arrow(stream)
    lines = ["ddllm doctor"]
    for finding in findings:
        line = "  %-9s%-17s%s" % (_STATUS_LABELS[finding.status], finding.name + " ", finding.detail)
        if finding.fix and finding.status != OK:
            line += " %s fix: %s" % (arrow, finding.fix)
        lines.append(line)
        for fact_name, value in (finding.facts or {}).items():
            lines.append("%28s%s=%s" % ("", fact_name, value))
    problems = sum(1 for finding in findings if finding.status == PROBLEM)
    warnings = sum(1 for finding in findings if finding.status == WARN)
    lines.append("%s, %s" % (_count(problems, "problem"), _count(warnings, "warning")))
    text = "\n".join(lines) + "\n"
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.write(text.encode("ascii", "replace").decode("ascii"))


def _count(number, noun):
    return "%s %s%s" % (number or "no", noun, "" if number == 1 else "s")


def render_json(findings, stream):
    document = {
        "checks": [finding.as_json() for finding in findings],
        "problems": sum(1 for finding in findings if finding.status == PROBLEM),
        "warnings": sum(1 for finding in findings if finding.status == WARN),
    }
    stream.write(json.dumps(document, indent=2) + "\n")


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError("%r is not a positive number of seconds" % text)
    return value


def configure_parser(parser):
    parser.description = "Find out why ddllm's spans or metrics do not reach Datadog."
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_PROBE_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="time limit of each network probe (default %(default)s)",
    )
    parser.add_argument(
        "--no-subprocess",
        action="store_true",
        help="skip starting a process under ddtrace-run to see whether it patches litellm",
    )
    parser.add_argument(
        "--ddtrace-run-timeout",
        type=_seconds,
        default=DEFAULT_DDTRACE_RUN_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="time limit of that process (default %(default)s)",
    )
    parser.add_argument(
        "--check-patch",
        action="store_true",
        help="also import litellm here and say whether this process has it patched",
    )
    parser.add_argument(
        "--check-percentiles",
        action="store_true",
        help="also ask Datadog (DD_API_KEY, DD_APP_KEY, DD_SITE) whether percentiles are on for ddllm's distributions",
    )
    return parser


def run(args):
    """0 when no check found a problem, 1 otherwise."""
    findings = diagnose(args)
    try:
        (render_json if args.json else render_text)(findings, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `ddllm doctor | head`
        pass
    return 1 if any(finding.status == PROBLEM for finding in findings) else 0


def main(argv=None):
    parser = configure_parser(argparse.ArgumentParser(prog="ddllm doctor"))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
