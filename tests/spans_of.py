"""Reading what the test agent received, by request: the request span and its attempts."""


def by_name(spans, name):
    return [span for span in spans if span.get("name") == name]


def requests_with_attempts(traces):
    """[(request span, [attempt spans in order])] for every `llm.request` received."""
    found = []
    for trace in traces:
        by_id = {span["span_id"]: span for span in trace}
        for request in by_name(trace, "llm.request"):
            attempts = [
                span for span in by_name(trace, "llm.attempt") if _descends_from(span, request["span_id"], by_id)
            ]
            attempts.sort(key=lambda span: int(span["meta"]["llm.attempt.number"]))
            found.append((request, attempts))
    return found


def _descends_from(span, ancestor_id, by_id):
    parent = span.get("parent_id")
    while parent:
        if parent == ancestor_id:
            return True
        parent = by_id.get(parent, {}).get("parent_id")
    return False


def meta(span, key):
    return span["meta"].get(key)
