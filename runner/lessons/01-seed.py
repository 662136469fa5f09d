"""Lesson 1's check: a run of the seed notebook's setup, on all 60,000 training images, that passed 94%."""
from mlp.presets import NOTEBOOK_TEST_ACCURACY, follows_the_notebook
from runner.learn import not_yet, passed, pct, still_going

TARGET = 0.94


def _is_the_seed(run):
    return (run.config is not None and follows_the_notebook(run.config) and run.config.train_size == 60_000
            and not run.challenge)


def check(work):
    runs = work.runs_where(_is_the_seed)
    for run in runs:
        for epoch, accuracy in enumerate(run.accuracies, start=1):
            if accuracy >= TARGET:
                notebook = NOTEBOOK_TEST_ACCURACY[epoch - 1] if epoch <= len(NOTEBOOK_TEST_ACCURACY) else None
                beside = f"; the notebook printed {notebook}% after that epoch" if notebook else ""
                return passed(f"Your run {run.label} passed {pct(TARGET)} after epoch {epoch}, with "
                              f"{pct(accuracy)}{beside}. After its first epoch it had {pct(run.accuracies[0])}.",
                              uses=[run.id])
    if not runs:
        return not_yet("No run of the seed's setup on all 60,000 images yet: press Set it up, then Start.")
    going = still_going(runs)
    tries = [r for r in runs if r.finished]
    best = max(runs, key=lambda r: max(r.accuracies, default=0.0))
    reached = (f"Your best run of it, {best.label}, reached {pct(max(best.accuracies))} after "
               f"{len(best.accuracies)} epoch{'s' if len(best.accuracies) != 1 else ''}. " if best.accuracies else "")
    return not_yet(going or reached + f"It needs {pct(TARGET)}: train more epochs.", len(tries),
                   uses=[best.id], waiting=any(r.live for r in runs))
