"""Widgets shared by the pages that look inside the network (Feature maps, Kernels).

Each function draws its controls where it is called and returns plain values; nothing here
computes what a notebook would also want (that lives in ``lenet/``).
"""

from __future__ import annotations

import dataclasses
import random

import common
import numpy as np
import streamlit as st

# st.stop() raises this; pick_model must see the picker's stop to keep the widgets honest (see stop)
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from lenet.digits import load_image_bytes, preprocess_digit
from lenet.jobs import ACTIVE_STATES, Busy
from lenet.train import PRESETS

MODES = ("Test image", "Draw", "Upload")
CANVAS_PX = 280  # 10× MNIST's 28 px: room for a finger, and strokes about as thick as MNIST's
STROKE_PX = 22
PROBE_DEFAULTS = {"dx": 0, "dy": 0, "rotate": 0, "scale": 1.0, "noise": 0.0}


@dataclasses.dataclass(frozen=True)
class Digit:
    """A digit ready for the network: MNIST-style 28×28 pixels and where they came from."""

    raw28: np.ndarray  # uint8 (28, 28), ink white on black, centred like MNIST
    name: str  # "test image #42", "your drawing", "upload seven.png"
    label: int | None = None  # the true class, when known (test images)
    steps: dict | None = None  # preprocess_digit's pictures, for drawn and uploaded digits


# ---------------------------------------------------------------------------------- model choice
def pick_model(key: str):
    """The sidebar's run/epoch choice; with no trained model yet, a one-click quick training.

    Returns (model, run_id, epoch) or stops the page with a message and what to do.
    """
    _begin_run()  # first on every inspection page: see _group
    job = st.session_state.get("quick_job")
    quick = job is not None and common.job_manager().has(job)
    if quick:
        _quick_progress(job)
    try:
        picked = common.model_picker(key)  # shows CheckpointError messages itself, then stops
    except StopException:
        stop()
    if picked is not None:
        return picked
    if quick:  # its first checkpoint is on the way; the progress line above says when it is ready
        stop()
    st.info(
        "There is no trained model yet, so there is nothing to look inside. A quick one learns from "
        "6,000 digits for one epoch, in a few seconds, right here (the Train page trains longer ones)."
    )
    if st.button("Train a quick model", type="primary", icon=":material/bolt:", key=f"{key}_quick"):
        try:
            st.session_state["quick_job"] = common.job_manager().start(
                dataclasses.replace(PRESETS["quick"])
            )
        except Busy as e:
            st.warning(f"{e} Its first weights appear in the sidebar within a few seconds.")
        else:
            st.rerun()
    stop()


@st.fragment(run_every=1.0)
def _quick_progress(job_id: str) -> None:
    """A small live progress line for the quick training; offers a reload once it is done."""
    snap = common.job_manager().snapshot(job_id)
    if snap["state"] in ACTIVE_STATES:
        st.progress(
            snap["progress"],
            text=f"Training a quick model: {snap['progress']:.0%} "
            f"({snap['images_per_s'] or 0:,.0f} images/s)",
        )
        return
    latest = snap["latest"]
    if snap["state"] == "finished" and latest:
        st.success(
            f"The quick model is trained: {latest['test_acc']:.2f} % of the 10,000 test digits right."
        )
    else:
        st.warning(snap["message"] or f"The quick training ended ({snap['state']}).")
    if st.button("Show the trained model", type="primary", key="quick_reload"):
        del st.session_state["quick_job"]
        st.rerun(scope="app")


# ---------------------------------------------------------------------------------- widget keys
# When a script run ends in st.stop() while a widget is hidden (another input mode is chosen, or no
# digit yet), Streamlit 1.67 keeps the widget's value on the server while the browser forgets the
# widget: when it comes back the two disagree (the browser shows its default, the page computes
# with the old value). So each group of input widgets gets a fresh key whenever it comes back
# after such a stop, or after a finished run cleared its state; its widgets start from values
# kept under plain keys. Runs cut short by a newer one (fast uploads, strokes) change nothing.
def _begin_run() -> None:
    st.session_state["_inspect_drawn"] = set()


def _group(key: str, group: str, marker: str) -> str:
    """Key prefix of a widget group; ``marker`` names the widget whose state tells it is still live."""
    name = f"{key}_{group}"
    gen = st.session_state.get(f"{name}_gen", 0)
    if f"{name}{gen}_{marker}" not in st.session_state:  # never drawn, or cleared by a finished run
        gen += 1
        st.session_state[f"{name}_gen"] = gen
    st.session_state.setdefault("_inspect_groups", set()).add(name)
    st.session_state.setdefault("_inspect_drawn", set()).add(name)
    return f"{name}{gen}"


def _renew(key: str, group: str) -> None:
    """Give a group new widgets on the next run (after Random, Undo, Clear, Reset or a link)."""
    st.session_state[f"{key}_{group}_gen"] = st.session_state.get(f"{key}_{group}_gen", 0) + 1


def stop() -> None:
    """``st.stop()``, after marking the input groups this run did not draw for fresh keys."""
    for name in st.session_state.get("_inspect_groups", set()) - st.session_state.get(
        "_inspect_drawn", set()
    ):
        st.session_state[f"{name}_gen"] = st.session_state.get(f"{name}_gen", 0) + 1
    st.stop()


# ---------------------------------------------------------------------------------- input digit
def digit_input(key: str) -> Digit | None:
    """Choose a digit three ways (test image, drawing, upload); None after telling why there is none."""
    _take_sample_param(key)
    mode = st.segmented_control(
        "Input",
        MODES,
        default=st.session_state.get(f"{key}_mode", MODES[0]),
        required=True,
        key=f"{_group(key, 'mode', 'choice')}_choice",
        label_visibility="collapsed",
    )
    st.session_state[f"{key}_mode"] = mode
    if mode == "Draw":
        return _drawing(key)
    if mode == "Upload":
        return _upload(key)
    return _test_image(key)


def _take_sample_param(key: str) -> None:
    """``?sample=<index>`` (a link from another page) selects that test image, once per new value."""
    value = st.query_params.get("sample")
    if value is None or value == st.session_state.get(f"{key}_sample_seen"):
        return
    st.session_state[f"{key}_sample_seen"] = value
    n = len(common.split("test").labels)
    try:
        index = int(value)
        if not 0 <= index < n:
            raise ValueError
    except ValueError:
        st.session_state[f"{key}_note"] = (
            f"The link asked for test image “{value[:20]}”, which does not exist "
            f"(there are {n:,}: 0 to {n - 1}); showing another one instead."
        )
        return
    st.session_state[f"{key}_index"], st.session_state[f"{key}_mode"] = index, MODES[0]
    _renew(key, "test")
    _renew(key, "mode")


def _random_test(key: str, prefix: str, labels) -> None:
    wanted = st.session_state.get(f"{prefix}_class", "any")
    pool = range(len(labels)) if wanted == "any" else np.flatnonzero(labels == wanted).tolist()
    st.session_state[f"{key}_index"] = int(random.choice(pool))
    st.session_state[f"{key}_class"] = wanted
    _renew(key, "test")


def _test_image(key: str) -> Digit:
    test = common.split("test")
    labels = test.labels.numpy()
    if note := st.session_state.pop(f"{key}_note", None):
        st.warning(note)
    prefix = _group(key, "test", "idx")
    a, b = st.columns(2)
    index = a.number_input(
        f"Test image # (0–{len(labels) - 1})",
        0,
        len(labels) - 1,
        st.session_state.get(f"{key}_index", 0),
        key=f"{prefix}_idx",
    )
    classes = ["any", *range(10)]
    b.selectbox(
        "Random pick from",
        classes,
        classes.index(st.session_state.get(f"{key}_class", "any")),
        key=f"{prefix}_class",
        format_func=lambda c: "any class" if c == "any" else f"class {c}",
    )
    st.button(
        "Random test image",
        icon=":material/casino:",
        on_click=_random_test,
        args=(key, prefix, labels),
        key=f"{prefix}_random",
        width="stretch",
    )
    st.session_state[f"{key}_index"] = index
    st.query_params["sample"] = str(index)  # a reload, or a copied link, shows the same digit
    st.session_state[f"{key}_sample_seen"] = str(index)
    return Digit(test.raw[index].numpy(), f"test image #{index}", int(labels[index]))


def _reseed(key: str, prefix: str, objects: list) -> None:
    # The same canvas reloads from a changed initial drawing and sends its picture back; "rev"
    # makes each request differ, so clearing an undone drawing still counts as a change.
    rev = st.session_state.get(f"{prefix}_seed", {}).get("rev", 0) + 1
    st.session_state[f"{prefix}_seed"] = {"objects": objects, "rev": rev}


def _drawing(key: str) -> Digit | None:
    from streamlit_drawable_canvas import st_canvas  # a component: imported where it is drawn

    prefix = _group(key, "draw", "canvas")
    kept = st.session_state.get(f"{key}_drawing", ([], None))  # (strokes, picture) while hidden
    # A new canvas starts from the kept strokes. Its initial drawing stays fixed while it lives:
    # a changed one makes it reload (that is how Undo and Clear work) and lose its own history.
    seed = st.session_state.setdefault(f"{prefix}_seed", {"objects": kept[0], "rev": 0})
    st.caption("Draw one digit with the mouse or a finger, as big or small as you like, anywhere.")
    result = st_canvas(
        stroke_width=STROKE_PX,
        stroke_color="#FFFFFF",
        background_color="#000000",
        width=CANVAS_PX,
        height=CANVAS_PX,
        key=f"{prefix}_canvas",
        return_image_data=True,
        initial_drawing=seed,
    )
    objects = (result.json_data or {}).get("objects", [])
    image = result.image_data
    if image is None and objects and objects == kept[0]:
        image = kept[1]  # a canvas redrawn from kept strokes does not send its picture again
    if image is not None:
        st.session_state[f"{key}_drawing"] = (objects, image)
    a, b = st.columns(2)
    a.button(
        "Undo stroke",
        icon=":material/undo:",
        on_click=_reseed,
        args=(key, prefix, objects[:-1]),
        disabled=not objects,
        key=f"{prefix}_undo",
        width="stretch",
    )
    b.button(
        "Clear",
        icon=":material/ink_eraser:",
        on_click=_reseed,
        args=(key, prefix, []),
        disabled=not objects,
        key=f"{prefix}_clear",
        width="stretch",
    )
    if image is None or not objects:
        st.info("Draw a digit first: the canvas is empty.")
        return None
    try:
        pre = preprocess_digit(image)
    except ValueError as e:
        st.info(str(e))
        return None
    return Digit(pre.steps["centred_28"], "your drawing", steps=pre.steps)


def _upload(key: str) -> Digit | None:
    up = st.file_uploader(
        "A photo or scan of one digit (PNG or JPEG)",
        type=["png", "jpg", "jpeg"],
        key=f"{_group(key, 'upload', 'file')}_file",
    )
    if up is None:
        st.info(
            "Upload a picture of one handwritten digit: dark on light or light on dark, any size up to 5 MB."
        )
        return None
    try:
        pre = preprocess_digit(load_image_bytes(up.getvalue(), filename=up.name))
    except ValueError as e:
        st.error(str(e), icon=":material/broken_image:")
        return None
    note = " (dark ink on light paper: flipped to MNIST's white on black)" if pre.inverted else ""
    st.caption(f"Read {up.name}{note}.")
    return Digit(pre.steps["centred_28"], f"upload {up.name}", steps=pre.steps)


# ---------------------------------------------------------------------------------- robustness probe
def _reset_probe(key: str) -> None:
    st.session_state[f"{key}_probe"] = dict(PROBE_DEFAULTS)
    _renew(key, "probe")


def probe_controls(key: str) -> dict | None:
    """Sliders that move, turn, resize and add noise to the digit: keyword arguments for
    ``lenet.digits.perturb``, or None while every slider is at rest."""
    prefix = _group(key, "probe", "dx")
    kept = st.session_state.get(f"{key}_probe", PROBE_DEFAULTS)
    now = {
        n: st.session_state.get(f"{prefix}_{n}", kept[n]) for n in PROBE_DEFAULTS
    }  # incl. a slider just moved
    moved = now != PROBE_DEFAULTS
    with st.expander(
        "Robustness probe: move, turn, resize, add noise", expanded=moved, icon=":material/tune:"
    ):
        a, b = st.columns(2)
        v = {
            "dx": a.slider("Shift right (px)", -8, 8, now["dx"], key=f"{prefix}_dx"),
            "dy": b.slider("Shift down (px)", -8, 8, now["dy"], key=f"{prefix}_dy"),
            "rotate": a.slider(
                "Rotate (°, anticlockwise)", -90, 90, now["rotate"], step=5, key=f"{prefix}_rotate"
            ),
            "scale": b.slider("Scale", 0.4, 1.6, now["scale"], step=0.05, key=f"{prefix}_scale"),
            "noise": a.slider(
                "Noise (σ, share of full range)",
                0.0,
                0.6,
                now["noise"],
                step=0.02,
                key=f"{prefix}_noise",
            ),
        }
        b.button(
            "Reset",
            icon=":material/restart_alt:",
            on_click=_reset_probe,
            args=(key,),
            key=f"{prefix}_reset",
            disabled=not moved,
        )
    st.session_state[f"{key}_probe"] = v
    if v == PROBE_DEFAULTS:
        return None
    return {
        "shift": (v["dx"], v["dy"]),
        "rotate": v["rotate"],
        "scale": v["scale"],
        "noise": v["noise"],
    }
