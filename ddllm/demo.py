"""`ddllm demo` (and `make demo`): a Router with fallbacks against an embedded fake provider,
a few hundred requests, and what Datadog would show.

Everything stays in this process unless `--agent` says otherwise: the fake OpenAI- and
Anthropic-compatible provider answers on loopback with a seeded mix of 429s, slow answers,
5xx, context-length refusals and cut streams; a ddtrace trace processor keeps the finished
traces and a UDP socket on loopback takes ddllm's DogStatsD lines.
"""
import argparse
import asyncio
import json
import os
import random
import socket
import sys

DEFAULT_REQUESTS = 300
DEFAULT_SEED = 7
ASYNC_BATCH = 20
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]

# (model group, LiteLLM model, API). Two deployments in `chat`: LiteLLM retries on the other
# at once, where a one-deployment group would back off half a second and more.
DEPLOYMENTS = (
    ("chat", "openai/gpt-4o-mini", "openai"),
    ("chat", "openai/gpt-4.1-mini", "openai"),
    ("backup", "anthropic/claude-3-5-haiku-20241022", "anthropic"),
    ("long-context", "openai/gpt-4.1", "openai"),
    ("summarize", "openai/gpt-4.1-nano", "openai"),
)


def _quiet_environment(agent_url):
    """Before LiteLLM and ddtrace are imported: no network, no telemetry."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for key, value in (("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"), ("DD_REMOTE_CONFIGURATION_ENABLED", "false"),
                       ("DD_TRACE_STARTUP_LOGS", "false")):
        os.environ.setdefault(key, value)
    if agent_url:
        os.environ["DD_TRACE_AGENT_URL"] = agent_url


def answer_policy(seed, model):
    """The seeded answer of the n-th request to `model`: the same for a given seed."""
    from ddllm.fake_provider import Answer

    def answer(n):
        draw = random.Random("%s:%s:%d" % (seed, model, n))
        roll = draw.random()
        quick = draw.uniform(0.004, 0.03)
        if model == "gpt-4o-mini":  # the busy primary: rate limited a third of the time
            left = max(0, 500 - 3 * n)
            if roll < 0.33:
                return Answer.rate_limit(remaining_tokens=draw.randint(0, 2000))
            if roll < 0.38:
                return Answer.cut_stream(after=0, delay=quick)
            return Answer.slow(quick + (0.12 if roll > 0.9 else 0), remaining_requests=left,
                               remaining_tokens=draw.randint(20000, 150000), chunk_delay=0.002)
        if model == "gpt-4.1-mini":
            if roll < 0.15:
                return Answer.rate_limit(remaining_tokens=draw.randint(0, 5000))
            return Answer.slow(quick + 0.01, remaining_requests=max(0, 800 - 2 * n), chunk_delay=0.002)
        if model == "claude-3-5-haiku-20241022":
            if roll < 0.1:
                return Answer("overloaded")
            return Answer.slow(quick + draw.uniform(0.01, 0.06), chunk_delay=0.003)
        if model == "gpt-4.1-nano" and roll < 0.3:
            return Answer("context_length")
        return Answer.slow(quick + 0.02, chunk_delay=0.002)

    return answer


class TraceCapture:
    """A ddtrace trace processor that keeps finished traces (and drops them unless they go on
    to an agent)."""

    def __init__(self, forward):
        self.traces = []
        self.forward = forward

    def process_trace(self, trace):
        self.traces.append(list(trace))
        return trace if self.forward else None


class DogStatsdCapture:
    """A UDP socket on loopback that takes ddllm's metric lines."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.socket.setblocking(False)
        self.lines = []

    @property
    def url(self):
        return "udp://127.0.0.1:%d" % self.socket.getsockname()[1]

    def read(self):
        """What arrived (after `ddllm.metrics.flush()`, everything sent: loopback is synchronous)."""
        while True:
            try:
                packet = self.socket.recv(65536)
            except BlockingIOError:
                return self.lines
            self.lines.extend(line for line in packet.decode().splitlines() if line)

    def close(self):
        self.socket.close()


class Progress:
    def __init__(self, total, stream=sys.stderr, width=30):
        self.total, self.done, self.stream, self.width = total, 0, stream, width
        self.live = hasattr(stream, "isatty") and stream.isatty()

    def advance(self, count=1):
        self.done += count
        if self.live:
            filled = self.width * self.done // max(self.total, 1)
            self.stream.write("\r[%s%s] %d/%d requests" % ("#" * filled, " " * (self.width - filled), self.done, self.total))
            self.stream.flush()

    def finish(self):
        if self.live:
            self.stream.write("\n")
        else:
            self.stream.write("%d/%d requests\n" % (self.done, self.total))


def build_router(provider):
    from litellm import Router

    def params(model, api):
        base = provider.openai_base if api == "openai" else provider.anthropic_base
        return {"model": model, "api_base": base, "api_key": "sk-demo-not-a-key"}

    return Router(
        model_list=[{"model_name": group, "litellm_params": params(model, api)} for group, model, api in DEPLOYMENTS],
        fallbacks=[{"chat": ["backup"]}, {"backup": ["long-context"]}],
        context_window_fallbacks=[{"summarize": ["long-context"]}],
        num_retries=1,
    )


def _plan(requests):
    """(model group, how) of each request: every fifth summarises, the rest chat; sync, async
    and streamed in turn."""
    return [("summarize" if n % 5 == 4 else "chat", ("sync", "async", "stream")[n % 3]) for n in range(requests)]


def _read(stream):
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def _call(router, group, how):
    try:
        if how == "stream":
            return _read(router.completion(model=group, messages=MESSAGES, stream=True))
        return router.completion(model=group, messages=MESSAGES)
    except Exception:  # a request that failed after every attempt is part of the show
        return None


async def _call_async(router, group):
    try:
        return await router.acompletion(model=group, messages=MESSAGES)
    except Exception:
        return None


def drive(router, requests, progress):
    plan = _plan(requests)
    batch = []

    def run_batch():
        async def gather():
            await asyncio.gather(*(_call_async(router, group) for group in batch))

        asyncio.run(gather())
        progress.advance(len(batch))
        del batch[:]

    for group, how in plan:
        if how == "async":
            batch.append(group)
            if len(batch) == ASYNC_BATCH:
                run_batch()
            continue
        _call(router, group, how)
        progress.advance()
    if batch:
        run_batch()


def configure_parser(parser):
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="requests to make (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the provider's answers")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    parser.add_argument("--agent", metavar="URL",
                        help="send traces to this Datadog agent (and metrics to DogStatsD as configured) "
                             "instead of capturing them here")
    parser.add_argument("--trees", type=int, default=3, help="attempt trees to print (default %(default)s)")


def run(args):
    if args.requests < 1:
        print("ddllm demo: --requests must be at least 1", file=sys.stderr)
        return 2
    _quiet_environment(args.agent)
    from ddtrace.trace import tracer

    import ddllm
    from ddllm import demo_report, metrics
    from ddllm.fake_provider import FakeProvider

    capture = TraceCapture(forward=bool(args.agent))
    statsd = None if args.agent else DogStatsdCapture()
    was_patched = ddllm.is_patched()
    if was_patched:
        ddllm.unpatch()  # again below, sending metrics where this run wants them
    tracer.configure(trace_processors=[capture])
    try:
        with FakeProvider() as provider:
            for _, model, _ in DEPLOYMENTS:
                name = model.split("/", 1)[1]
                provider.policy(name, answer_policy(args.seed, name))
            ddllm.patch(**({"dogstatsd_url": statsd.url} if statsd else {}))
            try:
                progress = Progress(args.requests)
                drive(build_router(provider), args.requests, progress)
                progress.finish()
                metrics.flush()
            finally:
                ddllm.unpatch()
        tracer.flush()
    finally:
        tracer.configure(trace_processors=[])
        if was_patched:
            ddllm.patch()
        lines = statsd.read() if statsd else None
        if statsd:
            statsd.close()
    summary = demo_report.summarize(capture.traces, args.requests, args.seed, lines)
    trees = [demo_report.attempt_tree(trace) for trace in demo_report.pick_trees(capture.traces, args.trees)]
    report = demo_report.render(summary, trees)
    if args.json == "-":
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(report)
        if args.json:
            with open(args.json, "w") as out:
                json.dump(summary, out, indent=2)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ddllm demo", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
