"""No API key, credential or prompt text in any APM tag: plant them everywhere ddllm reads,
then scan everything the test agent received outside LLM Observability's own input/output."""

import json

import litellm
from conftest import flush
from litellm import Router
from test_metrics import dsd, receiver  # noqa: F401 - fixtures

API_KEY = "sk-planted-secret-key-0123456789abcdef"
PASSWORD = "planted-password-4242"
PROMPT = "planted prompt text: the launch code is 0000"
ANSWER = "planted completion text from the model"


def test_planted_secrets_and_prompts_never_reach_apm_tags(agent, patched):
    router = Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": API_KEY,
                    "api_base": "https://user:%s@api.example.invalid/v1" % PASSWORD,
                    "mock_response": "litellm.RateLimitError",
                },
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "anthropic/claude-3-5-haiku-20241022",
                    "api_key": API_KEY,
                    "mock_response": ANSWER,
                },
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )
    messages = [{"role": "user", "content": PROMPT}]
    router.completion(
        model="primary",
        messages=messages,
        extra_headers={"Authorization": "Bearer " + API_KEY},
        metadata={"note": PROMPT},
    )
    litellm.completion(
        model="openai/gpt-4o-mini",
        messages=messages,
        api_key=API_KEY,
        mock_response=ANSWER,
        api_base="https://user:%s@api.example.invalid/v1" % PASSWORD,
    )
    flush()
    spans = [span for trace in agent.traces() for span in trace]
    assert any(span["name"] == "llm.attempt" for span in spans)
    for span in spans:
        searchable = dict(span.get("meta", {}))
        searchable.pop("_dd.llmobs", None)
        text = json.dumps([searchable, span.get("resource"), span.get("metrics")])
        for planted in (API_KEY, PASSWORD, PROMPT, ANSWER):
            assert planted not in text, (planted, span["name"], span["resource"])


def test_planted_secrets_over_http_reach_neither_apm_tags_nor_metrics(agent, dsd, provider):
    """The same over real HTTP (the key in the Authorization header LiteLLM sends, credentials
    in the base URL, the prompt in the body), scanning the spans and every DogStatsD packet."""
    from ddllm.instrument import metrics
    from ddllm.cli.fake_provider import Answer

    base = provider.url.replace("http://", "http://user:%s@" % PASSWORD)
    provider.script("gpt-4o-mini", Answer.rate_limit(), Answer.ok(text=ANSWER))
    router = Router(
        model_list=[
            {
                "model_name": "primary",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": API_KEY, "api_base": base + "/v1"},
            }
        ],
        num_retries=1,
        retry_after=0,
    )
    response = router.completion(
        model="primary",
        messages=[{"role": "user", "content": PROMPT}],
        metadata={"note": PROMPT},
        extra_headers={"X-Planted-Key": API_KEY},
    )
    assert response.choices[0].message.content == ANSWER
    # really sent: the credentials as basic auth (httpx takes them from the URL), the key as a header
    sent_headers = [{k.lower(): v for k, v in request.headers.items()} for request in provider.received]
    assert all(
        h.get("authorization", "").startswith("Basic ") and h.get("x-planted-key") == API_KEY for h in sent_headers
    ), sent_headers
    assert metrics.flush()
    dsd.samples()  # read what the socket received
    flush()
    packets = b"".join(dsd.packets).decode()
    assert "ddllm.attempt.duration" in packets
    spans = [span for trace in agent.traces() for span in trace]
    for span in spans:
        searchable = dict(span.get("meta", {}))
        searchable.pop("_dd.llmobs", None)
        text = json.dumps([searchable, span.get("resource"), span.get("metrics")])
        for planted in (API_KEY, PASSWORD, PROMPT, ANSWER):
            assert planted not in text, (planted, span["name"], span["resource"])
            assert planted not in packets, planted
