"""An application that knows nothing of ddllm: it only uses LiteLLM's Router with fallbacks.
Run under `ddtrace-run` by the tests."""

import asyncio
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm import Router  # noqa: E402

router = Router(
    model_list=[
        {
            "model_name": "primary",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": "sk-app-primary",
                "mock_response": "litellm.RateLimitError",
            },
        },
        {
            "model_name": "backup",
            "litellm_params": {
                "model": "anthropic/claude-3-5-haiku-20241022",
                "api_key": "sk-app-backup",
                "mock_response": "hello",
            },
        },
    ],
    fallbacks=[{"primary": ["backup"]}],
    num_retries=0,
)
messages = [{"role": "user", "content": "hi"}]
print(router.completion(model="primary", messages=messages).choices[0].message.content)
print(asyncio.run(router.acompletion(model="primary", messages=messages)).choices[0].message.content)
