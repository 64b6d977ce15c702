"""A gunicorn-style application: patch, then fork workers before any LiteLLM call (litellm
1.110's native runtime does not survive a fork after its first call); each worker serves
one request and exits. Prints the workers' pids."""

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import ddllm  # noqa: E402

ddllm.patch()

from ddtrace.trace import tracer  # noqa: E402
from litellm import Router  # noqa: E402


def serve_one_request():
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
                    "mock_response": "hi",
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )
    router.completion(model="primary", messages=[{"role": "user", "content": "hi"}])
    tracer.flush()


workers = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            serve_one_request()
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    workers.append(pid)
failed = [pid for pid in workers if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0]
print(" ".join(str(pid) for pid in workers))
sys.exit(1 if failed else 0)
