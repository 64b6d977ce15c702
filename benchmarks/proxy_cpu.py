"""The LiteLLM proxy's CPU per request, with ddllm and without (`make bench-proxy`).

LiteLLM's real proxy (`ddtrace-run litellm --config`, one worker, LLM Observability on, its
traces and events sent to Datadog's test agent, its metrics to a UDP socket nobody reads)
serves chat requests that concurrent clients send, its models pointed at the fake provider
in a process of its own. Three proxies run side by side, one per variant:

- bare: ddtrace-run with neither ddllm (DDLLM_ENABLED=false) nor ddtrace's litellm
  integration (DD_TRACE_LITELLM_ENABLED=false): the web request's spans only;
- ddllm: ddllm at its default (it takes LiteLLM over from ddtrace's integration);
- ddtrace: ddtrace's own litellm integration instead (DDLLM_ENABLED=false,
  DD_TRACE_LITELLM_ENABLED=true), as a reference.

What is measured is the CPU time (user + system, from /proc/PID/stat) of the proxy's process
and its children over a round of requests, until the proxy has gone quiet again (its traces,
events and metrics sent), divided by the round's requests. The variants take turns in
interleaved rounds (A B C, C B A, ...), since this machine's speed drifts; each figure is a
median over rounds of per-round differences or ratios against the bare proxy of the same
round, with an 80% bootstrap interval. The machine's other work during each round is printed:
on 2 shared cores, a round whose others' load is high reads slower for everyone.

    python benchmarks/proxy_cpu.py [--rounds 4] [--requests 1000] [--clients 48] [--stream]
"""

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from importlib import metadata

import httpx

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "tests"))  # the proxy and agent of the tests

from agent import TestAgent  # noqa: E402
from provider import ProviderProcess  # noqa: E402
from proxy_server import PRIMARY_MODEL, ProxyServer, running  # noqa: E402
from rounds import interleaved, interval, median_added, median_ratio, verdict  # noqa: E402

VARIANTS = {
    "bare": {"DDLLM_ENABLED": "false", "DD_TRACE_LITELLM_ENABLED": "false"},
    "ddllm": {},
    "ddtrace": {"DDLLM_ENABLED": "false", "DD_TRACE_LITELLM_ENABLED": "true"},
}
# The tests' proxies send every 0.1 s so that a test waits briefly; here, ddtrace's defaults.
_PRODUCTION_INTERVALS = {"DD_TRACE_WRITER_INTERVAL_SECONDS": "1.0", "_DD_LLMOBS_WRITER_INTERVAL": "1.0"}
GOAL_ADDED = 0.03  # ddllm adds at most 3% to the proxy's CPU per request (issue 27, "The gateway")
_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
    {"role": "user", "content": "What's up?"},
]
_TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU time from /proc -------------------------------------------------------------------


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as stat:
        return stat.read().rpartition(")")[2].split()  # after the command name, which may hold spaces


def _children(pid):
    found = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as children:
                found.extend(int(child) for child in children.read().split())
    except OSError:  # it exited meanwhile
        pass
    return found


def tree_cpu_seconds(pid):
    """User + system CPU seconds of `pid` and its living descendants, all their threads."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = _stat_fields(current)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
        pending.extend(_children(current))
    return total / _TICKS


def machine_busy_seconds():
    """CPU seconds every core of the machine spent busy (not idle, not waiting on I/O)."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICKS


def own_cpu_seconds():
    times = os.times()
    return times.user + times.system


# -- load ------------------------------------------------------------------------------------


async def _send(url, key, requests, clients, stream):
    """`requests` chat requests from `clients` concurrent clients; the failures' count."""
    body = {"model": "primary", "messages": _MESSAGES}
    if stream:
        body["stream"] = True
    headers = {"Authorization": "Bearer " + key}
    remaining, failures = [requests], [0]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(client):
        while remaining[0] > 0:
            remaining[0] -= 1
            try:
                async with client.stream("POST", url + "/chat/completions", json=body, headers=headers) as response:
                    async for _ in response.aiter_raw():
                        pass
                    if response.status_code != 200:
                        failures[0] += 1
            except httpx.HTTPError:
                failures[0] += 1

    async with httpx.AsyncClient(limits=limits, timeout=120.0) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    return failures[0]


def send(proxy, requests, clients, stream):
    return asyncio.run(_send(proxy.url, proxy.master_key, requests, clients, stream))


def wait_until_quiet(pid, idle_per_second, step=0.5, timeout=10.0):
    """After the last answer: until the proxy's CPU over `step` seconds is back near its idle
    rate (its traces, events and metrics sent, LiteLLM's callbacks run)."""
    deadline = time.monotonic() + timeout
    before = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(step)
        now = tree_cpu_seconds(pid)
        if now - before <= idle_per_second * step + 2.0 / _TICKS:
            return
        before = now


def idle_rate(pid, seconds=5.0):
    before = tree_cpu_seconds(pid)
    time.sleep(seconds)
    return (tree_cpu_seconds(pid) - before) / seconds


# -- what each proxy sent --------------------------------------------------------------------


def per_request_counts(agent, proxies, requests):
    """{variant: ({span name: per request}, {LLM Observability kind: per request})}: what
    each proxy sent for `requests` requests, which says that the variant is what it claims."""
    spans = {name: {} for name in proxies}
    events = {name: {} for name in proxies}
    services = {proxy.service: name for name, proxy in proxies.items()}
    for trace in agent.traces():
        for span in trace:
            name = services.get(span.get("service"))
            if name is not None:
                spans[name][span["name"]] = spans[name].get(span["name"], 0) + 1 / requests
    for event in agent.llmobs_spans():
        tags = dict(tag.split(":", 1) for tag in event.get("tags", []) if ":" in tag)
        name = services.get(tags.get("ml_app")) or services.get(tags.get("service"))
        if name is not None:
            span = event.get("meta", {}).get("span")
            kind = span.get("kind") if isinstance(span, dict) else event.get("meta", {}).get("span.kind")
            events[name][kind] = events[name].get(kind, 0) + 1 / requests
    return {name: (spans[name], events[name]) for name in proxies}


def _counts(counts):
    return ", ".join("%s %.2f" % item for item in sorted(counts.items())) or "none"


# -- the run ---------------------------------------------------------------------------------


def _load_line(load):
    return "others' work %.2f cores (machine %.2f, this benchmark's clients, provider and agent %.2f)" % (
        load["others"],
        load["machine"],
        load["helpers"],
    )


def measure_round(proxy, helper_pids, options, idle):
    pid = proxy.process.pid
    cpu, machine, own = tree_cpu_seconds(pid), machine_busy_seconds(), own_cpu_seconds()
    helpers = sum(tree_cpu_seconds(helper) for helper in helper_pids)
    start = time.monotonic()
    failures = send(proxy, options.requests, options.clients, options.stream)
    sending = time.monotonic() - start
    wait_until_quiet(pid, idle)
    wall = time.monotonic() - start
    cpu = tree_cpu_seconds(pid) - cpu
    machine = machine_busy_seconds() - machine
    helpers = sum(tree_cpu_seconds(helper) for helper in helper_pids) - helpers + own_cpu_seconds() - own
    load = {"machine": machine / wall, "helpers": helpers / wall, "others": max(0.0, machine - cpu - helpers) / wall}
    return cpu / options.requests, options.requests / sending, failures, load


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    add_load_options(parser)
    options = parser.parse_args(argv)
    print_setup(options, "%d rounds" % options.rounds)

    with gateway(options) as (proxies, agent, helper_pids):
        run_rounds(proxies, agent, helper_pids, options)


@contextlib.contextmanager
def gateway(options, variants=VARIANTS):
    """The test agent, the fake provider and one running proxy per variant, warmed up:
    ({variant: ProxyServer}, the agent, the pids of the helpers whose CPU is not the proxies')."""
    statsd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # nobody reads it: an idle agent
    statsd.bind(("127.0.0.1", 0))
    statsd_url = "udp://127.0.0.1:%d" % statsd.getsockname()[1]
    agent = TestAgent().start()
    provider = ProviderProcess(*((PRIMARY_MODEL,) if options.fallback else ()))
    directory = tempfile.mkdtemp(prefix="ddllm-bench-proxy-")
    try:
        proxies = {
            name: ProxyServer(
                os.path.join(directory, name),
                provider,
                agent.url,
                statsd_url,
                environment=dict(_PRODUCTION_INTERVALS, **environment),
                service="ddllm-bench-proxy-" + name,
            )
            for name, environment in variants.items()
        }
        for proxy in proxies.values():
            os.makedirs(proxy.directory)
        with running(proxies):
            for proxy in proxies.values():
                send(proxy, options.warmup, options.clients, options.stream)
            yield proxies, agent, [agent.process.pid, provider.process.pid]
    finally:
        provider.stop()
        agent.stop()
        statsd.close()


def add_load_options(parser):
    """The options of the requests sent, shared with benchmarks/proxy_profile.py."""
    parser.add_argument("--requests", type=int, default=1000, help="per variant and round")
    parser.add_argument("--warmup", type=int, default=300, help="requests per variant before the rounds")
    parser.add_argument("--clients", type=int, default=48, help="concurrent clients")
    parser.add_argument("--stream", action="store_true", help="streamed answers")
    parser.add_argument("--fallback", action="store_true", help="the primary answers 429: each request falls back")


def print_setup(options, what):
    with open("/proc/loadavg") as loadavg:
        load_average = " ".join(loadavg.read().split()[:3])
    print(
        "machine: %s, %d cores, load average %s; python %s; litellm %s; ddtrace %s; ddllm %s"
        % (
            os.uname().machine,
            os.cpu_count(),
            load_average,
            sys.version.split()[0],
            metadata.version("litellm"),
            metadata.version("ddtrace"),
            metadata.version("ddllm"),
        )
    )
    print(
        "%s of %d %s requests per variant from %d concurrent clients, after %d to warm up; %s"
        % (
            what,
            options.requests,
            "streamed" if options.stream else "chat",
            options.clients,
            options.warmup,
            "each falls back (429, then the backup)" if options.fallback else "one attempt each",
        )
    )


def run_rounds(proxies, agent, helper_pids, options):
    idle = {name: idle_rate(proxy.process.pid) for name, proxy in proxies.items()}
    print("\nidle CPU, ms per second: %s" % ", ".join("%s %.1f" % (n, v * 1e3) for n, v in idle.items()))
    print("what each proxy sent per request in the warm-up (APM spans; LLM Observability events):")
    for name, (spans, events) in per_request_counts(agent, proxies, options.warmup).items():
        print("  %-8s %s; %s" % (name, _counts(spans), _counts(events)))
    agent.clear()

    cpu = {name: [] for name in proxies}
    print("\n%-5s %-8s %12s %8s %8s  %s" % ("round", "variant", "CPU ms/req", "req/s", "failed", "load"))
    for round_number, name in interleaved(proxies, options.rounds):
        per_request, rate, failures, load = measure_round(proxies[name], helper_pids, options, idle[name])
        cpu[name].append(per_request * 1e3)
        print(
            "%-5d %-8s %12.3f %8.1f %8d  %s"
            % (round_number + 1, name, per_request * 1e3, rate, failures, _load_line(load)),
            flush=True,
        )
        agent.clear()  # the agent keeps what it receives: a round's worth at a time

    print(
        "\n%-8s %12s %14s %10s %22s" % ("variant", "CPU ms/req", "added ms/req", "added %", "80% interval of added %")
    )
    for name in proxies:
        if name == "bare":
            print("%-8s %12.3f" % (name, statistics.median(cpu[name])))
            continue
        low, high = interval(lambda figures: median_ratio(figures, name) - 1, cpu)
        print(
            "%-8s %12.3f %14.3f %9.1f%% %10.1f%% to %5.1f%%"
            % (
                name,
                statistics.median(cpu[name]),
                median_added(cpu, name),
                (median_ratio(cpu, name) - 1) * 100,
                low * 100,
                high * 100,
            )
        )
    beyond = median_added(cpu, "ddllm", base="ddtrace")
    low, high = interval(lambda figures: median_added(figures, "ddllm", base="ddtrace"), cpu)
    print("ddllm beyond ddtrace's integration: %.3f ms/req (80%%: %.3f to %.3f)" % (beyond, low, high))
    low, high = interval(lambda figures: median_ratio(figures, "ddllm") - 1, cpu)
    judged = verdict(low, high, GOAL_ADDED) if len(cpu["ddllm"]) >= 4 else "UNRESOLVED (fewer than 4 rounds)"
    print("goal: ddllm adds at most %.0f%% to the proxy's CPU per request: %s" % (GOAL_ADDED * 100, judged))


if __name__ == "__main__":
    main()
