"""The tested range, named once (ddllm/tested_versions.py) and read by `make compat`, the
constraints the suites run on, the README, the start-up warning and `ddllm doctor`; and a
LiteLLM newer than the newest tested is patched, with one warning line, and is a WARN in the
doctor, not a PROBLEM."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest
from venvs import fresh_venv

from ddllm import tested_versions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEWER_LITELLM = "1.999.0"


def pinned(constraints_file, distribution):
    with open(os.path.join(REPO, "constraints", constraints_file)) as constraints:
        return re.search(r"^%s==(\S+)$" % distribution, constraints.read(), re.M).group(1)


def test_the_constraints_pin_the_tested_range():
    for distribution in ("litellm", "ddtrace"):
        assert pinned("oldest.txt", distribution) == tested_versions.OLDEST_TESTED[distribution]
        assert pinned("test.txt", distribution) == tested_versions.NEWEST_TESTED[distribution]


def test_make_compat_tests_each_release_named():
    planned = subprocess.run(["make", "-n", "compat"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert planned.returncode == 0, planned.stderr
    assert sorted(set(re.findall(r"litellm==(\S+)", planned.stdout))) == sorted(tested_versions.COMPAT_LITELLM)


def test_the_readme_names_the_tested_range():
    with open(os.path.join(REPO, "README.md")) as readme:
        text = readme.read()
    for distribution in ("litellm", "ddtrace"):
        row = "| %s | %s | %s |" % (
            distribution,
            tested_versions.OLDEST_TESTED[distribution],
            tested_versions.NEWEST_TESTED[distribution],
        )
        assert row in text, row
    minors = ", ".join(".".join(version.split(".")[:2]) for version in tested_versions.COMPAT_LITELLM)
    assert minors in text


def test_versions_past_the_newest_tested():
    newest = tested_versions.NEWEST_TESTED["litellm"]
    assert not tested_versions.newer_than_tested("litellm", newest)
    assert not tested_versions.newer_than_tested("litellm", tested_versions.OLDEST_TESTED["litellm"])
    assert tested_versions.newer_than_tested("litellm", "1.111.0")
    assert tested_versions.newer_than_tested("ddtrace", "4.17.0rc1")


@pytest.fixture(scope="module")
def environment_with_a_newer_litellm(tmp_path_factory):
    """A virtualenv whose LiteLLM says it is 1.999.0: this environment's LiteLLM (the code is
    the tested one), under metadata of a release no test ran, found first on sys.path."""
    python, site_packages = fresh_venv(tmp_path_factory.mktemp("newer-litellm"))
    [installed] = glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "litellm-*.dist-info"))
    newer = os.path.join(site_packages, "litellm-%s.dist-info" % NEWER_LITELLM)
    shutil.copytree(installed, newer)
    metadata_path = os.path.join(newer, "METADATA")
    with open(metadata_path) as metadata:
        text = re.sub(r"^Version: .*$", "Version: " + NEWER_LITELLM, metadata.read(), count=1, flags=re.M)
    with open(metadata_path, "w") as metadata:
        metadata.write(text)
    return python


PATCH_AND_SAY = """
import logging, sys
logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
import ddllm
print(ddllm.patch())
print(ddllm.is_patched())
ddllm.unpatch()
print(ddllm.patch())
"""


def patch_in(python):
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DDLLM_", "PYTHONPATH"))}
    completed = subprocess.run(
        [python, "-c", PATCH_AND_SAY], capture_output=True, text=True, timeout=240, env=environment
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return completed


def test_a_newer_litellm_is_patched_with_one_warning_naming_the_tested_range(environment_with_a_newer_litellm):
    completed = patch_in(environment_with_a_newer_litellm)
    assert completed.stdout.split() == ["True", "True", "True"]
    warnings = [line for line in completed.stderr.splitlines() if "newer than the releases" in line]
    assert warnings == [
        "WARNING ddllm: litellm %s is newer than the releases ddllm was tested with (litellm %s); ddllm patches "
        "it, and a fact it cannot read there is left out" % (NEWER_LITELLM, tested_versions.tested_range("litellm"))
    ]


def test_the_tested_litellm_gets_no_warning():
    completed = patch_in(sys.executable)
    assert completed.stdout.split() == ["True", "True", "True"]
    assert "newer than the releases" not in completed.stderr


def test_the_doctor_warns_about_a_newer_litellm_and_sees_no_problem_in_it(environment_with_a_newer_litellm):
    completed = subprocess.run(
        [environment_with_a_newer_litellm, "-m", "ddllm", "doctor", "--json", "--no-subprocess"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = json.loads(completed.stdout)
    [litellm] = [check for check in report["checks"] if check["name"] == "litellm"]
    assert litellm["status"] == "warn"
    assert litellm["detail"].startswith(
        "%s (supported: >=1.106) is newer than the releases ddllm was tested with (%s)"
        % (NEWER_LITELLM, tested_versions.tested_range("litellm"))
    )
    assert litellm["name"] not in [check["name"] for check in report["checks"] if check["status"] == "problem"]
