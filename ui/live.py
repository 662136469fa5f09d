"""Start/pause/stop buttons and the live view of a run: it polls the job once a second while it trains."""
from __future__ import annotations

import streamlit as st

import mlp
import ui
from mlp.presets import follows_the_notebook
from mlp.runs import Status
from ui import identity, state
from mlp import analysis
from mlp.config import check_layers
from runner.classes import start_entry
from runner.database import Unavailable
from runner.identity import NotYours
from runner.worker import fine_tune_inputs
from ui.charts import learning_curves
from ui.network_charts import health_curves
from ui.markdown import escape

STATUS_TEXT = {
    Status.RUNNING: ":blue-badge[training]", Status.PAUSED: ":orange-badge[paused]",
    Status.QUEUED: ":gray-badge[waiting]", Status.DONE: ":green-badge[finished]",
    Status.STOPPED: ":gray-badge[stopped]", Status.DIVERGED: ":red-badge[diverged]",
    Status.FAILED: ":red-badge[failed]", Status.INTERRUPTED: ":orange-badge[interrupted]",
    Status.UPLOADED: ":gray-badge[uploaded]",
}
"""How each status shows on a page (``mlp.runs.Status``)."""
CONTROL_MESSAGE = "control_message"


def is_active(job):
    return job is not None and job.status.active


def is_mine(job):
    """True if this session's person may control ``job`` (its owner, or a teacher)."""
    return job is not None and identity.me().may_change(job.owner)


def resolve_fine_tune(config):
    """The starting weights and the learner's digits a run asks for (None for an ordinary run).
    Raises ValueError saying what is missing or does not fit."""
    base = digits = None
    if config.start_from:
        path = state.model_file(config.start_from)
        if path is None:
            raise ValueError("the network to start from is no longer there; choose another under Fine-tune")
        base = (_base_name(config.start_from, path), mlp.load(path, check_sizes=check_layers))
    if config.my_digits:
        try:
            collection = state.digit_store().get(config.my_digits)
        except KeyError:
            raise ValueError("that collection of digits is no longer there; choose another under Fine-tune") from None
        if not len(collection):
            raise ValueError(f"the collection “{collection.name}” holds no drawings yet: keep some on Draw")
        digits = (collection.name, collection.images, collection.labels)
    return fine_tune_inputs(config, base, digits)


def _base_name(run_id, path):
    """How a fine-tuning run names the network it starts from: "pretrained: fast", or the run's name."""
    if run_id.startswith(state.SHIPPED):
        return f"pretrained: {path.stem}"
    try:
        return state.store().info(run_id).name
    except (ValueError, OSError):
        return f"run {run_id}"


def _start(config, until_epoch=None):
    if isinstance(config, mlp.ConfigError):
        return
    name = st.session_state.get("run_name") or None
    entry = st.session_state.get(CHALLENGE_ENTRY)
    try:
        if entry:
            job = start_entry(state.classroom(), state.registry(), entry, config, identity.acting(), name=name,
                              until_epoch=until_epoch)
        else:
            job = state.registry().submit(config, identity.acting(), name=name, until_epoch=until_epoch,
                                          inputs=resolve_fine_tune(config))
    except (ValueError, KeyError, Unavailable, PermissionError) as err:  # ConfigError, over budget, missing inputs
        st.session_state["start_error"] = f"Not started: {err}." if entry else str(err)
        return
    state.set_current_run(job.id)
    st.rerun()          # a full run, so the training area starts polling (a fragment run cannot)


CHALLENGE_NOTE = ("A class challenge run: its test accuracy is measured on the public half of the test set (the "
                  "5,000 even-numbered images) only; the leaderboard's private half stays hidden until the reveal.")
CHALLENGE_ENTRY = "challenge_entry"
"""Session key: the id of the class challenge the next run is entered in, or None."""


def challenge_choice(config):
    """For a student with a class challenge under way: whether the next run is entered in it, its
    budget, and (before Start is pressed) what in the settings is over it."""
    try:
        under_way = state.classroom().challenges_for(identity.me())
    except Unavailable:
        under_way = []
    if not under_way:
        st.session_state.pop(CHALLENGE_ENTRY, None)
        return
    challenges = {c.id: c for _, c in under_way}
    labels = {None: "Not in a challenge", **{c.id: f"Challenge: {c.title} ({info.title})" for info, c in under_way}}
    if st.session_state.get(CHALLENGE_ENTRY) not in labels:
        st.session_state[CHALLENGE_ENTRY] = None
    chosen = st.selectbox("Enter the next run in", list(labels), key=CHALLENGE_ENTRY, format_func=labels.get,
                          help="A challenge run is checked against the budget before it starts, and tested on the "
                               "public half of the test set only.")
    if chosen is None:
        return
    budget = challenges[chosen].budget
    st.caption("Budget: " + escape("; ".join(budget.lines())) + ".")
    problems = [] if isinstance(config, mlp.ConfigError) else budget.problems(config)
    if problems:
        st.warning("Over the budget, so it would not start: " + escape("; ".join(problems)) + ".",
                   icon=":material/block:")


def _control(run_id, action, *value):
    """A run-control button's callback, bound to the run it was drawn for. The run service checks
    that this session's person may control it; if not, or if the run has ended meanwhile (another
    session stopped it), the page says so and nothing changes."""
    job = state.registry().get(run_id)
    if job is None or not job.active:
        st.session_state[CONTROL_MESSAGE] = ("info", "That run has already ended (another session, or a teacher, "
                                                     "stopped it, or it finished): nothing was changed.")
        return
    try:
        getattr(job, action)(identity.acting(), *value)
    except NotYours as err:
        st.session_state[CONTROL_MESSAGE] = ("error", f"Not done: {err}. Nothing was changed.")


def set_live_lr():
    """The learning-rate control's callback: a run in progress takes the new rate at its next batch."""
    job = state.current_job()
    if is_active(job):
        _control(job.id, "set_lr", st.session_state["lr"])


def _leave_run():
    """Leave someone else's run: the settings stay as they are, for a run of one's own."""
    state.set_current_run(None)
    st.query_params.pop("run", None)


def _fine_tune_copy(run_id):
    """Start from someone else's saved run: a new run of one's own, on its weights (Fine-tune)."""
    from ui import controls

    _leave_run()
    st.session_state["start_from"] = run_id
    controls.adopt_base()


def buttons(config, job):
    """Start, step, pause/resume and stop, in a row that wraps rather than cutting a label. They act
    in callbacks bound to the run's id, so the page redraws in the new state and cannot act on
    another run."""
    if CONTROL_MESSAGE in st.session_state:
        kind, text = st.session_state.pop(CONTROL_MESSAGE)
        (st.error if kind == "error" else st.info)(escape(text))
    active = is_active(job)
    owned = _current_owner()
    if owned is not None and not identity.me().owns(owned[0]):
        identity.owner_line(*owned)           # whose it is (a teacher is told they may change it)
        if active and not is_mine(job):       # training: no control of it here
            _leave_button()
            return
        if not active:                        # saved: Start still starts a run of one's own
            _copy_button()
    cannot_train = isinstance(config, mlp.ConfigError)
    if not active:
        challenge_choice(config)
    row = st.container(horizontal=True, gap="small")
    row.button("Start", key="start", type="primary", icon=":material/play_arrow:", on_click=_start,
               args=(config,), disabled=active or cannot_train)
    if active:
        row.button("Step one epoch", key="step", icon=":material/skip_next:", on_click=_control,
                   args=(job.id, "step"), disabled=job.status == Status.QUEUED,
                   help="Train to the end of the next epoch, then wait.")
        if job.status == Status.PAUSED:
            row.button("Resume", key="resume", icon=":material/play_arrow:", on_click=_control,
                       args=(job.id, "resume"))
        else:
            row.button("Pause", key="pause", icon=":material/pause:", on_click=_control,
                       args=(job.id, "pause"), disabled=job.status == Status.QUEUED)
        row.button("Stop", key="stop", icon=":material/stop:", on_click=_control, args=(job.id, "stop"))
    else:
        row.button("Step one epoch", key="step", icon=":material/skip_next:", on_click=_start,
                   args=(config, 1), disabled=cannot_train,
                   help="Start a run that trains one epoch, then waits for you.")
    st.text_input("Run name", key="run_name", placeholder="name for the next run (optional)",
                  label_visibility="collapsed", max_chars=80, disabled=active)
    if "start_error" in st.session_state:
        st.error(escape(st.session_state.pop("start_error")))


def _current_owner():
    """(owner, owner name) of the current run, or None when there is none (or a shipped model)."""
    job = state.current_job()
    if job is not None:
        return job.owner, job.owner_name
    run_id = state.current_run_id()
    if run_id is None or not state.store().exists(run_id):
        return None
    try:
        info = state.store().info(run_id)
    except (ValueError, OSError):
        return None
    return info.owner, info.owner_name


def _leave_button():
    st.button("Train my own", key="leave_run", icon=":material/add:", on_click=_leave_run,
              help="Leave this run (it goes on training) and start one of your own.")


def _copy_button():
    st.button("Fine-tune a copy of my own", key="fine_tune_copy", icon=":material/content_copy:",
              on_click=_fine_tune_copy, args=(state.current_run_id(),),
              help="Start from this run's weights: a new run of yours (see Fine-tune in the settings).")


def live_view(job):
    """Status, progress, metrics and learning curves of ``job`` (or, with none, of the current run)."""
    if job is None:
        _saved_curves()
        return
    view = job.view()
    _status(view)
    if view["settled"] and view["unsaved"]:
        _not_saved(job, view)
    _metrics(view)
    config = view["config"]
    notebook = follows_the_notebook(config) and not view["challenge"]
    if view["challenge"]:
        st.caption(CHALLENGE_NOTE)
    st.plotly_chart(learning_curves(view["progress"], view["history"], notebook=notebook,
                                    public_half=bool(view["challenge"])),
                    key="learning_curves", config={"displaylogo": False})
    if notebook and view["history"]:
        _notebook_table(view["history"])
        if config.train_size < 60_000:
            st.caption(f"The notebook trained on all 60,000 images; this run uses {config.train_size:,}.")
    if view["saved"] and (config.start_from or config.my_digits):
        fine_tune_result(job.id)
    network = job.network()
    if network is not None:
        layer_health(job.id, network, *job.snapshot_arrays())


def fine_tune_result(run_id):
    """Before and after a fine-tuning run: its accuracy on the held-out digits and on MNIST's test set."""
    try:
        result = state.store().meta(run_id).fine_tune
    except (ValueError, OSError):
        return
    if not result:
        return
    rows = []
    if result.get("held_out"):
        rows.append({"measured on": f"your {result['held_out']} held-out digits",
                     "before": result.get("held_out_before"), "after": result.get("held_out_after")})
    rows.append({"measured on": "the MNIST test set (10,000)", "before": result.get("mnist_before"),
                 "after": result.get("mnist_after")})
    percent = st.column_config.NumberColumn(format="percent")
    st.markdown(f"**Fine-tuning**: started from {escape(result.get('start_from') or 'random weights')}"
                + (f", with “{escape(result['my_digits'])}”" if result.get("my_digits") else ""))
    st.dataframe(rows, hide_index=True, key="fine_tune_table", column_config={"before": percent, "after": percent})


HEALTH_PROBE = 1_000
"""Training images the layer-health chart measures each snapshot on (the first 1,000)."""


@st.cache_data(max_entries=512, show_spinner=False)
def _health(run_id, epoch, _network, _params):
    """Layer health of one snapshot (fixed once taken, so cached by run and epoch)."""
    _network.params[...] = _params
    x_train, y_train = state.dataset()[:2]
    return analysis.layer_health(_network, x_train[:HEALTH_PROBE], y_train[:HEALTH_PROBE])


def layer_health(run_id, network, snapshots, epochs):
    """On request, each layer's gradient size and its dead and saturated units, epoch by epoch."""
    if len(network.sizes) < 3 or not st.toggle("Inside the layers", key="layer_health",
                                               help="Each layer's gradient size and its dead and saturated "
                                                    "units, epoch by epoch."):
        return
    probe = network.copy()
    healths = [_health(run_id, float(e), probe, p) for p, e in zip(snapshots, epochs)]
    hidden = [f"hidden {l + 1}" for l in range(len(network.sizes) - 2)]
    st.plotly_chart(health_curves(list(epochs), healths, hidden, [f"→ {n}" for n in hidden + ["output"]]),
                    key="health_curves", config={"displaylogo": False})
    st.caption(f"Measured at each epoch's weights on {HEALTH_PROBE:,} training images. A layer whose gradient "
               "is far smaller than the others' learns slowly (a sigmoid stack's vanishing gradient shows up "
               "as the first layers' curves sinking); a dead unit gives the same output for every image; a "
               "saturated sigmoid or tanh sits on a flat end of its curve, where almost no gradient passes.")


def training_area(settings_panel, runs_panel):
    """Everything on the Train page that depends on the current run, as one fragment: the settings
    (locked while a run trains), the run's buttons, its live view and the saved runs. While a run
    trains it reruns every second; when the run has ended and is saved it draws itself once more in
    the final state (buttons, unlocked settings, the new saved run) and stops polling, without a
    full rerun of the page, so a click on another page in that instant is never lost."""
    job = state.current_job()
    polling = job is not None and (is_active(job) or not job.settled)

    @st.fragment(run_every=1.0 if polling else None)
    @ui.timed("Train (live)")
    def area():
        job = state.current_job()
        finished = job is None or job.settled    # read before drawing: what is drawn is then final
        training = is_active(job)
        settings, progress = st.columns([2, 3], gap="large")
        with settings:
            config = settings_panel(training, job)
        with progress:
            buttons(config, job)
            live_view(job)
        st.divider()
        runs_panel(config, job)
        if polling and finished:
            ui.stop_polling()

    area()


def _saved_curves():
    """With no run training here, show the current run's curves, so a refresh or restart loses nothing."""
    run_id = state.current_run_id()
    if run_id is None or not state.store().exists(run_id):
        st.info("Choose settings (or a preset) and press **Start**. The curves appear here as it learns.")
        return
    try:
        meta = state.store().meta(run_id)
    except (ValueError, OSError) as err:
        st.warning(f"The current run cannot be read: {escape(err)}")
        return
    st.markdown(f"Current run: **{escape(meta.name)}** ({meta.status})")
    if meta.challenge:
        st.caption(CHALLENGE_NOTE)
    st.plotly_chart(learning_curves(list(meta.progress), list(meta.history), public_half=bool(meta.challenge)),
                    key="saved_curves", config={"displaylogo": False})
    fine_tune_result(run_id)
    try:
        run = state.current_run()
    except ValueError:                          # damaged since it was listed: the runs list says so
        run = None
    if run is not None:
        layer_health(run.id, run.network, run.snapshots, run.snapshot_epochs)


def _status(view):
    config, status = view["config"], view["status"]
    unsaved = " :red-badge[not saved]" if view.get("unsaved") else ""
    st.markdown(f"**{escape(view['name'])}** {STATUS_TEXT[status]}{unsaved} · "
                f"{'-'.join(map(str, config.layers))}, {config.activation}/{config.output}, "
                f"{config.optimizer} · lr now {view['lr']:g}")
    if status == Status.QUEUED:
        st.warning(f"Waiting for a free training slot: this server trains at most "
                   f"{state.registry().max_running} runs at once, and yours is number "
                   f"{view['queue_position']} in the queue. It starts by itself.", icon=":material/hourglass_top:")
    if status in (Status.DIVERGED, Status.FAILED) and view["error"]:
        st.error(escape(view["error"]), icon=":material/warning:")
    elif status in (Status.STOPPED, Status.INTERRUPTED) and view["error"]:
        st.info(escape(view["error"]), icon=":material/info:")
    if status in (Status.DONE, Status.STOPPED, Status.DIVERGED) and view["saved"]:
        st.caption("Saved to the runs list below.")
    done = view["samples_seen"] / max(view["total_samples"], 1)
    st.progress(min(done, 1.0), text=f"epoch {view['epoch']} of {config.epochs} · {done:.0%}")


def _not_saved(job, view):
    """A finished run that could not be saved: say so and why, and offer its network from memory."""
    st.error(f"**Not saved.** {escape(view['unsaved'])} Download it now to keep it (you can add it back "
             "later with *Upload a model* below).", icon=":material/sd_card_alert:")
    st.download_button("Download the network (.npz)", data=job.model_bytes, file_name=f"{view['name']}.npz",
                       mime="application/octet-stream", icon=":material/download:", key="download_unsaved",
                       on_click="ignore")


def _metrics(view):
    progress, history = view["progress"], view["history"]
    last = progress[-1] if progress else None
    speed = view["samples_seen"] / view["elapsed"] if view["elapsed"] > 0 else 0.0
    remaining = (view["total_samples"] - view["samples_seen"]) / speed if speed else None
    previous = history[-2].test_accuracy if len(history) > 1 else None
    cols = st.columns(3) + st.columns(3)
    cols[0].metric("Epoch", f"{last.epoch:.2f}" if last else "0")
    final = history[-1] if history else None
    cols[1].metric("Test accuracy", f"{final.test_accuracy:.2%}" if final else "–",
                   delta=f"{final.test_accuracy - previous:+.2%}" if previous is not None else None,
                   help="On the whole test set (10,000 images), measured at the end of each epoch. The curve's "
                        "line between epochs is a quicker live estimate on the first 1,000 of them; a run "
                        "stopped mid-epoch is saved with its final weights' score on all 10,000.")
    cols[2].metric("Train accuracy", f"{last.train_accuracy:.2%}" if last else "–",
                   help="On 1,000 fixed training images.")
    cols[3].metric("Train loss", f"{last.train_loss:.4f}" if last else "–")
    cols[4].metric("Samples/s", f"{speed:,.0f}")
    cols[5].metric("ETA", _duration(remaining) if remaining is not None and view["status"].active else "–")


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _notebook_table(history):
    rows = []
    for event in history:
        e = int(event.epoch)
        ours = 100 * event.test_accuracy
        theirs = mlp.NOTEBOOK_TEST_ACCURACY[e - 1] if e <= len(mlp.NOTEBOOK_TEST_ACCURACY) else None
        rows.append({"epoch": e, "test accuracy (%)": round(ours, 2), "notebook (%)": theirs,
                     "difference": None if theirs is None else round(ours - theirs, 2),
                     "train loss": round(event.train_loss, 4), "seconds": round(event.elapsed, 1)})
    st.dataframe(rows, hide_index=True, key="epoch_table")
