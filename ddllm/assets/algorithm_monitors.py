"""Anomaly and forecast monitors: a query that is one `anomalies(...)` or `forecast(...)` call,
checked against the forms Datadog documents for its monitor API.

    avg(last_3h):anomalies(<metric query>, '<algorithm>', <deviations>, direction='above',
        alert_window='last_30m', interval=300, count_default_zero='false'[, seasonality='daily']) >= 1
    min(next_12h):forecast(<metric query>, '<algorithm>', <deviations>, interval=300
        [, history='1w', model='default'][, seasonality='daily']) <= 0

The first argument is one metric query: Datadog's monitor forms take a metric query there, not
arithmetic of several. An anomaly monitor's `options.threshold_windows` has a trigger window,
equal to `alert_window`, and a recovery window; its thresholds are fractions of that window.
"""

import re

from ddllm.assets.queries import Keyword, MetricQuery, Number, Text

ANOMALY_ALGORITHMS = ("basic", "agile", "robust")
FORECAST_ALGORITHMS = ("linear", "seasonal")
SEASONALITIES = ("hourly", "daily", "weekly")
DIRECTIONS = ("both", "above", "below")
LINEAR_MODELS = ("default", "simple", "reactive")
TRUE_FALSE = ("true", "false")
WINDOW = re.compile(r"^(?P<tense>last|next)_(?P<count>\d+)(?P<unit>m|h|d|w)$")
SECONDS_OF_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
HISTORY = re.compile(r"^\d+(m|h|d|w)$")
# Keyword arguments of each function: name -> allowed values (None: checked on its own).
ANOMALY_KEYWORDS = {
    "direction": DIRECTIONS,
    "alert_window": None,
    "interval": None,
    "count_default_zero": TRUE_FALSE,
    "seasonality": SEASONALITIES,
    "timezone": None,
}
FORECAST_KEYWORDS = {
    "interval": None,
    "history": None,
    "model": LINEAR_MODELS,
    "seasonality": SEASONALITIES,
    "timezone": None,
}
# The forecast horizon the monitor editor offers: 12 hours to 3 months.
FORECAST_HORIZON_SECONDS = (12 * 3600, 92 * 86400)


def window_seconds(text, tense):
    """Seconds of a `last_30m` (tense "last") or `next_12h` (tense "next") window, or None."""
    match = WINDOW.match(text or "")
    if match is None or match.group("tense") != tense:
        return None
    return int(match.group("count")) * SECONDS_OF_UNIT[match.group("unit")]


def _split(call, keywords):
    """(positional arguments, {name: value}, problems) of a call."""
    positional = [argument for argument in call.arguments if not isinstance(argument, Keyword)]
    named = {}
    problems = []
    for argument in call.arguments:
        if not isinstance(argument, Keyword):
            continue
        if argument.name not in keywords:
            problems.append(
                "%s() has no argument %s= (its arguments: %s)" % (call.name, argument.name, ", ".join(sorted(keywords)))
            )
        elif argument.name in named:
            problems.append("%s() has %s= twice" % (call.name, argument.name))
        named[argument.name] = argument.value.value
        allowed = keywords.get(argument.name)
        if allowed and argument.value.value not in allowed:
            problems.append(
                "%s() %s=%r: expected one of %s" % (call.name, argument.name, argument.value.value, ", ".join(allowed))
            )
    return positional, named, problems


def _positional_problems(call, positional, algorithms):
    """The metric query, the quoted algorithm and the deviations of anomalies() and forecast()."""
    problems = []
    if len(positional) != 3:
        return [
            "%s() takes (metric query, 'algorithm', deviations, name=value...), got %d positional arguments"
            % (call.name, len(positional))
        ]
    query, algorithm, deviations = positional
    if not isinstance(query, MetricQuery):
        problems.append(
            "%s()'s first argument must be one metric query: Datadog's %s monitor takes no arithmetic "
            "or function there" % (call.name, "anomaly" if call.name == "anomalies" else "forecast")
        )
    if not isinstance(algorithm, Text) or algorithm.value not in algorithms:
        problems.append(
            "%s()'s algorithm must be one of %s, quoted" % (call.name, ", ".join("'%s'" % name for name in algorithms))
        )
    minimum = 1 if call.name == "forecast" else 0
    if not isinstance(deviations, Number) or deviations.value < minimum or deviations.value == 0:
        problems.append(
            "%s()'s deviations must be a number %s" % (call.name, "of at least 1" if minimum else "above 0")
        )
    return problems


def _interval_problems(call, named):
    interval = named.get("interval")
    if interval is None:
        return ["%s() needs interval=SECONDS, the rollup interval" % call.name]
    if not isinstance(interval, float) or not interval.is_integer() or interval <= 0:
        return ["%s() interval=%r: expected a whole number of seconds" % (call.name, interval)]
    return []


def _seasonality_problems(call, algorithm, named, seasonal):
    if algorithm in seasonal and "seasonality" not in named:
        return ["%s() with '%s' needs seasonality= (%s)" % (call.name, algorithm, ", ".join(SEASONALITIES))]
    if algorithm not in seasonal and "seasonality" in named:
        return ["%s() with '%s' takes no seasonality=" % (call.name, algorithm)]
    return []


def anomaly_problems(query, options):
    """What Datadog refuses, or what does not hold together, in an anomaly monitor: its query
    (a MonitorQuery whose `algorithm` is the anomalies() call) and its options."""
    call = query.algorithm
    positional, named, problems = _split(call, ANOMALY_KEYWORDS)
    problems += _positional_problems(call, positional, ANOMALY_ALGORITHMS)
    algorithm = positional[1].value if len(positional) > 1 and isinstance(positional[1], Text) else None
    problems += _seasonality_problems(call, algorithm, named, ("agile", "robust"))
    problems += _interval_problems(call, named)
    if query.time_aggregator != "avg":
        problems.append("an anomaly monitor's time aggregation is avg(...), not %s(...)" % query.time_aggregator)
    query_window = window_seconds(query.window, "last")
    if query_window is None:
        problems.append("an anomaly monitor's window is like last_4h, not %r" % query.window)
    alert_window = named.get("alert_window")
    alert_seconds = window_seconds(alert_window, "last") if isinstance(alert_window, str) else None
    if alert_seconds is None:
        problems.append("anomalies() needs alert_window='last_Nm' (the window checked for anomalies)")
    else:
        if query_window is not None and query_window < alert_seconds:
            problems.append("the query window %s is shorter than alert_window %s" % (query.window, alert_window))
        interval = named.get("interval")
        if isinstance(interval, float) and interval > alert_seconds / 5:
            problems.append(
                "interval=%d is more than a fifth of alert_window %s: too few points to judge"
                % (interval, alert_window)
            )
    if query.comparator != ">=" or not 0 < query.threshold <= 1:
        problems.append(
            "an anomaly monitor ends with `>= FRACTION`, the fraction (0 to 1) of anomalous points in the window"
        )
    problems += _threshold_window_problems(options, alert_window, alert_seconds, query.threshold)
    return problems


def _threshold_window_problems(options, alert_window, alert_seconds, critical):
    windows = options.get("threshold_windows")
    if not isinstance(windows, dict):
        return ["an anomaly monitor needs options.threshold_windows with trigger_window and recovery_window"]
    problems = []
    trigger, recovery = windows.get("trigger_window"), windows.get("recovery_window")
    if trigger != alert_window:
        problems.append(
            "threshold_windows.trigger_window %r must be the query's alert_window %r" % (trigger, alert_window)
        )
    recovery_seconds = window_seconds(recovery, "last") if isinstance(recovery, str) else None
    if recovery_seconds is None:
        problems.append("threshold_windows.recovery_window must be a window like last_30m, not %r" % (recovery,))
    elif alert_seconds is not None and 0 < critical <= 1:
        # Datadog's rule: the monitor cannot meet the alert and the recovery condition at once.
        shortest = alert_seconds * (1 - critical) + 60
        if not shortest <= recovery_seconds:
            problems.append(
                "threshold_windows.recovery_window %s is shorter than %d minutes: with a critical "
                "threshold of %s the monitor could alert and recover at once" % (recovery, shortest // 60, critical)
            )
    return problems


def forecast_problems(query, options):
    """What Datadog refuses, or what does not hold together, in a forecast monitor."""
    call = query.algorithm
    positional, named, problems = _split(call, FORECAST_KEYWORDS)
    problems += _positional_problems(call, positional, FORECAST_ALGORITHMS)
    algorithm = positional[1].value if len(positional) > 1 and isinstance(positional[1], Text) else None
    problems += _seasonality_problems(call, algorithm, named, ("seasonal",))
    problems += _interval_problems(call, named)
    if algorithm == "seasonal" and ("history" in named or "model" in named):
        problems.append("forecast() with 'seasonal' takes no history= or model= (the linear algorithm's)")
    history = named.get("history")
    if history is not None and not (isinstance(history, str) and HISTORY.match(history)):
        problems.append("forecast() history=%r: expected a span like '1w' or '3d'" % (history,))
    horizon = window_seconds(query.window, "next")
    if horizon is None:
        problems.append("a forecast monitor's window is the horizon ahead, like next_1d, not %r" % query.window)
    elif not FORECAST_HORIZON_SECONDS[0] <= horizon <= FORECAST_HORIZON_SECONDS[1]:
        problems.append(
            "a forecast horizon is 12 hours to 3 months (the monitor editor's range), not %s" % query.window
        )
    below = query.comparator in ("<", "<=")
    wanted = "min" if below else "max"
    if query.time_aggregator != wanted:
        problems.append(
            "a forecast monitor that alerts %s its threshold aggregates with %s(...), not %s(...)"
            % ("below" if below else "above", wanted, query.time_aggregator)
        )
    if "threshold_windows" in options:
        problems.append("threshold_windows belong to anomaly monitors, not forecast monitors")
    return problems


def problems_of(query, options):
    """The problems of an anomaly or forecast monitor's query and options ([] for other monitors)."""
    if query.algorithm is None:
        return []
    if query.algorithm.name == "anomalies":
        return anomaly_problems(query, options)
    return forecast_problems(query, options)
