"""Lesson 5's check: a ReLU-softmax-cross-entropy run of theirs on all 60,000 images that reached 95%."""
from mlp import analysis
from runner.learn import cached, not_yet, passed, pct, still_going

TARGET = 0.95
SEED_PASSES_94 = 12
"""The epoch after which the seed notebook first passed 94% (94.02%)."""


def _modern(run):
    c = run.config
    return (c is not None and c.activation in ("relu", "leaky_relu") and c.output == "softmax"
            and c.loss == "cross_entropy" and c.train_size == 60_000 and not c.start_from)


def _dead(work, run):
    def count():
        x_test = work.test_set()[0]
        return sum(int(d.sum()) for d in analysis.dead_units(work.network(run), x_test[:2_000]))
    return cached(("dead", run.id, run.status, len(run.history)), count)


def check(work):
    runs = work.runs_where(_modern)
    for run in runs:
        if run.finished and max(run.accuracies, default=0.0) >= TARGET:
            first = next(e for e, a in enumerate(run.accuracies, start=1) if a >= TARGET)
            past_94 = next((e for e, a in enumerate(run.accuracies, start=1) if a >= 0.94), None)
            dead = _dead(work, run)
            units = sum(run.config.layers[1:-1])
            return passed(f"Your run {run.label} ({run.config.activation}, softmax, cross-entropy) reached "
                          f"{pct(max(run.accuracies))}: past 94% after epoch {past_94} (the seed needed "
                          f"{SEED_PASSES_94}) and past {pct(TARGET)} after epoch {first}. {dead} of its {units} "
                          "hidden units are dead (the same output for 2,000 test digits).", uses=[run.id])
    if not runs:
        return not_yet("No run yet with a ReLU-type activation, softmax and cross-entropy on all 60,000 images: "
                       "press Set it up, then Start.")
    tries = [r for r in runs if r.finished]
    best = max(runs, key=lambda r: max(r.accuracies, default=0.0))
    said = (f"Your best such run, {best.label}, reached {pct(max(best.accuracies))}; the check needs {pct(TARGET)}."
            if best.accuracies else "")
    return not_yet(still_going(runs) or said, len(tries), uses=[best.id],
                   waiting=any(r.live for r in runs))
