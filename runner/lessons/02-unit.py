"""Lesson 2's check: the learner switched off one first-layer unit, alone, and it cost at least 5 points."""
from runner.learn import not_yet, passed, pct

COST = 5.0
"""Points of test accuracy the one unit must cost."""


def _one_first_layer_unit(action):
    off = action.data.get("off")
    return isinstance(off, list) and len(off) == 1 and off[0][0] == 0


def check(work):
    looks = [a for a in work.actions_of("units_off") if _one_first_layer_unit(a)]
    for look in looks:
        data = look.data
        cost = 100 * (data["full"] - data["without"])
        if cost >= COST:
            return passed(f"Switching off unit {data['off'][0][1]} of the first hidden layer of "
                          f"“{data['run_name']}” cost {cost:.1f} points: {pct(data['full'])} with every unit, "
                          f"{pct(data['without'])} without it.")
    if not looks:
        return not_yet("No first-layer unit switched off on its own yet: on Hidden weights, click a unit, then "
                       "Switch unit N off.")
    best = max(looks, key=lambda a: a.data["full"] - a.data["without"])
    return not_yet(f"The most a unit of yours cost so far is {100 * (best.data['full'] - best.data['without']):.1f} "
                   f"points (unit {best.data['off'][0][1]} of “{best.data['run_name']}”); find one that costs at "
                   f"least {COST:g}.", len(looks))
