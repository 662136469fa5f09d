"""The Home and Train pages, driven through Streamlit's AppTest (in-process, no browser)."""
import io
import json
from unittest import mock

import numpy as np
import pytest

import mlp
import runner.store
from mlp.runs import RunMeta
from conftest import TEACHER
from apptest_helpers import learner, open_page, registry, wait_for_job, wait_until, plain

TRAIN = "pages/train.py"
SMALL = {"train_size": 1000, "epochs": 2}


def figures(at):
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def set_small_run(at, **changes):
    at.select_slider(key="train_size").set_value(changes.pop("train_size", 1000))
    at.slider(key="epochs").set_value(changes.pop("epochs", 2))
    for key, value in changes.items():
        at.session_state[key] = value
    return at.run()


def test_apptests_share_streamlits_one_scan_of_the_installed_components(runs_dir):
    """conftest scans the installed packages for Streamlit components once, not for every AppTest: the
    same answer as Streamlit's own scan, and two new AppTests scan nothing more."""
    from streamlit.components.v2 import manifest_scanner

    scan_once = manifest_scanner.scan_component_manifests
    assert sorted(str(root) for _, root in scan_once()) == \
        sorted(str(root) for _, root in scan_once.__wrapped__())
    open_page()
    scans = scan_once.scanned.cache_info()
    open_page()
    open_page(TRAIN)
    after = scan_once.scanned.cache_info()
    assert after.misses == scans.misses == 1 and after.hits >= scans.hits + 2


def test_home_page_renders_and_links_to_training(runs_dir):
    at = open_page()
    assert at.title[0].value == "Train a neural network from scratch"
    assert "multilayer perceptron" in at.markdown[0].value
    assert [m.label for m in at.metric] == ["Your saved runs", "Training now on this server", "Your best test accuracy"]
    assert at.metric[0].value == "0"


def test_controls_start_from_the_seed_preset_and_cover_every_hyperparameter(runs_dir):
    at = open_page(TRAIN)
    keys = {w.key for kind in ("slider", "select_slider", "selectbox", "number_input", "toggle")
            for w in getattr(at, kind)}
    assert {"n_hidden", "units_0", "units_1", "activation", "output", "loss", "optimizer", "lr", "lr_decay",
            "batch_size", "epochs", "init", "l2", "shuffle", "train_size", "seed", "preset"} <= keys
    assert at.selectbox(key="preset").value == "seed"
    assert at.select_slider(key="lr").value == 0.02 and at.select_slider(key="batch_size").value == 1
    assert all(w.help for w in at.select_slider) and all(w.help for w in at.slider)
    assert at.query_params["layers"] == "784-16-16-10" and at.query_params["lr"] == "0.02"


def test_choosing_a_preset_fills_the_controls_and_the_link(runs_dir):
    at = open_page(TRAIN)
    at.selectbox(key="preset").set_value("wide").run()
    assert at.slider(key="n_hidden").value == 2
    assert [at.number_input(key=f"units_{i}").value for i in range(2)] == [256, 128]
    assert at.selectbox(key="optimizer").value == "adam" and at.select_slider(key="batch_size").value == 128
    assert at.query_params["layers"] == "784-256-128-10" and at.query_params["optimizer"] == "adam"


def test_a_shared_link_opens_with_its_settings_and_explains_bad_values(runs_dir):
    at = open_page(TRAIN, query={"layers": "784-64-10", "activation": "tanh", "lr": "0.1", "epochs": "3",
                                  "batch_size": "lots"})
    assert at.slider(key="n_hidden").value == 1 and at.number_input(key="units_0").value == 64
    assert at.selectbox(key="activation").value == "tanh" and at.select_slider(key="lr").value == 0.1
    assert at.slider(key="epochs").value == 3
    assert any("batch_size='lots' ignored" in plain(w.value) for w in at.warning)


def test_unusual_settings_are_explained_and_impossible_ones_prevented(runs_dir):
    at = open_page(TRAIN)
    at.selectbox(key="loss").set_value("cross_entropy").run()
    assert any("softmax is its usual partner" in plain(w.value) for w in at.warning)
    set_small_run(at, train_size=10, batch_size=64)
    assert any("cannot train" in plain(e.value) and "batch size" in plain(e.value) for e in at.error)
    assert at.button(key="start").disabled


def test_a_short_run_trains_live_fills_history_and_is_saved(runs_dir):
    at = open_page(TRAIN)
    at.selectbox(key="preset").set_value("fast").run()
    set_small_run(at)
    at.button(key="start").click().run()
    assert not at.exception
    job = wait_for_job(at)
    assert job.status == "done" and len(job.view()["history"]) == 2
    assert job.config.train_size == 1000 and job.config.optimizer == "adam"
    assert at.query_params["run"] == job.id
    metrics = {m.label: plain(m.value) for m in at.metric}
    assert metrics["Epoch"] == "2.00" and float(metrics["Test accuracy"].rstrip("%")) > 50
    assert metrics["Test accuracy"] == f"{job.view()['history'][-1].test_accuracy:.2%}"   # the whole test set's
    curves = next(f for f in figures(at) if f["data"][0]["name"] == "test accuracy")
    assert len(curves["data"][0]["x"]) == len(job.view()["progress"])
    saved = runner.store.RunStore(runs_dir).list()
    assert [r.id for r in saved] == [job.id] and saved[0].epochs_done == 2
    assert at.session_state["current_run"] == job.id
    assert any(job.name in str(df.value) for df in at.dataframe)


def test_the_seed_preset_shows_the_notebooks_figures_beside_ours(runs_dir):
    at = open_page(TRAIN)
    at.select_slider(key="train_size").set_value(1000).run()
    at.button(key="step").click().run()                       # one epoch, then it waits
    job = registry().get(at.session_state["current_run"])
    assert wait_until(lambda: job.status == "paused", timeout=60)
    assert job.view()["epoch"] == 1
    at.run()
    table = [df for df in at.dataframe if "notebook (%)" in str(df.value.columns.tolist())]
    assert table and table[0].value["notebook (%)"].tolist() == [83.41]
    job.stop(TEACHER)
    job.join(30)


def test_pause_resume_step_and_stop_buttons_drive_the_run(runs_dir):
    at = open_page(TRAIN)
    set_small_run(at, epochs=50, train_size=1000)
    at.button(key="start").click().run()
    job = registry().get(at.session_state["current_run"])
    at.button(key="pause").click().run()
    assert wait_until(lambda: job.status == "paused")
    at.run()
    assert at.button(key="resume")
    seen = job.samples_seen
    at.button(key="resume").click().run()
    assert wait_until(lambda: job.status in ("running", "done"))
    at.button(key="stop").click().run()
    job.join(30)
    at.run()
    assert job.status == "stopped" and job.samples_seen >= seen
    assert not at.button(key="start").disabled
    assert runner.store.RunStore(runs_dir).list()[0].status == "stopped"


def test_changing_the_learning_rate_while_training_reaches_the_run(runs_dir):
    at = open_page(TRAIN)
    set_small_run(at, epochs=50)
    at.button(key="start").click().run()
    job = registry().get(at.session_state["current_run"])
    assert not at.select_slider(key="lr").disabled and at.selectbox(key="optimizer").disabled
    at.select_slider(key="lr").set_value(0.005).run()
    assert wait_until(lambda: job.view()["lr"] == 0.005)
    job.stop(TEACHER)
    job.join(30)


def test_divergence_stops_with_an_explanation_and_a_clean_chart(runs_dir):
    at = open_page(TRAIN)
    set_small_run(at, train_size=3000, epochs=3, optimizer="adam", lr=1.0)
    at.button(key="start").click().run()
    job = wait_for_job(at)
    assert job.status == "diverged"
    errors = " ".join(plain(e.value) for e in at.error)
    assert "diverged" in errors and "learning rate 1 is too large" in errors and "try 0.1" in errors
    for figure in figures(at):
        for trace in figure["data"]:
            assert all(v is not None and np.isfinite(v) for v in trace.get("y", []))


class FakeUpload(io.BytesIO):
    def __init__(self, content, name):
        super().__init__(content)
        self.name, self.file_id, self.size = name, f"id-{name}", len(content)


def test_bad_uploads_are_refused_and_good_ones_become_runs(runs_dir, tmp_path):
    good = tmp_path / "good.npz"
    mlp.save(mlp.Network([784, 8, 10]), good)
    for content, name, expected in ((b"certainly not a model", "bad.npz", "refused"),
                                    (good.read_bytes(), "good.npz", "Added")):
        with mock.patch("streamlit.file_uploader", return_value=FakeUpload(content, name)):
            at = open_page(TRAIN)
        shown = " ".join(plain(m.value) for m in (*at.error, *at.success))
        assert expected in shown, shown
    runs = runner.store.RunStore(runs_dir).list()
    assert [r.name for r in runs] == ["good"] and runs[0].status == "uploaded"


def test_saved_runs_can_be_chosen_renamed_compared_and_deleted(runs_dir):
    store = runner.store.RunStore(runs_dir)
    for name, acc in (("first", 0.9), ("second", 0.95)):
        store.save(runner.store.new_run_id(), mlp.Network([784, 8, 10]),
                   RunMeta(name, "done", test_accuracy=acc, owner=learner().owner))
    at = open_page(TRAIN)
    picked = at.selectbox(key="manage_picker").value
    at.button(key="open_run").click().run()
    assert at.session_state["current_run"] == picked
    at.text_input(key=f"rename_{picked}").set_value("renamed ../../etc").run()
    at.button(key="rename_run").click().run()
    assert store.info(picked).name == "renamed ../../etc" and store.path(picked).exists()
    at.multiselect(key="compare_runs").set_value([r.id for r in store.list()]).run()
    compare = [f for f in figures(at) if f["layout"].get("yaxis", {}).get("title", {}).get("text") ==
               "test accuracy (%)"]
    assert len(compare) == 1 and len(compare[0]["data"]) == 2
    assert any("setting" in str(df.value.columns.tolist()) for df in at.dataframe)
    at.button(key="delete_run").click().run()
    assert not store.exists(picked) and len(store.list()) == 1


@pytest.fixture
def two_sessions_one_slot(runs_dir, monkeypatch):
    """Two sessions on a server that trains one run at a time, each having pressed Start: the first
    session's run trains, the second's waits in the queue."""
    from ui import state

    monkeypatch.setattr(state, "MAX_RUNNING", 1)
    first, second = open_page(TRAIN), open_page(TRAIN)
    for at in (first, second):
        set_small_run(at, epochs=50)
        at.button(key="start").click().run()
    yield first, second
    state._registry(str(runs_dir), 1).stop_all()


def test_runs_queue_when_the_server_is_busy(two_sessions_one_slot):
    first, second = two_sessions_one_slot
    waiting = registry().get(second.session_state["current_run"])
    assert waiting.status == "queued"
    assert any("Waiting for a free training slot" in plain(w.value) and "number 1 in the queue" in plain(w.value)
               for w in second.warning)
    registry().get(first.session_state["current_run"]).stop(TEACHER)
    assert wait_until(lambda: waiting.status != "queued", timeout=10)
    assert waiting.status in ("running", "done")


def test_a_queued_run_stays_current_while_its_owner_visits_other_pages(two_sessions_one_slot):
    _, second = two_sessions_one_slot
    waiting = second.session_state["current_run"]
    assert registry().get(waiting).status == "queued"
    for page in ("pages/weights.py", "pages/evaluate.py", "pages/draw.py"):
        second.switch_page(page).run()
        assert not second.exception
        assert "has not started training yet" in " ".join(plain(i.value) for i in second.info)
        assert second.session_state["current_run"] == waiting          # not replaced by another run
    second.switch_page(TRAIN).run()
    assert "Waiting for a free training slot" in " ".join(plain(w.value) for w in second.warning)
