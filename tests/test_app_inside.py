"""The Hidden weights and Evaluate pages, on small trained runs (AppTest)."""
import json

import numpy as np
import pytest

import mlp
import mlp.adversarial
from apptest_helpers import array, figures, finish_background, learner, open_page, plain
from runner.store import RunStore, new_run_id
from mlp.runs import RunMeta

WEIGHTS, EVALUATE = "pages/weights.py", "pages/evaluate.py"


@pytest.fixture
def trained_run(runs_dir, small_mnist):
    """A 784-12-10 network trained for 3 epochs, saved with its snapshots, and chosen."""
    config = mlp.TrainConfig(layers=(784, 12, 10), activation="relu", output="softmax", loss="cross_entropy",
                             optimizer="adam", lr=0.003, batch_size=32, epochs=3, init="he", train_size=3000)
    trainer = mlp.Trainer(config, small_mnist).run()
    run_id = new_run_id()
    RunStore(runs_dir).save(run_id, trainer.network, RunMeta(
        "small", "done", config=config.to_dict(), history=[e.to_dict() for e in trainer.history],
        test_accuracy=trainer.history[-1].test_accuracy, owner=learner().owner),
        [s.params for s in trainer.snapshots], [s.epoch for s in trainer.snapshots])
    return run_id, trainer


def figure_with_title(at, words):
    for spec in figures(at).values():
        title = spec["layout"].get("title", {})
        if words in (title.get("text", "") if isinstance(title, dict) else str(title)):
            return spec
    raise AssertionError(f"no figure titled {words!r}")


def grid(at):
    return next(s for s in figures(at).values() if len(s["data"]) == 3 and s["data"][0]["type"] == "heatmap"
                and "customdata" in s["data"][1] and len(s["data"][1]["customdata"]) != 100)


def test_pages_ask_for_a_run_when_there_is_none(runs_dir, tmp_path, monkeypatch):
    from ui import state

    monkeypatch.setattr(state, "MODELS_DIR", tmp_path / "no-models")
    for page in (WEIGHTS, EVALUATE):
        at = open_page(page)
        assert any("train one on the **Train** page" in plain(i.value) for i in at.info)


def test_a_fresh_install_looks_inside_the_shipped_models(runs_dir):
    at = open_page(WEIGHTS)
    assert at.selectbox(key="run_picker").value.startswith("model:")
    assert len(grid(at)["data"][1]["customdata"]) > 0
    at = open_page(EVALUATE)
    assert float(at.metric[0].value.rstrip("%")) > 90


def test_weights_grid_has_one_tile_per_first_layer_unit(trained_run):
    run_id, trainer = trained_run
    at = open_page(WEIGHTS, query={"run": trained_run[0]})
    spec = grid(at)
    assert len(spec["data"][1]["customdata"]) == 12
    labels = spec["data"][2]["text"]
    assert labels[3] == f"3 · b {trainer.network.biases[0][3]:+.2f}"
    z = array(spec["data"][0]["z"])
    assert np.nanmax(np.abs(z)) == pytest.approx(np.abs(trainer.network.weights[0]).max(), rel=1e-5)
    assert spec["data"][0]["zmid"] == 0


def test_choosing_a_unit_shows_it_in_detail(trained_run):
    run_id, trainer = trained_run
    at = open_page(WEIGHTS, query={"run": trained_run[0]})
    at.selectbox(key="unit").set_value(5).run()
    detail = figure_with_title(at, "unit 5: incoming weights")
    assert np.allclose(array(detail["data"][0]["z"]),
                       trainer.network.weights[0][:, 5].reshape(28, 28), atol=1e-6)
    outgoing = figure_with_title(at, "outgoing weights")
    assert np.allclose(array(outgoing["data"][0]["y"]), trainer.network.weights[1][5], atol=1e-6)
    assert "excite unit 5 most" in " ".join(plain(m.value) for m in at.markdown)
    assert len(at.get("image")) == 1 and len(at.get("image")[0].proto.imgs) == 12


def test_the_snapshot_slider_replays_the_epochs(trained_run):
    run_id, trainer = trained_run
    at = open_page(WEIGHTS, query={"run": trained_run[0]})
    slider = at.select_slider(key="snapshot")
    assert slider.value == 3 and slider.options == ["0", "1", "2", "3"]
    at.select_slider(key="snapshot").set_value(0).run()
    z = array(grid(at)["data"][0]["z"])
    initial = mlp.analysis.weights_at(trainer.snapshots[0].params, trainer.network.sizes)[0]
    assert np.nanmax(np.abs(z)) == pytest.approx(np.abs(initial).max(), rel=1e-5)
    at.select_slider(key="snapshot").set_value(3).run()
    at.button(key="snapshot_play").click().run()                  # plays from the start: the first frame is epoch 1
    assert at.session_state["snapshot_playing"] and at.session_state["snapshot"] == 1
    at.run()
    assert at.session_state["snapshot"] == 2
    at.button(key="snapshot_play").click().run()                  # pause at epoch 2, visit Evaluate, come back
    at.switch_page(EVALUATE).run()
    at.switch_page(WEIGHTS).run()
    assert at.select_slider(key="snapshot").value == 2          # not reset to epoch 0 (Streamlit forgot it)


def test_deeper_layers_show_matrices_and_histograms_now_and_at_init(trained_run):
    at = open_page(WEIGHTS, query={"run": trained_run[0]})
    assert figure_with_title(at, "layer 2 weights (12, 10)")["data"][0]["type"] == "heatmap"
    histogram = figure_with_title(at, "first-layer weights")
    assert [t["name"] for t in histogram["data"]] == ["at initialisation", "now"]


def test_wide_first_layers_are_paged(runs_dir):
    run_id = new_run_id()
    RunStore(runs_dir).save(run_id, mlp.Network([784, 150, 10]), RunMeta("wide", "done"))
    at = open_page(WEIGHTS, query={"run": run_id})
    assert len(grid(at)["data"][1]["customdata"]) == 64
    at.number_input(key="unit_page").set_value(3).run()
    assert len(grid(at)["data"][1]["customdata"]) == 150 - 128


def test_confusion_matrix_sums_to_the_test_set_and_matches_accuracy(trained_run):
    run_id, trainer = trained_run
    at = open_page(EVALUATE, query={"run": trained_run[0]})
    matrix = array(figure_with_title(at, "confusion matrix")["data"][0]["z"])
    assert matrix.sum() == 10_000 and matrix.shape == (10, 10)
    x_test, y_test = mlp.load_mnist()[2:]
    accuracy = (trainer.network.predict(x_test) == y_test).mean()
    assert np.trace(matrix) / 10_000 == pytest.approx(accuracy)
    assert at.metric[0].value == f"{accuracy:.2%}"


def gallery_captions(at):
    cards = [image for image in at.get("image") if len(image.proto.imgs) and
             image.proto.imgs[0].caption.startswith("true ")]
    return [img.caption for img in cards[0].proto.imgs] if cards else []


def test_the_gallery_shows_only_mistakes_and_filters_them(trained_run):
    at = open_page(EVALUATE, query={"run": trained_run[0]})
    captions = gallery_captions(at)
    assert len(captions) == 24
    for caption in captions:
        true, predicted = caption.split()[1].rstrip(","), caption.split()[3]
        assert true != predicted
    at.selectbox(key="filter_true").set_value(4).run()
    captions = gallery_captions(at)
    assert captions and all(c.startswith("true 4,") for c in captions)
    at.selectbox(key="filter_pred").set_value(4).run()
    assert any("No mistakes with these filters" in plain(i.value) for i in at.info)


def test_two_runs_confusion_matrices_side_by_side(trained_run, runs_dir):
    untrained = new_run_id()
    RunStore(runs_dir).save(untrained, mlp.Network([784, 10], "sigmoid", "softmax", "cross_entropy", "xavier"),
                            RunMeta("untrained", "done"))
    at = finish_background(open_page(EVALUATE, query={"run": untrained}))       # robustness, in the background
    titles = [json.dumps(s["layout"].get("title")) for s in figures(at).values()]
    assert any("untrained" in t for t in titles) and sum("confusion" in t or "small" in t or "untrained" in t
                                                          for t in titles) >= 3
    robustness = next(s for s in figures(at).values() if "rotation (degrees)" in json.dumps(s["layout"]))
    assert len(robustness["data"]) == 2 * 3                               # two runs, three transforms
    names = {t["name"] for t in robustness["data"]}
    assert names == {"small", "untrained"}
    run_id, trainer = trained_run
    x_test, y_test = mlp.load_mnist()[2:]
    expected = mlp.augment.robustness(mlp.load(RunStore(runs_dir).path(run_id)), x_test[:2000], y_test[:2000])
    shown = next(t for t in robustness["data"] if t["name"] == "small" and t["xaxis"] == "x")
    assert array(shown["y"]) == pytest.approx([100 * a for a in expected["rotation (degrees)"]])
    # beside them, the adversarial accuracy of both runs, as mlp.adversarial measures it
    curves = next(s for s in figures(at).values() if "budget ε" in json.dumps(s["layout"], ensure_ascii=False))
    assert {t["name"] for t in curves["data"]} == {"small", "untrained"}
    small = next(t for t in curves["data"] if t["name"] == "small")
    saved = mlp.load(RunStore(runs_dir).path(run_id))
    curve = mlp.adversarial.adversarial_accuracy(saved, x_test[:1000], y_test[:1000])
    assert array(small["x"]) == pytest.approx(curve.epsilons)
    assert array(small["y"]) == pytest.approx(100 * curve.accuracy)
    assert np.all(np.diff(array(small["y"])) <= 0)
