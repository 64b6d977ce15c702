"""The first LLM call of a process is a stream that the caller drops after one chunk, and no
other call follows. Prints whether its attempt span was finished (by ddllm's background
thread, with no later call to wake it), the span's end and the time right after the drop (ns
since the epoch)."""

import os
import threading
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import ddllm  # noqa: E402

ddllm.patch()

import litellm  # noqa: E402
from ddtrace.internal import core  # noqa: E402

finished = threading.Event()
ended = []


def on_finish(span):
    if span.name == "llm.attempt":
        ended.append(span.start_ns + span.duration_ns)
        finished.set()


core.on("trace.span_finish", on_finish, "dropped_stream_app")
stream = litellm.completion(
    model="openai/gpt-4o-mini",
    messages=[{"role": "user", "content": "hi"}],
    api_key="sk-app",
    mock_response="hello there, a long answer",
    stream=True,
)
next(iter(stream))
del stream  # dropped half read: collected at once
dropped = time.time_ns()
print(finished.wait(30), ended[0] if ended else 0, dropped)
