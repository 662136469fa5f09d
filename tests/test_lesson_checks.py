"""Every lesson's check (runner/lessons/*.py), on runs and actions that should pass it and on ones that
should not: what it says in each case, and how many tries that fell short it counts (the hint's cue).

Runs are ``RunRecord``s as the run service builds them from a run file's metadata; where a check
measures a network (lessons 4, 5, 8), the network is a real one, trained here or shipped."""
import pytest

import mlp
from conftest import ALICE
from mlp.presets import PRESETS
from mlp.runs import Status
from mlp.training import Event, Trainer
from runner.classes import Budget, Challenge, ClassInfo, Standing
from runner.digits import CollectionInfo
from runner.learn import Action, RunRecord, Work, load_lessons

LESSONS = {lesson.id: lesson for lesson in load_lessons()}
SEED, FAST = PRESETS["seed"].config, PRESETS["fast"].config
_ids = iter(f"{i:012x}" for i in range(1, 10_000))


def event(epoch, test, train=None):
    return Event("epoch", float(epoch), 60_000 * epoch, 1.0 * epoch, 0.02, 0.1, test if train is None else train,
                 0.1, test)


def run(config, tests=(), trains=None, status=Status.DONE, start=0.1, **more):
    """A finished run of ``config`` whose test accuracy after each epoch was ``tests``."""
    trains = trains or [None] * len(tests)
    history = tuple(event(e, t, tr) for e, (t, tr) in enumerate(zip(tests, trains), start=1))
    more.setdefault("name", f"run {len(history)}")
    return RunRecord(next(_ids), status=status, created=1.0, config=config, history=history,
                     test_accuracy=tests[-1] if tests else None, start_accuracy=start, **more)


def work(runs=(), actions=(), networks=None, **loaders):
    networks = networks or {}
    return Work(ALICE, 0.0, list(runs), list(actions), load_network=lambda r: networks[r.id],
                load_test_set=lambda: mlp.load_mnist()[2:], **loaders)


def check(lesson_id, *args, **kwargs):
    return LESSONS[lesson_id].check(work(*args, **kwargs))


def test_every_lesson_of_the_path_loads_with_its_check():
    lessons = load_lessons()
    assert [l.number for l in lessons] == list(range(1, 11))
    assert all(l.available for l in lessons), [l.problem for l in lessons if not l.available]
    assert all(l.goal and l.why and l.task and l.hint and l.shows and len(l.question.options) >= 3 for l in lessons)


# ---- 1. the seed ----------------------------------------------------------------------------------------
def test_seed_passes_with_a_run_of_the_notebook_that_passed_94():
    good = run(SEED, [0.8341, 0.902, 0.9146, 0.9225, 0.9281, 0.9311, 0.933, 0.935, 0.9362, 0.9375, 0.9392, 0.9402])
    verdict = check("seed", [good])
    assert verdict.passed and "after epoch 12, with 94.02%" in verdict.text
    assert "the notebook printed 94.02% after that epoch" in verdict.text
    assert verdict.uses == (good.id,)


def test_seed_falls_short_on_too_few_epochs_or_images_or_another_setup():
    short = run(SEED.replace(epochs=5), [0.8341, 0.902, 0.9146, 0.9225, 0.9281], name="five")
    verdict = check("seed", [short])
    assert not verdict.passed and verdict.tries == 1 and "reached 92.81% after 5 epochs" in verdict.text
    small = run(SEED.replace(train_size=10_000), [0.95])          # a different experiment: not looked at
    changed = run(SEED.replace(lr=0.05), [0.95])
    verdict = check("seed", [small, changed])
    assert not verdict.passed and verdict.tries == 0 and "No run of the seed's setup" in verdict.text
    live = RunRecord("f" * 12, "live one", Status.RUNNING, 1.0, SEED, (event(1, 0.83),), live=True)
    verdict = check("seed", [live])
    assert not verdict.passed and verdict.waiting and "still training (1 of 15 epochs done)" in verdict.text


# ---- 2. a hidden unit -------------------------------------------------------------------------------------
def units_off(off, full, without, run_name="pretrained: seed"):
    return Action("units_off", 1.0, {"run": "model:seed", "run_name": run_name, "epoch": 15.0, "off": off,
                                     "full": full, "without": without})


def test_unit_passes_when_one_first_layer_unit_alone_cost_five_points():
    verdict = check("unit", actions=[units_off([[0, 8]], 0.946, 0.744)])
    assert verdict.passed and "unit 8 of the first hidden layer" in verdict.text and "cost 20.2 points" in verdict.text


def test_unit_falls_short_on_a_cheap_unit_several_units_or_a_deeper_one():
    cheap = units_off([[0, 1]], 0.946, 0.932)
    several = units_off([[0, 4], [0, 8]], 0.946, 0.5)
    deeper = units_off([[1, 3]], 0.946, 0.6)
    verdict = check("unit", actions=[cheap, several, deeper])
    assert not verdict.passed and verdict.tries == 1 and "1.4 points" in verdict.text
    assert not check("unit").passed


# ---- 3. the learning rate ---------------------------------------------------------------------------------
SMALL = SEED.replace(train_size=1000, epochs=1)


def test_lr_passes_with_a_run_that_did_nothing_and_one_that_diverged():
    tiny = run(SMALL.replace(lr=1e-5), [0.086], start=0.092, name="tiny")
    huge = run(SMALL.replace(lr=10.0), [], status=Status.DIVERGED, name="huge", error="Training diverged in epoch 1.")
    verdict = check("lr", [huge, tiny])
    assert verdict.passed and "went from 9.20% to 8.60%" in verdict.text
    assert "At 10, “huge” diverged" in verdict.text
    assert set(verdict.uses) == {tiny.id, huge.id}


def test_lr_falls_short_on_rates_that_learn_and_gives_the_hint_from_the_second():
    tiny = run(SMALL.replace(lr=1e-5), [0.086], start=0.092)
    learns = [run(SMALL.replace(lr=lr), [acc], start=0.092) for lr, acc in ((0.1, 0.147), (1.0, 0.535))]
    verdict = check("lr", [tiny, *learns])
    assert not verdict.passed and verdict.tries == 2 and "Still missing: a run that diverged" in verdict.text
    moved = run(SMALL.replace(lr=1e-3), [0.20], start=0.092)        # slow, but it moved 11 points
    verdict = check("lr", [moved])
    assert not verdict.passed and verdict.tries == 1 and "0.001 or less" in verdict.text


# ---- 4. the vanishing gradient ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deep_networks(small_mnist):
    """A deep sigmoid network and a deep ReLU one, each trained an epoch on 3,000 images."""
    deep = SEED.replace(layers=(784, 32, 32, 32, 32, 10), train_size=3000, epochs=1)
    return {act: Trainer(deep.replace(activation=act), small_mnist).run().network for act in ("sigmoid", "relu")}


def test_vanishing_passes_on_a_deep_sigmoid_run_and_not_on_equal_gradients(deep_networks):
    deep = SEED.replace(layers=(784, 32, 32, 32, 32, 10), train_size=3000, epochs=1)
    sigmoid = run(deep, [0.11])
    verdict = check("vanishing", [sigmoid], networks={sigmoid.id: deep_networks["sigmoid"]})
    assert verdict.passed and "times smaller than the output layer's" in verdict.text
    # the same record measured on weights whose gradients do not vanish (a ReLU stack's): short of 20 times
    flat = run(deep, [0.11])
    verdict = check("vanishing", [flat], networks={flat.id: deep_networks["relu"]})
    assert not verdict.passed and verdict.tries == 1 and "the check needs 20 times" in verdict.text
    assert check("vanishing", [run(SEED, [0.9])]).tries == 0          # shallow: not the experiment


# ---- 5. ReLU, softmax, cross-entropy ----------------------------------------------------------------------
def test_relu_passes_on_a_modern_run_past_95_and_counts_its_dead_units():
    shipped = mlp.load("models/fast.npz")
    good = run(FAST, [0.935, 0.945, 0.951, 0.958])
    verdict = check("relu", [good], networks={good.id: shipped})
    dead = sum(int(d.sum()) for d in mlp.analysis.dead_units(shipped, mlp.load_mnist()[2][:2000]))
    assert verdict.passed and "past 94% after epoch 2 (the seed needed 12)" in verdict.text
    assert f"{dead} of its 32 hidden units are dead" in verdict.text


def test_relu_falls_short_below_95_or_with_the_sigmoid():
    verdict = check("relu", [run(FAST.replace(epochs=1), [0.935]), run(SEED, [0.96])])
    assert not verdict.passed and verdict.tries == 1 and "reached 93.50%; the check needs 95.00%" in verdict.text


# ---- 6. backprop by hand --------------------------------------------------------------------------------
def gradient(target, label, g, measured, layer=2, last=True):
    return Action("gradient", 1.0, {"run": "model:seed", "run_name": "pretrained: seed", "epoch": 15.0, "layer": layer,
                                    "last_layer": last, "source": 5, "target": target, "label": label,
                                    "gradient": g, "measured": measured})


def test_backprop_passes_on_the_right_digits_weight_agreeing_with_the_nudge():
    verdict = check("backprop", actions=[gradient(7, 7, -0.0123, -0.01231)])
    assert verdict.passed and "backprop gave ∂C/∂w = -0.0123" in verdict.text and "negative" in verdict.text


def test_backprop_falls_short_on_another_digits_weight_a_zero_or_an_earlier_layer():
    verdict = check("backprop", actions=[gradient(3, 7, 0.02, 0.02), gradient(7, 7, 0.0, 0.0)])
    assert not verdict.passed and verdict.tries == 2 and "set To unit to 7" in verdict.text
    verdict = check("backprop", actions=[gradient(7, 7, -0.01, -0.01, layer=0, last=False)])
    assert not verdict.passed and verdict.tries == 0


# ---- 7. overfitting ---------------------------------------------------------------------------------------
FEW = FAST.replace(train_size=1000, epochs=20)


def test_overfit_passes_on_a_wide_gap_and_an_l2_run_that_narrows_it():
    wide = run(FEW, [0.845], trains=[0.987], name="plain")
    narrow = run(FEW.replace(l2=0.03), [0.843], trains=[0.940], name="with L2")
    verdict = check("overfit", [narrow, wide])
    assert verdict.passed and "a gap of 14.2 points" in verdict.text and "narrowed to 9.7 points" in verdict.text


def test_overfit_falls_short_without_l2_or_with_an_l2_that_changes_nothing():
    wide = run(FEW, [0.845], trains=[0.987])
    verdict = check("overfit", [wide])
    assert not verdict.passed and verdict.tries == 0 and "Now the same with L2" in verdict.text
    weak = run(FEW.replace(l2=1e-4), [0.845], trains=[0.985])
    assert check("overfit", [weak, wide]).tries == 1 and not check("overfit", [weak, wide]).passed
    many = run(FAST.replace(train_size=10_000), [0.9], trains=[0.99])    # not few images: not the experiment
    narrow_gap = run(FEW, [0.845], trains=[0.88])
    verdict = check("overfit", [many, narrow_gap])
    assert not verdict.passed and "gap is 3.5 points" in verdict.text


# ---- 8. robustness ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def robust_networks(small_mnist):
    base = FAST.replace(train_size=3000, epochs=3)
    return {name: Trainer(config, small_mnist).run().network for name, config in
            (("plain", base), ("other seed", base.replace(seed=1)), ("moved", base.replace(shift=2.0, rotation=15.0)))}


def test_robust_passes_when_the_augmented_run_holds_up_better(robust_networks):
    base = FAST.replace(train_size=3000, epochs=3)
    plain, moved = run(base, [0.9], name="plain"), run(base.replace(shift=2.0, rotation=15.0), [0.89], name="moved")
    networks = {plain.id: robust_networks["plain"], moved.id: robust_networks["moved"]}
    verdict = check("robust", [plain, moved], networks=networks)
    assert verdict.passed and "Turned by 20°, your plain run “plain” read" in verdict.text


def test_robust_falls_short_on_two_plain_runs_or_different_layers(robust_networks):
    base = FAST.replace(train_size=3000, epochs=3)
    plain = run(base, [0.9])
    # an "augmented" record whose network is in truth another plain one: no better on moved digits
    fake = run(base.replace(shift=2.0), [0.9])
    verdict = check("robust", [plain, fake], networks={plain.id: robust_networks["plain"],
                                                       fake.id: robust_networks["other seed"]})
    assert not verdict.passed and verdict.tries == 1 and "only" in verdict.text
    other_layers = run(base.replace(layers=(784, 32, 10), shift=2.0), [0.9])
    verdict = check("robust", [plain, other_layers], networks={plain.id: robust_networks["plain"]})
    assert not verdict.passed and verdict.tries == 0


# ---- 9. handwriting ----------------------------------------------------------------------------------------
MINE = CollectionInfo("c" * 12, "my digits", 12, owner=ALICE.owner)
TUNE = FAST.replace(start_from="model:fast", my_digits=MINE.id, epochs=3, lr=0.0003)


def tuned(**fine_tune):
    measured = {"start_from": "pretrained: fast", "my_digits": "my digits", "held_out": 4, "mnist_before": 0.9577,
                "mnist_after": 0.9561, "held_out_before": 0.5, "held_out_after": 0.75, **fine_tune}
    return run(TUNE, [0.9561], fine_tune=measured)


def test_handwriting_passes_when_held_out_digits_improve_and_mnist_stays():
    verdict = check("handwriting", [tuned()], load_collections=lambda: [MINE])
    assert verdict.passed and "read 50.00% of your 4 held-out digits before and 75.00% after" in verdict.text


@pytest.mark.parametrize("fine_tune, says", [
    ({"mnist_after": 0.90}, "forgot 5.8 points of MNIST"),
    ({"held_out_after": 0.5}, "no better"),
    ({"held_out_before": 1.0, "held_out_after": 1.0}, "already read all 4"),
])
def test_handwriting_falls_short_when_it_forgot_learned_nothing_or_had_nothing_to_learn(fine_tune, says):
    verdict = check("handwriting", [tuned(**fine_tune)], load_collections=lambda: [MINE])
    assert not verdict.passed and verdict.tries == 1 and says in verdict.text


def test_handwriting_needs_ten_drawings_of_ones_own():
    few = CollectionInfo(MINE.id, "my digits", 6, owner=ALICE.owner)
    assert "fewer than 10 drawings" in check("handwriting", [tuned()], load_collections=lambda: [few]).text
    assert "not yours" in check("handwriting", [tuned()], load_collections=lambda: []).text


# ---- 10. a challenge ----------------------------------------------------------------------------------------
def test_challenge_passes_within_the_budget_outside_a_class():
    good = run(FAST.replace(layers=(784, 30, 10), epochs=5), [0.93, 0.95, 0.955, 0.96, 0.962])
    verdict = check("challenge", [good])
    assert verdict.passed and "23,820 weights" in verdict.text and "96.20% in 5 epochs" in verdict.text


def test_challenge_falls_short_over_the_budget_or_below_the_goal():
    big = run(FAST.replace(layers=(784, 64, 10), epochs=5), [0.97])          # 50,816 weights: over
    long = run(FAST.replace(layers=(784, 30, 10), epochs=8), [0.97])         # 8 epochs: over
    low = run(FAST.replace(layers=(784, 30, 10), epochs=5), [0.94])
    verdict = check("challenge", [big, long, low])
    assert not verdict.passed and verdict.tries == 1 and "reached 94.00%; the goal is 96.00%" in verdict.text


def test_challenge_in_a_class_is_the_teachers_challenge():
    info = ClassInfo("1" * 12, "ABCDEF", "Year 10", "c3" * 16, "Ms Teach", 0.0)
    challenge = Challenge("2" * 12, info.id, "Best under 15k", Budget(max_weights=15_000), 2e9, None, 0.0)
    mine = Standing(2, ALICE.owner, "Alice", "3" * 12, "784-16-10", 0.951, 1.0, 3)
    theirs = Standing(1, "b2" * 16, "Bob", "4" * 12, "784-16-10", 0.96, 1.0, 1)
    verdict = check("challenge", load_challenges=lambda: [(info, challenge, [theirs, mine])])
    assert verdict.passed and "scored 95.10% on the public half: place 2 of 2" in verdict.text
    # no entry of hers scored yet: her own runs outside the challenge do not count
    outside = run(FAST.replace(layers=(784, 30, 10), epochs=5), [0.97])
    verdict = check("challenge", [outside], load_challenges=lambda: [(info, challenge, [theirs])])
    assert not verdict.passed and "no finished entry of yours" in verdict.text
