"""Lesson 4's check: in a deep sigmoid run of theirs, the first layer's gradient is far smaller than the output's."""
from mlp import analysis
from runner.learn import cached, not_yet, passed, still_going

RATIO = 20.0
"""How many times smaller the first weight layer's gradient must be than the output layer's."""
PROBE = 1_000


def _deep_sigmoid(run):
    return run.config is not None and run.config.activation == "sigmoid" and len(run.config.layers) >= 5


def _ratio(work, run):
    return cached(("vanishing", run.id, run.status, len(run.history)), lambda: _measure(work, run))


def _measure(work, run):
    x_test, y_test = work.test_set()
    health = analysis.layer_health(work.network(run), x_test[:PROBE], y_test[:PROBE])
    first, last = health.gradient_rms[0], health.gradient_rms[-1]
    return (last / first if first > 0 else float("inf")), first, last, health


def check(work):
    runs = work.runs_where(_deep_sigmoid)
    finished = [r for r in runs if r.finished and r.history]
    for run in finished:
        ratio, first, last, health = _ratio(work, run)
        if ratio >= RATIO:
            saturated = health.saturated[0] or 0.0
            return passed(f"In your run {run.label} ({'-'.join(map(str, run.config.layers))}, sigmoid), the first "
                          f"layer's gradient was {first:.1e}, {ratio:,.0f} times smaller than the output layer's "
                          f"{last:.1e}; {saturated:.0%} of the first layer's outputs sat on a flat end of the sigmoid.",
                          uses=[run.id])
    if not runs:
        return not_yet("No run yet with at least three sigmoid hidden layers: press Set it up, then Start.")
    going = still_going(runs)
    if finished:
        ratio = _ratio(work, finished[0])[0]
        going = going or (f"In {finished[0].label} the first layer's gradient is {ratio:.1f} times smaller than the "
                          f"output layer's: the check needs {RATIO:g} times.")
    return not_yet(going or "Let a run finish at least one epoch.", len(finished), waiting=any(r.live for r in runs))
