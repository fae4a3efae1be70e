"""The digit a page looks at, chosen three ways (a test image, a drawing, an upload), and the
robustness probe that moves, turns, resizes or adds noise to it. Each function draws its
widgets where it is called and returns plain values."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import streamlit as st

import services
from lenet import plots
from lenet.data import UPLOAD_EXTENSIONS, UPLOAD_FORMAT_WORDS, load_image_bytes, preprocess_digit
from widget_keys import group, renew

__all__ = ["Digit", "MODES", "digit_input", "show_test_image", "probe_controls", "show_preparation"]

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
    test_index: int | None = None  # its place in the test set, for test images


# ------------------------------------------------------------------------------ input digit
def digit_input(key: str) -> Digit | None:
    """Choose a digit three ways (test image, drawing, upload); None after saying why not."""
    _take_sample_param(key)
    mode = st.segmented_control(
        "Input",
        MODES,
        default=st.session_state.get(f"{key}_mode", MODES[0]),
        required=True,
        key=f"{group(key, 'mode', 'choice')}_choice",
        label_visibility="collapsed",
    )
    st.session_state[f"{key}_mode"] = mode
    if mode == "Draw":
        return _drawing(key)
    if mode == "Upload":
        return _upload(key)
    return _test_image(key)


def _take_sample_param(key: str) -> None:
    """``?sample=<index>`` (a link from another page) selects that test image, once a value."""
    value = st.query_params.get("sample")
    if value is None or value == st.session_state.get(f"{key}_sample_seen"):
        return
    st.session_state[f"{key}_sample_seen"] = value
    n = len(services.split("test").labels)
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
    show_test_image(key, index)


def show_test_image(key: str, index: int) -> None:
    """Make test image ``index`` the digit of the next run (a link, a click on a map)."""
    st.session_state[f"{key}_index"], st.session_state[f"{key}_mode"] = index, MODES[0]
    renew(key, "test")
    renew(key, "mode")


def _random_test(key: str, prefix: str, labels) -> None:
    wanted = st.session_state.get(f"{prefix}_class", "any")
    pool = range(len(labels)) if wanted == "any" else np.flatnonzero(labels == wanted).tolist()
    st.session_state[f"{key}_index"] = int(random.choice(pool))
    st.session_state[f"{key}_class"] = wanted
    renew(key, "test")


def _test_image(key: str) -> Digit:
    test = services.split("test")
    labels = test.labels.numpy()
    if note := st.session_state.pop(f"{key}_note", None):
        st.warning(note)
    prefix = group(key, "test", "idx")
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
    return Digit(test.raw[index].numpy(), f"test image #{index}", int(labels[index]), None, index)


def _new_drawing(key: str) -> None:
    st.session_state[f"{key}_drawing"] = ([], None)
    renew(key, "draw")


def _drawing(key: str) -> Digit | None:
    from streamlit_drawable_canvas import st_canvas  # registers itself with the running server

    prefix = group(key, "draw", "canvas")
    kept = st.session_state.get(f"{key}_drawing", ([], None))  # (strokes, picture) while hidden
    st.caption(
        "Draw one digit with the mouse or a finger, as big or small as you like, anywhere. "
        "Undo, redo and reset are on the canvas's own toolbar, above its top right corner "
        "when you point at it."
    )
    # One set of controls: the canvas's toolbar, which keeps the drawing's history. A canvas
    # drawn anew (after another input mode) starts from the kept strokes; its initial drawing
    # then stays fixed while it lives (a changed one reloads the canvas and empties its history),
    # and its reset goes back to it, so such a canvas offers a fresh one beside it.
    seed = st.session_state.setdefault(f"{prefix}_seed", {"objects": kept[0]})
    st.space("medium")  # room for the toolbar, which floats above the canvas
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
    if seed["objects"]:
        st.button(
            "Start a new drawing",
            icon=":material/add:",
            on_click=_new_drawing,
            args=(key,),
            key=f"{prefix}_new",
            help="Your drawing was kept while another input was shown; "
            "this puts it away for an empty canvas.",
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
        "A photo or scan of one digit",
        type=list(UPLOAD_EXTENSIONS),
        key=f"{group(key, 'upload', 'file')}_file",
    )
    if up is None:
        st.info(
            "Upload a picture of one handwritten digit: dark on light or light on dark, any "
            f"size up to 5 MB, {UPLOAD_FORMAT_WORDS}."
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


# ------------------------------------------------------------------------- robustness probe
def _reset_probe(key: str) -> None:
    st.session_state[f"{key}_probe"] = dict(PROBE_DEFAULTS)
    renew(key, "probe")


def probe_controls(key: str) -> dict | None:
    """Sliders that move, turn, resize and add noise to the digit: keyword arguments for
    ``lenet.digits.perturb``, or None while every slider is at rest."""
    prefix = group(key, "probe", "dx")
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


def show_preparation(digit: Digit) -> None:
    """The pictures of ``preprocess_digit``'s steps for a drawn or uploaded digit, in a row."""
    st.subheader("How your digit was prepared: MNIST's own recipe")
    for col, (step, image) in zip(st.columns(len(digit.steps)), digit.steps.items(), strict=True):
        col.image(
            plots.enlarge(image, 150),
            width=150,
            caption=f"{plots.STEP_TITLES[step]} · {image.shape[1]}×{image.shape[0]}: "
            f"{plots.STEP_CAPTIONS[step]}",
        )
    st.caption(
        "Every MNIST digit was made this way, so a digit drawn small, large or in a corner "
        "reaches the network looking like the ones it trained on."
    )
