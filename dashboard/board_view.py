"""The class at a glance, on every page: a sidebar line that stays current (who is here, what
trains, what waits) and, on the pages that show the class's runs, a full redraw when the board
changes. Cheap to poll: one counter, read every two (or five) seconds, in a fragment."""

from __future__ import annotations

import streamlit as st

import services
from lenet.serving.people import Participant
from lenet.training import events as ev

__all__ = ["watch_board"]


def watch_board(me: Participant, redraw_on_change: bool) -> None:
    """Called by the router in every full run. That run draws the board as it is now, so it
    only notes the version: a rerun from here would throw away the press of a button whose
    value the page reads (Start training, Delete, ...). Pages that redraw on a change poll
    every 2 s; the others (Train keeps itself current in fragments of its own) every 5 s,
    for the sidebar's line and "who is here"."""
    st.session_state["_board_full_run"] = True
    (_board_live if redraw_on_change else _board_quiet)(me, redraw_on_change)


def _board(me: Participant, redraw_on_change: bool) -> None:
    jm = services.job_manager()
    jm.roster.seen(me.id)  # the Class page's "who is here"
    version = jm.version
    full_run = st.session_state.pop("_board_full_run", False)
    seen = st.session_state.get("_board_version")
    st.session_state["_board_version"] = version
    counts = jm.counts()
    here = len(jm.roster.present())
    st.caption(
        f":material/groups: {here} here · {counts[ev.RUNNING]} training · "
        f"{counts[ev.QUEUED]} waiting"
    )
    if redraw_on_change and not full_run and seen is not None and version != seen:
        st.rerun(scope="app")  # a start, an end or a move: the page shows it within 2 s


@st.fragment(run_every=2.0)
def _board_live(me: Participant, redraw_on_change: bool) -> None:
    _board(me, redraw_on_change)


@st.fragment(run_every=5.0)
def _board_quiet(me: Participant, redraw_on_change: bool) -> None:
    _board(me, redraw_on_change)
