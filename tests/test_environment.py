"""The environment as the user left it: ddllm takes LiteLLM's calls over from ddtrace's
litellm integration only in processes that `ddtrace-run` starts, and sets no variable, so a
plain `python` in the same environment and every child process start as the user configured
them."""

import json
import os
import subprocess
import sys

from test_ddtrace_run import run_under_ddtrace_run
from venvs import fresh_venv

# What the application reports: its own environment, a child's, and who traces LiteLLM.
REPORT = """
import json, os, subprocess, sys
import litellm, ddllm
child = subprocess.run([sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
                       capture_output=True, text=True, check=True)
print(json.dumps({
    "environ": dict(os.environ),
    "child_environ": json.loads(child.stdout),
    "ddllm_patched": ddllm.is_patched(),
    "ddtrace_litellm_patched": bool(getattr(litellm, "_datadog_patch", False)),
}))
"""


def _variables_of_ours(environ):
    return sorted(name for name in environ if name == "DD_TRACE_LITELLM_ENABLED" or "DDLLM" in name)


def _clean_environment():
    return {key: value for key, value in os.environ.items() if not key.startswith(("DD_", "DDLLM_", "PYTHONPATH"))}


def test_a_plain_python_sees_no_change():
    completed = subprocess.run(
        [sys.executable, "-c", "import json, os, sys; print(json.dumps([dict(os.environ), sorted(sys.modules)]))"],
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    environ, modules = json.loads(completed.stdout)
    assert _variables_of_ours(environ) == []
    assert not [name for name in modules if name.startswith(("ddtrace", "litellm", "ddllm.instrument"))]


def _report_under_ddtrace_run(agent, **environment):
    completed = run_under_ddtrace_run(sys.executable, agent, script=REPORT, expected_stdout=None, **environment)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_under_ddtrace_run_ddllm_takes_over_and_sets_no_variable(agent):
    report = _report_under_ddtrace_run(agent)
    assert report["ddllm_patched"] and not report["ddtrace_litellm_patched"]
    assert _variables_of_ours(report["environ"]) == []
    assert _variables_of_ours(report["child_environ"]) == []


def test_a_user_who_chose_keeps_the_choice_and_the_children_inherit_it(agent):
    report = _report_under_ddtrace_run(agent, DD_TRACE_LITELLM_ENABLED="true")
    assert report["ddllm_patched"] and report["ddtrace_litellm_patched"]
    assert report["environ"]["DD_TRACE_LITELLM_ENABLED"] == "true"
    assert report["child_environ"]["DD_TRACE_LITELLM_ENABLED"] == "true"


def test_a_child_in_an_environment_without_ddllm_keeps_ddtraces_litellm_tracing(agent, tmp_path):
    """The child runs ddtrace-run in a virtualenv of its own where ddllm is not installed (its
    packages are the parent's, through a path file): ddtrace's litellm integration traces there."""
    # the parent's packages through a path file, which processes none of their `.pth` files:
    # no ddllm start-up hook there
    child_python, _site_packages = fresh_venv(tmp_path)
    child = (
        "import subprocess, sys; "
        "print(subprocess.run([%r, '-m', 'ddtrace.commands.ddtrace_run', %r, '-c', "
        '\'import litellm, sys; print(bool(getattr(litellm, "_datadog_patch", False)), "ddllm._startup" in sys.modules)\'], '
        "capture_output=True, text=True, check=True).stdout)" % (child_python, child_python)
    )
    completed = run_under_ddtrace_run(sys.executable, agent, script=child, expected_stdout=None)
    assert completed.stdout.split()[-2:] == ["True", "False"]
