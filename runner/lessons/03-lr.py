"""Lesson 3's check: a run whose rate was too small to change anything in an epoch, and one that diverged."""
from mlp.runs import Status
from runner.learn import not_yet, passed, pct, still_going

SMALL_RATE = 0.001
"""A run at most this fast counts as "too small"..."""
STILL = 2.0
"""...when its first epoch moved its test accuracy by less than this many points."""


def _did_nothing(run):
    if run.config is None or run.config.lr > SMALL_RATE or not run.history or run.start_accuracy is None:
        return False
    return abs(run.accuracies[0] - run.start_accuracy) * 100 < STILL


def check(work):
    runs = work.runs_where(lambda r: r.config is not None)
    small = next((r for r in runs if _did_nothing(r)), None)
    large = next((r for r in runs if r.status == Status.DIVERGED), None)
    if small and large:
        return passed(f"At a learning rate of {small.config.lr:g}, your run {small.label} went from "
                      f"{pct(small.start_accuracy)} to {pct(small.accuracies[0])} in its first epoch: nothing "
                      f"happened. At {large.config.lr:g}, {large.label} diverged: {large.error or 'its loss blew up'}",
                      uses=[small.id, large.id])
    found = [r for r in (small, large) if r]
    missing = []
    if small is None:
        missing.append(f"a run at a learning rate of {SMALL_RATE:g} or less whose first epoch changed its test "
                       f"accuracy by less than {STILL:g} points")
    if large is None:
        missing.append("a run that diverged")
    done = f"Your run {found[0].label} shows one end. " if found else ""
    tries = [r for r in runs if r.finished and r not in found]
    return not_yet(still_going(runs) or
                   done + "Still missing: " + "; and ".join(missing) + ".", len(tries),
                   uses=[r.id for r in found], waiting=any(r.live for r in runs))
