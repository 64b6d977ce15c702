"""The LiteLLM and ddtrace releases ddllm's tests ran against: the one place that names them.

Read by `make compat` (the LiteLLM releases it tests, `python ddllm/tested_versions.py
compat-litellm`), by the start-up warning on a newer release
(`ddllm.instrument.config.warn_if_newer_than_tested`), by `ddllm doctor`, and by the README's
"Supported versions" (tests/test_tested_versions.py holds the README and the constraints
files to it).

setup.cfg declares a lower bound on litellm and no upper one: LiteLLM releases several times
a week and stays 1.x, so a cap would downgrade an application's LiteLLM or refuse its pin.
A newer release is patched as any other; what ddllm cannot read there is left out, one fact
at a time, and one warning at start-up names the range below.

This module imports nothing: the runtime, the CLI and the Makefile all read it.
"""

import re

# `make compat`: each LiteLLM minor release of the last six months, the newest patch of each
# (`pip index versions litellm`; add a minor when one comes out, drop the oldest past six
# months). There is no 1.107.
COMPAT_LITELLM = ("1.106.12", "1.108.14", "1.109.3", "1.110.2")

# The oldest run is constraints/oldest.txt's (`make test-oldest`), the newest
# constraints/test.txt's (`make test-newest`, `make compat` for ddtrace).
OLDEST_TESTED = {"litellm": COMPAT_LITELLM[0], "ddtrace": "3.19.9"}
NEWEST_TESTED = {"litellm": COMPAT_LITELLM[-1], "ddtrace": "4.16.0"}


def release_tuple(version):
    """The numeric release of a version string: '4.16.0rc1' -> (4, 16), '1.111.0' -> (1, 111)."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    if not match:
        raise ValueError("not a version: %r" % version)
    numbers = [int(part) for part in match.group(1).split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def newer_than_tested(distribution, version):
    """True when `version` of `distribution` (litellm, ddtrace) is past the newest tested."""
    return release_tuple(version) > release_tuple(NEWEST_TESTED[distribution])


def tested_range(distribution):
    """'1.106.12 to 1.110.2': the releases of `distribution` the tests ran against."""
    return "%s to %s" % (OLDEST_TESTED[distribution], NEWEST_TESTED[distribution])


if __name__ == "__main__":  # the Makefile's reader: `python ddllm/tested_versions.py compat-litellm`
    import sys

    if sys.argv[1:] != ["compat-litellm"]:
        raise SystemExit("usage: python ddllm/tested_versions.py compat-litellm")
    print(" ".join(COMPAT_LITELLM))
