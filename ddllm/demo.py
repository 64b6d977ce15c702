"""`make demo`: a scripted fallback, traced by ddllm, printed as Datadog would show it.

Everything stays in this process: LiteLLM's mock responses stand in for the providers, and a
ddtrace trace filter captures the finished traces instead of sending them to an agent.
"""
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
os.environ.setdefault("DD_REMOTE_CONFIGURATION_ENABLED", "false")
os.environ.setdefault("DD_TRACE_STARTUP_LOGS", "false")
os.environ.setdefault("DDLLM_METRICS_ENABLED", "false")

SCENARIOS = (
    ("primary rate limited, retried, then falls back to another provider", "primary", {}),
    ("prompt too long for the primary: context-window fallback", "primary-small-context", {}),
    ("streamed: the primary is rate limited, the fallback streams", "primary", {"stream": True}),
)


class TraceCapture:
    """A ddtrace trace filter that keeps the traces instead of sending them."""

    def __init__(self):
        self.traces = []

    def process_trace(self, trace):
        self.traces.append(list(trace))
        return None


def build_router():
    from litellm import Router

    return Router(
        model_list=[
            {"model_name": "primary", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_key": "sk-demo", "mock_response": "litellm.RateLimitError"}},
            {"model_name": "primary-small-context", "litellm_params": {
                "model": "openai/gpt-4.1-nano", "api_key": "sk-demo",
                "mock_response": "litellm.ContextWindowExceededError"}},
            {"model_name": "backup", "litellm_params": {
                "model": "anthropic/claude-3-5-haiku-20241022", "api_key": "sk-demo",
                "mock_response": "Hello from the fallback model."}},
            {"model_name": "long-context", "litellm_params": {
                "model": "gemini/gemini-2.0-flash", "api_key": "sk-demo",
                "mock_response": "Hello from the long-context model."}},
        ],
        fallbacks=[{"primary": ["backup"]}],
        context_window_fallbacks=[{"primary-small-context": ["long-context"]}],
        num_retries=1,
        retry_after=0,
    )


def _tag(span, key):
    return span.get_tag(key) or ""


def render(trace):
    request = next((span for span in trace if span.name == "llm.request"), None)
    attempts = sorted(
        (span for span in trace if span.name == "llm.attempt"), key=lambda span: int(_tag(span, "llm.attempt.number"))
    )
    lines = []
    if request is not None:
        lines.append("llm.request %-28s attempts=%d fallback.used=%s final=%s/%s outcome=%s %.1fms" % (
            request.resource, int(request.get_metric("llm.attempts") or 0), _tag(request, "llm.fallback.used"),
            _tag(request, "llm.final.provider"), _tag(request, "llm.final.model"),
            _tag(request, "llm.outcome"), request.duration * 1e3))
    for index, span in enumerate(attempts):
        branch = "└─" if index == len(attempts) - 1 else "├─"
        details = ["#%s" % _tag(span, "llm.attempt.number"), "retry=%s" % _tag(span, "llm.attempt.retry"),
                   "depth=%s" % _tag(span, "llm.fallback.depth"), "outcome=%s" % _tag(span, "llm.outcome")]
        for key, label in (("llm.fallback.reason", "reason"), ("llm.fallback.type", "type"),
                           ("llm.fallback.from", "from"), ("http.status_code", "http")):
            if _tag(span, key):
                details.append("%s=%s" % (label, _tag(span, key)))
        ttft = span.get_metric("llm.time_to_first_token")
        if ttft is not None:
            details.append("ttft=%.1fms" % (ttft * 1e3))
        lines.append("%s llm.attempt %-38s %s %.1fms" % (branch, span.resource, " ".join(details), span.duration * 1e3))
    return "\n".join(lines)


def main(argv=None):
    from ddtrace.trace import tracer

    import ddllm

    capture = TraceCapture()
    tracer.configure(trace_processors=[capture])
    ddllm.patch()
    router = build_router()
    messages = [{"role": "user", "content": "Say hello."}]
    try:
        for title, model_group, options in SCENARIOS:
            capture.traces.clear()
            result = router.completion(model=model_group, messages=messages, **options)
            if options.get("stream"):
                text = "".join(chunk.choices[0].delta.content or "" for chunk in result if chunk.choices)
            else:
                text = result.choices[0].message.content
            tracer.flush()
            print("== %s\n   answer: %s" % (title, text))
            for trace in capture.traces:
                print("   " + render(trace).replace("\n", "\n   "))
            print()
    finally:
        ddllm.unpatch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
