"""The coach on the Train page: what the run's events show (``lenet.runs.coach``), one line a
note with its numbers, and a button that picks the lesson showing the same effect."""

from __future__ import annotations

import streamlit as st

from lenet.runs.coach import coach
from lenet.training import LESSONS
from train_sidebar import choose_lesson

__all__ = ["coach_notes"]

# An icon and its colour per rule: the colour says how serious, the icon what kind.
ICONS = {
    "diverged": ":red[:material/local_fire_department:]",
    "guessing": ":red[:material/casino:]",
    "too-slow": ":orange[:material/hourglass_bottom:]",
    "overfitting": ":orange[:material/call_split:]",
    "saturated": ":orange[:material/battery_alert:]",
    "dead": ":orange[:material/heart_broken:]",
    "lr-hurt": ":orange[:material/trending_up:]",
    "lr-helped": ":green[:material/thumb_up:]",
}


def _pick(name: str) -> None:
    choose_lesson(name)
    st.session_state["_command_done"] = (
        f"Lesson “{LESSONS[name][0]}” chosen in the sidebar: press Start training to see it."
    )


def coach_notes(source, config: dict, key: str, live: bool = True) -> None:
    """The coach's notes on ``source`` (a run's events, or the ``Curves`` of a live job), in
    one box; a quiet line when there is none. ``live``: drawn in the live view's fragment,
    where a chosen lesson redraws the whole page so the sidebar shows it."""
    notes = coach(source, config)
    if not notes:
        st.caption(
            ":material/check: The coach sees nothing wrong "
            + ("so far." if live else "in this run.")
        )
        return
    offered = set()  # a lesson two notes point to gets one button, by the first
    with st.container(border=True):
        for i, note in enumerate(notes):
            text, button = st.columns([5, 2], vertical_alignment="center")
            text.markdown(f"{ICONS.get(note.rule, '')} **{note.title}.** {note.evidence}")
            if note.lesson is None or note.lesson in offered:
                continue
            offered.add(note.lesson)
            clicked = button.button(
                LESSONS[note.lesson][0],
                key=f"coach_{key}_{i}_{note.rule}",
                icon=":material/school:",
                width="stretch",
                on_click=_pick,
                args=(note.lesson,),
                help=f"The lesson that shows this: {LESSONS[note.lesson][1]}",
            )
            if clicked and live:
                st.rerun(scope="app")
