"""Train's runs panel offers any saved run, shipped model or the settings above as code (``ui.export``)."""
import mlp
from apptest_helpers import learner, open_page, shown

TRAIN = "pages/train.py"
BOTH = {"Download as a Python script", "Download as a notebook"}


def downloads(at):
    return {d.proto.label: d.proto for d in at.get("download_button") if d.proto.label.startswith("Download as")}


def test_the_settings_and_every_shipped_model_download_as_a_script_and_a_notebook(runs_dir):
    at = open_page(TRAIN)
    picker = at.selectbox(key="export_pick")
    assert picker.options[0] == "The settings above"
    assert {"pretrained: seed", "pretrained: fast", "pretrained: wide"} <= set(picker.options)
    assert set(downloads(at)) == BOTH
    picker.set_value("model:wide").run()
    assert not at.exception and set(downloads(at)) == BOTH and "No code for it" not in shown(at.warning)


def test_a_run_that_cannot_be_written_says_why_and_offers_no_download(runs_dir):
    from ui import state

    network = mlp.Network([784, 16, 10])
    info, _ = state.store().import_bytes(mlp.io.to_bytes(network, name="from elsewhere"), "bare.npz", learner())
    at = open_page(TRAIN)
    at.selectbox(key="export_pick").set_value(info.id).run()
    assert "No code for it: “from elsewhere” holds no training settings" in shown(at.warning)
    assert not downloads(at)
    at.selectbox(key="export_pick").set_value("settings").run()
    assert set(downloads(at)) == BOTH
