"""Fresh virtualenvs for what a user's environment holds, built with no network."""

import os
import subprocess
import sys
import sysconfig


def fresh_venv(work):
    """A new virtualenv whose dependencies come from this environment's site-packages,
    appended after its own (no network needed): (its python, its site-packages)."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(site_packages, "zz_test_dependencies.pth"), "w") as pth:
        pth.write(sysconfig.get_paths()["purelib"] + "\n")
    return python, site_packages


def pip_install(python, *arguments):
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", *arguments],
        check=True,
        capture_output=True,
        timeout=300,
    )
