"""The class's own handwriting in the dashboard: adding a drawn digit with its true label (on
Feature maps), and the collection as a grid (on Our digits)."""

from __future__ import annotations

import numpy as np
import streamlit as st

import identity
import services
from layout import chart
from lenet import plots
from lenet.data import MAX_PER_STUDENT, ClassDigitsFull

__all__ = ["add_drawn_digit", "collection_grid"]


def add_drawn_digit(pixels: np.ndarray, prediction: int, key: str = "fm") -> None:
    """One row under a drawing: its true label and a button that adds it to the class's
    digits (the picture MNIST's recipe made of it, as the network read it)."""
    me = identity.me()
    if me is None:
        return
    left, right, _ = st.columns([1.5, 0.6, 1], vertical_alignment="bottom")
    label = left.pills(
        "Which digit did you draw?",
        list(range(10)),
        default=None,
        key=f"{key}_class_label",
        help="Its true label. The Our digits page measures how well each network reads the "
        "class's digits, next to MNIST's.",
    )
    if right.button(
        "Add to our digits",
        icon=":material/add_circle:",
        disabled=label is None,
        key=f"{key}_class_add",
        width="stretch",
    ):
        try:
            services.class_digits().add(pixels, label, me)
        except (ClassDigitsFull, ValueError) as e:
            st.warning(str(e))
            return
        mine = len(services.class_digits().list(owner_id=me.id))
        cap = "" if me.is_teacher else f" ({mine} of your {MAX_PER_STUDENT})"
        verdict = "read right" if prediction == label else f"read as {prediction}"
        st.toast(f"Added your {label} ({verdict}) to the class's digits{cap}.", icon="✍️")


def collection_grid(digits, predicted: dict[str, int] | None = None, key: str = "our_grid"):
    """The digits as one crisp grid, each captioned with its label (and the network's reading,
    with a green or red border, when ``predicted`` maps digit ids to classes), who drew it on
    hover; returns the chart's selection event."""
    pixels = np.stack([d.pixels() for d in digits])
    captions, hover, rgb = [], [], None
    for d in digits:
        who = d.owner.get("name", "?")
        reading = "" if predicted is None else f" → {predicted[d.id]}"
        captions.append(f"{d.label}{reading}")
        read = "" if predicted is None else f", read as {predicted[d.id]}"
        hover.append(f"a {d.label} drawn by {who}{read}")
    if predicted is not None:
        right, wrong = (22, 163, 74), (220, 38, 38)
        rgb = np.array([right if predicted[d.id] == d.label else wrong for d in digits], np.uint8)
    figure = plots.digit_grid_figure(
        pixels, captions, colors=rgb, customdata=list(range(len(digits))), hover=hover, cols=14,
        scale=2,
    )  # fmt: skip
    return chart(figure, key=key, width="content", on_select="rerun", selection_mode="points")
