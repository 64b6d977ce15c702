"""A pre-forking server whose other thread holds ddllm's locks at the moment it forks (it was
inside a call, a flush, a report): the worker serves a request and drops a stream as if the
parent's thread did not exist. Patch, then fork before any LiteLLM call (litellm 1.110's
native runtime does not survive a fork after its first call). Prints the worker's exit code:
0 when it served, 3 when it was stuck (an alarm ends it)."""

import os
import signal
import sys
import threading

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import ddllm  # noqa: E402

ddllm.patch()

from ddtrace.internal import core  # noqa: E402
from ddtrace.trace import tracer  # noqa: E402
from litellm import Router  # noqa: E402

from ddllm.instrument import background, metrics, patching, request_state, safety  # noqa: E402

STUCK = 3


def hold_every_lock(held, release):
    with request_state.map_lock, background._run_lock, safety._reported_lock, patching._lock, metrics._configure_lock:
        held.set()
        release.wait()


def serve():
    router = Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": "sk-w",
                    "mock_response": "litellm.RateLimitError",
                },
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "anthropic/claude-3-5-haiku-20241022",
                    "api_key": "sk-w",
                    "mock_response": "hi there",
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )
    messages = [{"role": "user", "content": "hi"}]
    router.completion(model="primary", messages=messages)
    dropped_ended = threading.Event()
    core.on(
        "trace.span_finish",
        lambda span: span.name == "llm.request" and span.get_tag("llm.outcome") == "cancelled" and dropped_ended.set(),
        "fork_app.dropped",
    )
    stream = router.completion(model="backup", messages=messages, stream=True)
    next(iter(stream))
    del stream  # dropped: the worker's own background thread ends it
    if not dropped_ended.wait(30):
        return 4
    tracer.flush()
    return 0


held, release = threading.Event(), threading.Event()
threading.Thread(target=hold_every_lock, args=(held, release), daemon=True).start()
held.wait()
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGALRM, lambda *_: os._exit(STUCK))
    signal.alarm(60)
    try:
        code = serve()
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)
release.set()
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), pid)
sys.exit(0)
