"""`ddllm demo` (and `make demo`): a Router with retries and fallbacks against an embedded fake
provider, a few hundred requests, and what Datadog would show.

Everything stays in this process unless `--agent` says otherwise: the fake OpenAI- and
Anthropic-compatible provider answers on loopback with a seeded mix of 429s, slow answers,
5xx, context-length refusals and cut streams; a ddtrace trace processor keeps the finished
traces and a UDP socket on loopback takes ddllm's DogStatsD lines. The tables are computed
from those DogStatsD lines, as Datadog computes them.

Counts are the same for a given --seed and --requests: each model's n-th call gets the same
answer (the fake provider counts calls per model), and async requests, which run
concurrently, do not retry (see `drive`), so which of them gets which answer does not change
how many attempts each model sees.
"""

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import urllib.parse

AGENT_PROBE_TIMEOUT_SECONDS = 2.0

DEFAULT_REQUESTS = 300
DEFAULT_SEED = 7
ASYNC_BATCH = 20
MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
DEMO_API_KEY = "sk-demo-not-a-key"

# (model group, LiteLLM model, deployments). A group that retries has two deployments of the
# same model: LiteLLM 1.110 retries on the other one at once, where a one-deployment group
# sleeps 2 s and more before its retry (INITIAL_RETRY_DELAY does not shorten it there).
MODEL_GROUPS = (
    ("primary", "openai/gpt-4o-mini", 2),
    ("backup", "anthropic/claude-3-5-haiku-20241022", 2),
    ("long-context", "openai/gpt-4.1", 1),
    ("fast", "anthropic/claude-haiku-4-5", 2),
)
# Both entry groups fall back along the same chain, so that where a failed attempt goes next
# depends on the model that failed only, not on which request it was.
FALLBACKS = [{"primary": ["backup", "long-context"]}, {"fast": ["backup", "long-context"]}]
CONTEXT_WINDOW_FALLBACKS = [{"primary": ["long-context"]}, {"fast": ["long-context"]}]


def prepare_environment(agent_url=None):
    """Before LiteLLM and ddtrace are imported: no network, no telemetry, short backoffs
    (for LiteLLM versions that read them)."""
    for key, value in (
        ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
        ("INITIAL_RETRY_DELAY", "0.01"),
        ("JITTER", "0"),
        ("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false"),
        ("DD_REMOTE_CONFIGURATION_ENABLED", "false"),
        ("DD_TRACE_STARTUP_LOGS", "false"),
    ):
        os.environ.setdefault(key, value)
    if agent_url:
        if "ddtrace" in sys.modules and os.environ.get("DD_TRACE_AGENT_URL") != agent_url:
            print(
                "ddllm demo: ddtrace was imported before --agent was read; traces go where it was "
                "configured (set DD_TRACE_AGENT_URL instead)",
                file=sys.stderr,
            )
        os.environ["DD_TRACE_AGENT_URL"] = agent_url
        os.environ.setdefault("DD_SERVICE", "ddllm-demo")


def answer_policy(seed, model):
    """The answer to `model`'s n-th call: a function of (seed, model, n) alone."""
    from ddllm.cli.fake_provider import Answer

    def answer(n):
        draw = random.Random("%d:%s:%d" % (seed, model, n))
        roll = draw.random()
        if model == "gpt-4o-mini":  # the busy primary: 429s and a long tail
            if roll < 0.20:
                return Answer.rate_limit(remaining_tokens=draw.randint(0, 3000))
            if roll < 0.24:
                return Answer.server_error()
            if roll < 0.29:
                return Answer("context_length")
            if roll < 0.33:
                return Answer.cut_stream(after=0, delay=0.01)  # before any content: a mid-stream fallback
            if roll < 0.34:
                return Answer.cut_stream(after=3, delay=0.01)  # after content: the caller sees the error
            tail = draw.uniform(0.1, 0.18) if roll > 0.93 else 0.0
            return Answer.slow(
                draw.uniform(0.01, 0.04) + tail,
                chunk_delay=0.002,
                remaining_requests=max(0, 5000 - 7 * n),
                remaining_tokens=draw.randint(40000, 150000),
            )
        if model == "claude-3-5-haiku-20241022":
            if roll < 0.08:
                return Answer("overloaded")
            return Answer.slow(draw.uniform(0.03, 0.09), chunk_delay=0.003, remaining_tokens=draw.randint(20000, 80000))
        if model == "claude-haiku-4-5":
            if roll < 0.10:
                return Answer.rate_limit(remaining_tokens=draw.randint(0, 1000))
            if roll < 0.18:
                return Answer("context_length")
            return Answer.slow(draw.uniform(0.01, 0.03), chunk_delay=0.001, remaining_requests=max(0, 4000 - 3 * n))
        # gpt-4.1, the last resort: always answers, slowly
        return Answer.slow(draw.uniform(0.06, 0.2), chunk_delay=0.004)

    return answer


def build_router(provider):
    from litellm import Router

    model_list = []
    for group, model, deployments in MODEL_GROUPS:
        base = provider.anthropic_base if model.startswith("anthropic/") else provider.openai_base
        for number in range(deployments):
            model_list.append(
                {
                    "model_name": group,
                    "litellm_params": {"model": model, "api_base": base, "api_key": "%s-%d" % (DEMO_API_KEY, number)},
                }
            )
    # No cooldowns: they depend on the clock, and would make the counts vary from run to run.
    return Router(
        model_list=model_list,
        fallbacks=FALLBACKS,
        context_window_fallbacks=CONTEXT_WINDOW_FALLBACKS,
        num_retries=1,
        disable_cooldowns=True,
    )


def plan(requests):
    """(model group, how) of each request: one in four to `fast`, the rest to `primary`; in
    each five, three async, one sync and one streamed."""
    hows = ("async", "sync", "async", "stream", "async")
    return [("fast" if n % 4 == 3 else "primary", hows[n % len(hows)]) for n in range(requests)]


class Progress:
    """`[#####     ] 120/300 requests` rewritten in place on a terminal; on anything else, the
    last line only."""

    def __init__(self, total, stream=None, width=30):
        self.total, self.done, self.width = total, 0, width
        self.stream = sys.stderr if stream is None else stream
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def _line(self):
        filled = self.width * self.done // max(self.total, 1)
        return "[%s%s] %d/%d requests" % ("#" * filled, " " * (self.width - filled), self.done, self.total)

    def advance(self, count=1):
        self.done += count
        if self.live:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def finish(self):
        self.stream.write(("\r" if self.live else "") + self._line() + "\n")
        self.stream.flush()


def _read_stream(stream):
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def _call(router, group, how):
    try:
        if how == "stream":
            return _read_stream(router.completion(model=group, messages=MESSAGES, stream=True))
        return router.completion(model=group, messages=MESSAGES)
    except Exception:  # a request that failed after every attempt is part of the show
        return None


async def _call_async(router, group, progress):
    try:
        # No retries here: concurrent retries would take the answers meant for other requests'
        # first attempts, and the counts would change from run to run. Fallbacks still happen.
        return await router.acompletion(model=group, messages=MESSAGES, num_retries=0)
    except Exception:
        return None
    finally:
        progress.advance()


async def _finish_litellm_logging():
    """LiteLLM runs its success and failure callbacks in a worker on the event loop: let them
    end before the loop closes (a closed loop leaves them as never-awaited coroutines)."""
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER
    except ImportError:  # another LiteLLM version: the cancellation in `drive` does it
        return
    try:
        await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), timeout=5)
        await GLOBAL_LOGGING_WORKER.stop(timeout=5)
    except Exception:
        pass


def drive(router, requests, progress):
    """Sync and streamed requests one after the other; async ones gathered `ASYNC_BATCH` at a
    time, on one event loop (LiteLLM keeps per-loop logging tasks)."""
    loop = asyncio.new_event_loop()
    batch = []

    def run_batch():
        async def gather():
            await asyncio.gather(*(_call_async(router, group, progress) for group in batch))

        loop.run_until_complete(gather())
        del batch[:]

    try:
        for group, how in plan(requests):
            if how == "async":
                batch.append(group)
                if len(batch) == ASYNC_BATCH:
                    run_batch()
                continue
            _call(router, group, how)
            progress.advance()
        if batch:
            run_batch()
    finally:
        loop.run_until_complete(_finish_litellm_logging())
        # Then as asyncio.run ends: whatever still runs on this loop is cancelled.
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.wait(leftover))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _dogstatsd_url_beside(agent_url):
    """DD_DOGSTATSD_URL, else DogStatsD on the agent's host (DD_DOGSTATSD_PORT or 8125)."""
    if os.environ.get("DD_DOGSTATSD_URL", "").strip():
        return os.environ["DD_DOGSTATSD_URL"].strip()
    host = urllib.parse.urlsplit(agent_url).hostname or "localhost"
    return "udp://%s:%s" % (host, os.environ.get("DD_DOGSTATSD_PORT", "").strip() or "8125")


class _QuietLiteLLM:
    """LiteLLM logs every failed attempt; here failures are the point, and the report says them."""

    def __enter__(self):
        self.logger = logging.getLogger("LiteLLM")
        self.level = self.logger.level
        self.logger.setLevel(logging.CRITICAL)
        import litellm

        self.suppress = litellm.suppress_debug_info
        litellm.suppress_debug_info = True
        return self

    def __exit__(self, *exc_info):
        import litellm

        litellm.suppress_debug_info = self.suppress
        self.logger.setLevel(self.level)


def run_demo(requests, seed, agent_url=None, progress=None):
    """Run the demo; returns (trace capture, DogStatsD samples or None with --agent)."""
    prepare_environment(agent_url)
    # Imported before patching: under ddtrace-run, importing LiteLLM patches ddllm by itself, and
    # `demo_capture.ddllm_patched` must see that to put it back afterwards.
    import litellm  # noqa: F401

    from ddllm.cli import demo_capture
    from ddllm.instrument import metrics
    from ddllm.cli.fake_provider import FakeProvider

    progress = progress or Progress(requests)
    traces = demo_capture.TraceCapture(forward=bool(agent_url))
    statsd = None if agent_url else demo_capture.DogStatsdCapture()
    dogstatsd_url = _dogstatsd_url_beside(agent_url) if agent_url else statsd.url
    try:
        with FakeProvider() as provider, _QuietLiteLLM():
            for _, model, _ in MODEL_GROUPS:
                name = model.split("/", 1)[1]
                provider.policy(name, answer_policy(seed, name))
            with (
                demo_capture.trace_filter(traces),
                demo_capture.ddllm_patched(dogstatsd_url=dogstatsd_url, metrics_enabled=True),
            ):
                drive(build_router(provider), requests, progress)
                progress.finish()
                metrics.flush()
        if statsd is not None and not statsd.sync():
            print("ddllm demo: some DogStatsD lines did not arrive in time; the tables may be short", file=sys.stderr)
        return traces, statsd.samples if statsd else None
    finally:
        if statsd is not None:
            statsd.close()


def configure_parser(parser):
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="requests to make (default %(default)s)")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the provider's answers (default %(default)s)"
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    parser.add_argument(
        "--agent",
        metavar="URL",
        help="send traces to this Datadog agent (and metrics to DD_DOGSTATSD_URL, else DogStatsD "
        "on the agent's host) instead of capturing them here; prints a summary only",
    )
    parser.add_argument("--trees", type=int, default=4, help="attempt trees to print (default %(default)s)")


class BadArgument(Exception):
    """An argument the demo cannot use: said before any request is made."""


def check_json_path(path):
    """--json PATH can be written: its folder exists and is writable, and PATH is no folder."""
    if path is None or path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise BadArgument("--json %s is a folder; name a file in it" % path)
    if not os.path.isdir(folder):
        raise BadArgument("--json %s: the folder %s does not exist" % (path, folder))
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise BadArgument("--json %s: not writable" % path)


def check_agent_url(url):
    """--agent URL is an agent URL ddtrace takes (http://, https:// or unix://) and something
    answers there: otherwise every trace of the run would be dropped."""
    from ddllm.cli import doctor_probes

    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise BadArgument("--agent %s: the port is not a number from 1 to 65535" % url)
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise BadArgument("--agent %s: no host (e.g. http://localhost:8126)" % url)
        if port == 0:
            raise BadArgument("--agent %s: the port is not a number from 1 to 65535" % url)
    elif scheme == "unix":
        if not (parts.path or parts.netloc):
            raise BadArgument("--agent %s: no socket path (e.g. unix:///var/run/datadog/apm.socket)" % url)
    else:
        raise BadArgument(
            "--agent %s is not an http://, https:// or unix:// URL of a Datadog agent "
            "(e.g. http://localhost:8126)" % url
        )
    try:
        doctor_probes.agent_info(url, AGENT_PROBE_TIMEOUT_SECONDS)
    except doctor_probes.AgentHTTPError:
        pass  # something answered; an agent before 7.28 has no /info
    except (OSError, ValueError) as error:  # refused, unresolvable, timed out, not JSON
        raise BadArgument(
            "--agent %s: no Datadog agent answers there (%s); start one, or check the URL "
            "(`ddllm doctor` checks the agent)" % (url, error)
        )


def check_arguments(args):
    if args.requests < 1:
        raise BadArgument("--requests must be at least 1")
    if args.trees < 0:
        raise BadArgument("--trees must be 0 or more")
    check_json_path(args.json)
    if args.agent is not None:
        check_agent_url(args.agent)


def run(args):
    try:
        check_arguments(args)
    except BadArgument as error:
        print("ddllm demo: %s" % error, file=sys.stderr)
        return 2
    from ddllm.cli import demo_assets, demo_capture, demo_report

    try:
        with demo_capture.SendFailures() as send_failures:
            traces, samples = run_demo(args.requests, args.seed, args.agent)
    except demo_capture.NotPatched as error:
        print("ddllm demo: %s" % error, file=sys.stderr)
        return 1
    if args.agent and send_failures.messages:
        print(
            "ddllm demo: %d requests made, but the traces did not reach the agent at %s: %s\n"
            "`ddllm doctor` checks the agent." % (args.requests, args.agent, send_failures.messages[-1]),
            file=sys.stderr,
        )
        return 1
    if args.agent:
        summary = demo_report.agent_summary(
            traces.traces, args.requests, args.seed, args.agent, _dogstatsd_url_beside(args.agent)
        )
        text = demo_report.render_agent_summary(summary)
    else:
        summary = demo_report.summarize(samples, traces.traces, args.requests, args.seed)
        text = demo_report.render(summary, demo_report.pick_trees(traces.traces, args.trees))
    summary["would_push"] = demo_assets.shipped()
    text += "\n\n" + demo_assets.render(summary["would_push"])
    if args.json == "-":
        json.dump(summary, sys.stdout, indent=2)
        print()
        return 0
    print(text)
    if args.json:
        try:
            with open(args.json, "w") as out:
                json.dump(summary, out, indent=2)
                out.write("\n")
        except OSError as error:  # the folder went away during the run
            print("ddllm demo: could not write --json %s: %s" % (args.json, error), file=sys.stderr)
            return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ddllm demo", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
