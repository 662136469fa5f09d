"""Lesson 10's check: in a class with a challenge, a scored entry of theirs; outside one, a run of theirs
within a budget of 25,000 weights and 5 epochs that reached 96%."""
from runner.classes import Budget
from runner.learn import not_yet, passed, pct, still_going

MAX_WEIGHTS = 25_000
MAX_EPOCHS = 5
TARGET = 0.96
BUDGET = Budget(max_weights=MAX_WEIGHTS, max_epochs=MAX_EPOCHS)
"""Outside a class: the budget a class challenge would set (it also refuses a fine-tuned run)."""


def _in_class(work):
    for info, challenge, standings in work.challenges():
        mine = next((s for s in standings if s.owner == work.person.owner), None)
        if mine is not None:
            return passed(f"In “{info.title}”, your best entry in the challenge “{challenge.title}” scored "
                          f"{pct(mine.public)} on the public half: place {mine.rank} of {len(standings)}.",
                          uses=[mine.run_id])
    if work.challenges():
        info, challenge, _ = work.challenges()[0]
        return not_yet(f"Your class “{info.title}” has the challenge “{challenge.title}”: no finished entry of "
                       "yours has been scored yet. On Train, choose it under Enter the next run in, then Start.",
                       waiting=any(r.live and r.challenge for r in work.runs))
    return None


def _within(run):
    c = run.config
    return c is not None and not BUDGET.problems(c) and c.train_size == 60_000 and not run.challenge


def check(work):
    in_class = _in_class(work)
    if in_class is not None:
        return in_class
    runs = work.runs_where(_within)
    for run in runs:
        if run.finished and max(run.accuracies, default=0.0) >= TARGET:
            return passed(f"Your run {run.label} ({'-'.join(map(str, run.config.layers))}, "
                          f"{run.config.weights:,} weights, "
                          f"{run.config.activation}, {run.config.optimizer}) reached {pct(max(run.accuracies))} in "
                          f"{len(run.accuracies)} epochs, within the budget.", uses=[run.id])
    if not runs:
        return not_yet(f"No run yet within {MAX_WEIGHTS:,} weights and {MAX_EPOCHS} epochs on all 60,000 images: "
                       "press Set it up, then Start.")
    best = max(runs, key=lambda r: max(r.accuracies, default=0.0))
    said = (f"Your best run within the budget, {best.label}, reached {pct(max(best.accuracies))}; the goal is "
            f"{pct(TARGET)}." if best.accuracies else "")
    return not_yet(still_going(runs) or said, sum(r.finished for r in runs),
                   uses=[best.id], waiting=any(r.live for r in runs))
