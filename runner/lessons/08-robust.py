"""Lesson 8's check: an augmented run of theirs holds up on turned and shifted digits better than a plain one."""
from mlp import augment
from runner.learn import cached, not_yet, passed, pct, still_going

BETTER = 6.0
"""Points by which the augmented run must beat the plain one, on average over the two changes."""
PROBE = 1_000
TURN, SHIFT = 20.0, 2.0


def _augmented(config):
    return config.shift > 0 or config.rotation > 0


def _moved_test_digits(work):
    def make():
        x_test, y_test = work.test_set()
        X, y = x_test[:PROBE], y_test[:PROBE]
        return augment.rotated(X, TURN), augment.shifted(X, SHIFT), y
    return cached(("robust-digits", PROBE, TURN, SHIFT), make)


def _scores(work, run):
    """(accuracy on the turned digits, on the shifted ones)."""
    def measure():
        turned, shifted, y = _moved_test_digits(work)
        network = work.network(run)
        return network.accuracy(turned, y), network.accuracy(shifted, y)
    return cached(("robust", run.id, run.status, len(run.history)), measure)


def check(work):
    runs = work.runs_where(lambda r: r.config is not None and not r.config.start_from and not r.config.my_digits)
    done = [r for r in runs if r.finished and r.history]
    plain = [r for r in done if not augment.Augmentation.of(r.config).active]
    moved = [r for r in done if _augmented(r.config)]
    best_gain = None
    for p in plain:
        for a in moved:
            if a.config.layers != p.config.layers:
                continue
            (pt, ps), (at, as_) = _scores(work, p), _scores(work, a)
            gain = 100 * ((at + as_) - (pt + ps)) / 2
            if gain >= BETTER:
                return passed(f"Turned by {TURN:g}°, your plain run {p.label} read {pct(pt)} of 1,000 test digits and "
                              f"the augmented {a.label} {pct(at)}; shifted by {SHIFT:g} pixels, {pct(ps)} against "
                              f"{pct(as_)}. On the test set as it is: {pct(p.accuracies[-1])} and "
                              f"{pct(a.accuracies[-1])}.", uses=[p.id, a.id])
            best_gain = gain if best_gain is None else max(best_gain, gain)
    going = still_going(runs)
    if best_gain is not None:
        said = (f"Your augmented run is only {best_gain:.1f} points better on moved digits; the check needs "
                f"{BETTER:g}.")
    elif not plain:
        said = "Train the plain run first (no augmentation)."
    else:
        said = (f"Your plain run {plain[0].label} is there; now the same layers with a shift or a rotation under "
                "Data.")
    tries = len(moved) if best_gain is not None else 0
    return not_yet(going or said, tries, uses=[r.id for r in plain[:1] + moved[:1]], waiting=any(r.live for r in runs))
