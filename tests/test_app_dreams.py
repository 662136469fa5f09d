"""The Dreams and adversaries page (AppTest): the gallery of dreams and its replay, a hidden unit's dream,
a nudged test digit and drawing, a link's values clamped, and a saturated network's zero gradient. What
the page shows is checked against ``mlp.dreams`` and ``mlp.adversarial`` run on the same network."""
import json

import numpy as np
import pytest

import mlp
from apptest_helpers import array, figures, finish_background, learner, open_page, plain
from mlp import adversarial, dreams
from mlp.runs import RunMeta
from runner.store import RunStore, new_run_id
from ui import charts

DREAMS = "pages/dreams.py"


def gallery(at):
    return next(s for s in figures(at).values() if s.get("frames"))


def texts(*element_lists):
    """What the elements say, as a reader sees it (no Markdown escapes, no bold marks)."""
    return " ".join(plain(e.value).replace("**", "") for elements in element_lists for e in elements)


@pytest.fixture(scope="module")
def wide():
    from ui import state

    return mlp.load(state.shipped_models()["model:wide"])


def test_the_gallery_dreams_the_ten_digits_as_the_engine_does(runs_dir, wide):
    at = finish_background(open_page(DREAMS, query={"dream_steps": "30"}))          # the default run: wide
    assert not at.exception
    spec = gallery(at)
    expected = dreams.dream(wide, dreams.start_images("blank", 10), np.arange(10), None, "smoothing", 1.0, 30,
                            frames=16)
    assert [f["name"] for f in spec["frames"]] == [str(s) for s in expected.frame_steps]
    shown = array(spec["data"][0]["z"])                              # opens on the last frame
    tiles = charts.mosaic(expected.images.reshape(10, 28, 28), 5)
    np.testing.assert_allclose(np.nan_to_num(shown, nan=-1), np.nan_to_num(tiles, nan=-1), atol=1e-6)
    first = array(spec["frames"][0]["data"][0]["z"])
    assert np.nanmax(first) == 0                                                      # the replay starts blank
    read = wide.predict(expected.images)
    assert spec["data"][1]["text"] == [f"{d} → {read[d]} · {p:.0%}" for d, p in
                                       enumerate(mlp.analysis.as_probabilities(wide.forward(expected.images)).max(1))]
    assert f"It reads {int((read == np.arange(10)).sum())} of the ten dreams" in texts(at.caption)
    climb = next(s for s in figures(at).values() if "never falls" in json.dumps(s["layout"].get("title")))
    assert len(climb["data"]) == 10 and all(np.all(np.diff(array(t["y"])) >= 0) for t in climb["data"])


def test_a_hidden_unit_chosen_on_how_it_computes_is_dreamt_of(runs_dir, wide):
    at = open_page(DREAMS, query={"dream_steps": "20"})
    at.session_state["cs_node"] = (1, 7)                      # clicked on the How it computes diagram
    at.segmented_control(key="dr_what").set_value("a hidden unit").run()
    finish_background(at)
    assert at.selectbox(key="dr_unit").value == (1, 7)
    spec = gallery(at)
    expected = dreams.dream(wide, dreams.start_images("blank", 1), [7], 1, "smoothing", 1.0, 20, frames=16)
    assert spec["data"][1]["text"] == [f"z = {expected.score[-1, 0]:.2f}"]
    assert expected.score[-1, 0] > expected.score[0, 0]
    at.segmented_control(key="dr_regulariser").set_value("none").run()
    finish_background(at)
    assert at.slider(key="dr_strength").disabled


def nudge_view(at):
    at.session_state["dr_view"] = "Adversarial nudges"
    at.run()
    return at


def test_a_test_digit_is_nudged_into_a_target(runs_dir, mnist, wide):
    at = nudge_view(open_page(DREAMS))
    x, y = mnist[2][0], int(mnist[3][0])                          # test digit 0, a 7
    at.selectbox(key="dr_target").set_value(3).run()
    at.slider(key="dr_eps").set_value(0.2).run()
    at.slider(key="dr_nudge_steps").set_value(40).run()
    assert not at.exception
    expected = adversarial.nudge(wide, x[None], [y], 0.2, 40, target=3)
    counts = adversarial.changed_pixels(expected.change[0], 0.2)
    success = texts(at.success)
    assert expected.fooled[0] and f"Fooled after {expected.steps_taken[0]} step" in success
    largest = np.abs(expected.change).max()
    assert "as a 3" in success and f"{counts['any']} of the 784 pixels changed, the largest by {largest:.3f}" in success
    change = next(s for s in figures(at).values() if s["data"][0].get("zmid") == 0)
    np.testing.assert_allclose(array(change["data"][0]["z"]), expected.change[0].reshape(28, 28), atol=1e-6)
    assert change["data"][0]["zmax"] == pytest.approx(0.2)
    at.slider(key="dr_eps").set_value(0.01).run()                # too small a budget: not fooled, and it says so
    assert "Not fooled within ε = 0.01" in texts(at.info)


def test_a_digit_already_misread_or_read_as_the_target_is_said_so(runs_dir, mnist, wide):
    x_test, y_test = mnist[2], mnist[3]
    wrong = int(np.flatnonzero(wide.predict(x_test[:2000]) != y_test[:2000])[0])
    at = nudge_view(open_page(DREAMS))
    at.number_input(key="dr_index").set_value(wrong).run()
    assert "already misreads test digit" in texts(at.info)
    at.number_input(key="dr_index").set_value(0).run()
    at.selectbox(key="dr_target").set_value(7).run()             # test digit 0 is a 7, read as one
    assert "already reads test digit 0 as a 7" in texts(at.info)


def test_the_drawing_from_the_draw_page_is_nudged(runs_dir, mnist, wide):
    at = nudge_view(open_page(DREAMS))
    at.segmented_control(key="dr_source").set_value("my drawing").run()
    assert "Draw a digit on the Draw page first" in texts(at.info)
    drawing = mnist[2][1]                                          # what the Draw page would keep
    at.session_state["drawing_input"] = drawing
    at.run()
    reads = int(wide.predict(drawing[None])[0])
    expected = adversarial.nudge(wide, drawing[None], [reads], 0.1, 20)
    assert expected.fooled[0]
    assert f"reads your drawing as a {int(wide.predict(expected.nudged)[0])}" in texts(at.success)


def test_a_links_values_out_of_range_are_clamped_with_a_warning(runs_dir):
    at = open_page(DREAMS, query={"eps": "5", "steps": "0", "strength": "abc", "dream_steps": "40.4"})
    warnings = texts(at.warning)
    assert "eps=5 is outside 0 to 0.5; using 0.5" in warnings
    assert "steps=0 is outside 1 to 100; using 1" in warnings
    assert "strength='abc' ignored: not a number" in warnings
    assert "dream_steps=40.4 is between this control's steps; using 40" in warnings
    assert at.slider(key="dr_steps").value == 40 and at.slider(key="dr_strength").value == 1.0
    nudge_view(at)
    assert at.slider(key="dr_eps").value == 0.5 and at.slider(key="dr_nudge_steps").value == 1
    assert not at.exception


def test_a_saturated_network_says_its_gradient_is_zero_instead_of_drawing_a_blank(runs_dir, mnist):
    network = mlp.Network([784, 16, 16, 10], "sigmoid", "sigmoid", seed=1)
    network.params *= 2000
    run_id = new_run_id()
    RunStore(runs_dir).save(run_id, network, RunMeta("saturated", "done", owner=learner().owner))
    at = finish_background(open_page(DREAMS, query={"run": run_id, "dream_steps": "5"}))
    warning = texts(at.warning)
    assert "The gradient is zero" in warning and "100% of hidden layer 2's units" in warning and "saturated" in warning
    nudge_view(at)
    reads = int(network.predict(mnist[2][0][None])[0])
    at.selectbox(key="dr_target").set_value((reads + 1) % 10).run()
    assert "The gradient is zero" in texts(at.warning) and not at.success


def test_two_untrained_runs_of_one_seed_are_dreamt_of_each_as_it_is(runs_dir):
    """Same seed, same sizes: the same weights, but one is sigmoid and one ReLU. Each gets its own dreams
    (the background task's key once held the weights alone, and the second run was shown the first's)."""
    store, ids = RunStore(runs_dir), {}
    for activation in ("sigmoid", "relu"):
        ids[activation] = new_run_id()
        store.save(ids[activation], mlp.Network([784, 16, 10], activation, "softmax", "cross_entropy", seed=3),
                   RunMeta(activation, "done", owner=learner().owner))
    for activation, run_id in ids.items():
        at = finish_background(open_page(DREAMS, query={"run": run_id, "dream_steps": "10"}))
        network = mlp.load(store.path(run_id))
        expected = dreams.dream(network, dreams.start_images("blank", 10), np.arange(10), None, "smoothing", 1.0, 10,
                                frames=16)
        tiles = charts.mosaic(expected.images.reshape(10, 28, 28), 5)
        shown = array(gallery(at)["data"][0]["z"])
        np.testing.assert_allclose(np.nan_to_num(shown, nan=-1), np.nan_to_num(tiles, nan=-1), atol=1e-6,
                                   err_msg=activation)
