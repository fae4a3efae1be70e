"""The Train page's sidebar: a lesson (every preset, with what to watch and how long it takes)
and the form of hyperparameters it fills in, kept for the session."""

from __future__ import annotations

import streamlit as st

import services
from lenet.models import INITS, VARIANTS
from lenet.training import LESSONS, OPTIMIZERS, PRESETS, RECIPES, SCHEDULES
from train_form import FORM_FIELDS, LR_CHOICES, nearest_lr, preset_duration

__all__ = ["lesson_form", "choose_lesson"]


def use_preset(name: str) -> None:
    values = {f"cfg_{f}": getattr(PRESETS[name], f) for f in FORM_FIELDS}
    st.session_state.update(values, cfg_lr=nearest_lr(PRESETS[name].lr))  # ladder values only


def choose_lesson(name: str) -> None:
    """Pick lesson ``name`` in the sidebar, its knobs with it, as choosing it there does (a
    widget callback: it runs before the sidebar is drawn)."""
    st.session_state.lesson = name
    use_preset(name)


def _class_share(keep: dict) -> None:
    st.select_slider(
        "Class's own digits in training",
        (0.0, 0.05, 0.1, 0.2, 0.3, 0.5),
        key="cfg_class_share",
        format_func=lambda v: "none" if not v else f"{v:.0%} of the images",
        help="Mix the digits the class drew (Our digits page) into the training set, each "
        "repeated to fill this share. A quarter of them is never trained on, so the Our "
        "digits page can still measure whether it helped.",
        **keep,
    )


def lesson_form(may_start: bool, why_not: str = "") -> tuple[str, bool]:
    """(the chosen lesson, whether Start was pressed). ``may_start`` False greys Start out and
    says ``why_not``."""
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
                "Learning rate (log scale)",
                LR_CHOICES,
                key="cfg_lr",
                format_func="{:g}".format,
                **keep,
            )
            st.select_slider(
                "Batch size",
                (1, 8, 16, 32, 50, 64, 128, 256, 512, 1024),
                key="cfg_batch_size",
                **keep,
            )
            st.number_input("Epochs", 1, 100, key="cfg_epochs", **keep)
            st.selectbox(
                "Schedule",
                SCHEDULES,
                key="cfg_schedule",
                help="onecycle: warm up, then anneal",
                **keep,
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
                "Training images (0 = all 60,000)",
                0,
                60000,
                step=500,
                key="cfg_train_subset",
                **keep,
            )
            if not services.class_digits().list():  # nothing to mix in yet: no knob for it
                st.session_state["cfg_class_share"] = 0.0
            else:
                _class_share(keep)
            st.selectbox("Initialisation", INITS, key="cfg_init", **keep)
            st.number_input("Seed", 0, 2**31 - 1, key="cfg_seed", **keep)
            start = st.form_submit_button(
                "Start training",
                type="primary",
                width="stretch",
                key="start",
                icon=":material/play_arrow:",
                disabled=not may_start,
            )
    if not may_start:
        st.sidebar.caption(why_not)
    return lesson, start
