"""Bad input in the app: each gets a clear message, loses nothing, and never shows a traceback."""
import io
import shutil
from unittest import mock

import numpy as np
import pytest

import mlp
import runner.store
from apptest_helpers import SERVICE_FILES, learner, open_page, wait_for_job, plain
from test_app_draw import canvas_with, drawing
from mlp.runs import RunMeta

TRAIN, DRAW = "pages/train.py", "pages/draw.py"
PAGES = ["pages/home.py", TRAIN, "pages/weights.py", "pages/evaluate.py", DRAW]


def start(at):
    at.button(key="start").click().run()
    assert not at.exception
    return wait_for_job(at)


@pytest.mark.parametrize("query,changes,expected", [
    ({"train_size": "1", "epochs": "2"}, {}, "done"),                          # a 1-sample training set
    ({"layers": "784-1-10", "train_size": "300", "epochs": "2"}, {}, "done"),  # a hidden layer of 1 unit
    ({"layers": "784-1024-1024-1024-1024-10", "train_size": "100", "epochs": "1", "batch_size": "16",
      "activation": "relu", "output": "softmax", "loss": "cross_entropy", "optimizer": "adam", "lr": "0.001",
      "init": "he"}, {}, "done"),                                              # the widest network allowed
])
def test_extreme_but_valid_settings_train(query, changes, expected, runs_dir):
    at = open_page(TRAIN, query=query)
    assert not at.warning or all("ignored" not in plain(w.value) for w in at.warning)
    job = start(at)
    assert job.status == expected and job.saved and len(job.view()["history"]) == int(query["epochs"])


@pytest.mark.parametrize("query,words", [
    ({"epochs": "0"}, "epochs must be between 1 and 200"),
    ({"epochs": "1000"}, "epochs must be between 1 and 200"),
    ({"layers": "784-0-10"}, "at least one unit"),
    ({"layers": "784-5000-10"}, "at most 1024 units"),
    ({"lr": "-3"}, "learning rate"),
    ({"seed": "x"}, "seed"),
])
def test_impossible_settings_in_a_link_are_explained_and_ignored(query, words, runs_dir):
    at = open_page(TRAIN, query=query)
    assert any(words in plain(w.value) for w in at.warning), [plain(w.value) for w in at.warning]
    assert not at.button(key="start").disabled                  # the page falls back to settings that train


@pytest.mark.parametrize("changes", [dict(lr=10.0), dict(lr=1.0, optimizer="adam")])
def test_diverging_settings_stop_with_an_explanation(changes, runs_dir):
    at = open_page(TRAIN, query={"train_size": "3000", "epochs": "3"})
    for key, value in changes.items():
        at.session_state[key] = value
    at.run()
    job = start(at)
    assert job.status == "diverged"
    assert any("learning rate" in plain(e.value) and "too large" in plain(e.value) for e in at.error)
    assert runner.store.RunStore(runs_dir).info(job.id).status == "diverged"   # what it learned is kept


class FakeUpload(io.BytesIO):
    def __init__(self, content, name="model.npz"):
        super().__init__(content)
        self.name, self.file_id, self.size = name, f"id-{hash(content)}", len(content)


def model_bytes(tmp_path, mutate=None, sizes=(784, 8, 10)):
    net = mlp.Network(list(sizes))
    mlp.save(net, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    if mutate:
        mutate(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _nan(a):
    a["W0"] = a["W0"].copy()
    a["W0"][0, 0] = np.nan


BAD_UPLOADS = {
    "not a zip": (lambda tmp: b"GIF89a not a model at all", "not a readable .npz"),
    "truncated": (lambda tmp: model_bytes(tmp)[:2000], "not a readable .npz"),
    "pickle": (lambda tmp: model_bytes(tmp, lambda a: a.update(W0=np.array([{}], dtype=object))), "pickle"),
    "wrong keys": (lambda tmp: model_bytes(tmp, lambda a: a.pop("b1")), "wrong arrays"),
    "wrong shapes": (lambda tmp: model_bytes(tmp, lambda a: a.update(W1=np.zeros((3, 3)))), "shape"),
    "nan": (lambda tmp: model_bytes(tmp, _nan), "NaN"),
    "not 784 in": (lambda tmp: model_bytes(tmp, sizes=(100, 8, 10)), "start with 784"),
    "not 10 out": (lambda tmp: model_bytes(tmp, sizes=(784, 8, 5)), "end with 10"),
    "garbage metadata": (lambda tmp: model_bytes(tmp, lambda a: a.update(meta=np.array("{{{"))), "not valid JSON"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_uploads_are_refused_with_the_reason_and_nothing_is_kept(case, runs_dir, tmp_path):
    make, reason = BAD_UPLOADS[case]
    with mock.patch("streamlit.file_uploader", return_value=FakeUpload(make(tmp_path))):
        at = open_page(TRAIN)
    refusals = [plain(e.value) for e in at.error if "refused" in plain(e.value)]
    assert refusals and reason in refusals[0], [plain(e.value) for e in at.error]
    kept = [p.name for p in runs_dir.iterdir() if p.name not in SERVICE_FILES]
    assert runner.store.RunStore(runs_dir).list() == [] and kept == []


def test_uploads_have_a_size_limit_in_the_server_config():
    import tomllib

    config = tomllib.loads((mlp.data.PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert 1 <= config["server"]["maxUploadSize"] <= 100
    assert config["server"]["address"] == "127.0.0.1" and config["browser"]["gatherUsageStats"] is False


@pytest.mark.parametrize("box,expected", [
    ((0, 280, 0, 280), "I don't know"),               # a full white square
    ((20, 260, 30, 250), "I don't know"),             # a huge blot
    ((130, 136, 130, 136), "I don't know"),           # a single dot
    ((5, 40, 8, 16), "The network reads **1**"),      # a small "1" in a corner
])
def test_odd_drawings_get_an_answer_never_an_error(box, expected, runs_dir):
    at = open_page(DRAW)
    at.session_state["canvas_0"] = drawing(canvas_with(box))
    at.run()
    assert not at.exception
    headings = [plain(m.value) for m in at.markdown if m.value.startswith("###")]
    assert len(headings) == 1 and expected in headings[0]
    if expected == "I don't know":         # the heading and the warning say the same thing
        assert any(plain(w.value).startswith("Not sure:") for w in at.warning)
    else:
        assert not any("Not sure" in plain(w.value) for w in at.warning)


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_broken_data_is_explained_on_every_page(damage, runs_dir, tmp_path, monkeypatch):
    from ui import state

    broken = tmp_path / "mnist.npz"
    if damage == "altered":
        shutil.copy(mlp.data.MNIST_PATH, broken)
        with open(broken, "r+b") as f:
            f.seek(1000)
            f.write(b"oops")
    monkeypatch.setattr(mlp.data, "MNIST_PATH", broken)
    state._dataset.clear()
    try:
        for page in PAGES:
            at = open_page(page)
            errors = " ".join(plain(e.value) for e in at.error)
            assert "The MNIST data cannot be loaded" in errors and "git checkout -- data/mnist.npz" in errors
    finally:
        monkeypatch.undo()
        state._dataset.clear()


def test_a_run_damaged_after_it_was_saved_is_refused_on_the_pages(runs_dir):
    store = runner.store.RunStore(runs_dir)
    run_id = runner.store.new_run_id()
    store.save(run_id, mlp.Network([784, 8, 10]), RunMeta("damaged later", "done", owner=learner().owner))
    with np.load(store.path(run_id), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["W0"] = np.full_like(arrays["W0"], np.nan)
    np.savez(store.path(run_id), **arrays)
    assert [r.name for r in store.list()] == ["damaged later"]   # listed from its metadata alone
    for page in ("pages/weights.py", "pages/evaluate.py", DRAW):
        at = open_page(page)
        at.selectbox(key="run_picker").set_value(run_id).run()
        assert not at.exception
        assert any("cannot be loaded" in plain(e.value) and "NaN" in plain(e.value) for e in at.error)
