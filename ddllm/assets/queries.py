"""The grammar of Datadog's metric queries and monitor queries, as ddllm's assets use them.

A metric query is `aggregator:metric{filters} by {tags}.modifier(...)`. A metric monitor's
query is `time_aggregation(last_Nm): expression comparator threshold`, where the expression
joins metric queries and numbers with + - * / and parentheses, and wraps them in Datadog's
documented functions (`default_zero(q)`, `is_greater(q, 20)`, `top(q, 10, 'mean', 'desc')`,
...). An anomaly or forecast monitor's query is one `anomalies(...)` or `forecast(...)` call,
whose arguments may be named (`direction='above'`): ddllm.assets.algorithm_monitors checks
them. Parsing gives a tree whose nodes keep their character offsets, so a number in the query
(the threshold, a minimum volume) can be read and replaced in place.
"""

import re
from collections import namedtuple

MetricQuery = namedtuple("MetricQuery", "aggregator metric filters groups modifiers text start end calls")
Number = namedtuple("Number", "value start end")
Text = namedtuple("Text", "value start end")
Call = namedtuple("Call", "name arguments start end")
Keyword = namedtuple("Keyword", "name value start end")  # a named argument: direction='above'

Binary = namedtuple("Binary", "operator left right")
MonitorQuery = namedtuple(
    "MonitorQuery",
    "time_aggregator window expression metric_queries groups comparator threshold tree threshold_span text algorithm",
)

METRIC_QUERY = re.compile(
    r"(?P<aggregator>[a-z][a-z0-9.]*):(?P<metric>[A-Za-z][A-Za-z0-9_.]*)"
    r"\{(?P<filters>[^{}]*)\}"
    r"(?:\s+by\s+\{(?P<groups>[^{}]*)\})?"
    r"(?P<modifiers>(?:\.[a-z_]+\([^()]*\))*)"
)
MODIFIER_CALL = re.compile(r"\.([a-z_]+)\(([^()]*)\)")
MONITOR_HEAD = re.compile(r"^\s*(?P<time_aggregator>[a-z_]+)\((?P<window>[^()]*)\)\s*:\s*")
MONITOR_TAIL = re.compile(r"\s*(?P<comparator>>=|<=|>|<)\s*(?P<threshold>-?\d+(?:\.\d+)?)\s*$")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
FUNCTION_NAME = re.compile(r"([a-z_][a-z0-9_]*)\s*\(")
KEYWORD_NAME = re.compile(r"([a-z_][a-z0-9_]*)\s*=(?!=)\s*")
PERCENTILE_AGGREGATOR = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")  # p50:, p95:, p99.9:
QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")

# Datadog's documented query functions that a metric monitor may use: name -> (numbers after
# the series: fewest, most). The series comes first in each.
SERIES_FUNCTIONS = {
    "default_zero": (0, 0),
    "abs": (0, 0),
    "log2": (0, 0),
    "log10": (0, 0),
    "exclude_null": (0, 0),
    "per_second": (0, 0),
    "per_minute": (0, 0),
    "per_hour": (0, 0),
    "dt": (0, 0),
    "diff": (0, 0),
    "derivative": (0, 0),
    "monotonic_diff": (0, 0),
    "hour_before": (0, 0),
    "day_before": (0, 0),
    "week_before": (0, 0),
    "month_before": (0, 0),
    "ewma_3": (0, 0),
    "ewma_5": (0, 0),
    "ewma_10": (0, 0),
    "ewma_20": (0, 0),
    "median_3": (0, 0),
    "median_5": (0, 0),
    "median_7": (0, 0),
    "median_9": (0, 0),
    "timeshift": (1, 1),
    "clamp_min": (1, 1),
    "clamp_max": (1, 1),
    "cutoff_min": (1, 1),
    "cutoff_max": (1, 1),
    "is_greater": (1, 1),
    "is_greater_equal": (1, 1),
    "is_less": (1, 1),
    "is_less_equal": (1, 1),
}
# top(series, limit, 'method', 'order')
TOP_LIMITS = (5, 10, 25, 50, 100)
TOP_METHODS = ("max", "min", "last", "l2norm", "area", "mean", "norm")
TOP_ORDERS = ("asc", "desc")
# Functions Datadog evaluates in monitors of their own type, not in a threshold metric monitor.
OWN_MONITOR_TYPE = {
    "anomalies": "an anomaly monitor",
    "outliers": "an outlier monitor",
    "forecast": "a forecast monitor",
}
# Those whose monitor ddllm ships and checks: the whole query is one call of them.
ALGORITHM_FUNCTIONS = ("anomalies", "forecast")
# Modifiers: .as_count(), .as_rate(), .rollup(method[, seconds]), .fill(mode[, seconds])
ROLLUP_METHODS = ("avg", "sum", "min", "max", "count")
FILL_MODES = ("null", "zero", "linear", "last")
MODIFIERS = ("as_count", "as_rate", "rollup", "fill")


class QueryError(ValueError):
    """A query that does not parse, or that Datadog would refuse; `offset` is where it stopped."""

    def __init__(self, message, offset=None):
        super().__init__(message)
        self.offset = offset


def parse_metric_query(text, start=0, whole=True):
    """`aggregator:metric{filters} by {groups}.modifier()...` at `start` of `text`."""
    match = METRIC_QUERY.match(text, start)
    if match is None or (whole and match.end() != len(text.rstrip())):
        at = start if match is None else match.end()
        raise QueryError(
            "expected `aggregator:metric{filters} by {tags}` at character %d, found %r" % (at, text[at : at + 30]), at
        )
    filters = [item.strip() for item in match.group("filters").split(",") if item.strip()]
    groups = [item.strip() for item in (match.group("groups") or "").split(",") if item.strip()]
    calls = [
        (name, [argument.strip() for argument in arguments.split(",") if argument.strip()])
        for name, arguments in MODIFIER_CALL.findall(match.group("modifiers"))
    ]
    query = MetricQuery(
        match.group("aggregator"),
        match.group("metric"),
        filters,
        groups,
        [name for name, _ in calls],
        match.group(0),
        match.start(),
        match.end(),
        calls,
    )
    return query, match.end()


def modifier_problems(query):
    """What Datadog refuses in the modifiers of one metric query."""
    problems = []
    names = [name for name, _ in query.calls]
    for name, arguments in query.calls:
        if name not in MODIFIERS:
            problems.append(
                "unknown modifier .%s() in %r (Datadog's: %s)"
                % (name, query.text, ", ".join("." + item + "()" for item in MODIFIERS))
            )
        elif name in ("as_count", "as_rate") and arguments:
            problems.append(".%s() takes no arguments" % name)
        elif name == "rollup":
            if (
                not arguments
                or arguments[0] not in ROLLUP_METHODS
                or len(arguments) > 2
                or (len(arguments) == 2 and not re.match(r"^[1-9]\d*$", arguments[1]))
            ):
                problems.append(
                    ".rollup(%s): expected .rollup(method[, seconds]) with a method among %s and "
                    "a whole number of seconds" % (", ".join(arguments), ", ".join(ROLLUP_METHODS))
                )
        elif name == "fill":
            if not arguments or arguments[0] not in FILL_MODES or len(arguments) > 2:
                problems.append(
                    ".fill(%s): expected .fill(mode[, seconds]) with a mode among %s"
                    % (", ".join(arguments), ", ".join(FILL_MODES))
                )
        if names.count(name) > 1:
            problems.append(".%s() appears twice in %r" % (name, query.text))
    if "as_count" in names and "as_rate" in names:
        problems.append("a query is either .as_count() or .as_rate(), not both: %r" % query.text)
    return sorted(set(problems), key=problems.index)


class _ExpressionParser:
    """Recursive descent over `expression := term (op term)*`, `term := number | (expression) |
    function(expression, arguments...) | metric query`."""

    def __init__(self, text, end):
        self.text = text
        self.end = end
        self.position = 0

    def skip_space(self):
        while self.position < self.end and self.text[self.position].isspace():
            self.position += 1

    def peek(self):
        self.skip_space()
        return self.text[self.position] if self.position < self.end else ""

    def expression(self):
        left = self.term()
        while self.peek() in ("+", "-", "*", "/") and self.peek():
            operator = self.text[self.position]
            self.position += 1
            if not self.peek() or self.peek() == ")":
                raise QueryError("the expression ends where a metric query or a number should be", self.position)
            left = Binary(operator, left, self.term())
        return left

    def term(self):
        char = self.peek()
        if not char:
            raise QueryError("the expression ends where a metric query or a number should be", self.position)
        if char == "(":
            self.position += 1
            inner = self.expression()
            if self.peek() != ")":
                raise QueryError("unbalanced '(': expected ')' at character %d" % self.position, self.position)
            self.position += 1
            return inner
        number = NUMBER.match(self.text, self.position)
        if number and number.end() <= self.end:
            self.position = number.end()
            return Number(float(number.group(0)), number.start(), number.end())
        function = FUNCTION_NAME.match(self.text, self.position)
        if function:
            return self.call(function)
        query, self.position = parse_metric_query(self.text[: self.end], self.position, whole=False)
        return query

    def call(self, match):
        name, start = match.group(1), match.start()
        self.position = match.end()
        arguments = [self.expression()]
        while self.peek() == ",":
            self.position += 1
            self.skip_space()
            keyword = KEYWORD_NAME.match(self.text, self.position)
            if keyword:
                self.position = keyword.end()
                value = self.literal()
                arguments.append(Keyword(keyword.group(1), value, keyword.start(), self.position))
            else:
                arguments.append(self.literal(or_expression=True))
        if self.peek() != ")":
            raise QueryError(
                "unbalanced '(' in %s(...): expected ')' or ',' at character %d" % (name, self.position), self.position
            )
        self.position += 1
        return Call(name, arguments, start, self.position)

    def literal(self, or_expression=False):
        """A quoted text or a number (or, for a positional argument, any expression)."""
        quoted = QUOTED.match(self.text, self.position)
        if quoted:
            self.position = quoted.end()
            return Text(
                quoted.group(1) if quoted.group(1) is not None else quoted.group(2), quoted.start(), quoted.end()
            )
        if or_expression:
            return self.expression()
        number = NUMBER.match(self.text, self.position)
        if number is None or number.end() > self.end:
            raise QueryError(
                "a named argument takes a quoted text or a number, at character %d" % self.position, self.position
            )
        self.position = number.end()
        return Number(float(number.group(0)), number.start(), number.end())


def parse_monitor_query(text):
    """`time_aggr(window):expression comparator threshold`. Raises QueryError on what does not
    parse and on function calls Datadog refuses (unknown names, wrong arguments)."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("the query is empty")
    head = MONITOR_HEAD.match(text)
    if head is None:
        raise QueryError("expected `aggregation(last_Nm):` at the start, found %r" % text[:30], 0)
    tail = MONITOR_TAIL.search(text)
    if tail is None:
        raise QueryError("expected a comparator (> >= < <=) and a number at the end of the query")
    parser = _ExpressionParser(text, tail.start())
    parser.position = head.end()
    tree = parser.expression()
    parser.skip_space()
    if parser.position < tail.start():
        char = text[parser.position]
        if char == ")":
            raise QueryError("unbalanced ')' at character %d" % parser.position, parser.position)
        raise QueryError(
            "expected an operator (+ - * /) at character %d, found %r"
            % (parser.position, text[parser.position : parser.position + 20]),
            parser.position,
        )
    algorithm = tree if isinstance(tree, Call) and tree.name in ALGORITHM_FUNCTIONS else None
    for call in calls_of(tree):
        if call is not algorithm:
            check_call(call)
    metric_queries = metric_queries_of(tree)
    if not metric_queries:
        raise QueryError("the expression has no metric query")
    return MonitorQuery(
        head.group("time_aggregator"),
        head.group("window").strip(),
        text[head.end() : tail.start()].strip(),
        metric_queries,
        metric_queries[0].groups,
        tail.group("comparator"),
        float(tail.group("threshold")),
        tree,
        tail.span("threshold"),
        text,
        algorithm,
    )


def check_call(call):
    """Raises QueryError when Datadog would refuse this function call."""
    name, arguments = call.name, call.arguments
    if name in ALGORITHM_FUNCTIONS:
        raise QueryError(
            "%s() is the whole query of %s: it cannot be inside arithmetic or another function"
            % (name, OWN_MONITOR_TYPE[name]),
            call.start,
        )
    if name in OWN_MONITOR_TYPE:
        raise QueryError("%s() needs %s, not a threshold metric monitor" % (name, OWN_MONITOR_TYPE[name]), call.start)
    if any(isinstance(argument, Keyword) for argument in arguments):
        raise QueryError("%s() takes no named arguments" % name, call.start)
    if name == "top":
        shapes = [type(argument).__name__ for argument in arguments[1:]]
        if (
            shapes != ["Number", "Text", "Text"]
            or arguments[1].value not in TOP_LIMITS
            or arguments[2].value not in TOP_METHODS
            or arguments[3].value not in TOP_ORDERS
        ):
            raise QueryError(
                "top() takes (query, limit, 'method', 'order') with a limit among %s, a method among "
                "%s and an order among %s"
                % (", ".join(str(item) for item in TOP_LIMITS), ", ".join(TOP_METHODS), ", ".join(TOP_ORDERS)),
                call.start,
            )
        return
    if name not in SERIES_FUNCTIONS:
        import difflib

        close = difflib.get_close_matches(name, list(SERIES_FUNCTIONS) + ["top"], n=1)
        raise QueryError(
            "%s() is not a Datadog query function%s" % (name, " (did you mean %s()?)" % close[0] if close else ""),
            call.start,
        )
    fewest, most = SERIES_FUNCTIONS[name]
    extra = arguments[1:]
    if not fewest <= len(extra) <= most or not all(isinstance(argument, Number) for argument in extra):
        wanted = "(query)" if most == 0 else "(query, number)"
        raise QueryError(
            "%s() takes %s, got %d argument%s" % (name, wanted, len(arguments), "" if len(arguments) == 1 else "s"),
            call.start,
        )
    if isinstance(arguments[0], (Number, Text)):
        raise QueryError("%s() needs a metric query as its first argument" % name, call.start)


def walk(node):
    yield node
    if isinstance(node, Binary):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, Call):
        for argument in node.arguments:
            yield from walk(argument)
    elif isinstance(node, Keyword):
        yield from walk(node.value)


def calls_of(tree):
    return [node for node in walk(tree) if isinstance(node, Call)]


def metric_queries_of(tree):
    return [node for node in walk(tree) if isinstance(node, MetricQuery)]


def minimum_volume(query):
    """(value, (start, end)) of the number in the query's `is_greater(q, N)` guard, or None."""
    for call in calls_of(query.tree):
        if call.name in ("is_greater", "is_greater_equal") and len(call.arguments) == 2:
            number = call.arguments[1]
            return number.value, (number.start, number.end)
    return None


def replace_spans(text, replacements):
    """`text` with each (start, end) span replaced: [((start, end), new text), ...]."""
    for (start, end), new in sorted(replacements, key=lambda item: item[0][0], reverse=True):
        text = text[:start] + new + text[end:]
    return text
