"""Each learner's work is theirs, on the pages (AppTest): what another learner sees of it, what they can
still do with it, what is refused even when a control is used anyway, and the identity panel."""
import numpy as np

import mlp
from apptest_helpers import (BROWSER_A, BROWSER_B, as_teacher, learner, open_page, shown, wait_for_job,
                             wait_until)
from mlp.runs import RunMeta, Status
from runner.digits import DigitStore
from runner.store import RunStore, new_run_id
from test_app_my_digits import keep
from ui.markdown import escape

TRAIN, WEIGHTS, EVALUATE, DRAW = "pages/train.py", "pages/weights.py", "pages/evaluate.py", "pages/draw.py"
MINE = "pages/my_digits.py"
TINY = {"train_size": "300", "epochs": "1", "batch_size": "32", "layers": "784-8-10", "optimizer": "adam",
        "lr": "0.003", "activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"}
LONG = {**TINY, "train_size": "1000", "epochs": "60", "batch_size": "1", "optimizer": "sgd", "lr": "0.02"}


def alice():
    """Browser A's person, who has given the name Alice on the identity panel."""
    from runner.identity import Identities
    from ui import state

    return Identities(state.RUNS_DIR).set_name(learner(BROWSER_A), "Alice")


def alices_run(name="Alice's run"):
    from ui import state

    run_id, who = new_run_id(), alice()
    config = mlp.TrainConfig(layers=(784, 8, 10), activation="relu", output="softmax", loss="cross_entropy", init="he")
    RunStore(state.RUNS_DIR).save(run_id, mlp.Network([784, 8, 10], "relu", "softmax", "cross_entropy", "he"),
                                  RunMeta(name, Status.DONE, config=config.to_dict(), test_accuracy=0.9,
                                          owner=who.owner, owner_name=who.name))
    return run_id


def test_a_fresh_learner_sees_none_of_anothers_work(runs_dir):
    """Before: a fresh B was handed A's collection and the runs list was everyone's."""
    run_id = alices_run()
    digits = DigitStore(runs_dir)
    cid = digits.create(alice(), "Alice's digits")
    b = open_page(TRAIN, token=BROWSER_B)
    assert "manage_picker" not in [s.key for s in b.selectbox] and "You have no saved runs yet" in shown(b.caption)
    b.switch_page(EVALUATE).run()
    assert b.selectbox(key="run_picker").value == "model:wide" and run_id not in b.selectbox(key="run_picker").options
    b.switch_page(MINE).run()
    assert "collection_picker" not in [s.key for s in b.selectbox] and "You have no collection yet" in shown(b.info)
    b.switch_page(DRAW).run()
    keep(b, (40, 240, 130, 150), 1, 0)                       # B's first kept drawing: B's own collection
    mine = [c for c in digits.list() if c.id != cid]
    assert len(mine) == 1 and mine[0].owner == learner(BROWSER_B).owner and mine[0].count == 1
    assert digits.info(cid).count == 0                       # A's untouched
    b.switch_page(TRAIN).run()
    b.segmented_control(key="runs_scope").set_value("all").run()    # everything on this server: A's too
    assert b.selectbox(key="manage_picker").value == run_id
    table = next(df.value for df in b.dataframe if "owner" in df.value.columns)
    assert table["owner"].tolist() == ["Alice"] and table["name"].tolist() == ["Alice's run"]


def test_anothers_saved_run_opens_read_only_and_a_forged_click_is_refused(runs_dir):
    run_id = alices_run()
    before = RunStore(runs_dir).path(run_id).read_bytes()
    b = open_page(TRAIN, token=BROWSER_B, query={**TINY, "run": run_id})
    assert "This run is Alice's: you can watch it, compare with it" in shown(b.info)
    assert b.selectbox(key="manage_picker").value == run_id        # listed for B, being open, though not B's
    # The Rename and Delete popovers are disabled; their buttons used anyway (a stale page) are refused.
    b.text_input(key=f"rename_{run_id}").set_value("Bob's now")
    b.button(key="rename_run").click().run()
    assert "Could not rename it: it is Alice's: only its owner or a teacher may rename it" in shown(b.error)
    b.button(key="delete_run").click().run()
    assert "it is Alice's: only its owner or a teacher may delete it. Nothing was changed." in shown(b.error)
    assert RunStore(runs_dir).path(run_id).read_bytes() == before
    # Looking inside it works on every page.
    for page in (WEIGHTS, EVALUATE, DRAW):
        b.switch_page(page).run()
        assert not b.exception and b.selectbox(key="run_picker").value == run_id
    # A copy of one's own: a fine-tuning run from A's weights, B's.
    b.switch_page(TRAIN).run()
    b.button(key="fine_tune_copy").click().run()
    assert b.session_state["start_from"] == run_id and b.session_state["current_run"] is None
    b.button(key="start").click().run()
    job = wait_for_job(b)
    assert job.owner == learner(BROWSER_B).owner and RunStore(runs_dir).info(job.id).owner == job.owner
    assert "started from Alice's run" in shown(b.markdown)


def test_anothers_live_run_has_no_controls_and_a_teacher_may_stop_it(runs_dir, monkeypatch):
    """Before: B, from A's link, paused A's run, changed its learning rate and stopped it."""
    a = open_page(TRAIN, query=LONG)
    a.button(key="start").click().run()
    job = wait_for_job_started(a)
    b = open_page(TRAIN, token=BROWSER_B, query={**LONG, "run": job.id})
    assert job.active and not {"pause", "stop", "step", "resume"} & {x.key for x in b.button}
    assert b.button(key="leave_run") and b.select_slider(key="lr").disabled
    assert "you can watch it" in shown(b.info) and "someone else's run" in shown(b.caption)
    teacher_token = as_teacher(monkeypatch)
    teacher = open_page(TRAIN, token=teacher_token, query={**LONG, "run": job.id})
    assert "as a teacher you may change it" in shown(teacher.info) and not teacher.select_slider(key="lr").disabled
    # A stale page: drawn while its user was a teacher, used after they stopped being one.
    from ui import identity
    identity.identities().leave_teacher(learner(teacher_token))
    teacher.select_slider(key="lr").set_value(0.05).run()
    assert "Not done: it is another learner's" in shown(teacher.error) and job.view()["lr"] == 0.02
    assert job.active
    teacher = open_page(TRAIN, token=as_teacher(monkeypatch), query={**LONG, "run": job.id})
    teacher.button(key="stop").click().run()
    assert job.join(30) and job.status == Status.STOPPED
    assert RunStore(runs_dir).info(job.id).owner == learner().owner           # still A's, saved
    a.button(key="stop").click().run()                        # A's page still showed Stop
    assert "That run has already ended" in shown(a.info)


def wait_for_job_started(at):
    from apptest_helpers import registry

    job = registry().get(at.session_state["current_run"])
    assert wait_until(lambda: job.samples_seen > 0, timeout=60)
    return job


def test_anothers_collection_is_read_only_and_keeping_goes_to_ones_own(runs_dir, monkeypatch):
    digits = DigitStore(runs_dir)
    cid = digits.create(alice(), "Alice's digits")
    digits.add(cid, np.full(784, 0.5), np.zeros((280, 280)), 3, alice())
    before = digits.path(cid).read_bytes()
    b = open_page(MINE, token=BROWSER_B, query={"digits": cid})
    assert "This collection is Alice's: you can look at it" in shown(b.info)
    assert b.text_input(key="collection_name").disabled
    assert not [x for x in b.button if x.key.startswith("delete_")]
    # A stale page: drawn for a teacher, used after they stopped being one.
    from ui import identity
    token = as_teacher(monkeypatch)
    stale, also_stale = (open_page(MINE, token=token, query={"digits": cid}) for _ in range(2))
    assert not stale.text_input(key="collection_name").disabled
    identity.identities().leave_teacher(learner(token))
    stale.text_input(key="collection_name").set_value("Bob's now").run()
    assert "Renaming the collection failed: it is Alice's" in shown(stale.error)
    next(x for x in also_stale.button if x.key.startswith("delete_")).click().run()
    assert "Deleting the drawing failed: it is Alice's" in shown(also_stale.error)
    b.switch_page(DRAW).run()
    keep(b, (40, 240, 130, 150), 1, 0)
    assert digits.path(cid).read_bytes() == before                         # not into A's collection
    assert [c.count for c in digits.list() if c.owner == learner(BROWSER_B).owner] == [1]


def test_the_identity_panel_names_you_and_the_teacher_key_works(runs_dir, monkeypatch):
    monkeypatch.setenv("MLP_TEACHER_KEY", "sesame")
    at = open_page(TRAIN, query=TINY)
    panel = " ".join(shown(at.markdown, at.caption).split())
    assert "You are **this browser**" in panel and "Clearing this site's cookies" in panel
    assert "no identity cookie" in shown(at.warning)            # AppTest sends none: this tab only
    at.text_input(key="display_name").set_value("<b>Ada</b> *L*").run()
    assert "Others now see your runs as <b>Ada</b> *L*'s." in shown(at.success)
    at.run()
    (panel_label,) = [block.proto.popover.label for block in at.sidebar.children.values()
                      if block.proto.HasField("popover")]
    assert panel_label == escape("<b>Ada</b> *L*")                 # the name, shown as text
    at.text_input(key="teacher_key_entry").set_value("open")
    next(b for b in at.button if b.label == "Become a teacher").click().run()
    assert "Not a teacher: that is not this server's teacher key" in shown(at.error)
    at.text_input(key="teacher_key_entry").set_value("sesame")
    next(b for b in at.button if b.label == "Become a teacher").click().run()
    assert "You are a teacher on this server" in shown(at.success)
    at.button(key="start").click().run()
    job = wait_for_job(at)
    assert RunStore(runs_dir).info(job.id).owner_name == "<b>Ada</b> *L*"
    again = open_page(TRAIN)                                    # the same browser, another session
    assert "You may pause, stop, rename and delete anyone's" in shown(again.markdown)
    assert not [m for m in again.markdown if "<b>" in m.value and "\\<b\\>" not in m.value]


def test_a_signed_in_person_is_the_providers_on_any_browser(runs_dir):
    user = {"is_logged_in": True, "iss": "https://login.school.example", "sub": "pupil-7", "name": "Grace"}
    at = open_page(TRAIN, query=TINY)
    at.user = user
    at.run()
    assert "You are **signed in**" in shown(at.markdown)
    at.button(key="start").click().run()
    job = wait_for_job(at)
    elsewhere = open_page(TRAIN, token=BROWSER_B)               # another browser, the same person
    elsewhere.user = user
    elsewhere.run()
    assert elsewhere.selectbox(key="manage_picker").value == job.id
    assert RunStore(runs_dir).info(job.id).owner_name == "Grace"


def test_a_runs_folder_without_room_for_identities_takes_no_page_down(runs_dir, monkeypatch):
    import runner.identity

    def full_disk(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner.identity, "_server_secret", full_disk)
    at = open_page(TRAIN, query=TINY)
    assert not at.exception
    assert "the server's secret cannot be read or made (no space left on device)" in shown(at.warning)
    at.button(key="start").click().run()                            # training still works, and is this tab's
    job = wait_for_job(at)
    assert job.owner == at.session_state["identity_person"].owner
