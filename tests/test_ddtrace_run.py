"""`ddtrace-run` on an application that never imports ddllm: the start-up hook patches
LiteLLM, from the installed package and from a wheel installed into a fresh virtualenv."""

import glob
import os
import subprocess
import sys
import tarfile

import pytest
from spans_of import requests_with_attempts
from venvs import fresh_venv, pip_install

APP = os.path.join(os.path.dirname(__file__), "apps", "router_app.py")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_under_ddtrace_run(python, agent, script=None, expected_stdout=("hello", "hello"), **env_overrides):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DD_", "DDLLM_", "PYTHONPATH"))}
    env.update(
        DD_TRACE_AGENT_URL=agent.url,
        DD_SERVICE="router-app",
        DD_LLMOBS_ENABLED="1",
        DD_LLMOBS_ML_APP="router-app",
        DD_LLMOBS_AGENTLESS_ENABLED="0",
        DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
        DD_REMOTE_CONFIGURATION_ENABLED="false",
        PATH=os.path.dirname(python) + os.pathsep + env.get("PATH", ""),
    )
    env.update(env_overrides)
    completed = subprocess.run(
        [python, "-m", "ddtrace.commands.ddtrace_run", "python"] + (["-c", script] if script else [APP]),
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    if expected_stdout is not None:
        assert completed.stdout.split() == list(expected_stdout)
    return completed


def assert_two_traced_requests(agent, ddtrace_litellm_spans=False):
    found = requests_with_attempts(agent.traces())
    assert len(found) == 2
    for request, attempts in found:
        assert [span["resource"] for span in attempts] == ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022"]
        assert attempts[1]["meta"]["llm.fallback.reason"] == "RateLimitError"
    events = agent.llmobs_spans()
    llm_spans = [event for event in events if (event["meta"].get("span") or {}).get("kind") == "llm"]
    assert len(llm_spans) == 4  # one per provider call, whether ddtrace's litellm integration is on or not
    assert all(
        "llm.fallback.depth:0" in event["tags"] or "llm.fallback.depth:1" in event["tags"] for event in llm_spans
    )
    names = [span["name"] for trace in agent.traces() for span in trace]
    if ddtrace_litellm_spans:
        assert "litellm.request" in names
    else:  # ddllm took the calls over: one span per layer
        assert "litellm.request" not in names
        workflows = [event for event in events if (event["meta"].get("span") or {}).get("kind") == "workflow"]
        assert [event["name"] for event in workflows] == ["llm.request", "llm.request"]


def test_ddtrace_run_patches_an_app_that_never_imports_ddllm(agent):
    run_under_ddtrace_run(sys.executable, agent)
    assert_two_traced_requests(agent)


def test_ddtrace_litellm_enabled_true_keeps_both(agent):
    run_under_ddtrace_run(sys.executable, agent, DD_TRACE_LITELLM_ENABLED="true")
    assert_two_traced_requests(agent, ddtrace_litellm_spans=True)


def test_ddllm_hands_back_to_ddtrace_when_it_cannot_patch(agent):
    """The start-up hook took over from ddtrace's integration, then ddllm did not patch at
    litellm's import (DDLLM_ENABLED=false set by the application after start-up stands for any
    such reason, an unsupported LiteLLM among them): ddtrace's integration traces instead."""
    app = "import os; os.environ['DDLLM_ENABLED'] = 'false'; exec(open(%r).read())" % APP
    completed = run_under_ddtrace_run(sys.executable, agent, script=app)
    names = {span["name"] for trace in agent.traces() for span in trace}
    assert "litellm.request" in names
    assert not names & {"llm.request", "llm.attempt"}
    assert completed.returncode == 0


def test_ddllm_enabled_false_opts_out(agent):
    run_under_ddtrace_run(sys.executable, agent, DDLLM_ENABLED="false")
    names = {span["name"] for trace in agent.traces() for span in trace}
    assert "litellm.request" in names  # ddtrace's own integration still runs
    assert not names & {"llm.request", "llm.attempt"}


@pytest.fixture(scope="module")
def sdist_and_wheel(tmp_path_factory):
    """What users install, built once: the sdist, and the wheel built from that sdist (as
    `python -m build` does), so a file the sdist lacks is missing from the wheel too."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), REPO],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [sdist] = glob.glob(str(dist / "ddllm-*.tar.gz"))
    [wheel] = glob.glob(str(dist / "ddllm-*.whl"))
    return sdist, wheel


@pytest.fixture(scope="module")
def fresh_venv_with_wheel(tmp_path_factory, sdist_and_wheel):
    """A new virtualenv with only the wheel built from the sdist installed in it."""
    python, site_packages = fresh_venv(tmp_path_factory.mktemp("wheel"))
    pip_install(python, "--ignore-installed", sdist_and_wheel[1])
    assert os.path.exists(os.path.join(site_packages, "ddllm.pth"))
    assert os.path.exists(os.path.join(site_packages, "ddllm", "py.typed"))  # its type hints are its API's
    return python


def test_the_sdist_holds_what_builds_the_wheel_and_no_tests(sdist_and_wheel):
    with tarfile.open(sdist_and_wheel[0]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in (
        "setup.cfg",
        "pyproject.toml",
        "build_commands.py",
        "MANIFEST.in",
        "ddllm.pth",
        "LICENSE",
        "README.md",
        "ddllm/__init__.py",
        "ddllm/instrument/patching.py",
        "ddllm/assets/files.py",
        "ddllm/cli/main.py",
    ):
        assert needed in names, needed
    for folder in ("dashboards", "monitors", "slos"):
        shipped = {
            "%s/%s" % (folder, os.path.basename(path)) for path in glob.glob(os.path.join(REPO, folder, "*.json"))
        }
        assert shipped and shipped <= names
    assert not [name for name in names if name.startswith("tests/")]


def test_wheel_in_fresh_virtualenv_works_under_ddtrace_run(agent, fresh_venv_with_wheel):
    located = subprocess.run(
        [fresh_venv_with_wheel, "-c", "import ddllm; print(ddllm.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert REPO not in located and "/venv/" in located
    run_under_ddtrace_run(fresh_venv_with_wheel, agent)
    assert_two_traced_requests(agent)


def test_the_installed_wheel_validates_its_own_assets(fresh_venv_with_wheel, tmp_path):
    """From a plain install, run away from the checkout: the JSON can only come from the package."""
    completed = subprocess.run(
        [fresh_venv_with_wheel, "-m", "ddllm", "validate"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    shipped = [
        path
        for folder in ("dashboards", "monitors", "slos")
        for path in glob.glob(os.path.join(REPO, folder, "*.json"))
    ]
    assert "%d files, 0 errors" % len(shipped) in completed.stdout


def test_pip_install_from_the_checkout_installs_the_hook_and_the_assets(tmp_path):
    """`pip install .`: the wheel pip builds from the checkout, not one from the sdist."""
    python, site_packages = fresh_venv(tmp_path)
    pip_install(python, "--no-build-isolation", REPO)
    with open(os.path.join(site_packages, "ddllm.pth")) as hook:
        assert hook.read().strip() == "import ddllm._startup"
    for folder in ("dashboards", "monitors"):
        shipped = sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, folder, "*.json")))
        installed = sorted(os.listdir(os.path.join(site_packages, "ddllm", "assets", folder)))
        assert shipped and installed == shipped


def test_an_editable_install_keeps_the_start_up_hook(tmp_path):
    python, site_packages = fresh_venv(tmp_path)
    pip_install(python, "--no-build-isolation", "--editable", REPO)
    with open(os.path.join(site_packages, "ddllm.pth")) as hook:
        assert hook.read().strip() == "import ddllm._startup"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DD_", "DDLLM_", "PYTHONPATH"))}
    env.update(
        DD_TRACE_ENABLED="false", DD_INSTRUMENTATION_TELEMETRY_ENABLED="false", DD_REMOTE_CONFIGURATION_ENABLED="false"
    )
    completed = subprocess.run(
        [
            python,
            "-m",
            "ddtrace.commands.ddtrace_run",
            python,
            "-c",
            "import litellm, ddllm; print(ddllm.__file__); print(ddllm.is_patched())",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(tmp_path),
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert completed.stdout.split() == [os.path.join(REPO, "ddllm", "__init__.py"), "True"]


PATCH_BEFORE_IMPORT = """
import ddllm
from ddllm.instrument import patching
assert ddllm.patch(dogstatsd_url="udp://127.0.0.1:9")  # imports litellm, which runs the start-up hook
import litellm
print(sum(1 for owner, name, _ in patching._installed if owner is litellm and name == "completion"))
print(patching._config.dogstatsd)
"""


def test_patch_before_litellm_is_imported_under_ddtrace_run_wraps_once_with_the_callers_settings(agent):
    """ddllm.patch() imports litellm; under ddtrace-run that import runs the start-up hook,
    which calls patch() again on the same thread. The outer call alone wraps."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DD_", "DDLLM_"))}
    env.update(
        DD_TRACE_AGENT_URL=agent.url,
        DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
        DD_REMOTE_CONFIGURATION_ENABLED="false",
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    )
    completed = subprocess.run(
        [sys.executable, "-m", "ddtrace.commands.ddtrace_run", "python", "-c", PATCH_BEFORE_IMPORT],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert completed.stdout.split() == ["1", "udp://127.0.0.1:9"]
