"""The "How it computes" page (AppTest): the diagram, the microscope, the layer maps and switching
units off, on the shipped seed, fast and wide models and on an uploaded one. What the page shows is
checked against the engine's batch backprop and finite differences."""
import json
import re

import numpy as np
import pytest

import mlp
from mlp.runs import RunMeta
from apptest_helpers import learner, wait_until, open_page, plain
from mlp import analysis
from mlp import trace as tracing
from runner.store import RunStore

COMPUTES, WEIGHTS, TRAIN = "pages/computes.py", "pages/weights.py", "pages/train.py"


def figures(at):
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def diagram_nodes(at):
    """The diagram's node traces: [(layer, unit) per node, hover texts]."""
    for spec in figures(at):
        nodes = [t for t in spec["data"] if t.get("customdata") and isinstance(t["customdata"][0], list)
                 and len(t["customdata"][0]) == 2 and "hovertext" in t]
        if nodes:
            return nodes
    raise AssertionError("no diagram on the page")


def chain_rule_numbers(at):
    text = next(c.value for c in at.code if "backprop's ∂C/∂w" in c.value)
    number = r"(-?[0-9.]+(?:e[-+]?[0-9]+)?)"
    weight = re.search(r"w = W\[(\d+)\]\[(\d+), (\d+)\]", text)
    backprop = float(re.search(r"backprop's ∂C/∂w\s+" + number, text).group(1))
    nudged = float(re.search(r"nudging w by ±0.00001\s+" + number, text).group(1))
    return tuple(int(g) for g in weight.groups()), backprop, nudged


def view(at, name):
    """Choose one of the page's three views (a tab): only the chosen one is drawn."""
    at.session_state["cs_view"] = name
    at.run()


def metric(at, label_start):
    return next(m for m in at.metric if m.label.startswith(label_start))


def uploaded_model(runs_dir, tmp_path):
    """A 784-24-12-10 tanh network, uploaded as a user would (through the store's import)."""
    network = mlp.Network([784, 24, 12, 10], activation="tanh", output="softmax", loss="cross_entropy",
                          init="xavier", seed=4)
    mlp.save(network, tmp_path / "mine.npz", name="my upload")
    info, _ = RunStore(runs_dir).import_bytes((tmp_path / "mine.npz").read_bytes(), "mine.npz", learner())
    return info.id, network


@pytest.mark.parametrize("model", ["model:seed", "model:fast", "model:wide", "uploaded"])
def test_every_view_works_on_the_shipped_models_and_an_upload(model, runs_dir, mnist, tmp_path):
    at = open_page(COMPUTES)
    if model == "uploaded":
        model, _ = uploaded_model(runs_dir, tmp_path)
        at.run()
    at.selectbox(key="run_picker").set_value(model).run()
    assert not at.exception
    run_network = mlp.load(analysis_path(model, runs_dir))
    sizes = run_network.sizes
    nodes = diagram_nodes(at)
    assert sum(len(t["customdata"]) for t in nodes) == sum(sizes[1:])        # every unit a node
    x, label = mnist[2][0], int(mnist[3][0])                                 # test digit 0 by default
    t = tracing.trace(run_network, x, label)
    first = next(t_ for t_ in nodes if t_["customdata"][0] == [0, 0])
    z = float(re.search(r"= <b>(-?[0-9.e+-]+)</b><br>a =", first["hovertext"][0]).group(1))
    assert z == pytest.approx(float(t.z[0][0]), rel=2e-3, abs=2e-3)
    assert not at.code and not [m for m in at.metric if m.label == "pixels"]   # the other views are not drawn
    view(at, "One step of backprop")
    assert not any("input: 784 pixels" in json.dumps(s["layout"].get("annotations")) for s in figures(at))
    (layer, source, target), backprop, nudged = chain_rule_numbers(at)
    assert backprop == pytest.approx(float(t.dW[layer][source, target]), rel=1e-2, abs=1e-9)
    assert nudged == pytest.approx(backprop, rel=2e-2, abs=1e-8)
    view(at, "What each layer sees")
    names = ["pixels"] + [f"hidden {l + 1}" for l in range(len(sizes) - 2)] + ["output"]
    assert [m.label for m in at.metric if m.label in names] == names


def analysis_path(model, runs_dir):
    from ui import state

    return state.shipped_models()[model] if model.startswith("model:") else RunStore(runs_dir).path(model)


def test_the_microscope_agrees_with_batch_backprop_for_any_weight(runs_dir, mnist):
    at = open_page(COMPUTES)
    at.selectbox(key="run_picker").set_value("model:seed").run()
    view(at, "One step of backprop")
    at.number_input(key="cs_index").set_value(8).run()
    for layer, source, target in ((0, 300, 5), (1, 3, 15), (2, 7, 2)):
        at.selectbox(key="cs_w_layer").set_value(layer).run()
        at.number_input(key="cs_w_from").set_value(source).run()
        at.number_input(key="cs_w_to").set_value(target).run()
        shown, backprop, nudged = chain_rule_numbers(at)
        assert shown == (layer, source, target)
        network = mlp.load("models/seed.npz")
        _, grads = network.loss_and_gradients(mnist[2][8:9], mnist[3][8:9])
        assert backprop == pytest.approx(float(grads[layer][0][source, target]), rel=1e-2, abs=1e-9)
        assert nudged == pytest.approx(backprop, rel=2e-2, abs=1e-9)
    table = next(df.value for df in at.dataframe if "δ = ∂C/∂z" in df.value.columns)
    t = tracing.trace(mlp.load("models/seed.npz"), mnist[2][8], mnist[3][8])
    np.testing.assert_allclose(table["δ = ∂C/∂z"], t.deltas[-1], rtol=1e-3, atol=1e-12)
    at.number_input(key="cs_index").set_value(3).run()        # a new example: its own steepest weight
    shown, _, _ = chain_rule_numbers(at)
    t = tracing.trace(mlp.load("models/seed.npz"), mnist[2][3], mnist[3][3])
    assert shown == (2, *np.unravel_index(np.abs(t.dW[2]).argmax(), t.dW[2].shape))


def test_applying_the_step_lowers_the_loss_on_a_copy_and_can_be_saved(runs_dir):
    at = open_page(COMPUTES)
    at.selectbox(key="run_picker").set_value("model:fast").run()
    at.button(key="cs_mistake").click().run()              # a digit the network gets wrong
    index = at.number_input(key="cs_index").value
    network = mlp.load("models/fast.npz")
    x_test, y_test = mlp.load_mnist()[2:]
    assert network.predict(x_test[index:index + 1])[0] != y_test[index]
    shipped = open("models/fast.npz", "rb").read()
    view(at, "One step of backprop")
    at.button(key="cs_apply_1").click().run()
    before = float(metric(at, "Loss before").value)
    after = float(metric(at, "Loss after 1 step").value)
    assert after < before
    at.button(key="cs_apply_10").click().run()
    assert float(metric(at, "Loss after 11 steps").value) < after
    assert open("models/fast.npz", "rb").read() == shipped               # the shipped model is untouched
    at.button(key="cs_save_copy").click().run()
    saved = RunStore(runs_dir).list()
    assert len(saved) == 1 and "11 steps on test digit" in saved[0].name
    copy = mlp.load(RunStore(runs_dir).path(saved[0].id))
    assert not np.array_equal(copy.params, network.params)
    at.button(key="cs_reset").click().run()
    assert metric(at, "Loss after 0 steps").value == metric(at, "Loss before").value


def test_switching_units_off_shows_the_cost_here_and_on_hidden_weights(runs_dir, mnist):
    at = open_page(COMPUTES)
    at.selectbox(key="run_picker").set_value("model:seed").run()
    at.multiselect(key="cs_off_widget").set_value([(0, 4), (0, 8)]).run()
    network = mlp.load("models/seed.npz")
    expected = analysis.without_units(network, {(0, 4), (0, 8)}).accuracy(mnist[2], mnist[3])
    summary = next(plain(m.value).replace("**", "") for m in at.markdown if "switched off" in plain(m.value))
    assert f"test accuracy {expected:.2%}" in summary and "2 units switched off" in summary
    crosses = [t for spec in figures(at) for t in spec["data"] if t.get("marker", {}).get("symbol") == "x"]
    assert crosses and sorted(c[1] for c in crosses[0]["customdata"]) == [4, 8]
    at.switch_page(WEIGHTS).run()                           # the same units, off on Hidden weights too
    at.selectbox(key="unit").set_value(4).run()
    assert at.button(key="switch_unit").label == "Switch unit 4 back on"
    at.button(key="switch_unit").click().run()
    assert any("1 unit switched off" in plain(m.value) for m in at.markdown)
    at.switch_page(COMPUTES).run()
    assert at.multiselect(key="cs_off_widget").value == [(0, 8)]
    assert at.select_slider(key="cs_snapshot").value == 15      # still the last epoch after the visit
    at.button(key="cs_rank").click().run()                 # ranks in the background, with a progress bar
    from ui import background
    assert wait_until(lambda: all(t.finished for t in background._tasks()[0].values()), timeout=60)
    at.run()
    ranking = next(s for s in figures(at) if "accuracy lost" in str(s["layout"].get("title")))
    costs = analysis.unit_importance(network, mnist[2][:2000], mnist[3][:2000])
    assert ranking["data"][0]["x"][0] == pytest.approx(100 * max(c.max() for c in costs))


def test_the_layer_map_places_the_drawing_and_replays_the_snapshots(runs_dir):
    at = open_page(COMPUTES)
    at.selectbox(key="run_picker").set_value("model:seed").run()
    at.session_state["drawing_input"] = mlp.load_mnist()[2][0]            # as the Draw page leaves it
    at.segmented_control(key="cs_source").set_value("my drawing").run()
    view(at, "What each layer sees")
    assert not at.exception
    assert at.selectbox(key="cs_drawing_label").value == 7
    maps = [s for s in figures(at) if any(t.get("name") == "your drawing" for t in s["data"])]
    assert maps and len([t for t in maps[0]["data"] if t.get("name") in [str(d) for d in range(10)]]) == 10
    scores = {m.label: float(m.value.rstrip("%")) for m in at.metric}
    assert scores["pixels"] < scores["hidden 1"] < scores["output"]
    separation = next(s for s in figures(at) if "How separated" in str(s["layout"].get("title")))
    assert len(separation["data"]) == 4 and len(separation["data"][0]["x"]) == 16     # epochs 0..15
    at.select_slider(key="cs_snapshot").set_value(0).run()               # the untrained network
    untrained = {m.label: float(m.value.rstrip("%")) for m in at.metric}
    assert untrained["output"] < scores["output"]


def test_the_train_page_shows_each_layers_gradient_and_dead_units(runs_dir, small_mnist):
    config = mlp.TrainConfig(layers=(784, 16, 16, 10), activation="relu", output="softmax", loss="cross_entropy",
                             optimizer="adam", lr=0.003, batch_size=32, epochs=2, init="he", train_size=3000)
    trainer = mlp.Trainer(config, small_mnist).run()
    from runner.store import new_run_id

    run_id = new_run_id()
    RunStore(runs_dir).save(run_id, trainer.network, RunMeta("small", "done", config=config.to_dict(),
                                                             history=[e.to_dict() for e in trainer.history]),
                            [s.params for s in trainer.snapshots], [s.epoch for s in trainer.snapshots])
    at = open_page(TRAIN, query={"run": run_id})
    at.toggle(key="layer_health").set_value(True).run()
    assert not at.exception
    chart = next(s for s in figures(at) if "gradient size per layer" in json.dumps(s["layout"]))
    gradients = [t for t in chart["data"] if t["name"].endswith("gradient")]
    assert [t["name"] for t in gradients] == ["→ hidden 1 gradient", "→ hidden 2 gradient", "→ output gradient"]
    x_train, y_train = mlp.load_mnist()[:2]
    probe = trainer.network.copy()
    probe.params[...] = trainer.snapshots[1].params
    expected = analysis.layer_health(probe, x_train[:1000], y_train[:1000])
    assert [t["y"][1] for t in gradients] == pytest.approx(expected.gradient_rms, rel=1e-6)
    assert any(t["name"] == "hidden 1 dead" for t in chart["data"])


def test_ranking_the_units_runs_in_the_background_with_a_progress_bar(runs_dir):
    """Before: the page's script ranked the units itself (158 s on the largest network, the page frozen)."""
    import threading
    from unittest import mock

    from ui import background

    release = threading.Event()

    def slow(network, X, y, progress=None):
        progress(0.25)
        release.wait(30)
        return [np.arange(16) / 100, np.zeros(16)]

    at = open_page(COMPUTES)
    background._tasks()[0].clear()                         # no ranking of the seed network known yet
    at.selectbox(key="run_picker").set_value("model:seed").run()
    with mock.patch("mlp.analysis.unit_importance", slow):
        at.button(key="cs_rank").click().run()
        assert not at.exception
        assert wait_until(lambda: any(t.fraction == 0.25 for t in background._tasks()[0].values()), timeout=30)
        at.run()                                             # as the fragment's next poll
        bars = [p for p in at.get("progress") if "Switching each unit off in turn: 25%" in p.proto.text]
        assert bars, [p.proto.text for p in at.get("progress")]
        release.set()
        assert wait_until(lambda: all(t.finished for t in background._tasks()[0].values()), timeout=30)
    at.run()
    ranking = next(s for s in figures(at) if "accuracy lost" in str(s["layout"].get("title")))
    assert ranking["data"][0]["x"][0] == pytest.approx(15.0)
