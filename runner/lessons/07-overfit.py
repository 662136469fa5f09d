"""Lesson 7's check: a plain run on at most 1,000 images with a wide train/test gap, and an L2 run that narrows it."""
from mlp.augment import Augmentation
from runner.learn import not_yet, passed, pct, still_going

MOST_IMAGES = 1_000
GAP = 8.0
"""Points between train and test accuracy the plain run must show."""
NARROWER = 2.0
"""Points by which the L2 run's gap must be smaller."""


def _few(run):
    return run.config is not None and run.config.train_size <= MOST_IMAGES and not run.config.my_digits


def _plain(c):
    return c.l2 == 0 and c.dropout == 0 and not Augmentation.of(c).active


def _line(run):
    last = run.history[-1]
    return f"{pct(last.train_accuracy)} on its training images, {pct(last.test_accuracy)} on the test set"


def check(work):
    runs = work.runs_where(_few)
    done = [r for r in runs if r.finished and r.history]
    plain = [r for r in done if _plain(r.config) and r.gap >= GAP]
    for wide in plain:
        for narrow in done:
            if (narrow.config.l2 > 0 and narrow.config.train_size == wide.config.train_size
                    and narrow.gap <= wide.gap - NARROWER):
                return passed(f"On {wide.config.train_size:,} images your run {wide.label} ended with {_line(wide)}: "
                              f"a gap of {wide.gap:.1f} points. With L2 {narrow.config.l2:g}, {narrow.label} ended "
                              f"with {_line(narrow)}: the gap narrowed to {narrow.gap:.1f} points.",
                              uses=[wide.id, narrow.id])
    going = still_going(runs)
    if not runs:
        return not_yet(f"No run on {MOST_IMAGES:,} images or fewer yet: press Set it up, then Start.")
    if not plain:
        tried = [r for r in done if _plain(r.config)]
        said = (f"Your run {tried[0].label}'s gap is {tried[0].gap:.1f} points; the check needs a run without L2 "
                f"whose gap is at least {GAP:g}." if tried else "Train a run without L2 first.")
    else:
        said = (f"Your run {plain[0].label} shows a gap of {plain[0].gap:.1f} points. Now the same with L2 weight "
                f"decay above 0 on {plain[0].config.train_size:,} images, narrowing it by at least "
                f"{NARROWER:g} points.")
    tries = [r for r in done if r not in plain[:1]]
    return not_yet(going or said, len(tries), uses=[r.id for r in plain[:1]], waiting=any(r.live for r in runs))
