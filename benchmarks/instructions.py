"""Instructions per call of each variant of `make bench`, counted by Valgrind's callgrind
(`make bench-instructions`).

`make bench` times rounds, and on a shared machine the time of the same code moves by more
than some goals' margins. An instruction count does not move: the same code on the same
inputs executes the same instructions, so a change of a few microseconds shows here when
`make bench`'s intervals cannot resolve it, and it judges the design's speed goals
(docs/design.md, "Speed"): what ddllm adds beyond the floor per one-attempt request and per
streamed chunk, and a fallback request's added cost as a share of ddtrace's integration's.
It does not see what costs time without instructions (cache misses, waits for the GIL,
system calls); `make bench` shows those in time. "~us" reads the instructions beyond the
floor as time at the speed of the bare call on this machine (timed first, outside Valgrind):
what they would take if they ran as fast as LiteLLM's own do on average.

Each variant and workload runs in its own process under callgrind, which counts only inside
`functools.reduce` (`--toggle-collect`): the measured calls are made from one reduce, after a
warm-up outside it. What the calls leave to a thread (ddllm's background endings and metric
records, the floor's tags and metric lines) is carried out on the calling thread after each
call, inside the count, as `make bench` does at the end of each round. Other threads are not
counted; LiteLLM's own logging thread is the same work in every variant.

The cyclic garbage collector is off while the calls are counted. Whether one of its
collections (~250 us) falls among 20 calls or not moved a variant's count by ~35 thousand
instructions per call from one change to the next; `make bench`'s timed rounds include it.
What a variant allocates and frees is counted either way.

    python benchmarks/instructions.py [--calls 20] [--jobs 2]
"""

import argparse
import concurrent.futures
import functools
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from answers import STREAMED_ANSWER, STREAMED_CHUNKS

VARIANTS = ("bare", "floor", "ddllm", "ddtrace")
# (LLM Observability on, attempts, streamed): whole answers, and one streamed answer read to
# its end (`answers.STREAMED_CHUNKS` chunks), which is what a voice product does on every turn.
WORKLOADS = (
    (False, 1, False),
    (False, 2, False),
    (True, 1, False),
    (True, 2, False),
    (False, 1, True),
    (True, 1, True),
)
WARM_UP_CALLS = 20

# The design's speed goals, judged on these counts: instructions beyond the floor per
# one-attempt request and per streamed chunk, by LLM Observability off and on, and the share
# of ddtrace's integration's added cost that a fallback request may add.
BEYOND_FLOOR_PER_REQUEST_GOAL = {False: 150e3, True: 350e3}
BEYOND_FLOOR_PER_CHUNK_GOAL = {False: 5e3, True: 50e3}
FALLBACK_SHARE_OF_DDTRACE_GOAL = 0.3
# A streamed call is ~40 ms of LiteLLM's own work per answer, ~10 times a whole one's: fewer
# of them give a count as steady.
STREAMED_CALLS = 5


def _bench_module():
    """`benchmarks/run.py`, imported in a child only: importing it starts the sinks, which the
    parent does not need."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run

    return run


def count_in_child(variant, llmobs, attempts, calls, streamed=False):
    """Run in the process callgrind watches: warm the variant up, then make `calls` calls
    inside one functools.reduce, each followed by the work it left to a thread."""
    run = _bench_module()

    # Deferred work waits for the calling thread (`finish_deferred_work`), where it is counted.
    run.FloorThread.BATCH_SECONDS = 10**6
    run.background.BATCH_SECONDS = 10**6
    if llmobs:
        run.LLMObs.enable(ml_app="ddllm-bench", agentless_enabled=False, integrations_enabled=False)
    # `request` returns what the Router returns (a stream, when streamed); `call` is what the
    # caller does, reading a stream to its end.
    if streamed:
        routed = run.router(attempts, STREAMED_ANSWER)
        request = run.completion_of(routed, stream=True)
        call = run.read_through(request)
    else:
        routed = run.router(attempts)
        call = request = run.completion_of(routed)
    if variant == "floor":
        call = run.in_design_spans(
            request,
            run.design_spans_of(call, attempts),
            run.router_settings(routed),
            run.FloorThread(),
            run.design_metrics_of(call),
            streamed=streamed,
        )
        if streamed:
            call = run.read_through(call)
    elif variant != "bare":
        run.VARIANTS[variant][0]()  # patch
    for _ in range(WARM_UP_CALLS):
        call()
    run.finish_deferred_work()

    def one_call(done, _):
        call()
        run.finish_deferred_work()
        return done + 1

    gc.collect()
    gc.disable()  # see the module's docstring
    functools.reduce(one_call, range(calls), 0)


def time_bare_call(rounds=20, calls=30):
    """Median seconds of the bare one-attempt call on this machine, outside Valgrind: what an
    instruction costs here on average, to read the counts in microseconds."""
    run = _bench_module()

    call = run.completion_of(run.router(1))
    for _ in range(calls):
        call()
    return statistics.median(run.time_per_call(call, calls) for _ in range(rounds))


def callgrind_command(out, variant, llmobs, attempts, calls, python_options=(), streamed=False):
    """The command that runs `count_in_child` for one variant and workload (`llmobs` "on" or
    "off") under callgrind, counting inside its calls only, into the file `out`."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--toggle-collect=functools_reduce",
        "--callgrind-out-file=" + out,
        sys.executable,
        *python_options,
        os.path.abspath(__file__),
        "--child",
        variant,
        llmobs,
        str(attempts),
        str(calls),
        *(["--streamed"] if streamed else []),
    ]


CHILD_ENVIRONMENT = dict(os.environ, PYTHONHASHSEED="0")  # the same dict layouts in every run


def counted_instructions(variant, llmobs, attempts, streamed, calls, directory):
    """Instructions per call of one variant and workload, from a callgrind run of it."""
    out = os.path.join(
        directory,
        "callgrind.%s.%s.%d%s" % (variant, "on" if llmobs else "off", attempts, ".streamed" if streamed else ""),
    )
    command = callgrind_command(out, variant, "on" if llmobs else "off", attempts, calls, streamed=streamed)
    done = subprocess.run(command, env=CHILD_ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise RuntimeError("%s failed under callgrind:\n%s" % (" ".join(command[-5:]), done.stdout[-3000:]))
    with open(out) as profile:
        totals = re.search(r"^(?:totals|summary): (\d+)", profile.read(), re.MULTILINE)
    if totals is None:
        raise RuntimeError("no instruction total in " + out)
    return int(totals.group(1)) / calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", nargs=4, metavar=("VARIANT", "LLMOBS", "ATTEMPTS", "CALLS"), help=argparse.SUPPRESS)
    parser.add_argument("--streamed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--time-bare", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.time_bare:
        print(time_bare_call())
        return 0
    if options.child:
        variant, llmobs, attempts, calls = options.child
        count_in_child(variant, llmobs == "on", int(attempts), int(calls), options.streamed)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    # Timed before the callgrind processes start, so that they do not slow it down.
    bare_seconds = float(
        subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--time-bare"], check=True, stdout=subprocess.PIPE, text=True
        ).stdout.split()[-1]
    )
    with tempfile.TemporaryDirectory(prefix="ddllm-callgrind-") as directory:
        with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
            counts = {
                (variant, llmobs, attempts, streamed): pool.submit(
                    counted_instructions,
                    variant,
                    llmobs,
                    attempts,
                    streamed,
                    STREAMED_CALLS if streamed else options.calls,
                    directory,
                )
                for llmobs, attempts, streamed in WORKLOADS
                for variant in VARIANTS
            }
            counts = {key: future.result() for key, future in counts.items()}
    # At the bare call's speed on this machine: what the instructions beyond the floor would
    # take if they ran as fast as LiteLLM's own do on average.
    seconds_per_instruction = bare_seconds / counts[("bare", False, 1, False)]
    print(
        "instructions per call (thousands), %d calls (%d streamed) after %d to warm up; added = over bare"
        % (options.calls, STREAMED_CALLS, WARM_UP_CALLS)
    )
    print(
        'the bare call, 1 attempt: %.2f ms here, %.1f instructions a nanosecond; "~us" = at that speed'
        % (bare_seconds * 1e3, 1e-9 / seconds_per_instruction)
    )
    print(
        "%-20s %-6s %8s %8s %8s %8s %13s %13s %12s %9s"
        % (
            "workload",
            "llmobs",
            "bare",
            "floor",
            "ddllm",
            "ddtrace",
            "added/ddtrace",
            "floor/ddtrace",
            "beyond floor",
            "~us",
        )
    )
    for llmobs, attempts, streamed in WORKLOADS:
        bare, floor, ours, theirs = (counts[(variant, llmobs, attempts, streamed)] for variant in VARIANTS)
        print(
            "%-20s %-6s %8.0f %8.0f %8.0f %8.0f %13.2f %13.2f %12.0f %9.0f"
            % (
                "router, %d attempt%s%s" % (attempts, "s" if attempts > 1 else "", ", streamed" if streamed else ""),
                "on" if llmobs else "off",
                bare / 1e3,
                floor / 1e3,
                ours / 1e3,
                theirs / 1e3,
                (ours - bare) / (theirs - bare),
                (floor - bare) / (theirs - bare),
                (ours - floor) / 1e3,
                (ours - floor) * seconds_per_instruction * 1e6,
            )
        )
    # A stream's chunks pass through ddllm's proxies on the caller's thread as it reads them:
    # what each adds is the streamed request's count beyond the floor, less a whole answer's.
    goals = []
    for llmobs, attempts, streamed in WORKLOADS:
        on_off = "on" if llmobs else "off"
        beyond = counts[("ddllm", llmobs, attempts, streamed)] - counts[("floor", llmobs, attempts, streamed)]
        if streamed:
            beyond_whole = counts[("ddllm", llmobs, attempts, False)] - counts[("floor", llmobs, attempts, False)]
            per_chunk = (beyond - beyond_whole) / STREAMED_CHUNKS
            print(
                "streamed, LLM Observability %s: a chunk adds %.1f thousand beyond the floor (~%.1f us), %d chunks"
                % (on_off, per_chunk / 1e3, per_chunk * seconds_per_instruction * 1e6, STREAMED_CHUNKS)
            )
            goals.append(
                (
                    "a streamed chunk, LLM Observability %s: beyond the floor" % on_off,
                    per_chunk,
                    BEYOND_FLOOR_PER_CHUNK_GOAL[llmobs],
                )
            )
        elif attempts == 1:
            goals.append(
                (
                    "a one-attempt request, LLM Observability %s: beyond the floor" % on_off,
                    beyond,
                    BEYOND_FLOOR_PER_REQUEST_GOAL[llmobs],
                )
            )
        else:
            bare, ours, theirs = (
                counts[(variant, llmobs, attempts, streamed)] for variant in ("bare", "ddllm", "ddtrace")
            )
            goals.append(
                (
                    "a fallback request, LLM Observability %s: added / ddtrace's added" % on_off,
                    (ours - bare) / (theirs - bare),
                    FALLBACK_SHARE_OF_DDTRACE_GOAL,
                )
            )
    print('\ngoals (docs/design.md, "Speed")')
    for name, value, goal in goals:
        shown = "%.2f" % value if goal < 10 else "%.1f thousand" % (value / 1e3)
        limit = "%.2f" % goal if goal < 10 else "%.0f thousand" % (goal / 1e3)
        print("%-4s %s: %s (at most %s)" % ("PASS" if value <= goal else "FAIL", name, shown, limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
