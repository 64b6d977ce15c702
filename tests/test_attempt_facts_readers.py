"""What the attempt readers make of the shapes real answers come in, without a network: the
model as the provider knows it, Bedrock's host, every rate-limit header family, and no status
where no answer came back. (The replayed recordings prove the same end to end.)"""

import httpx
import litellm
import pytest

from ddllm.instrument import attempt_facts


def facts_of_start(**kwargs):
    facts = attempt_facts.AttemptFacts()
    attempt_facts.read_start(kwargs, facts)
    return facts


@pytest.mark.parametrize(
    "model,provider,expected",
    [
        (
            "bedrock/converse/anthropic.claude-3-sonnet-20240229-v1:0",
            "bedrock",
            "anthropic.claude-3-sonnet-20240229-v1:0",
        ),
        (
            "bedrock/invoke/anthropic.claude-3-sonnet-20240229-v1:0",
            "bedrock",
            "anthropic.claude-3-sonnet-20240229-v1:0",
        ),
        ("bedrock/anthropic.claude-3-sonnet-20240229-v1:0", "bedrock", "anthropic.claude-3-sonnet-20240229-v1:0"),
        ("cohere_chat/v1/command-r", "cohere_chat", "command-r"),
        ("openrouter/openai/gpt-oss-120b", "openrouter", "openai/gpt-oss-120b"),
    ],
)
def test_route_prefixes_are_not_part_of_the_model(model, provider, expected):
    facts = facts_of_start(model=model)
    assert (facts.provider, facts.model) == (provider, expected)


def test_bedrock_host_from_the_endpoint_or_the_region():
    model = "bedrock/converse/anthropic.claude-3-sonnet-20240229-v1:0"
    assert facts_of_start(model=model, aws_bedrock_runtime_endpoint="https://vpce-1.bedrock.example:443").api_host == (
        "vpce-1.bedrock.example"
    )
    assert (
        facts_of_start(model=model, aws_region_name="eu-west-3").api_host == "bedrock-runtime.eu-west-3.amazonaws.com"
    )
    assert facts_of_start(model=model, aws_region_name="eu-west-3/../x").api_host is None


@pytest.mark.parametrize(
    "headers,expected",
    [
        (
            {
                "llm_provider-x-ratelimit-remaining-req-minute": "3",
                "llm_provider-x-ratelimit-limit-req-minute": "4",
                "llm_provider-x-ratelimit-remaining-tokens-minute": "249891",
                "llm_provider-x-ratelimit-limit-tokens-minute": "250000",
            },
            (3, 4, 249891, 250000),
        ),
        (
            {
                "anthropic-ratelimit-requests-remaining": "1",
                "anthropic-ratelimit-requests-limit": "5",
                "anthropic-ratelimit-tokens-remaining": "10000",
                "anthropic-ratelimit-tokens-limit": "10000",
            },
            (1, 5, 10000, 10000),
        ),
        (
            httpx.Headers({"X-RateLimit-Remaining-Requests": "0", "X-RateLimit-Limit-Requests": "15000"}),
            (0, 15000, None, None),
        ),
    ],
)
def test_every_rate_limit_family(headers, expected):
    facts = attempt_facts.AttemptFacts()
    attempt_facts.read_rate_limits(headers, facts)
    assert (facts.remaining_requests, facts.limit_requests, facts.remaining_tokens, facts.limit_tokens) == expected


def test_a_client_side_timeout_has_no_status():
    facts = attempt_facts.AttemptFacts()
    attempt_facts.read_error(litellm.Timeout("timed out", model="gpt-4o-mini", llm_provider="openai"), facts)
    assert (facts.outcome, facts.http_status) == ("timeout", None)


def test_the_status_the_provider_sent_wins_over_litellm_s():
    facts = attempt_facts.AttemptFacts()
    facts.last_http_status = 529  # what httpx received
    attempt_facts.read_error(litellm.InternalServerError("overloaded", model="claude", llm_provider="anthropic"), facts)
    assert facts.http_status == 529


def test_zero_reasoning_and_cache_tokens_are_not_reported():
    facts = attempt_facts.AttemptFacts()
    attempt_facts.read_usage(
        litellm.Usage(
            prompt_tokens=13,
            completion_tokens=21,
            completion_tokens_details={"reasoning_tokens": 0},
            prompt_tokens_details={"cached_tokens": 0},
        ),
        facts,
    )
    assert (facts.input_tokens, facts.output_tokens, facts.reasoning_tokens, facts.cache_read_tokens) == (
        13,
        21,
        None,
        None,
    )


# What LiteLLM's proxy writes into a call's metadata from its auth (the keys of
# `StandardLoggingUserAPIKeyMetadata`), with the key and its hash beside who holds it.
PROXY_METADATA = {
    "user_api_key": "8f2c5e0aa1",
    "user_api_key_hash": "8f2c5e0aa1",
    "user_api_key_alias": "search-prod",
    "user_api_key_team_id": "team-7f3a",
    "user_api_key_team_alias": "search",
    "user_api_key_user_id": "alice@example.com",
    "user_api_key_end_user_id": "customer-42",
    "user_api_key_org_id": None,
    "model_group": "primary",
}


@pytest.mark.parametrize("metadata_key", ["metadata", "litellm_metadata"])
def test_the_proxy_caller_is_read_from_the_proxy_s_metadata(metadata_key):
    caller = attempt_facts.proxy_caller({"model": "openai/gpt-4o-mini", metadata_key: dict(PROXY_METADATA)})
    assert caller == ("search", "search-prod", "alice_example.com")  # normalised as metric tags are
    assert dict(attempt_facts.caller_span_tags(caller)) == {
        "llm.proxy.team": "search",
        "llm.proxy.key_alias": "search-prod",
        "llm.proxy.user": "alice_example.com",
    }


def test_a_team_without_alias_is_named_by_its_id_and_missing_facts_are_left_out():
    metadata = dict(PROXY_METADATA, user_api_key_team_alias=None, user_api_key_alias=None)
    caller = attempt_facts.proxy_caller({"metadata": metadata})
    assert dict(attempt_facts.caller_span_tags(caller)) == {
        "llm.proxy.team": "team-7f3a",
        "llm.proxy.user": "alice_example.com",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # outside the proxy
        {"metadata": {"model_group": "primary", "user_api_key_alias": "someone's own metadata"}},
        {"metadata": dict.fromkeys(PROXY_METADATA)},  # the proxy, for a caller it knows nothing of
        {"metadata": "not a mapping"},
    ],
)
def test_no_caller_outside_the_proxy_or_when_it_knows_none(kwargs):
    assert attempt_facts.proxy_caller(kwargs) is None
    assert attempt_facts.caller_span_tags(None) == []


class _WithProperty:
    @property
    def reasoning_content(self):
        return "from the class"


def _members_as_getattr_reads_them():
    from litellm.types.utils import Delta, Message, ModelResponse, ModelResponseStream, Usage

    anthropic_usage = Usage(prompt_tokens=3, completion_tokens=2, cache_creation_input_tokens=5)
    reasoning = Message(content="4", role="assistant", reasoning_content="2+2")
    plain = Message(content="4", role="assistant")  # LiteLLM deletes the unset reasoning_content
    response = ModelResponse()
    chunk = ModelResponseStream(choices=[{"index": 0, "delta": {"content": "4"}}])  # no usage: deleted
    last_chunk = ModelResponseStream(choices=[], usage=Usage(prompt_tokens=3, completion_tokens=1))
    delta = Delta(content="4")  # no reasoning_content: deleted
    return [
        (chunk, "usage"),
        (last_chunk, "usage"),
        (delta, "reasoning_content"),
        (delta, "content"),
        (Delta(content=None, reasoning_content="2+2"), "reasoning_content"),
        (anthropic_usage, "cache_creation_input_tokens"),
        (anthropic_usage, "prompt_tokens"),
        (anthropic_usage, "input_tokens_details"),
        (anthropic_usage, "cost"),
        (reasoning, "reasoning_content"),
        (plain, "reasoning_content"),
        (plain, "content"),
        (response, "usage"),
        (response, "choices"),
        (_WithProperty(), "reasoning_content"),
        (_WithProperty(), "absent"),
    ]


def test_read_member_reads_what_getattr_reads():
    """The cheap read of an often absent member agrees with getattr on LiteLLM's own models
    (fields deleted, members beyond the fields, present ones) and on other objects."""
    for source, name in _members_as_getattr_reads_them():
        assert attempt_facts.read_member(source, name) == getattr(source, name, None), (type(source), name)
    assert attempt_facts.read_member({"cost": 1.5}, "cost") == 1.5
    assert attempt_facts.read_member({}, "cost") is None
