"""Where the LiteLLM proxy's CPU goes, per variant of `make bench-proxy` (`make bench-proxy-profile`).

The same proxies as benchmarks/proxy_cpu.py, one round each under py-spy (`pip install
py-spy`; sampling, non-blocking: the proxy is not paused), its samples scaled to the round's
CPU per request as /proc reads it. Only the thread holding the GIL is sampled (`--gil`):
py-spy's own idle detection counted threads waiting on a queue or a pipe as busy here, and
a wait releases the GIL. CPU spent in native code without the GIL (ddtrace's native writer
sending) is left out of the attribution, and shared out in the scaling. Printed per variant, in µs per request:

- by package: the innermost frame of ddllm, ddtrace, LiteLLM, the web server (uvicorn,
  starlette, fastapi), the HTTP clients, pydantic, or else the standard library and the rest;
  a frame of ddllm counts as ddllm's unless it is one of its wrappers calling LiteLLM's call;
- ddllm's own samples by step (its outermost function below the wrappers: what tracing.py
  does before, after and around each call, and its background thread's work) and by its
  innermost function (where the time is spent: what it calls of ddtrace and the standard
  library included).

The raw stacks are kept (`--output`) for a closer look. Sampling counts a few hundred
samples per µs-sized step per 1000 requests: steps under ~10 µs per request are noise.

`--timers` instead times ddllm's steps in a ddllm proxy, exactly: benchmarks/proxy_timers/
sitecustomize.py wraps them (inclusive thread CPU time per call; each timer adds what its
calibration line says, to itself and to each timed function that calls it).

    python benchmarks/proxy_profile.py [--variants bare,ddllm] [--requests 2000] [--rate 250] [--timers]
"""

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from proxy_cpu import VARIANTS, add_load_options, gateway, print_setup, send, tree_cpu_seconds, wait_until_quiet

_HERE = os.path.dirname(os.path.abspath(__file__))
# ddllm's wrappers of LiteLLM's entry points and of its logging handlers (which run LiteLLM's
# callbacks detached from the attempt): a sample in LiteLLM's call under them is LiteLLM's.
_SHELLS = frozenset(
    {
        "_callbacks_detached",
        "_async_callbacks_detached",
        "_traced_request",
        "_traced_request_async",
        "_traced_attempt",
        "_traced_attempt_async",
        "traced_module_entry",
        "traced_router_entry",
        "_count_send",
        "_count_async_send",
    }
)
# ddllm's frames that only carry its steps: the step is the next frame of ddllm's within.
_CARRIERS = _SHELLS | {"guarded.<locals>.decorate.<locals>.run", "_Worker._run", "run_pending"}
_PACKAGES = (  # (category, what a frame's file path holds), the first that matches
    ("ddllm", "ddllm/"),
    ("ddtrace", "ddtrace/"),
    ("litellm", "litellm/"),
    ("web server", ("uvicorn/", "starlette/", "fastapi/", "uvloop/", "h11/", "httptools/")),
    ("http clients", ("aiohttp/", "httpx/", "httpcore/", "openai/", "anyio/", "yarl/", "multidict/")),
    ("pydantic", "pydantic"),
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _category(path):
    for name, marks in _PACKAGES:
        if any(mark in path for mark in ((marks,) if isinstance(marks, str) else marks)):
            return name
    return None


def read_samples(path):
    """[(count, [(function, file)] from the outermost frame in, the thread)] of a raw py-spy file."""
    samples = []
    with open(path) as raw:
        for line in raw:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames, thread = [], ""
            for text in stack.split(";"):
                match = _FRAME.match(text)
                if match is None or match.group("line") is None:
                    if text.startswith("thread"):
                        thread = text
                    continue
                frames.append((match.group("function"), match.group("file")))
            samples.append((int(count), frames, thread))
    return samples


def attribute(frames):
    """(category, ddllm's step, ddllm's innermost function) of one sample; the last two None
    unless the sample is ddllm's own."""
    ours = [index for index, (_, path) in enumerate(frames) if "ddllm/" in path]
    if ours:
        inner = ours[-1]
        wrapped_call = frames[inner][0] in _SHELLS and inner + 1 < len(frames)
        if not wrapped_call:
            step = next((frames[i][0] for i in ours if frames[i][0] not in _CARRIERS), frames[inner][0])
            return "ddllm", step, "%s (%s)" % (frames[inner][0], os.path.basename(frames[inner][1]))
    for function, path in reversed(frames):
        category = _category(path)
        if category is not None and category != "ddllm":
            return category, None, None
    return "standard library, other", None, None


def summary(samples, cpu_per_request):
    """{"category": Counter, "step": Counter, "function": Counter} in µs per request."""
    total = sum(count for count, _, _ in samples) or 1
    scale = cpu_per_request * 1e6 / total
    found = {"category": collections.Counter(), "step": collections.Counter(), "function": collections.Counter()}
    for count, frames, _ in samples:
        category, step, function = attribute(frames)
        found["category"][category] += count * scale
        if step is not None:
            found["step"][step] += count * scale
            found["function"][function] += count * scale
    return found


def profile_round(proxy, py_spy, options, output):
    pid = proxy.process.pid
    cpu = tree_cpu_seconds(pid)
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(options.rate),
            "--format",
            "raw",
            "--threads",
            "--gil",
            "--nonblocking",
            "--output",
            output,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # attached
    send(proxy, options.requests, options.clients, options.stream)
    wait_until_quiet(pid, 0.01)
    spy.send_signal(signal.SIGINT)
    _, errors = spy.communicate(timeout=120)
    if not os.path.exists(output):
        raise RuntimeError("py-spy wrote nothing: %s" % errors.decode(errors="replace")[-2000:])
    return (tree_cpu_seconds(pid) - cpu) / options.requests


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="bare,ddllm", help="of: %s" % ", ".join(VARIANTS))
    parser.add_argument("--rate", type=int, default=250, help="py-spy's samples per second")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--output", default=None, help="where the raw stacks go (a new directory by default)")
    parser.add_argument("--top", type=int, default=15)
    add_load_options(parser)
    parser.set_defaults(requests=2000)
    parser.add_argument("--timers", action="store_true", help="time ddllm's steps instead (a ddllm proxy only)")
    options = parser.parse_args(argv)
    output = options.output or tempfile.mkdtemp(prefix="ddllm-proxy-profile-")
    os.makedirs(output, exist_ok=True)
    if options.timers:
        return time_steps(options, output)
    variants = {name: VARIANTS[name] for name in options.variants.split(",")}
    print_setup(options, "one profiled round")

    found = {}
    with gateway(options, variants) as (proxies, _agent, _helpers):
        for name, proxy in proxies.items():
            path = os.path.join(output, name + ".txt")
            cpu_per_request = profile_round(proxy, options.py_spy, options, path)
            found[name] = summary(read_samples(path), cpu_per_request)
            print(
                "%s: %.3f ms of CPU per request under py-spy; stacks in %s" % (name, cpu_per_request * 1e3, path),
                flush=True,
            )

    names = list(found)
    categories = sorted(
        {c for name in names for c in found[name]["category"]},
        key=lambda c: -max(found[name]["category"][c] for name in names),
    )
    print("\nµs per request by package (the innermost frame's)")
    print("%-26s" % "" + "".join("%12s" % name for name in names))
    for category in categories:
        print("%-26s" % category + "".join("%12.0f" % found[name]["category"][category] for name in names))
    print("%-26s" % "all" + "".join("%12.0f" % sum(found[name]["category"].values()) for name in names))
    for name in names:
        for key, title in (("step", "by step"), ("function", "by innermost function")):
            if found[name][key]:
                print("\n%s: ddllm's own µs per request, %s" % (name, title))
                for label, micros in found[name][key].most_common(options.top):
                    print("  %7.1f  %s" % (micros, label))


def time_steps(options, output):
    print_setup(options, "one timed round")
    path = os.path.join(output, "timers.json")
    environment = dict(VARIANTS["ddllm"], PYTHONPATH=os.path.join(_HERE, "proxy_timers"), DDLLM_TIMERS_OUTPUT=path)
    with gateway(options, {"ddllm": environment}) as (proxies, _agent, _helpers):
        proxy = proxies["ddllm"]
        pid = proxy.process.pid
        os.kill(pid, signal.SIGUSR2)  # the warm-up's timings out
        time.sleep(0.5)
        cpu = tree_cpu_seconds(pid)
        send(proxy, options.requests, options.clients, options.stream)
        wait_until_quiet(pid, 0.01)
        cpu = (tree_cpu_seconds(pid) - cpu) / options.requests
        os.remove(path)
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # written whole
    with open(path) as timers:
        table = json.load(timers)
    calibration = table.pop("_calibration")
    print(
        "ddllm proxy: %.3f ms of CPU per request, timers included; a timer adds %.2f µs to its own reading "
        "and %.2f µs to each timed caller's" % (cpu * 1e3, calibration["self"] / 1e3, calibration["nested"] / 1e3)
    )
    print("\n%-40s %10s %12s %10s %14s" % ("inclusive", "calls/req", "µs/request", "µs/call", "of it, thread"))
    for name, (calls, ns, thread_calls, thread_ns) in sorted(table.items(), key=lambda item: -item[1][1]):
        print(
            "%-40s %10.2f %12.1f %10.1f %14.1f"
            % (
                name,
                calls / options.requests,
                ns / 1e3 / options.requests,
                ns / 1e3 / max(calls, 1),
                thread_ns / 1e3 / options.requests,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
