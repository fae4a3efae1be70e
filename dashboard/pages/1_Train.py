"""Train: pick a lesson or set the knobs, start, and watch LeNet-5 learn; steer it while it runs."""

from dataclasses import replace

import streamlit as st
from common import PAGES, job_manager, page, page_link, require_data, store

from lenet import plots
from lenet.jobs import Busy
from lenet.model import INITS, VARIANTS
from lenet.report import (
    ACTIVE,
    FORM_FIELDS,
    LR_CHOICES,
    curves_from_events,
    curves_from_snapshot,
    final_metrics,
    lesson_for,
    live_metrics,
    nearest_lr,
    outcome,
)
from lenet.train import LESSONS, OPTIMIZERS, PRESETS, SCHEDULES, ConfigError

page("Train", "🏋️")
st.title("Train LeNet-5")
require_data()
jm = job_manager()


def use_preset(name: str) -> None:
    st.session_state.update(
        {f"cfg_{f}": getattr(PRESETS[name], f) for f in FORM_FIELDS},
        cfg_lr=nearest_lr(PRESETS[name].lr),
    )  # the slider holds ladder values only


def watch(run_id: str) -> None:
    st.session_state.run_id = run_id
    st.query_params["run"] = run_id


if "cfg_lr" not in st.session_state:
    use_preset("default")
with st.sidebar:
    lesson = st.selectbox(
        "Lesson",
        list(LESSONS),
        format_func=lambda n: LESSONS[n][0],
        key="lesson",
        on_change=lambda: use_preset(st.session_state.lesson),
        persist_state="session",
    )
    st.caption(f"**Watch:** {LESSONS[lesson][1]}")
    with st.form("config"):
        keep = dict(persist_state="session")  # the knobs survive a visit to another page
        st.selectbox("Variant", VARIANTS, key="cfg_variant", **keep)
        st.selectbox("Optimizer", OPTIMIZERS, key="cfg_optimizer", **keep)
        st.select_slider(
            "Learning rate (log scale)", LR_CHOICES, key="cfg_lr", format_func="{:g}".format, **keep
        )
        st.select_slider(
            "Batch size", (1, 8, 16, 32, 50, 64, 128, 256, 512, 1024), key="cfg_batch_size", **keep
        )
        st.number_input("Epochs", 1, 100, key="cfg_epochs", **keep)
        st.selectbox(
            "Schedule", SCHEDULES, key="cfg_schedule", help="onecycle: warm up, then anneal", **keep
        )
        st.slider("Momentum (SGD)", 0.0, 0.99, step=0.01, key="cfg_momentum", **keep)
        st.select_slider(
            "Weight decay",
            (0.0, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2),
            key="cfg_weight_decay",
            format_func="{:g}".format,
            **keep,
        )
        st.number_input(
            "Training images (0 = all 60,000)", 0, 60000, step=500, key="cfg_train_subset", **keep
        )
        st.selectbox("Initialisation", INITS, key="cfg_init", **keep)
        st.number_input("Seed", 0, 2**31 - 1, key="cfg_seed", **keep)
        start = st.form_submit_button(
            "Start training",
            type="primary",
            width="stretch",
            key="start",
            icon=":material/play_arrow:",
        )

if start:
    cfg = replace(PRESETS[lesson], **{f: st.session_state[f"cfg_{f}"] for f in FORM_FIELDS})
    try:
        watch(jm.start(cfg))
    except Busy as e:
        st.warning(str(e), icon=":material/hourglass_top:")
    except ConfigError as e:
        st.error(f"This configuration can't train: {e}")

# Which run to show: the address (?run=, so a reload re-attaches), else this browser's last job.
wanted = st.query_params.get("run") or st.session_state.get("run_id")
try:
    if wanted and wanted not in jm.active():
        store().get(wanted)  # KeyError for ids that are malformed, unknown or deleted
except KeyError:
    st.info(f"Run “{wanted[:40]}” doesn't exist here (any more), so it isn't shown.")
    st.query_params.pop("run", None)
    wanted = None
run_id = st.session_state.run_id = wanted
if run_id and st.query_params.get("run") != run_id:
    st.query_params["run"] = run_id
for other in [j for j in jm.active() if j != run_id]:
    note, button = st.columns([5, 1], vertical_alignment="center")
    note.info(
        f"Running now: **{other}** (started in another browser or tab)",
        icon=":material/directions_run:",
    )
    button.button("Watch", key=f"watch_{other}", on_click=watch, args=(other,), width="stretch")
if not run_id:
    st.info(
        "Choose a lesson (or set the knobs) in the sidebar and press **Start training**.",
        icon=":material/arrow_back:",
    )
    st.stop()


def charts(curves, key: str) -> None:
    loss_col, acc_col = st.columns(2)
    args = (curves.batches, curves.epochs, curves.steps_per_epoch, curves.lr_changes)
    loss_col.plotly_chart(
        plots.loss_figure(*args, height=340, x_max=curves.planned_epochs), key=f"loss_{key}"
    )
    acc_col.plotly_chart(
        plots.accuracy_figure(*args, height=340, x_max=curves.planned_epochs), key=f"acc_{key}"
    )


live = jm.has(run_id) and jm.snapshot(run_id)["state"] in ACTIVE


@st.fragment(run_every=1.0 if live else None)
def live_view() -> None:
    snap = jm.snapshot(run_id)
    if snap["state"] not in ACTIVE:
        st.rerun(scope="app")  # ended: one full rerun draws the still summary and stops polling
    ctl, state, curves = jm.control(run_id), snap["state"], curves_from_snapshot(snap)
    now = curves.batches[-1]["lr"] if curves.batches else snap["config"]["lr"]
    st.progress(
        snap["progress"],
        text=f"**{state.capitalize()}** · epoch {snap['epoch']} of {snap['epochs']}"
        f" · batch {snap['step']:,} of {snap['total_steps']:,} · learning rate {now:.3g}",
    )
    for col, (label, value) in zip(st.columns(5), live_metrics(snap)):
        col.metric(label, value)
    b = st.columns([1, 1, 3, 1], vertical_alignment="bottom")
    if state == "paused":
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
        help="Takes effect at the next batch and is marked on the curves; the schedule stops.",
    )
    charts(curves, "live")


config = jm.snapshot(run_id)["config"] if jm.has(run_id) else store().get(run_id).config
st.subheader(f"Run {run_id} · {config['variant']} · {config['optimizer']} · lr {config['lr']:g}")
if (name := lesson_for(config)) is not None:
    st.caption(f"Lesson **{LESSONS[name][0]}** · **Watch:** {LESSONS[name][1]}")
if live:
    live_view()
    st.stop()

# A run that has ended (here or in an earlier server): a still summary from its stored events.
stored = store().get(run_id)
out, info = outcome(events := stored.events()), stored.info()
state, message = out["state"] or info.status, out["message"] or info.message
if state == "diverged":
    st.warning(
        f"**The loss blew up, so training stopped.** {message}",
        icon=":material/local_fire_department:",
    )
elif state == "finished":
    n = out["epochs_done"]
    st.success(f"Finished {n} epoch{'s' if n != 1 else ''}.", icon=":material/check_circle:")
elif state == "failed":
    st.error(message or "Training failed.")
else:
    st.info(message or f"This run is {info.status}.", icon=":material/stop_circle:")
if out["epochs_done"] or out["train_seconds"]:  # a run that blew up at once has nothing to measure
    for col, (label, value) in zip(st.columns(4), final_metrics(out)):
        col.metric(label, value)
if out["epochs_done"]:
    st.markdown("**Look inside this network:**")
    for col, (file, label, icon, _) in zip(st.columns(5), [p for p in PAGES if p[0][0] in "2345"]):
        with col:
            page_link(file, label, icon, query_params={"run": run_id})
curves = curves_from_events(events, config.get("epochs"))
if curves.batches or curves.epochs:
    charts(curves, "done")
else:
    st.caption("It ended before its first logged batch, so there is no curve to draw.")
