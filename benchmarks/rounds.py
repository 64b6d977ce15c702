"""What the benchmarks make of interleaved rounds: each round gives one figure per variant,
and the figures compared are medians over rounds of what a variant adds to the bare one in
the same round, with a seeded bootstrap interval over the rounds."""

import random
import statistics


def interleaved(names, rounds):
    """The variants' order, round by round: A B C, C B A, A B C, ... (a drift during a round
    then favours no variant). Yields (round number, name)."""
    order = list(names)
    for round_number in range(rounds):
        for name in order if round_number % 2 == 0 else order[::-1]:
            yield round_number, name


def median_added(figures, name, base="bare"):
    """The median over rounds of what `name` adds to `base` in the same round."""
    return statistics.median(v - b for v, b in zip(figures[name], figures[base]))


def median_ratio(figures, name, base="bare"):
    """The median over rounds of `name`'s figure over `base`'s in the same round."""
    return statistics.median(v / b for v, b in zip(figures[name], figures[base]))


def interval(statistic, figures, resamples=1000):
    """The 10th and 90th percentiles of `statistic(figures)` over the rounds resampled with
    replacement (a bootstrap, seeded: the same figures give the same interval). On a busy
    machine the rounds move by more than some goals' margins; the interval says when."""
    rng = random.Random(0)
    rounds = len(next(iter(figures.values())))
    values = []
    for _ in range(resamples):
        picks = [rng.randrange(rounds) for _ in range(rounds)]
        values.append(statistic({name: [series[i] for i in picks] for name, series in figures.items()}))
    values.sort()
    return values[resamples // 10], values[resamples - 1 - resamples // 10]


def verdict(low, high, goal):
    """PASS when the whole interval meets the goal, FAIL when none of it does, else the run
    did not resolve it (more rounds, or a quieter machine)."""
    if high <= goal:
        return "PASS"
    if low > goal:
        return "FAIL"
    return "UNRESOLVED"
