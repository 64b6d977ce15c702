"""What ddtrace charges for the spans of docs/design.md, with no LiteLLM and no ddllm: the
floor under the proxy's CPU goal (`make bench-llmobs-spans`).

Per request, in interleaved rounds (A B C D, D C B A, ...), microseconds of this process's CPU:
- "apm": a request span and an attempt span, APM only;
- "workflow": LLM Observability's `workflow` span alone, annotated (what ddtrace's own
  litellm integration sends per proxy request);
- "design": the design's `workflow` and `llm` spans, each annotated once (input, output,
  metadata, token metrics, tags): what any implementation of docs/design.md pays ddtrace;
- "bare": nothing, the loop's own cost.

LLM Observability is on, with no agent listening (its writers drop what they cannot send,
as an idle agent's would not; the encoding before is counted). It prints the medians of what
each variant adds to bare in the same round, with 80% bootstrap intervals, and the design's
spans as a share of a request of `--request-ms` (the proxy's CPU per request without LLM
tracing, benchmarks/README.md).

    python benchmarks/llmobs_spans.py [--rounds 20] [--calls 300] [--request-ms 16]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ddtrace.llmobs import LLMObs  # noqa: E402
from ddtrace.trace import tracer  # noqa: E402
from rounds import interleaved, interval, median_added  # noqa: E402

MESSAGES_IN = [{"content": "Move my booking to Friday at ten.", "role": "user"}]
MESSAGES_OUT = [{"content": "Done: Friday at ten.", "role": "assistant"}]


def bare():
    pass


def apm():
    with tracer.trace("llm.request"):
        with tracer.trace("llm.attempt"):
            pass


def _annotate(span, **extra):
    LLMObs.annotate(
        span=span,
        input_data=MESSAGES_IN,
        output_data=MESSAGES_OUT,
        metadata={"temperature": 0.2, "max_tokens": 64},
        tags={"llm.outcome": "success", "llm.attempt.number": "1"},
        **extra,
    )


def workflow():
    request = LLMObs.workflow(name="llm.request")
    _annotate(request)
    request.finish()


def design():
    request = LLMObs.workflow(name="llm.request")
    attempt = LLMObs.llm(model_name="gpt-4o-mini", name="llm.attempt", model_provider="openai")
    _annotate(attempt, metrics={"input_tokens": 12, "output_tokens": 6, "total_tokens": 18})
    attempt.finish()
    _annotate(request)
    request.finish()


VARIANTS = {"bare": bare, "apm": apm, "workflow": workflow, "design": design}


def cpu_per_call(call, calls):
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--request-ms", type=float, default=16.0)
    options = parser.parse_args(argv)
    LLMObs.enable(ml_app="ddllm-bench", agentless_enabled=False, integrations_enabled=False)
    for call in VARIANTS.values():
        cpu_per_call(call, options.calls)  # warm up
    figures = {name: [] for name in VARIANTS}
    for _round, name in interleaved(VARIANTS, options.rounds):
        figures[name].append(cpu_per_call(VARIANTS[name], options.calls))
    print(
        "CPU per request, added to bare (median of %d rounds of %d calls; 80%% interval):"
        % (options.rounds, options.calls)
    )
    for name in ("apm", "workflow", "design"):
        low, high = interval(lambda f, n=name: median_added(f, n), figures)
        print("  %-9s %7.1f us  (%.1f to %.1f)" % (name, median_added(figures, name) * 1e6, low * 1e6, high * 1e6))
    share = median_added(figures, "design") / (options.request_ms / 1e3)
    print("the design's spans: %.1f %% of a %.0f ms request" % (share * 100, options.request_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
