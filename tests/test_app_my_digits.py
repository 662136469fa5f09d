"""My digits, augmentation, dropout and fine-tuning in the app (AppTest): keep drawings from Draw, see
and delete them by id on My digits, download and upload them, measure a model on them on Evaluate, and
fine-tune a network on them from the Train page."""

import numpy as np

import mlp
from apptest_helpers import learner, open_page, plain, wait_for_job
from test_app_draw import canvas_with, drawing

DRAW, MINE, EVALUATE, TRAIN = "pages/draw.py", "pages/my_digits.py", "pages/evaluate.py", "pages/train.py"


def keep(at, box, label, generation):
    at.session_state[f"canvas_{generation}"] = drawing(canvas_with(box))
    at.run()
    label_box = next(s for s in at.selectbox if s.key.startswith("keep_label_"))
    label_box.set_value(label).run()
    at.button(key="keep").click().run()
    assert not at.exception


def test_keep_two_drawings_see_them_delete_one_download_and_upload(runs_dir):
    from ui import state

    at = open_page(DRAW)
    keep(at, (40, 240, 130, 150), 1, 0)                                # a "1"
    assert any("Kept as a 1" in plain(s.value) for s in at.success)
    keep(at, (40, 240, 100, 180), 7, 1)                                # a thick bar, kept as a "7"
    cid = at.session_state["current_collection"]
    kept = state.digit_store().get(cid)
    assert kept.labels.tolist() == [1, 7] and kept.raw.shape == (2, 280, 280) and kept.raw.max() == 255
    at.switch_page(MINE).run()
    assert at.query_params["digits"] == cid
    deletes = [b.key for b in at.button if b.key.startswith("delete_")]
    assert deletes == [f"delete_{i}" for i in kept.ids]
    at.button(key=f"delete_{kept.ids[0]}").click().run()               # delete the "1", by its id
    assert state.digit_store().get(cid).labels.tolist() == [7]
    assert [b.key for b in at.button if b.key.startswith("delete_")] == [f"delete_{kept.ids[1]}"]
    assert at.get("download_button")
    at.text_input(key="collection_name").set_value("Ada's *digits* <b>x</b>").run()
    assert state.digit_store().get(cid).name == "Ada's *digits* <b>x</b>"
    at.switch_page(EVALUATE).run()                                      # the name shows as text
    label = next(m.label for m in at.metric if m.label.startswith("On your"))
    assert plain(label) == "On your 1 digit (“Ada's *digits* <b>x</b>”)"


def test_a_malformed_upload_is_refused_and_a_good_one_becomes_the_collection(runs_dir, tmp_path):
    from ui import my_digits, state

    store = state.digit_store()
    source = store.create(learner(), "from elsewhere")
    store.add(source, np.full(784, 0.5), np.zeros((280, 280)), 4, learner())
    good = store.to_bytes(source)
    at = open_page(MINE)
    with mock_upload(at, "junk.npz", b"PK\x03\x04 not really"):
        at.run()
    errors = [plain(e.value) for e in at.error]
    assert errors and errors[0].startswith("Not kept: junk.npz is not a readable .npz file")
    assert [c.id for c in store.list()] == [source]                      # nothing was kept
    with mock_upload(at, "good.npz", good):
        at.run()
    assert not at.error
    current = at.session_state["current_collection"]
    assert current != source and store.get(current).labels.tolist() == [4]
    assert my_digits.UPLOADER


class mock_upload:
    """AppTest cannot drive a file uploader: stand in for its value, as the page reads it."""

    def __init__(self, at, name, content):
        from unittest import mock

        upload = mock.Mock(file_id=name, getvalue=lambda: content)
        upload.name = name
        self.patch = mock.patch("streamlit.file_uploader", return_value=upload)

    def __enter__(self):
        self.patch.start()

    def __exit__(self, *exc):
        self.patch.stop()


def test_evaluate_measures_the_model_on_my_digits_beside_mnist(runs_dir):
    from ui import state

    store = state.digit_store()
    cid = store.create(learner(), "test images")
    x_test, y_test = mlp.load_mnist()[2:]
    network = mlp.load("models/wide.npz")
    wrong = np.flatnonzero(network.predict(x_test[:2000]) != y_test[:2000])[:2]
    rows = [0, 1, 2, *wrong]                                            # three it reads, two it does not
    for i in rows:
        store.add(cid, x_test[i], np.zeros((280, 280)), int(y_test[i]), learner())
    at = open_page(EVALUATE, query={"digits": cid})
    at.selectbox(key="run_picker").set_value("model:wide").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["On your 5 digits (“test images”)"] == "60.0%"
    assert any("The 2 it gets wrong" in plain(m.value) for m in at.markdown)


def test_the_train_page_offers_dropout_augmentation_with_samples_and_fine_tuning(runs_dir):
    from ui import state

    at = open_page(TRAIN, query={"dropout": "0.33", "shift": "1.5"})
    assert at.slider(key="dropout").value == 0.35 and at.slider(key="shift").value == 1.5
    assert any("dropout=0.33 is between this control's steps" in plain(w.value) for w in at.warning)
    rows = [i for i in at.get("image") if len(i.proto.imgs) == 4]        # originals, then augmented
    assert len(rows) == 2 and any("as the network might see them" in plain(c.value) for c in at.caption)
    at.slider(key="shift").set_value(0.0).run()
    assert any("the network sees the training images as they are" in plain(c.value) for c in at.caption)

    store = state.digit_store()
    cid = store.create(learner(), "mine")
    x_test, y_test = mlp.load_mnist()[2:]
    for i in range(12):
        store.add(cid, x_test[i], np.zeros((280, 280)), int(y_test[i]), learner())
    at.run()
    at.selectbox(key="start_from").set_value("model:fast").run()
    assert at.slider(key="n_hidden").disabled and at.selectbox(key="activation").value == "leaky_relu"
    at.selectbox(key="my_digits").set_value(cid).run()
    at.selectbox(key="optimizer").set_value("adam").run()
    at.select_slider(key="lr").set_value(0.0003)
    at.select_slider(key="batch_size").set_value(16)
    at.slider(key="dropout").set_value(0.0)                           # (0.35 from the link above)
    at.select_slider(key="train_size").set_value(1000)
    at.slider(key="epochs").set_value(1)
    at.run()
    at.button(key="start").click().run()
    job = wait_for_job(at)
    assert job.status == "done", job.error
    assert job.config.start_from == "model:fast" and job.config.my_digits == cid
    table = next(df.value for df in at.dataframe if "measured on" in df.value.columns)
    assert table["measured on"].tolist() == ["your 3 held-out digits", "the MNIST test set (10,000)"]
    fast = mlp.load("models/fast.npz")
    assert table["before"].iloc[1] == fast.accuracy(x_test, y_test)
    store.delete(cid, learner())                                                   # gone before the next start
    at.run()
    assert at.selectbox(key="my_digits").value == ""
