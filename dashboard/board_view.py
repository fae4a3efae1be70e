"""The class at a glance, on every page: a sidebar line that stays current (who is here, what
trains, what waits) and, on the pages that show the class's runs, a full redraw when the board
changes (or only the part of it the page shows: ``redraw_when``). Cheap to poll: one counter,
read every two (or five) seconds, in a fragment."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import streamlit as st

import services
from lenet.serving import ClusterUnavailable
from lenet.serving.people import Participant
from lenet.training import events as ev

__all__ = ["watch_board", "redraw_when", "page_changed"]


def watch_board(me: Participant, redraw_on_change: bool) -> None:
    """Called by the router in every full run. That run draws the board as it is now, so it
    only notes the version: a rerun from here would throw away the press of a button whose
    value the page reads (Start training, Delete, ...). Pages that redraw on a change poll
    every 2 s; the others (Train keeps itself current in fragments of its own) every 5 s,
    for the sidebar's line and "who is here"."""
    st.session_state["_board_full_run"] = True
    st.session_state.pop("_board_key_of", None)  # the page says again what it depends on
    (_board_live if redraw_on_change else _board_quiet)(me, redraw_on_change)


def _board(me: Participant, redraw_on_change: bool) -> None:
    try:
        _poll(me, redraw_on_change)
    except ClusterUnavailable as e:  # a cluster's board stopped answering: say it, once a poll
        st.caption(f":material/cloud_off: {e}")


def _poll(me: Participant, redraw_on_change: bool) -> None:
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
    if redraw_on_change and not full_run:
        key_of, key = st.session_state.get("_board_key_of"), st.session_state.get("_board_key")
        if page_changed(seen, version, key_of, key, jm.board):
            st.rerun(scope="app")  # a start, an end or a move: the page shows it within 2 s


def page_changed(seen, version, key_of, key, board_of: Callable[[], dict]) -> bool:
    """Whether a live page must be redrawn: the board's version moved since ``seen`` and, for
    a page that said what it depends on (``key_of``, ``key``: ``redraw_when``), that part of
    the board is no longer ``key``. ``board_of`` is only asked when the version moved."""
    if seen is None or version == seen:
        return False
    return key_of is None or key_of(board_of()) != key


def redraw_when(key_of: Callable[[dict], Hashable], board: dict) -> None:
    """A live page that shows only part of the class redraws when that part changes, not at
    every start and end in the class (thirty Train pages redrawn whole at each of them kept
    the server's cores from training): ``key_of(board)`` is what it shows that the board
    decides, ``board`` the one it was drawn from."""
    st.session_state["_board_key_of"] = key_of
    st.session_state["_board_key"] = key_of(board)


@st.fragment(run_every=2.0)
def _board_live(me: Participant, redraw_on_change: bool) -> None:
    _board(me, redraw_on_change)


@st.fragment(run_every=5.0)
def _board_quiet(me: Participant, redraw_on_change: bool) -> None:
    _board(me, redraw_on_change)
