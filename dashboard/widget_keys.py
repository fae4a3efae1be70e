"""One workaround, in one place: fresh widget keys for input groups that a stopped run hid.

When a script run ends in ``st.stop()`` while a widget is hidden (another input mode is chosen,
or there is no digit yet), Streamlit 1.67 keeps the widget's value on the server while the
browser forgets the widget: when it comes back the two disagree (the browser shows its default,
the page computes with the old value). So each group of input widgets gets a fresh key whenever
it comes back after such a stop, or after a finished run cleared its state; its widgets start
from values kept under plain keys. Runs cut short by a newer one (fast uploads, strokes)
change nothing.

A page calls ``begin()`` first, ``group()`` for each group it draws, ``renew()`` after a
button that resets a group, and ``stop_page()`` instead of ``st.stop()``.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["begin", "group", "renew", "stop_page"]


def begin() -> None:
    """Start a script run: no group has been drawn yet."""
    st.session_state["_groups_drawn"] = set()


def group(key: str, name: str, marker: str) -> str:
    """Key prefix of a widget group; ``marker`` names the widget whose state shows it is live."""
    full = f"{key}_{name}"
    gen = st.session_state.get(f"{full}_gen", 0)
    if f"{full}{gen}_{marker}" not in st.session_state:  # never drawn, or cleared by a run
        gen += 1
        st.session_state[f"{full}_gen"] = gen
    st.session_state.setdefault("_groups", set()).add(full)
    st.session_state.setdefault("_groups_drawn", set()).add(full)
    return f"{full}{gen}"


def renew(key: str, name: str) -> None:
    """Give a group new widgets on the next run (after Random, Undo, Clear, Reset or a link)."""
    st.session_state[f"{key}_{name}_gen"] = st.session_state.get(f"{key}_{name}_gen", 0) + 1


def stop_page() -> None:
    """End the page's script run here: ``st.stop()``, after marking the groups this run did
    not draw for fresh keys."""
    for full in st.session_state.get("_groups", set()) - st.session_state.get(
        "_groups_drawn", set()
    ):
        st.session_state[f"{full}_gen"] = st.session_state.get(f"{full}_gen", 0) + 1
    st.stop()
