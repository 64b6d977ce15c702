"""`ddllm` itself: what it says to a command line it cannot run."""

import subprocess
import sys

import pytest

from ddllm.cli import main as cli


@pytest.mark.parametrize(
    "argv, said",
    [
        (["no-such-command"], "invalid choice: 'no-such-command'"),
        (["export"], "ddllm export: say which format: terraform"),
        (["export", "yaml"], "invalid choice: 'yaml'"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["demo", "--requests", "many"], "argument --requests: invalid int value: 'many'"),
        (["doctor", "extra"], "unrecognized arguments: extra"),
    ],
    ids=[
        "unknown-command",
        "export-without-format",
        "unknown-format",
        "unknown-option",
        "demo-not-a-number",
        "doctor-extra-argument",
    ],
)
def test_a_command_line_it_cannot_run_is_a_usage_error(capsys, argv, said):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert said in captured.err and "Traceback" not in captured.err


def test_the_installed_command_exits_2_on_a_usage_error():
    completed = subprocess.run(
        [sys.executable, "-m", "ddllm", "no-such-command"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert "invalid choice: 'no-such-command'" in completed.stderr and completed.stdout == ""


@pytest.mark.parametrize(
    "argv, usage",
    [
        (["push", "--no-such-option"], "usage: ddllm push "),
        (["doctor", "--no-such-option"], "usage: ddllm doctor "),
        (["export", "terraform", "--no-such-option"], "usage: ddllm export terraform "),
        (["--no-such-option"], "usage: ddllm [-h]"),
    ],
    ids=["push", "doctor", "export-terraform", "top-level"],
)
def test_a_bad_option_prints_the_usage_of_the_command_it_follows(capsys, argv, usage):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(usage)
    assert err.rstrip().endswith("error: unrecognized arguments: --no-such-option")
