"""Where ddllm's instructions beyond the floor go, Python function by Python function, counted
by Valgrind's callgrind (`make bench-functions`).

`make bench-instructions` says how many instructions a variant executes per call; this says
where. Under `python -X perf` (Python 3.12 or newer) every Python function runs through a
trampoline of its own in machine code, which callgrind counts like a C function, and Python
writes the trampolines' addresses to /tmp/perf-PID.map, which names them here. So each Python
function's inclusive count (itself and all it calls) is exact, and the same on every run.

It runs `make bench`'s floor and ddllm for one workload, each in its own process under
callgrind as `benchmarks/instructions.py` does (the calls and the work they leave to a
thread), and prints:
- ddllm's functions, by instructions per call (inclusive: a wrapper counts what it wraps);
- the functions of other packages that execute more (or fewer) instructions under ddllm than
  under the floor: what ddllm makes them do, such as pydantic building an AttributeError for
  each member read that a LiteLLM model lacks.
Trampolines add a few instructions to every Python call, so the counts run a little above
`make bench-instructions`' and compare only with each other.

    python benchmarks/functions.py [--llmobs on|off] [--attempts 1] [--calls 10] [--top 40]
"""

import argparse
import bisect
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

import instructions  # beside this file: the child that makes the counted calls, and its command

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/"
# One line of `callgrind_annotate --inclusive=yes`: the count, its share, then a function that
# has no symbol (a trampoline is named by its address); "'2" marks a recursive level.
_UNNAMED_FUNCTION = re.compile(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+\?\?\?:0x([0-9a-f]+)('\d+)? ")


def profile(variant, llmobs, attempts, streamed, calls, directory):
    """{Python function: inclusive instructions per call} of one variant under callgrind."""
    out = os.path.join(directory, "callgrind.%s" % variant)
    command = instructions.callgrind_command(
        out, variant, llmobs, attempts, calls, python_options=("-X", "perf"), streamed=streamed
    )
    child = subprocess.Popen(
        command, env=instructions.CHILD_ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = child.communicate()[0]
    perf_map = "/tmp/perf-%d.map" % child.pid  # valgrind runs Python in the process it was started as
    try:
        if child.returncode != 0:
            raise RuntimeError("%s failed under callgrind:\n%s" % (variant, output[-3000:]))
        names = _trampoline_names(perf_map)
    finally:
        if os.path.exists(perf_map):
            os.remove(perf_map)
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    per_function = {}
    for line in annotated.splitlines():
        match = _UNNAMED_FUNCTION.match(line)
        if match is None or match.group(3):  # a recursive level: counted at the outermost
            continue
        name = names(int(match.group(2), 16))
        if name is not None:
            per_function[name] = per_function.get(name, 0) + int(match.group(1).replace(",", "")) / calls
    return per_function


def _trampoline_names(path):
    """address -> the Python function whose trampoline holds it (None if none does)."""
    entries = []
    with open(path) as perf_map:
        for line in perf_map:
            start, size, name = line.rstrip("\n").split(" ", 2)
            entries.append((int(start, 16), int(size, 16), _short(name[len("py::") :])))
    entries.sort()
    starts = [entry[0] for entry in entries]

    def name_of(address):
        index = bisect.bisect_right(starts, address) - 1
        if index < 0 or address >= entries[index][0] + entries[index][1]:
            return None
        return entries[index][2]

    return name_of


def _short(name):
    """`qualname:file` with the file from its package on (site-packages, the checkout)."""
    qualname, _, path = name.partition(":")
    for marker in ("site-packages/", CHECKOUT):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return "%s %s" % (path, qualname)


def _is_ours(name):
    return name.startswith("ddllm/")


def _is_bench(name):
    return name.startswith("benchmarks/") or name.startswith("<frozen")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llmobs", choices=("on", "off"), default="off")
    parser.add_argument("--attempts", type=int, choices=(1, 2), default=1)
    parser.add_argument("--streamed", action="store_true", help="a streamed answer, read to its end")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--top", type=int, default=40)
    options = parser.parse_args(argv)
    if sys.version_info < (3, 12):
        print(
            "perf trampolines need Python 3.12 or newer (`make bench-functions` uses the newest Python's virtualenv)",
            file=sys.stderr,
        )
        return 2
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ddllm-functions-") as directory:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            floor, ours = (
                pool.submit(
                    profile, variant, options.llmobs, options.attempts, options.streamed, options.calls, directory
                )
                for variant in ("floor", "ddllm")
            )
            floor, ours = floor.result(), ours.result()
    total = "benchmarks/instructions.py count_in_child.<locals>.one_call"
    print(
        "instructions per call (thousands), %d calls, LLM Observability %s, %d attempt(s)%s; inclusive"
        % (options.calls, options.llmobs, options.attempts, ", streamed" if options.streamed else "")
    )
    print(
        "floor %.0f, ddllm %.0f: ddllm beyond the floor %.0f"
        % (floor.get(total, 0) / 1e3, ours.get(total, 0) / 1e3, (ours.get(total, 0) - floor.get(total, 0)) / 1e3)
    )
    print("\nddllm's functions:")
    for name, count in sorted(((n, c) for n, c in ours.items() if _is_ours(n)), key=lambda item: -item[1])[
        : options.top
    ]:
        print("%10.1f  %s" % (count / 1e3, name))
    print("\nother functions, ddllm's count minus the floor's (floor, ddllm); one that calls a wrapper of ddllm's")
    print("(LiteLLM's Router calling litellm.completion) counts that wrapper too:")
    others = [
        (ours.get(name, 0) - floor.get(name, 0), name)
        for name in set(ours) | set(floor)
        if not _is_ours(name) and not _is_bench(name)
    ]
    for difference, name in sorted(others, key=lambda item: -abs(item[0]))[: options.top]:
        print("%+10.1f  %s (%.1f, %.1f)" % (difference / 1e3, name, floor.get(name, 0) / 1e3, ours.get(name, 0) / 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
