"""Beyond chat: text completion and embeddings get the same request and attempt spans,
with their own facts (embeddings: input count and dimensions, no output tokens)."""

import litellm
from conftest import flush
from litellm import Router
from spans_of import by_name, meta, requests_with_attempts


def test_router_text_completion_fallback(agent, patched):
    import asyncio

    router = Router(
        model_list=[
            {
                "model_name": "t1",
                "litellm_params": {
                    "model": "openai/gpt-3.5-turbo-instruct",
                    "api_key": "sk-t",
                    "mock_response": "litellm.RateLimitError",
                },
            },
            {
                "model_name": "t2",
                "litellm_params": {"model": "openai/davinci-002", "api_key": "sk-t", "mock_response": "done"},
            },
        ],
        fallbacks=[{"t1": ["t2"]}],
        num_retries=0,
    )
    asyncio.run(router.atext_completion(model="t1", prompt="Say hi"))
    flush()
    [(request, attempts)] = requests_with_attempts(agent.traces())
    assert request["resource"] == "t1"
    assert [span["resource"] for span in attempts] == ["openai/gpt-3.5-turbo-instruct", "openai/davinci-002"]
    assert {meta(span, "llm.operation") for span in attempts} == {"text_completion"}
    assert meta(attempts[1], "llm.fallback.reason") == "RateLimitError"


async def test_router_embedding_attempt_facts(agent, patched):
    router = Router(
        model_list=[
            {"model_name": "embed", "litellm_params": {"model": "openai/text-embedding-3-small", "api_key": "sk-e"}}
        ]
    )
    await router.aembedding(model="embed", input=["one", "two", "three"], mock_response=[0.1, 0.2, 0.3, 0.4])
    flush()
    [(request, [attempt])] = requests_with_attempts(agent.traces())
    assert meta(attempt, "llm.operation") == "embeddings"
    assert attempt["metrics"]["llm.embedding.inputs"] == 3
    assert attempt["metrics"]["llm.embedding.dimensions"] == 4
    assert "gen_ai.usage.output_tokens" not in attempt["metrics"]
    llmobs = [event for event in agent.llmobs_spans() if event["name"] == "llm.attempt"]
    assert [(event["meta"].get("span") or {}).get("kind") for event in llmobs] == ["embedding"]


def test_plain_embedding_is_one_attempt(agent, patched):
    litellm.embedding(model="openai/text-embedding-3-small", input="hello", api_key="sk-e", mock_response=[0.5, 0.5])
    flush()
    spans = [span for trace in agent.traces() for span in trace]
    assert by_name(spans, "llm.request") == []
    [attempt] = by_name(spans, "llm.attempt")
    assert attempt["resource"] == "openai/text-embedding-3-small"
    assert attempt["metrics"]["llm.embedding.inputs"] == 1
