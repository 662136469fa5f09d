"""Lesson 9's check: a fine-tuning run on the learner's own ten digits or more that read more held-out digits
after than before, and forgot at most 2 points of MNIST."""
from runner.learn import not_yet, passed, pct, still_going

DRAWINGS = 10
FORGET = 0.02
"""The most MNIST test accuracy the fine-tuning may lose."""


def check(work):
    mine = {c.id: c for c in work.collections()}
    runs = work.runs_where(lambda r: r.config is not None and r.config.start_from and r.config.my_digits)
    if not runs:
        kept = max((c.count for c in mine.values()), default=0)
        return not_yet(f"No fine-tuning run on your digits yet (you have kept {kept} drawing{'s' if kept != 1 else ''} "
                       f"in your largest collection; the lesson needs {DRAWINGS}): keep them on Draw, then "
                       "Set it up and Start.")
    going = still_going(runs)
    tries, said = 0, ""
    for run in runs:
        if not run.finished:
            continue
        tries += 1
        ft = run.fine_tune or {}
        collection = mine.get(run.config.my_digits)
        if collection is None or collection.count < DRAWINGS:
            said = said or (f"{run.label} trained on a collection that is not yours or has fewer than {DRAWINGS} "
                            "drawings.")
            continue
        if not ft.get("held_out") or "held_out_before" not in ft:
            said = said or f"{run.label} held out none of your digits, so it could not measure them: keep more."
            continue
        before, after = ft["held_out_before"], ft["held_out_after"]
        forgot = ft["mnist_before"] - ft["mnist_after"]
        if before >= 1.0:
            said = said or (f"Before fine-tuning, the network already read all {ft['held_out']} of your held-out "
                            "digits: draw some harder ones.")
        elif after <= before:
            said = said or (f"{run.label} read {pct(before)} of your held-out digits before and {pct(after)} after: "
                            "no better. More drawings, or more epochs, help.")
        elif forgot > FORGET:
            said = said or (f"{run.label} forgot {100 * forgot:.1f} points of MNIST ({pct(ft['mnist_before'])} → "
                            f"{pct(ft['mnist_after'])}): lower the learning rate.")
        else:
            return passed(f"Fine-tuned on “{collection.name}” ({collection.count} drawings), your run {run.label} "
                          "read "
                          f"{pct(before)} of your {ft['held_out']} held-out digits before and {pct(after)} after, "
                          f"while MNIST went from {pct(ft['mnist_before'])} to {pct(ft['mnist_after'])}.",
                          uses=[run.id])
    return not_yet(going or said, tries, waiting=any(r.live for r in runs))
