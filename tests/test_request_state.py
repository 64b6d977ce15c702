"""An attempt finds its request when LiteLLM runs it where the request's contextvars are lost
(another thread or event loop): by LiteLLM's trace id once learnt, else by the request span
among its active APM spans."""

import contextvars

from ddtrace.trace import tracer

from ddllm.instrument import patching, request_state


def test_an_attempt_in_a_fresh_context_finds_its_request_by_span_then_by_trace_id():
    with tracer.trace("llm.request") as request_span:
        state = request_state.RequestState()
        state.resource, state.span = "primary", request_span
        request_state.enter(state)
        try:
            with tracer.trace("app.inner") as inner:
                lost = contextvars.Context()  # what a thread pool without context copying gives
                assert lost.run(request_state.find, "litellm-trace-id") is None
                assert lost.run(request_state.find_by_span, inner) is state
                request_state.learn_trace_id(state, "litellm-trace-id")
                assert lost.run(request_state.find, "litellm-trace-id") is state
                assert lost.run(request_state.find, "another-trace-id") is None
        finally:
            patching._close_request(state, finish=True)  # as the shell that holds it does
    assert request_state.find_by_span(request_span) is None
    assert request_state.open_request_count() == 0
