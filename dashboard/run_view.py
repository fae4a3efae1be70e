"""How the Train page shows one run: waiting in the queue (its place and a countdown), live while
it trains (progress, cards, curves, redrawn every second in a fragment; controls for its owner
and the teacher only), or still once it has ended (outcome, cards, curves, resume)."""

from __future__ import annotations

import streamlit as st

import services
from board_view import keep_alive
from coach_view import coach_notes
from formatting import final_metrics, format_duration, live_metrics, plural
from health_view import health_chart
from identity import owner_name, plain
from lenet import plots
from lenet.runs import curves_from_events, curves_from_snapshot, outcome
from lenet.serving.people import Participant, may_control
from lenet.training import events as ev
from navigation import link
from train_form import LR_CHOICES, nearest_lr

__all__ = [
    "charts",
    "queued_view",
    "live_view",
    "ended_view",
    "still_view",
    "act",
    "watch_run",
    "training_now",
    "training_now_live",
]


def act(command, *args) -> None:
    """Run a command of the job manager as this browser's participant; a refusal is shown."""
    try:
        command(*args)
    except (PermissionError, ValueError, KeyError, RuntimeError) as e:
        st.session_state["_command_refused"] = str(e)


def show_refusal() -> None:
    """What the last command said: a refusal (a warning), or what it did (a toast)."""
    if refused := st.session_state.pop("_command_refused", None):
        st.warning(refused, icon=":material/block:")
    if done := st.session_state.pop("_command_done", None):
        st.toast(done, icon=":material/check:")


def _cancel(run_id: str, me: Participant) -> None:
    """Cancel a queued run; the page then stops showing it (its folder is gone)."""
    act(services.job_manager().cancel, run_id, me)
    if "_command_refused" not in st.session_state:
        if st.session_state.get("run_id") == run_id:
            st.session_state.pop("run_id")
        if st.query_params.get("run") == run_id:
            st.query_params.pop("run")
        st.session_state["_command_done"] = f"Run {run_id} cancelled: it left the queue."


def watch_run(run_id: str) -> None:
    """Show ``run_id`` on the Train page from now on (and say so in the address)."""
    st.session_state.run_id = run_id
    st.query_params["run"] = run_id


def training_now(jobs: list[dict], shown: str | None) -> None:
    """Who else trains right now, with a way to watch them (``jobs``: the board's rows)."""
    others = [j for j in jobs if j["state"] in ev.ACTIVE and j["id"] != shown]
    if not others:
        return
    names = ", ".join(plain(owner_name(j["owner"])) for j in others[:3])
    more = f" and {len(others) - 3} more" if len(others) > 3 else ""
    note, button = st.columns([5, 1], vertical_alignment="center")
    note.info(f"Training now: {names}{more}.", icon=":material/directions_run:")
    if len(others) == 1:
        if button.button("Watch", key=f"watch_{others[0]['id']}", width="stretch"):
            watch_run(others[0]["id"])
            st.rerun(scope="app")
    else:
        with button:
            link("class", "See the class")


@st.fragment(run_every=5.0)
def training_now_live(shown: str | None) -> None:
    """``training_now``, kept current on its own (a start or an end elsewhere in the class
    does not redraw the page around it)."""
    training_now(services.job_manager().board()["jobs"], shown)


QUEUED_EVERY_S = 2.0  # thirty waiting students: half the polls of once a second
LIVE_EVERY_S = 1.0


@st.fragment(run_every=QUEUED_EVERY_S)
def queued_view(run_id: str, me: Participant) -> None:
    keep_alive("queued_view", QUEUED_EVERY_S)
    jm = services.job_manager()
    board = jm.board()  # one look at the class: this run's place, and whether one is paused
    snap = next((j for j in board["jobs"] if j["id"] == run_id), None)
    if snap is None:  # cancelled, here or by the teacher: the page draws what is left
        st.rerun(scope="app")
    if snap["state"] != ev.QUEUED:
        st.rerun(scope="app")  # it has started: draw it as it is now
    place, wait = snap["queue_position"], snap["queue_wait_s"]
    ahead = "next in line" if place == 1 else f"{plural(place - 1, 'run')} ahead of it"
    paused = any(j["state"] == ev.PAUSED for j in board["jobs"])
    st.info(
        f"**Waiting in the queue**, {ahead}: it should start in about "
        f"{format_duration(wait)} (the class shares {plural(jm.max_jobs, 'training slot')})"
        + (", later if a paused run stays paused." if paused else "."),
        icon=":material/hourglass_top:",
    )
    if may_control(me, snap["owner"]):
        st.button(
            "Cancel this run",
            icon=":material/close:",
            key="cancel_queued",
            on_click=_cancel,
            args=(run_id, me),
        )


def charts(curves, key: str) -> None:
    """The loss and accuracy curves side by side, the epoch axis fixed to the planned run."""
    loss_col, acc_col = st.columns(2)
    args = (curves.batches, curves.epochs, curves.steps_per_epoch, curves.marks)
    kw = {"height": 340, "x_max": curves.planned_epochs}
    loss_col.plotly_chart(plots.loss_figure(*args, **kw), key=f"loss_{key}")
    acc_col.plotly_chart(plots.accuracy_figure(*args, **kw), key=f"acc_{key}")


@st.fragment(run_every=LIVE_EVERY_S)
def live_view(run_id: str, me: Participant) -> None:
    keep_alive("live_view", LIVE_EVERY_S)
    jm = services.job_manager()
    try:
        snap = jm.snapshot(run_id)
    except KeyError:  # ended and deleted between two polls
        st.rerun(scope="app")
    if snap["state"] not in ev.ACTIVE:
        st.rerun(scope="app")  # ended: one full rerun draws the still view and stops polling
    state, curves = snap["state"], curves_from_snapshot(snap)
    now = curves.batches[-1]["lr"] if curves.batches else snap["config"]["lr"]
    st.progress(
        snap["progress"],
        text=f"**{state.capitalize()}** · epoch {snap['epoch']} of "
        f"{snap['epochs']} · step {snap['step']:,} of {snap['total_steps']:,} · "
        f"learning rate {now:.3g}",
    )
    for col, (label, value) in zip(st.columns(5), live_metrics(snap), strict=True):
        col.metric(label, value)
    if may_control(me, snap["owner"]):
        _controls(jm, run_id, me, state, snap["config"]["lr"])
    else:
        st.caption(
            f"Watching {plain(owner_name(snap['owner']))}'s run: only they and the teacher "
            "can pause, stop or steer it."
        )
    charts(curves, "live")
    health_chart(curves, "live")
    coach_notes(curves, snap["config"], "live")


def _controls(jm, run_id: str, me: Participant, state: str, lr: float) -> None:
    b = st.columns([1, 1, 3, 1], vertical_alignment="bottom")
    if state == ev.PAUSED:
        b[0].button(
            "Resume",
            on_click=act,
            args=(jm.resume, run_id, me),
            type="primary",
            width="stretch",
            icon=":material/play_arrow:",
        )
    else:
        b[0].button(
            "Pause",
            on_click=act,
            args=(jm.pause, run_id, me),
            width="stretch",
            icon=":material/pause:",
        )
    b[1].button(
        "Stop", on_click=act, args=(jm.stop, run_id, me), width="stretch", icon=":material/stop:"
    )
    new_lr = b[2].select_slider(
        "Learning rate from now on",
        LR_CHOICES,
        value=nearest_lr(lr),
        format_func="{:g}".format,
        key=f"live_lr_{run_id}",
    )
    b[3].button(
        "Set rate",
        on_click=act,
        args=(jm.set_lr, run_id, me, new_lr),
        width="stretch",
        key="set_lr",
        help="Takes effect at the next step and is marked on the curves; the schedule stops.",
    )


@st.fragment
def still_view(run_id: str | None, me: Participant, config: dict, owner: dict) -> None:
    """An ended run (or none, ``None``), drawn once: a fragment without a timer, so that the
    Train page's place for its run holds a fragment whatever the run's state. Resumed here or
    elsewhere, the run is drawn live at the next full redraw; pressing Resume starts it."""
    if run_id is None:
        return
    jm = services.job_manager()
    if jm.has(run_id) and jm.snapshot(run_id)["state"] in ev.UNFINISHED:
        st.rerun(scope="app")  # resumed (its Resume button reruns only this fragment)
    ended_view(run_id, config, me)
    if not may_control(me, owner):
        st.caption("Only its owner and the teacher can resume or delete it.")


def ended_view(run_id: str, config: dict, me: Participant) -> None:
    """A run that has ended (here or in an earlier server), from its stored events."""
    stored = services.store().get(run_id)
    out, info = outcome(events := stored.events()), stored.info()
    state, message = out["state"] or info.status, out["message"] or info.message
    if state == ev.DIVERGED:
        st.warning(
            f"**The loss blew up, so training stopped.** {message}",
            icon=":material/local_fire_department:",
        )
    elif state == ev.FINISHED:
        n = out["epochs_done"]
        st.success(f"Finished {n} epoch{'s' if n != 1 else ''}.", icon=":material/check_circle:")
    elif state == ev.FAILED:
        st.error(message or "Training failed.")
    else:
        st.info(message or f"This run is {info.status}.", icon=":material/stop_circle:")
    if info.resumable and may_control(me, info.owner):
        jm = services.job_manager()
        st.button(
            "Resume from epoch " + str(info.epochs_done),
            icon=":material/replay:",
            key="resume_run",
            on_click=act,
            args=(jm.resume_run, run_id, me),
            help="Goes on from the newest checkpoint: same run, same curves.",
        )
    if out["epochs_done"] or out["train_seconds"]:  # a run that blew up at once has no numbers
        for col, (label, value) in zip(st.columns(4), final_metrics(out), strict=True):
            col.metric(label, value)
    if out["epochs_done"]:
        st.markdown("**Look inside this network:**")
        for col, name in zip(
            st.columns(5), ("runs", "feature_maps", "kernels", "health", "predictions"), strict=True
        ):
            with col:
                link(name, query_params={"run": run_id})
    curves = curves_from_events(events, config.get("epochs"))
    if curves.batches or curves.epochs:
        charts(curves, "done")
        health_chart(curves, "done", live=False)
        coach_notes(events, config, "done", live=False)
    else:
        st.caption("It ended before its first logged step, so there is no curve to draw.")
