"""Train: pick a lesson or set the knobs, start, and watch LeNet-5 learn; steer it while it runs."""

from dataclasses import replace

import streamlit as st

import services
from lenet.models import INITS, VARIANTS
from lenet.serving import Busy
from lenet.training import LESSONS, OPTIMIZERS, PRESETS, RECIPES, SCHEDULES, ConfigError
from lenet.training import events as ev
from run_view import ended_view, live_view
from train_form import FORM_FIELDS, LR_CHOICES, describe, lesson_for, nearest_lr, preset_duration

st.title("Train LeNet-5")
if not services.require_data():
    st.stop()
jm = services.job_manager()


def use_preset(name: str) -> None:
    values = {f"cfg_{f}": getattr(PRESETS[name], f) for f in FORM_FIELDS}
    st.session_state.update(values, cfg_lr=nearest_lr(PRESETS[name].lr))  # ladder values only


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
    st.caption(
        f"**Watch:** {LESSONS[lesson][1]}  \n**Takes** "
        f"{preset_duration(lesson, services.store().list())}."
    )
    with st.form("config"):
        keep = dict(persist_state="session")  # the knobs survive a visit to another page
        st.selectbox("Variant", VARIANTS, key="cfg_variant", **keep)
        st.selectbox(
            "Recipe",
            RECIPES,
            key="cfg_recipe",
            **keep,
            help="standard: Adam or SGD on cross-entropy. paper, paper-fast: the 1998 "
            "SDLM recipe (paper variant only), which sets its own step size per pass.",
        )
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
        services.store().get(wanted)  # KeyError for ids that are malformed, unknown or deleted
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

live = jm.has(run_id) and jm.snapshot(run_id)["state"] in ev.ACTIVE
config = jm.snapshot(run_id)["config"] if jm.has(run_id) else services.store().get(run_id).config
st.subheader(f"Run {run_id} · {describe(config)}")
if (name := lesson_for(config)) is not None:
    st.caption(f"Lesson **{LESSONS[name][0]}** · **Watch:** {LESSONS[name][1]}")
if live:
    live_view(run_id)
else:
    ended_view(run_id, config)
