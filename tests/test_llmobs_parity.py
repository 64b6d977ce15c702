"""Nothing is lost by switching: the same calls run once with ddtrace's litellm integration
alone and once with ddllm alone, over HTTP against the fake provider, and every field of
ddtrace's LLM Observability events (input, output, metadata, model, tool definitions,
metrics) must be in ours with the same value, or a better one as `_differences` defines it
narrowly. The `llm` spans are compared in order, the Router's workflow span with our request's.

LLM Observability runs with integrations_enabled=False (conftest): ddtrace's openai
integration stays off, so this compares the litellm layer alone."""

import asyncio
import json

import litellm
import pytest
from conftest import flush
from test_http_provider import (
    ANTHROPIC_MODEL,
    MESSAGES,
    OPENAI_MODEL,
    anthropic_params,
    openai_params,
    openai_to_anthropic_router,
)
from test_operations_http import two_group_router

import ddllm
from ddllm.cli.fake_provider import Answer

ANSWER = "Not much, just here to chat and help with anything you might need. How are you doing?"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
WEATHER_CALL = ("get_weather", {"city": "Paris"})
# A conversation that already called the tool once: a tool call and its result in the input.
TOOL_MESSAGES = MESSAGES + [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps({"city": "Lyon"})},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    {"role": "user", "content": [{"type": "text", "text": "And in Paris?"}]},
]
CACHED_AND_REASONING = {
    "prompt_tokens_details": {"cached_tokens": 5},
    "completion_tokens_details": {"reasoning_tokens": 3},
}


def _ddtrace_litellm():
    from ddtrace.contrib.internal.litellm import patch as ddtrace_litellm

    return ddtrace_litellm


def events_of(agent, instrumentation, call):
    """The LLM Observability events of `call` made under one instrumentation alone."""
    flush()
    agent.clear()
    if instrumentation == "ddtrace":
        _ddtrace_litellm().patch()
    else:
        assert ddllm.patch()
    try:
        call()
    finally:
        if instrumentation == "ddtrace":
            _ddtrace_litellm().unpatch()
        else:
            ddllm.unpatch()
    flush()
    return sorted(agent.llmobs_spans(), key=lambda event: event["start_ns"])


def _kind(event):
    return event["meta"]["span"]["kind"]


def _parsed(value):
    """A workflow's input and output are JSON text: compared as what they encode."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_empty_answer(value):
    """ddtrace's output of a call that failed: one message without content."""
    return isinstance(value, dict) and all(
        all(not text for text in message.values()) for message in value.get("messages", [{"x": "x"}])
    )


def _differences(theirs, ours, path=""):
    """Where `ours` lacks or contradicts `theirs`. Better, and so no difference:
    - `null` in theirs, any value in ours (a setting ddtrace could not read);
    - model_provider `unknown` in theirs, a known one in ours;
    - `""` in theirs, the key left out in ours (LLM Observability's public API omits an empty
      optional field, such as a tool result's name);
    - ddtrace's empty answer of a failed call (one message without content), no output in ours;
    - a pydantic setting as text in theirs (`a=1 b=False`), the same fields as data in ours;
    - error.stack: ours keeps the innermost frames of the exception only (`spans.set_error`,
      for its cost), so its last line, the exception's message, is what must match.
    """
    theirs, ours = _parsed(theirs), _parsed(ours)
    if theirs is None:
        return []
    if (
        isinstance(theirs, str)
        and isinstance(ours, dict)
        and theirs == " ".join("%s=%r" % item for item in ours.items())
    ):
        return []  # a pydantic setting as its text in theirs (older ddtrace), as its fields in ours
    if path == ".error.stack":
        last = [text.strip().splitlines()[-1].partition(": ")[2] for text in (theirs, ours)]
        return [] if last[0] == last[1] and ours.startswith("Traceback") else ["%s: %r" % (path, last)]
    if path == ".model_provider" and theirs == "unknown":
        return [] if ours and ours != "unknown" else ["%s: %r, ours %r" % (path, theirs, ours)]
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return ["%s: %r, ours %r" % (path, theirs, ours)]
        found = []
        for key, value in theirs.items():
            if key in ours:
                found += _differences(value, ours[key], "%s.%s" % (path, key))
            elif not (value == "" or value is None or (key == "output" and _is_empty_answer(value))):
                found.append("%s.%s: %r, ours has none" % (path, key, value))
        return found
    if isinstance(theirs, list):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            return ["%s: %r, ours %r" % (path, theirs, ours)]
        return [
            found
            for index, (item, our_item) in enumerate(zip(theirs, ours))
            for found in _differences(item, our_item, "%s[%d]" % (path, index))
        ]
    return [] if theirs == ours else ["%s: %r, ours %r" % (path, theirs, ours)]


def assert_nothing_lost(theirs, ours):
    """Every `llm` and `workflow` event of ddtrace's, field by field, in ours."""
    for kind in ("llm", "workflow"):
        their_events = [event for event in theirs if _kind(event) == kind]
        our_events = [event for event in ours if _kind(event) == kind]
        if not their_events:  # a call ddtrace's integration does not trace: ours are checked by the test
            continue
        assert len(our_events) == len(their_events), (kind, their_events, our_events)
        for their_event, our_event in zip(their_events, our_events):
            found = _differences(their_event["meta"], our_event["meta"]) + _differences(
                their_event["metrics"], our_event["metrics"], ".metrics"
            )
            assert not found, "%s %s: %s" % (kind, their_event["name"], found)


def assert_no_prompt_in_apm(agent, *texts):
    """Prompts and answers are LLM Observability's only: no APM tag or metric carries them."""
    for trace in agent.traces():
        for span in trace:
            for key, value in list(span.get("meta", {}).items()) + list(span.get("metrics", {}).items()):
                assert not any(text in str(value) or text in key for text in texts), (span["name"], key)


def skip_where_litellm_needs_mcp(call):
    """Make the call once untraced. LiteLLM 1.106 imports the `mcp` package for every call with
    tools and for the Responses API, and the oldest smoke run does not install it: there such
    a call fails whatever traces it (and a failed stream would leave ddtrace's span open)."""
    try:
        call()
    except Exception as exc:
        if "No module named 'mcp'" in str(exc):
            pytest.skip("this LiteLLM needs the mcp package for this call")
        raise


def compare(agent, call, *texts):
    theirs = events_of(agent, "ddtrace", call)
    ours = events_of(agent, "ddllm", call)
    assert_no_prompt_in_apm(agent, *texts)
    assert theirs, "ddtrace's integration sent nothing: nothing was compared"
    assert_nothing_lost(theirs, ours)
    return theirs, ours


def test_router_chat(agent, provider):
    def call():
        router = openai_to_anthropic_router(provider)
        response = router.completion(model="primary", messages=MESSAGES, temperature=0.2, max_tokens=50, user="u-1")
        assert response.choices[0].message.content == ANSWER

    theirs, ours = compare(agent, call, MESSAGES[0]["content"], ANSWER)
    [workflow] = [event for event in ours if _kind(event) == "workflow"]
    settings = workflow["meta"]["metadata"]["router_settings"]
    assert [deployment["model_name"] for deployment in settings["model_list"]] == ["primary", "backup"]
    assert "api_key" not in json.dumps(settings)
    [llm] = [event for event in ours if _kind(event) == "llm"]
    assert llm["metrics"]["total_cost"] > 0  # LiteLLM's cost of the call, which ddtrace's lacks


def test_router_fallback_every_attempt(agent, provider):
    def call():
        provider.script(OPENAI_MODEL, Answer.rate_limit(), Answer.rate_limit())
        asyncio.run(openai_to_anthropic_router(provider).acompletion(model="primary", messages=MESSAGES))

    theirs, ours = compare(agent, call, MESSAGES[0]["content"])
    assert [event["meta"]["model_provider"] for event in ours if _kind(event) == "llm"] == [
        "openai",
        "openai",
        "anthropic",
    ]


@pytest.mark.parametrize("routed", [False, True], ids=["litellm", "router"])
def test_stream(agent, provider, routed):
    if routed and not hasattr(_ddtrace_litellm(), "_handle_router_stream_response"):
        pytest.skip(
            "this ddtrace's integration fails a Router stream (no `handler` on LiteLLM's "
            "FallbackStreamWrapper) and leaves its span open: nothing to compare"
        )

    def call():
        if routed:
            stream = openai_to_anthropic_router(provider).completion(model="primary", messages=MESSAGES, stream=True)
        else:
            stream = litellm.completion(
                messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **openai_params(provider)
            )
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == ANSWER

    theirs, ours = compare(agent, call, MESSAGES[0]["content"], ANSWER)
    [llm] = [event for event in ours if _kind(event) == "llm"]
    assert llm["meta"]["output"]["messages"] == [{"content": ANSWER, "role": "assistant"}]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_tool_call_answered_and_tool_result_in_the_input(agent, provider, stream):
    def call():
        provider.script(OPENAI_MODEL, Answer.ok(tool_call=WEATHER_CALL, usage=CACHED_AND_REASONING))
        response = litellm.completion(
            messages=TOOL_MESSAGES, tools=TOOLS, tool_choice="auto", stream=stream, **openai_params(provider)
        )
        if stream:
            for _chunk in response:
                pass

    skip_where_litellm_needs_mcp(call)
    theirs, ours = compare(agent, call, "sunny, 21C", "And in Paris?")
    [llm] = [event for event in ours if _kind(event) == "llm"]
    [answer] = llm["meta"]["output"]["messages"]
    assert answer["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}, "tool_id": "call_fake0123456789", "type": "function"}
    ]
    assert llm["meta"]["input"]["messages"][2]["tool_results"][0]["result"] == "sunny, 21C"
    assert llm["meta"]["input"]["messages"][3]["content"] == "And in Paris?"  # a content list, as text
    assert llm["meta"]["metadata"]["finish_reason"] == "tool_calls"
    assert llm["meta"]["tool_definitions"][0]["name"] == "get_weather"


def test_cache_and_reasoning_tokens(agent, provider):
    def call():
        provider.script(OPENAI_MODEL, Answer.ok(usage=CACHED_AND_REASONING))
        litellm.completion(messages=MESSAGES, **openai_params(provider))
        provider.script(
            ANTHROPIC_MODEL, Answer.ok(usage={"cache_creation_input_tokens": 7, "cache_read_input_tokens": 5})
        )
        litellm.completion(messages=MESSAGES, **anthropic_params(provider))

    theirs, ours = compare(agent, call, MESSAGES[0]["content"])
    openai_call, anthropic_call = [event["metrics"] for event in ours]
    assert (openai_call["cache_read_input_tokens"], openai_call["reasoning_output_tokens"]) == (5, 3)
    assert (anthropic_call["cache_read_input_tokens"], anthropic_call["cache_write_input_tokens"]) == (5, 7)


def test_text_completion(agent, provider):
    def call():
        litellm.text_completion(prompt="Say hi", max_tokens=10, **openai_params(provider, "gpt-3.5-turbo-instruct"))
        # async: LiteLLM 1.110's sync Router.text_completion sends the group name as the model
        asyncio.run(openai_to_anthropic_router(provider).atext_completion(model="primary", prompt="Say hi"))

    theirs, ours = compare(agent, call, "Say hi", ANSWER)
    assert [event["meta"]["input"] for event in ours if _kind(event) == "llm"] == [
        {"messages": [{"content": "Say hi", "role": ""}]}
    ] * 2


def test_embeddings(agent, provider):
    inputs = ["first text", "second text", "third text"]

    def call():
        two_group_router(provider, "text-embedding-3-small", "text-embedding-3-large").embedding(
            model="primary", input=inputs
        )

    theirs = events_of(agent, "ddtrace", call)
    ours = events_of(agent, "ddllm", call)
    assert_no_prompt_in_apm(agent, *inputs)
    assert_nothing_lost(theirs, ours)  # ddtrace's integration makes no embedding span today
    [embedding] = [event for event in ours if _kind(event) == "embedding"]
    assert embedding["meta"]["input"]["documents"] == [{"text": text} for text in inputs]
    assert embedding["meta"]["output"]["value"] == "[3 embedding(s) returned with size 8]"
    assert embedding["metrics"]["input_tokens"] == 12
    [workflow] = [event for event in ours if _kind(event) == "workflow"]
    assert _parsed(workflow["meta"]["input"]["value"]) == [{"text": text} for text in inputs]
    assert workflow["meta"]["output"]["value"] == "[3 embedding(s) returned with size 8]"


def test_responses_api(agent, provider):
    def call():
        two_group_router(provider, "o4-mini", "gpt-4.1").responses(
            model="primary", input="Say hi", instructions="Be brief", max_output_tokens=40
        )

    skip_where_litellm_needs_mcp(call)
    theirs = events_of(agent, "ddtrace", call)
    ours = events_of(agent, "ddllm", call)
    assert_no_prompt_in_apm(agent, "Say hi", ANSWER)
    assert_nothing_lost(theirs, ours)  # ddtrace's integration makes no Responses API span today
    [llm] = [event for event in ours if _kind(event) == "llm"]
    assert llm["meta"]["input"]["messages"] == [
        {"content": "Be brief", "role": "system"},
        {"content": "Say hi", "role": "user"},
    ]
    assert llm["meta"]["output"]["messages"] == [{"content": ANSWER, "role": "assistant"}]
    assert llm["meta"]["metadata"]["max_output_tokens"] == 40
    assert (llm["metrics"]["input_tokens"], llm["metrics"]["output_tokens"]) == (13, 21)
    assert llm["metrics"]["reasoning_output_tokens"] == 5


def _our_llm_event(agent, call):
    [llm] = [event for event in events_of(agent, "ddllm", call) if _kind(event) == "llm"]
    return llm


def test_a_message_without_role_keeps_every_annotation(agent, provider):
    def call():
        litellm.completion(messages=[{"content": "Hey, what is up?"}], temperature=0.3, **openai_params(provider))

    llm = _our_llm_event(agent, call)
    assert llm["meta"]["input"]["messages"] == [{"content": "Hey, what is up?", "role": ""}]
    assert llm["meta"]["output"]["messages"] == [{"content": ANSWER, "role": "assistant"}]
    assert llm["meta"]["metadata"]["temperature"] == 0.3
    assert "llm.attempt.number:1" in llm["tags"]


def test_messages_llm_observability_refuses_cost_only_themselves(agent, provider, monkeypatch):
    """Input and output are annotated apart from the rest: a part LLM Observability cannot
    parse loses that part, never the tags, metrics, metadata or the other part."""
    from ddllm.instrument import litellm_objects, safety

    monkeypatch.setattr(litellm_objects, "_chat_input", lambda messages: [{"content": ["not", "text"], "role": "user"}])
    monkeypatch.setattr(safety, "_reported_kinds", set())

    def call():
        litellm.completion(messages=MESSAGES, temperature=0.3, **openai_params(provider))

    llm = _our_llm_event(agent, call)
    assert "messages" not in llm["meta"].get("input", {})
    assert llm["meta"]["output"]["messages"] == [{"content": ANSWER, "role": "assistant"}]
    assert llm["meta"]["metadata"]["finish_reason"] == "stop"
    assert llm["metrics"]["input_tokens"] == 13
    assert "llm.attempt.number:1" in llm["tags"]


def test_a_stream_the_caller_stops_keeps_what_it_read(agent, provider):
    def call():
        stream = litellm.completion(messages=MESSAGES, stream=True, **openai_params(provider))
        read = [next(stream) for _ in range(3)]  # the role chunk, then "Not", " much,"
        stream.close()
        assert "".join(chunk.choices[0].delta.content or "" for chunk in read) == "Not much,"

    llm = _our_llm_event(agent, call)
    assert "llm.outcome:cancelled" in llm["tags"]
    assert llm["meta"]["output"]["messages"] == [{"content": "Not much,", "role": "assistant"}]
