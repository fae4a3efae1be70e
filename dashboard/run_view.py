"""How the Train page shows one run: live while it trains (progress, cards, controls, curves,
redrawn every second in a fragment), or still once it has ended (outcome, cards, curves)."""

from __future__ import annotations

import streamlit as st

import services
from formatting import final_metrics, live_metrics
from lenet import plots
from lenet.runs import curves_from_events, curves_from_snapshot, outcome
from lenet.training import events as ev
from navigation import link
from train_form import LR_CHOICES, nearest_lr

__all__ = ["charts", "live_view", "ended_view"]


def charts(curves, key: str) -> None:
    """The loss and accuracy curves side by side, the epoch axis fixed to the planned run."""
    loss_col, acc_col = st.columns(2)
    args = (curves.batches, curves.epochs, curves.steps_per_epoch, curves.lr_changes)
    kw = {"height": 340, "x_max": curves.planned_epochs}
    loss_col.plotly_chart(plots.loss_figure(*args, **kw), key=f"loss_{key}")
    acc_col.plotly_chart(plots.accuracy_figure(*args, **kw), key=f"acc_{key}")


@st.fragment(run_every=1.0)
def live_view(run_id: str) -> None:
    jm = services.job_manager()
    snap = jm.snapshot(run_id)
    if snap["state"] not in ev.ACTIVE:
        st.rerun(scope="app")  # ended: one full rerun draws the still view and stops polling
    ctl, state, curves = jm.control(run_id), snap["state"], curves_from_snapshot(snap)
    now = curves.batches[-1]["lr"] if curves.batches else snap["config"]["lr"]
    st.progress(
        snap["progress"],
        text=f"**{state.capitalize()}** · epoch {snap['epoch']} of "
        f"{snap['epochs']} · step {snap['step']:,} of {snap['total_steps']:,} · "
        f"learning rate {now:.3g}",
    )
    for col, (label, value) in zip(st.columns(5), live_metrics(snap), strict=True):
        col.metric(label, value)
    b = st.columns([1, 1, 3, 1], vertical_alignment="bottom")
    if state == ev.PAUSED:
        b[0].button(
            "Resume",
            on_click=ctl.resume,
            type="primary",
            width="stretch",
            icon=":material/play_arrow:",
        )
    else:
        b[0].button("Pause", on_click=ctl.pause, width="stretch", icon=":material/pause:")
    b[1].button("Stop", on_click=ctl.stop, width="stretch", icon=":material/stop:")
    new_lr = b[2].select_slider(
        "Learning rate from now on",
        LR_CHOICES,
        value=nearest_lr(snap["config"]["lr"]),
        format_func="{:g}".format,
        key=f"live_lr_{run_id}",
    )
    b[3].button(
        "Set rate",
        on_click=ctl.set_lr,
        args=(new_lr,),
        width="stretch",
        key="set_lr",
        help="Takes effect at the next step and is marked on the curves; the schedule stops.",
    )
    charts(curves, "live")


def ended_view(run_id: str, config: dict) -> None:
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
    if out["epochs_done"] or out["train_seconds"]:  # a run that blew up at once has no numbers
        for col, (label, value) in zip(st.columns(4), final_metrics(out), strict=True):
            col.metric(label, value)
    if out["epochs_done"]:
        st.markdown("**Look inside this network:**")
        for col, name in zip(
            st.columns(5), ("runs", "feature_maps", "kernels", "predictions"), strict=False
        ):
            with col:
                link(name, query_params={"run": run_id})
    curves = curves_from_events(events, config.get("epochs"))
    if curves.batches or curves.epochs:
        charts(curves, "done")
    else:
        st.caption("It ended before its first logged step, so there is no curve to draw.")
