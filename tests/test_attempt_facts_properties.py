"""Property-based tests over what ddllm reads from LiteLLM: any kwargs, metadata, model
string, header value or usage object gives facts of the right types, and nothing raises."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ddllm.instrument import attempt_facts
from ddllm.instrument.attempt_facts import AttemptFacts

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.binary(max_size=50),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=20), children, max_size=4),
    ),
    max_leaves=12,
)
model_strings = st.one_of(
    st.text(max_size=400),
    st.builds(lambda p, m: "%s/%s" % (p, m), st.sampled_from(["openai", "anthropic", "gemini", "", "x"]), st.text()),
)
metadata_keys = st.sampled_from(
    [
        "model_group",
        "deployment",
        "model_info",
        "attempted_retries",
        "attempted_fallbacks",
        "previous_models",
        "api_base",
        "original_model_group",
    ]
)
metadata = st.one_of(values, st.dictionaries(metadata_keys, values, max_size=8))


def _optional(kind):
    return lambda value: value is None or isinstance(value, kind)


@settings(max_examples=300, deadline=None)
@given(
    model=st.one_of(model_strings, values),
    metadata=metadata,
    extra=st.dictionaries(
        st.sampled_from(
            [
                "custom_llm_provider",
                "api_base",
                "base_url",
                "model_info",
                "stream",
                "fallback_depth",
                "litellm_metadata",
            ]
        ),
        values,
        max_size=5,
    ),
)
def test_read_start_accepts_anything(model, metadata, extra):
    facts = AttemptFacts()
    kwargs = dict(extra, model=model, metadata=metadata)
    read = attempt_facts.read_start(kwargs, facts)
    assert hasattr(read, "get")
    for name in ("provider", "model", "model_group", "deployment_id", "api_host"):
        assert _optional(str)(getattr(facts, name)), name
    assert isinstance(facts.stream, bool)
    depth = attempt_facts.litellm_fallback_depth(kwargs, read)
    retry = attempt_facts.litellm_retry_index(read)
    assert depth is None or (isinstance(depth, int) and depth >= 0)
    assert retry is None or (isinstance(retry, int) and retry >= 0)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(
                [
                    "x-ratelimit-remaining-requests",
                    "llm_provider-x-ratelimit-remaining-tokens",
                    "anthropic-ratelimit-requests-remaining",
                    "other",
                ]
            ),
            values,
            max_size=4,
        ),
    )
)
def test_rate_limit_headers_with_junk_values(headers):
    facts = AttemptFacts()
    attempt_facts.read_rate_limits(headers, facts)
    for value in (facts.remaining_requests, facts.remaining_tokens):
        assert value is None or (isinstance(value, int) and value >= 0)


@settings(max_examples=300, deadline=None)
@given(
    usage=st.one_of(
        values,
        st.builds(lambda p, c: type("Usage", (), {"prompt_tokens": p, "completion_tokens": c})(), values, values),
    )
)
def test_usage_with_missing_or_negative_fields(usage):
    facts = AttemptFacts()
    attempt_facts.read_usage(usage, facts)
    for value in (facts.input_tokens, facts.output_tokens):
        assert value is None or (isinstance(value, int) and value >= 0)


@settings(max_examples=200, deadline=None)
@given(exc_status=values, message=st.text(max_size=200))
def test_errors_with_odd_attributes(exc_status, message):
    error = RuntimeError(message)
    error.status_code = exc_status
    error.litellm_response_headers = exc_status
    facts = AttemptFacts()
    attempt_facts.read_error(error, facts)
    assert facts.outcome in ("rate_limited", "timeout", "error", "cancelled")
    assert facts.http_status is None or 100 <= facts.http_status <= 599


@settings(max_examples=200, deadline=None)
@given(url=st.one_of(values, st.text(max_size=200)))
def test_host_never_carries_credentials(url):
    host = attempt_facts.host_of(url)
    assert host is None or "@" not in host


def test_rate_limit_headers_of_an_httpx_error_response_in_any_case():
    import httpx

    headers = httpx.Headers(
        {
            "X-RateLimit-Remaining-Requests": "7",
            "LLM_Provider-X-RateLimit-Remaining-Tokens": "1200",
            "Content-Type": "application/json",
        }
    )
    facts = AttemptFacts()
    attempt_facts.read_rate_limits(headers, facts)
    assert (facts.remaining_requests, facts.remaining_tokens) == (7, 1200)


def test_reasoning_tokens_of_chat_and_responses_usage():
    from litellm.types.utils import Usage

    chat = AttemptFacts()
    attempt_facts.read_usage(
        Usage(prompt_tokens=3, completion_tokens=7, completion_tokens_details={"reasoning_tokens": 5}), chat
    )
    assert (chat.input_tokens, chat.output_tokens, chat.reasoning_tokens) == (3, 7, 5)
    responses = AttemptFacts()
    attempt_facts.read_usage(
        {"input_tokens": 2, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 4}}, responses
    )
    assert (responses.input_tokens, responses.output_tokens, responses.reasoning_tokens) == (2, 9, 4)
