"""Faults a shared server meets (issue 18): saves that fail, a rename racing a delete, controls that
must act on the object they show, links to what is not there, and a session's collection that must
stay its own. Each failed before its fix."""
from __future__ import annotations

import errno
import io
import threading
from unittest import mock

import numpy as np
import pytest

import mlp
from apptest_helpers import learner, open_page, shown, wait_for_job
from runner import dataset
from runner.digits import DigitStore
from runner.jobs import Registry
from runner.local import LocalTransport
from runner.store import RunGone, RunStore, new_run_id
from test_app_draw import canvas_with, drawing
from test_bounded_reads import STRUCTURED, model_file as valid_model
from mlp.runs import RunMeta
from conftest import ALICE

TRAIN, WEIGHTS, EVALUATE, DRAW = "pages/train.py", "pages/weights.py", "pages/evaluate.py", "pages/draw.py"
COMPUTES, MINE = "pages/computes.py", "pages/my_digits.py"
TINY = {"train_size": "300", "epochs": "1", "batch_size": "32", "layers": "784-8-10", "optimizer": "adam",
        "lr": "0.003", "activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"}
QUICK = mlp.TrainConfig(layers=(784, 8, 10), activation="relu", output="softmax", loss="cross_entropy",
                        optimizer="adam", lr=0.003, batch_size=32, epochs=1, init="he", train_size=300)
NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


def full_disk():
    """Every atomic write fails as on a full disk (the app and the stores all write through it)."""
    def refuse(path, write):
        raise NO_SPACE
    return mock.patch.multiple("mlp.io", atomic_write=refuse), mock.patch("mlp.digits.atomic_write", refuse)


class DiskFull:
    def __enter__(self):
        self.patches = full_disk()
        for p in self.patches:
            p.start()

    def __exit__(self, *exc):
        for p in self.patches:
            p.stop()


# ---- a worker that cannot save -----------------------------------------------------------------------
def block_the_file_of(folder, run_id):
    """Make saving ``run_id`` fail in any process: its file's place is taken by a folder."""
    (folder / f"{run_id}.npz").mkdir(parents=True)
    (folder / f"{run_id}.npz" / "x").write_text("in the way")


def test_a_run_that_cannot_be_saved_says_so_frees_its_slot_and_can_be_downloaded(tmp_path):
    dataset.shared_mnist()
    registry = Registry(RunStore(tmp_path / "runs"), LocalTransport(dataset.cache_folder()), max_running=1)
    try:
        first = registry.submit(QUICK, ALICE, name="unlucky")
        block_the_file_of(tmp_path / "runs", first.id)
        second = registry.submit(QUICK, ALICE, name="next in the queue")
        assert first.join(120) and first.status == "done" and not first.saved
        assert "could not be saved" in first.unsaved and "directory" in first.unsaved.lower()
        assert second.join(120) and second.saved                      # the slot was freed
        saved = mlp.load(io.BytesIO(first.model_bytes()), with_extras=True)
        assert saved.meta["name"] == "unlucky" and len(saved.meta["history"]) == 1
        assert np.array_equal(saved.network.params, first.network().params)
        registry.forget_settled(now=first.settled_at + 3600)
        assert registry.get(first.id) is first                          # kept in memory to download
    finally:
        registry.stop_all()


def test_a_crafted_file_appearing_while_a_run_saves_does_not_stop_it(tmp_path):
    """Before: a file the reader raised a non-ValueError on (JSON 5,000 deep, an encrypted member)
    killed the saving worker, so the slot was never freed and the page said "saved"."""
    dataset.shared_mnist()
    runs = tmp_path / "runs"
    registry = Registry(RunStore(runs), LocalTransport(dataset.cache_folder()), max_running=1)
    try:
        job = registry.submit(QUICK, ALICE)
        for mutation in ("JSON nested 5,000 deep", "encrypted", "deflate64", "negative shape"):
            (runs / f"{new_run_id()}.npz").write_bytes(STRUCTURED[mutation](valid_model()))
        assert job.join(120) and job.saved and job.unsaved is None
        listed = RunStore(runs).list()
        assert sum(r.damaged for r in listed) == 4 and [r.id for r in listed if not r.damaged] == [job.id]
    finally:
        registry.stop_all()


def test_the_train_page_says_not_saved_and_offers_the_network(runs_dir):
    at = open_page(TRAIN, query=TINY)
    with mock.patch("runner.jobs.Registry.dispatch", lambda self: None):   # hold it in the queue
        at.button(key="start").click().run()
    job_id = at.session_state["current_run"]
    block_the_file_of(runs_dir, job_id)
    from ui import state
    state.registry().dispatch()
    job = wait_for_job(at)
    assert job.status == "done" and not job.saved
    assert "not saved" in shown(at.markdown) and "Not saved." in shown(at.error)
    download = next(d for d in at.get("download_button") if d.proto.label == "Download the network (.npz)")
    assert download is not None and list(mlp.load(io.BytesIO(job.model_bytes())).sizes) == [784, 8, 10]


# ---- saves that fail where the user acted ---------------------------------------------------------------
def test_every_save_on_a_full_disk_says_so_and_keeps_what_was_there(runs_dir):
    from test_app_hostile import FakeUpload, model_file
    from test_app_my_digits import keep, mock_upload
    from ui import state

    digits = DigitStore(runs_dir)
    cid = digits.create(learner(), "kept before")
    digits.add(cid, np.full(784, 0.5), np.zeros((280, 280)), 3, learner())
    good = digits.to_bytes(cid)
    at = open_page(DRAW, query={"digits": cid})
    with DiskFull():
        keep(at, (40, 240, 130, 150), 1, 0)                                         # Keep this drawing
        assert "Keeping the drawing failed: no space left on device" in shown(at.error)
        at.switch_page(MINE).run()
        at.text_input(key="collection_name").set_value("renamed").run()              # rename a collection
        assert "Renaming the collection failed: no space left" in shown(at.error)
        delete = next(b.key for b in at.button if b.key.startswith("delete_"))
        at.button(key=delete).click().run()                                          # delete a drawing
        assert "Deleting the drawing failed: no space left" in shown(at.error)
        at.button(key="new_collection").click().run()                                # a new collection
        assert "Starting a new collection failed: no space left" in shown(at.error)
        with mock_upload(at, "good.npz", good):                                      # upload a collection
            at.run()
        assert "could not be saved (no space left on device)" in shown(at.error)
        assert not at.exception
    kept = digits.get(cid)
    assert kept.name == "kept before" and kept.labels.tolist() == [3] and len(digits.list()) == 1

    at.switch_page(TRAIN).run()
    with DiskFull(), mock.patch("streamlit.file_uploader", return_value=FakeUpload(model_file())):
        at.run()                                                                      # upload a model
    assert "could not be saved: no space left on device" in shown(at.error) and not at.exception
    assert state.store().list() == []

    at.switch_page(COMPUTES).run()
    at.selectbox(key="run_picker").set_value("model:seed").run()
    at.session_state["cs_view"] = "One step of backprop"
    at.run()
    at.button(key="cs_apply_1").click().run()
    with DiskFull():
        at.button(key="cs_save_copy").click().run()                                  # save a copy as a run
    assert "Not saved: no space left on device" in shown(at.error) and not at.exception
    assert state.store().list() == []


# ---- rename racing delete ----------------------------------------------------------------------------
def race(*actions):
    """Run the ``actions`` in threads of their own, let go at the same instant; their results."""
    go, results = threading.Barrier(len(actions)), [None] * len(actions)

    def run(i):
        go.wait()
        try:
            results[i] = actions[i]()
        except (RunGone, KeyError) as gone:            # the other one deleted it first
            results[i] = gone

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_rename_racing_a_delete_never_brings_the_run_back(tmp_path):
    store = RunStore(tmp_path / "runs")
    for trial in range(20):
        run_id = new_run_id()
        store.save(run_id, mlp.Network([784, 8, 10]), RunMeta(f"run {trial}", "done", owner=ALICE.owner))
        renamed, deleted = race(lambda: store.rename(run_id, "new name", ALICE), lambda: store.delete(run_id, ALICE))
        assert deleted is True and not store.exists(run_id), (trial, renamed, deleted)
        assert isinstance(renamed, RunGone) or renamed.name == "new name"


def test_a_collection_rename_racing_its_delete_never_brings_it_back(tmp_path):
    digits = DigitStore(tmp_path / "runs")
    for trial in range(20):
        cid = digits.create(ALICE, "mine")
        renamed, deleted = race(lambda: digits.rename(cid, "renamed", ALICE), lambda: digits.delete(cid, ALICE))
        assert deleted is True and not digits.exists(cid), (trial, renamed, deleted)


def test_two_sessions_deleting_and_renaming_one_run_are_both_told_the_truth(runs_dir):
    store = RunStore(runs_dir)
    run_id = new_run_id()
    store.save(run_id, mlp.Network([784, 8, 10]), RunMeta("shared", "done", owner=learner().owner))
    a, b = open_page(TRAIN), open_page(TRAIN)
    a.button(key="delete_run").click().run()
    assert "Deleted “shared”." in shown(a.success)
    b.button(key="delete_run").click().run()                      # B's page still showed it
    assert "“shared” was already deleted (by another session)." in shown(b.error)
    c = open_page(TRAIN)
    store.save(run_id, mlp.Network([784, 8, 10]), RunMeta("again", "done", owner=learner().owner))
    c.run()
    store.delete(run_id, learner())
    c.text_input(key=f"rename_{run_id}").set_value("mine now")
    c.button(key="rename_run").click().run()
    assert "Could not rename it: the run" in shown(c.error) and "was deleted" in shown(c.error)
    assert not store.exists(run_id)


# ---- controls act on what they show ---------------------------------------------------------------------
def test_the_runs_picker_follows_the_current_run(runs_dir):
    """Before: after training run B the manage controls still showed run A, so Rename or Delete acted on A."""
    at = open_page(TRAIN, query=TINY)
    at.text_input(key="run_name").set_value("A")
    at.button(key="start").click().run()
    a = wait_for_job(at)
    assert at.selectbox(key="manage_picker").value == a.id
    at.text_input(key="run_name").set_value("B")
    at.button(key="start").click().run()
    b = wait_for_job(at)
    at.run()
    assert at.selectbox(key="manage_picker").value == b.id
    at.button(key="delete_run").click().run()
    from ui import state
    assert state.store().exists(a.id) and not state.store().exists(b.id)


# ---- links to what is not there ----------------------------------------------------------------------
@pytest.mark.parametrize("start_from", ["0123456789ab", "model:nonexistent"])
def test_a_link_to_a_missing_base_network_is_explained(start_from, runs_dir):
    at = open_page(TRAIN, query={"start_from": start_from})
    assert not at.exception and "The network to start from cannot be used" in shown(at.warning)
    assert at.selectbox(key="start_from").value == ""
    at.run()
    assert not at.exception


@pytest.mark.parametrize("page", [WEIGHTS, EVALUATE, COMPUTES, DRAW])
def test_a_link_to_a_damaged_or_missing_run_says_so(page, runs_dir):
    damaged = new_run_id()
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / f"{damaged}.npz").write_bytes(STRUCTURED["encrypted"](valid_model()))
    for linked, words in ((damaged, "its file is damaged"), ("fedcba987654", "there is no such run")):
        at = open_page(page, query={"run": linked})
        assert not at.exception
        assert f"The linked run {linked} cannot be shown: {words}" in shown(at.warning), shown(at.warning)
        assert at.selectbox(key="run_picker").value == "model:wide"


@pytest.mark.parametrize("page", [EVALUATE, DRAW, MINE])
def test_a_damaged_collection_as_the_current_one_takes_no_page_down(page, runs_dir):
    folder = runs_dir / "digits"
    folder.mkdir(parents=True)
    cid = "a1b2c3d4e5f6"
    (folder / f"{cid}.npz").write_bytes(STRUCTURED["JSON nested 5,000 deep"](valid_model()))
    at = open_page(page, query={"digits": cid})
    assert not at.exception
    if page == DRAW:
        at.session_state["canvas_0"] = drawing(canvas_with((40, 240, 130, 150)))     # the first stroke
        at.run()
        assert not at.exception
    if page == MINE:
        assert "A collection file cannot be read" in shown(at.warning)


def test_visiting_train_keeps_the_sessions_collection_and_draw_carries_it_in_its_address(runs_dir):
    """Before: Train's fine-tune select box shared the session key of the current collection and set it
    to "none", so the next kept drawing started a second collection."""
    from test_app_my_digits import keep
    from ui import state

    at = open_page(DRAW)
    keep(at, (40, 240, 130, 150), 1, 0)
    cid = at.session_state["current_collection"]
    at.run()
    assert at.query_params["digits"] == cid
    at.switch_page(TRAIN).run()
    at.switch_page(DRAW).run()
    keep(at, (40, 240, 100, 180), 7, 1)
    assert at.session_state["current_collection"] == cid
    assert [c.id for c in state.digit_store().list()] == [cid] and len(state.digit_store().get(cid)) == 2


def test_a_fine_tune_link_says_which_of_its_settings_the_base_network_replaced(runs_dir):
    at = open_page(TRAIN, query={"start_from": "model:seed", "layers": "784-32-10", "activation": "relu",
                                 "loss": "squared_error"})
    note = shown(at.warning)
    assert "layers=784-32-10 (it is 784-16-16-10)" in note and "activation=relu (it is sigmoid)" in note
    assert "loss=squared_error" not in note                        # the seed's own loss: nothing replaced
    assert at.selectbox(key="activation").value == "sigmoid"


def test_a_fine_tuning_runs_progress_counts_the_learners_digits():
    """Before: "epoch 2 of 2 · 101%": the total left out the learner's digits, each seen N times an epoch."""
    from runner.jobs import Job

    config = QUICK.replace(my_digits="a1b2c3d4e5f6", my_digits_repeat=5, epochs=2)
    inputs = {"extra_x": np.zeros((8, 784), np.float32), "extra_y": np.zeros(8, np.int64)}
    trainer = mlp.Trainer(config, mlp.load_mnist(), extra=(inputs["extra_x"], inputs["extra_y"]))
    job = Job(None, config, "fine-tune", new_run_id(), inputs=inputs)
    assert job.epoch_size == trainer.epoch_size == 300 + 8 * 5


# ---- what a learner reads ---------------------------------------------------------------------------
def test_a_fine_tuning_run_names_the_saved_run_it_starts_from(runs_dir):
    """Before: "started from 91627d54dba6" (the run's id) instead of its name."""
    from ui import live

    store = RunStore(runs_dir)
    base = new_run_id()
    store.save(base, mlp.Network([784, 8, 10], "relu", "softmax", "cross_entropy", "he"), RunMeta("my first run", "done"))
    inputs = live.resolve_fine_tune(QUICK.replace(start_from=base))
    assert inputs["base_name"] == "my first run"
    assert live.resolve_fine_tune(QUICK.replace(start_from="model:fast", layers=(784, 16, 16, 10),
                                                 activation="leaky_relu"))["base_name"] == "pretrained: fast"


def test_the_microscope_names_each_subscripts_layer_and_says_why_a_sure_example_does_not_move(runs_dir):
    at = open_page(COMPUTES, query={"run": "model:wide"})
    at.session_state["cs_view"] = "One step of backprop"
    at.run()
    at.selectbox(key="cs_w_layer").set_value(1).run()
    text = next(c.value for c in at.code if "backprop's ∂C/∂w" in c.value)
    assert "(the output of unit" in text and "of layer “hidden 1”) to unit" in text and "of layer “hidden 2”" in text
    assert "The network is already sure of this example" in shown(at.info)      # test digit 0: wide is sure
    at.button(key="cs_mistake").click().run()
    assert "already sure" not in shown(at.info)


@pytest.mark.parametrize("mutation", ["JSON nested 5,000 deep", "encrypted", "deflate64", "negative shape"])
def test_crafted_uploads_are_refused_with_a_reason(mutation, runs_dir):
    """Before: each showed a traceback, as a model upload and as a digits upload."""
    from test_app_hostile import FakeUpload
    from test_app_my_digits import mock_upload
    from test_bounded_reads import digits_file

    with mock.patch("streamlit.file_uploader", return_value=FakeUpload(STRUCTURED[mutation](valid_model()))):
        at = open_page(TRAIN)
    assert not at.exception and "That file was refused" in shown(at.error)
    at = open_page(MINE)
    with mock_upload(at, "crafted.npz", STRUCTURED[mutation](digits_file())):
        at.run()
    assert not at.exception and "Not kept: crafted.npz" in shown(at.error)
    assert RunStore(runs_dir).list() == [] and DigitStore(runs_dir).list() == []
