"""An SLO file as a `datadog_service_level_objective` resource of Datadog's Terraform provider.

The provider has no JSON resource for SLOs, so the body of `/api/v1/slo` is written as the
resource's arguments and blocks, field for field: `query { numerator denominator }` of a metric
SLO, `sli_specification { time_slice { ... } }` of a time-slice SLO (its formulas as `formula`
blocks, its metric queries as `query { metric_query { ... } }`), one `thresholds` block per
objective. Read back by Terraform, it is the same body `ddllm push` sends.
"""

import json

RESOURCE_TYPE = "datadog_service_level_objective"


def _value(value, string):
    """An HCL value: strings through `string` (which escapes template syntax), numbers as JSON."""
    return string(value) if isinstance(value, str) else json.dumps(value)


def _arguments(pairs, indent, string):
    """`name = value` lines, the `=` aligned, for the pairs whose value is set."""
    pairs = [(name, value) for name, value in pairs if value is not None]
    width = max((len(name) for name, _ in pairs), default=0)
    return ["%s%s = %s" % (" " * indent, name.ljust(width), _value(value, string)) for name, value in pairs]


def _block(name, lines, indent):
    return ["%s%s {" % (" " * indent, name)] + lines + ["%s}" % (" " * indent)]


def _time_slice_lines(time_slice, string):
    query = time_slice.get("query") or {}
    inner = []
    for formula in query.get("formulas") or []:
        inner += _block("formula", _arguments([("formula_expression", formula.get("formula"))], 10, string), 8)
    for item in query.get("queries") or []:
        metric_query = _arguments([(key, item.get(key)) for key in ("name", "data_source", "query")], 12, string)
        inner += _block("query", _block("metric_query", metric_query, 10), 8)
    lines = _arguments(
        [(key, time_slice.get(key)) for key in ("comparator", "threshold", "query_interval_seconds")], 6, string
    )
    return _block("sli_specification", _block("time_slice", lines + _block("query", inner, 6), 4), 2)


def resource_lines(body, name, tags_expression, string):
    """The resource's lines. `tags_expression` is the HCL of its tags (a list, or a concat() with
    the team's tags variable); `string(text)` is an HCL string literal of a text."""
    lines = ['resource "%s" "%s" {' % (RESOURCE_TYPE, name)]
    lines += _arguments([(key, body.get(key)) for key in ("name", "type", "description")], 2, string)
    lines.append("  tags        = %s" % tags_expression)
    if isinstance(body.get("query"), dict):
        lines += [""] + _block(
            "query", _arguments([(key, body["query"].get(key)) for key in ("numerator", "denominator")], 4, string), 2
        )
    time_slice = (body.get("sli_specification") or {}).get("time_slice")
    if isinstance(time_slice, dict):
        lines += [""] + _time_slice_lines(time_slice, string)
    for objective in body.get("thresholds") or []:
        lines += [""] + _block(
            "thresholds",
            _arguments([(key, objective.get(key)) for key in ("timeframe", "target", "warning")], 4, string),
            2,
        )
    return lines + ["}"]
