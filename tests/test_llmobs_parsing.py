"""ddllm writes a span's fields, input and output in one `LLMObs.annotate` call, and checks
first that LLM Observability will parse the input and output: it drops the rest of a call
whose messages it cannot parse. The check must agree with ddtrace's own parser, on every
supported ddtrace: generated values, each given to both."""

from hypothesis import given, settings
from hypothesis import strategies as st

from ddtrace.llmobs.utils import Documents, Messages
from ddllm.instrument.llmobs import _parses_as_documents, _parses_as_messages

# What may stand where ddtrace expects text, a dict or a list: right and wrong types alike.
_ANY = st.one_of(st.none(), st.text(max_size=3), st.integers(), st.just(["x"]), st.just({"k": 1}))
_TEXT_OR_ANY = st.one_of(st.text(max_size=3), _ANY)

_TOOL_CALLS = st.one_of(
    _ANY,
    st.lists(
        st.one_of(
            _ANY,
            st.fixed_dictionaries(
                {}, optional={"name": _TEXT_OR_ANY, "arguments": _ANY, "tool_id": _TEXT_OR_ANY, "type": _TEXT_OR_ANY}
            ),
        ),
        max_size=2,
    ),
)
_TOOL_RESULTS = st.one_of(
    _ANY,
    st.lists(
        st.one_of(
            _ANY,
            st.fixed_dictionaries(
                {},
                optional={"result": _TEXT_OR_ANY, "name": _TEXT_OR_ANY, "tool_id": _TEXT_OR_ANY, "type": _TEXT_OR_ANY},
            ),
        ),
        max_size=2,
    ),
)
_MESSAGE = st.one_of(
    st.text(max_size=3),
    _ANY,
    st.fixed_dictionaries(
        {},
        optional={
            "content": _TEXT_OR_ANY,
            "role": _TEXT_OR_ANY,
            "tool_calls": _TOOL_CALLS,
            "tool_results": _TOOL_RESULTS,
        },
    ),
)
_DOCUMENT = st.one_of(st.text(max_size=3), _ANY, st.fixed_dictionaries({}, optional={"text": _TEXT_OR_ANY}))


def _ddtrace_parses(parser, value):
    try:
        parser(value)
    except TypeError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.one_of(_MESSAGE, st.lists(_MESSAGE, max_size=3)))
def test_the_messages_check_agrees_with_ddtrace(value):
    assert _parses_as_messages(value) == _ddtrace_parses(Messages, value), value


@settings(max_examples=200, deadline=None)
@given(st.one_of(_DOCUMENT, st.lists(_DOCUMENT, max_size=3)))
def test_the_documents_check_never_passes_what_ddtrace_refuses(value):
    # Stricter than ddtrace where it is cheaper to be (a document is only ever {"text": ...}
    # from ddllm): a value it refuses goes in a call of its own, nothing is lost.
    if _parses_as_documents(value):
        assert _ddtrace_parses(Documents, value), value
