"""The answers the benchmarks' mocked provider gives beyond `run.py`'s "ok", where the parent
process of `instructions.py` reads them too: it must not import `run.py`, which starts sinks."""

# A streamed answer as long as a spoken reply. LiteLLM's mock stream cuts it into chunks of
# three characters: STREAMED_CHUNKS chunks of content, then a last one without.
STREAMED_CHUNKS = 80
STREAMED_ANSWER = ("Sure, I can move your booking to Friday at ten. " * 6)[: 3 * STREAMED_CHUNKS]
