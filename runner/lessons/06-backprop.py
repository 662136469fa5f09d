"""Lesson 6's check: the learner followed a weight into the right digit's output unit in the microscope,
and backprop's gradient agreed with the finite difference."""
from runner.learn import not_yet, passed

AGREE = 0.01
"""Backprop's gradient and the finite difference agree when they differ by at most 1% (of the larger)."""


def _agree(gradient, measured):
    return abs(gradient - measured) <= AGREE * max(abs(gradient), abs(measured))


def check(work):
    looks = [a.data for a in work.actions_of("gradient") if a.data["last_layer"]]
    for look in looks:
        if look["target"] == look["label"] and look["gradient"] != 0 and _agree(look["gradient"], look["measured"]):
            sign = "negative" if look["gradient"] < 0 else "positive"
            return passed(f"You followed the weight from hidden unit {look['source']} to output {look['target']} of "
                          f"“{look['run_name']}” for a {look['label']}: backprop gave "
                          f"∂C/∂w = {look['gradient']:.3g}, "
                          f"the nudge {look['measured']:.3g}: {sign}, so the step makes that weight "
                          f"{'grow' if look['gradient'] < 0 else 'shrink'}.")
    if not looks:
        return not_yet("No weight into the output layer followed yet: in One weight, by the chain rule, choose "
                       "the last layer's weights.")
    last = looks[0]
    if last["target"] != last["label"]:
        why = (f"the last one you followed goes to output {last['target']}, but the input is a {last['label']}: set "
               f"To unit to {last['label']}")
    elif last["gradient"] == 0:
        why = "its gradient is 0 (the hidden unit sends nothing for this input): choose another From unit"
    else:
        why = "backprop and the nudge differ there (the nudge cannot measure so small a change): choose another"
    return not_yet(f"Not yet: {why}.", len(looks))
