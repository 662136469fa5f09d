"""What a mischievous user tries (AppTest): bad files in the runs folder, crafted uploads, Markdown in
names, links with values the controls cannot show, and the largest networks the app accepts."""
import io
import json
from unittest import mock

import numpy as np
import pytest

import mlp
from apptest_helpers import as_teacher, learner, open_page, shown
from mlp.config import MAX_EPOCHS
from runner.store import RunStore, new_run_id
from test_bounded_reads import STRUCTURED, model_file as valid_model
from mlp.runs import RunMeta

TRAIN, WEIGHTS, EVALUATE, DRAW = "pages/train.py", "pages/weights.py", "pages/evaluate.py", "pages/draw.py"
COMPUTES, MY_DIGITS = "pages/computes.py", "pages/my_digits.py"
RUN_PAGES = [WEIGHTS, EVALUATE, DRAW, COMPUTES, "pages/dreams.py"]
"""The pages that show the current run."""
PAGES = ["pages/home.py", TRAIN, *RUN_PAGES, MY_DIGITS]
EVENT = {"kind": "epoch", "epoch": 1.0, "samples_seen": 10, "elapsed": 0.5, "lr": 0.1, "train_loss": 0.3,
         "train_accuracy": 0.9, "test_loss": 0.4, "test_accuracy": 0.88}


def model_file(sizes=(784, 8, 10), snapshots=None, **meta):
    """The bytes of a model file whose metadata holds ``meta`` as given, unchecked."""
    net = mlp.Network(list(sizes), "relu", "softmax", "cross_entropy", "he")
    arrays = {"meta": np.array(json.dumps({"format": "mlp-mnist", "format_version": 1, **net.describe(), **meta}))}
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    if snapshots is not None:
        arrays["snapshots"], arrays["snapshot_epochs"] = snapshots, np.zeros(len(snapshots))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


BAD_FILES = {
    "accuracy as text": dict(name="bad accuracy", test_accuracy="99%"),
    "activation as a list": dict(name="bad activation", activation=["relu"]),
    "history of numbers": dict(name="bad history", history=[1, 2, 3]),
    "config as a list": dict(name="bad config", config=[1, 2]),
    "a progress entry holding a string": dict(name="bad progress", progress=[EVENT, "oops"]),
    "zero-row snapshots": dict(name="no snapshots", snapshots=np.zeros((0, 784 * 8 + 8 + 8 * 10 + 10), np.float32)),
    "300 hidden layers": dict(name="too deep", sizes=(784, *[4] * 300, 10)),
    "5 hidden layers": dict(name="deeper than training allows", sizes=(784, 4, 4, 4, 4, 4, 10)),
    "name with Markdown": dict(name="![x](http://example.invalid/x.png) **bold** :red[red]"),
}


CRAFTED = ("JSON nested 5,000 deep", "encrypted", "deflate64", "unknown method", "negative shape", "300 entries")
"""Crafted archives (see test_bounded_reads): before issue 18 each took six of seven pages down."""


def test_a_bad_file_in_the_runs_folder_never_takes_a_page_down(runs_dir, monkeypatch):
    """Before: one such file (an upload the old checks let through) raised a traceback on every page,
    for every user, with the Delete control inside the broken section. All of them lie in the folder
    at once, as they would on a shared server; each is then picked by its id and deleted (when listed
    as damaged) or opened on every page that shows a run (when usable with the bad field left out)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    ids = {}
    for case, meta in BAD_FILES.items():
        meta = dict(meta)
        sizes, snapshots = meta.pop("sizes", (784, 8, 10)), meta.pop("snapshots", None)
        ids[case] = new_run_id()
        (runs_dir / f"{ids[case]}.npz").write_bytes(model_file(sizes, snapshots, created=2e9, **meta))
    for case in CRAFTED:                              # files whose reading raised more than ValueError
        ids[case] = new_run_id()
        (runs_dir / f"{ids[case]}.npz").write_bytes(STRUCTURED[case](valid_model()))
    at = open_page(token=as_teacher(monkeypatch), everything=True)   # whose a damaged file is cannot be read
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    listed = {r.id: r for r in RunStore(runs_dir).list()}
    assert set(ids.values()) <= set(listed)
    for case, run_id in ids.items():
        at.switch_page(TRAIN).run()
        at.selectbox(key="manage_picker").set_value(run_id).run()
        assert not at.exception, (case, at.exception)
        if listed[run_id].damaged:                     # listed as damaged, with a Delete that works
            assert "cannot be used" in shown(at.error), case
            at.button(key="delete_run").click().run()
            assert not at.exception and not (runs_dir / f"{run_id}.npz").exists(), case
        else:                                          # usable, with the bad field left out
            current = at.session_state["current_run"] if "current_run" in at.session_state else None
            if current != run_id:                      # (a usable run may be current already: Open is off)
                assert not at.button(key="open_run").disabled, case
                at.button(key="open_run").click().run()
            for page in RUN_PAGES:
                at.switch_page(page).run()
                assert not at.exception, (case, page, at.exception)
                assert at.session_state["current_run"] == run_id, (case, page)
    assert any(listed[i].damaged for i in ids.values()) and not all(listed[i].damaged for i in ids.values())


def test_a_run_file_that_goes_bad_after_listing_shows_as_damaged_and_can_be_deleted(runs_dir, monkeypatch):
    store = RunStore(runs_dir)
    run_id = new_run_id()
    store.save(run_id, mlp.Network([784, 8, 10]), RunMeta("fine for now", "done", owner=learner().owner))
    at = open_page(TRAIN)
    at.button(key="open_run").click().run()
    store.path(run_id).write_bytes(b"PK\x03\x04 and then garbage")           # damaged on disk
    at.run()
    assert not at.exception
    for page in (WEIGHTS, EVALUATE, DRAW, "pages/home.py"):
        at.switch_page(page).run()
        assert not at.exception, page
    # Whose it was can no longer be read from it: a teacher sees it as damaged, and deletes it.
    teacher = open_page(TRAIN, token=as_teacher(monkeypatch), everything=True)
    teacher.selectbox(key="manage_picker").set_value(run_id).run()
    assert "damaged" in teacher.selectbox(key="manage_picker").format_func(run_id)
    teacher.button(key="delete_run").click().run()
    assert not store.exists(run_id) and "Deleted" in shown(teacher.success)


class FakeUpload(io.BytesIO):
    def __init__(self, content, name="model.npz"):
        super().__init__(content)
        self.name, self.file_id, self.size = name, f"id-{hash(content)}", len(content)


def upload(content, name="model.npz"):
    with mock.patch("streamlit.file_uploader", return_value=FakeUpload(content, name)):
        return open_page(TRAIN)


def test_an_upload_with_malformed_fields_is_kept_without_them_and_says_so(runs_dir):
    at = upload(model_file(name="mine", test_accuracy="99%", history=[1, 2, 3]))
    assert "Added “mine”" in shown(at.success)
    notices = shown(at.warning)
    assert "'test_accuracy' was dropped" in notices and "'history' was dropped" in notices
    info = RunStore(runs_dir).list()[0]
    assert info.test_accuracy is None and info.epochs_done == 0 and not info.damaged


@pytest.mark.parametrize("sizes,words", [((784, *[4] * 300, 10), "lists 603 entries"),
                                         ((784, 4, 4, 4, 4, 4, 10), "at most 4 hidden layers"),
                                         ((784, 2000, 10), "at most 1024 units")])
def test_uploads_obey_the_architecture_limits_of_training(sizes, words, runs_dir):
    at = upload(model_file(sizes))
    assert "refused" in shown(at.error) and words in shown(at.error)
    assert RunStore(runs_dir).list() == []


MARKDOWN_NAME = "![x](http://example.invalid/x.png) **b** [l](http://e.invalid) :red[r]"


def rendered_markdown(at):
    """Every piece of Markdown the page sends to the browser, as sent (escaped or not)."""
    kinds = ("markdown", "caption", "success", "info", "warning", "error", "subheader", "title")
    return [element.value for kind in kinds for element in getattr(at, kind)]


def test_user_text_is_shown_as_text_never_as_markdown(runs_dir):
    store = RunStore(runs_dir)
    run_id = new_run_id()
    store.save(run_id, mlp.Network([784, 8, 10]), RunMeta(MARKDOWN_NAME, "done", owner=learner().owner))
    at = open_page(TRAIN)
    at.button(key="open_run").click().run()                      # its name in the live view's heading
    at.text_input(key=f"rename_{run_id}").set_value(MARKDOWN_NAME + " 2")
    at.button(key="rename_run").click().run()                    # ... in the "Renamed" message
    sent = rendered_markdown(at)
    assert any("Delete **" in text and "example" in text for text in sent)   # the popover names it...
    assert not any("](" in text or ":red[" in text for text in sent), [t for t in sent if "](" in t]
    assert MARKDOWN_NAME + " 2" in shown(at.markdown, at.success)             # ...as the characters typed
    for page in (WEIGHTS, EVALUATE, DRAW, "pages/home.py"):
        at.switch_page(page).run()
        assert not any("](" in text for text in rendered_markdown(at)), page


def test_markdown_in_a_link_is_escaped_in_the_warning(runs_dir):
    at = open_page(TRAIN, query={"seed": "![x](http://example.invalid/x.png)"})
    assert "seed='![x](http://example.invalid/x.png)' ignored" in shown(at.warning)
    assert not any("](" in w.value for w in at.warning)


# ---- links with values the controls cannot show ---------------------------------------------------------
@pytest.mark.parametrize("query,key,value,note", [
    ({"lr_decay": "0.2"}, "lr_decay", 0.2, None),                     # was a StreamlitValueBelowMinError
    ({"lr_decay": "0.1"}, "lr_decay", 0.1, None),
    ({"epochs": "150"}, "epochs", 150, None),
    ({"epochs": str(MAX_EPOCHS)}, "epochs", MAX_EPOCHS, None),
    ({"l2": "1"}, "l2", 1.0, None),
    ({"lr": "0.0007"}, "lr", 0.0005, "lr=0.0007 is between this control's steps; using 0.0005"),
    ({"lr_decay": "0.855"}, "lr_decay", 0.86, "lr_decay=0.855 is between this control's steps; using 0.86"),
    ({"train_size": "5000"}, "train_size", 3000, "train_size=5000 is between this control's steps"),
    ({"l2": "0.5"}, "l2", 0.3, "l2=0.5 is between"),
    ({"lr": "1e-07"}, "lr", 0.02, "lr=1e-07 ignored: outside this control's range, 1e-05 to 10"),
    ({"batch_size": "5000"}, "batch_size", 1, "batch_size=5000 ignored: outside this control's range, 1 to 1024"),
])
def test_every_link_value_is_shown_exactly_or_said_not_to_be(query, key, value, note, runs_dir):
    at = open_page(TRAIN, query=query)
    assert not at.exception
    control = next(w for kind in ("slider", "select_slider") for w in getattr(at, kind) if w.key == key)
    assert control.value == pytest.approx(value)
    warnings = shown(at.warning)
    if note is None:
        assert "From the link" not in warnings
    else:
        assert note in warnings
    assert not at.button(key="start").disabled


def test_each_control_covers_the_configs_range_or_links_beyond_it_are_refused():
    """Where a control's ends are not the config's, the test above has a link beyond them."""
    from ui.controls import STEPS

    base = mlp.TrainConfig()
    for name, steps in STEPS.items():
        low, high = steps.bounds
        for end in (low, high):
            base.replace(**{name: end}).validate()              # the control never offers a bad value
    assert STEPS["lr_decay"].bounds == (0.1, 1.0) and STEPS["epochs"].bounds == (1, MAX_EPOCHS)
    assert STEPS["l2"].bounds == (0.0, 1.0) and STEPS["train_size"].bounds == (1, 60_000)


# ---- the largest accepted networks stay quick to show ----------------------------------------------------
def test_the_largest_accepted_network_is_drawn_in_bounded_figures(runs_dir):
    sizes = (784, 1024, 1024, 1024, 1024, 10)
    run_id = new_run_id()
    RunStore(runs_dir).save(run_id, mlp.Network(list(sizes), "relu", "softmax", "cross_entropy", "he"),
                            RunMeta("widest", "done"))
    at = open_page(WEIGHTS, query={"run": run_id})
    assert not at.exception
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert sum(len(json.dumps(spec)) for spec in specs) < 5 * 2**20         # bytes sent to the browser
    matrices = [s for s in specs if "layer 2 weights" in str(s["layout"].get("title"))]
    assert matrices and "first 128×128 shown" in str(matrices[0]["layout"]["title"])
    from ui.hidden_units import images_for_dead_check

    checked = images_for_dead_check(sizes)
    assert 1_000 <= checked < 60_000 and f"every one of {checked:,} training images" in shown(at.caption)


def test_dead_units_are_marked_with_their_share_per_layer(runs_dir):
    network = mlp.Network([784, 16, 16, 10], "relu", "softmax", "cross_entropy", "he", seed=1)
    network.biases[0][3] = network.biases[1][5] = -100.0                  # one ReLU in each layer never fires
    run_id = new_run_id()
    RunStore(runs_dir).save(run_id, network, RunMeta("two dead", "done"))
    at = open_page(WEIGHTS, query={"run": run_id})
    captions = shown(at.caption)
    assert "layer 1: 1 of 16 (6%)" in captions and "layer 2: 1 of 16 (6%)" in captions
    grid = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if len(json.loads(c.proto.spec)["data"]) == 3 and "customdata" in json.loads(c.proto.spec)["data"][1])
    labels = grid["data"][2]["text"]
    assert sum("dead" in label for label in labels) == 1
