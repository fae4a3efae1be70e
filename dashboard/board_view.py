"""The class at a glance, on every page: a sidebar line that stays current (who is here, what
trains, what waits) and, on the pages that show the class's runs, a full redraw when the board
changes (or only the part of it the page shows: ``redraw_when``). Cheap to poll: one counter,
read every two (or five) seconds, in a fragment. That poll also redraws a page whose live
fragment stopped running (``keep_alive``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import streamlit as st

import services
from lenet.serving import ClusterUnavailable
from lenet.serving.people import Participant
from lenet.training import events as ev

__all__ = ["watch_board", "redraw_when", "page_changed", "keep_alive", "stalled"]


def watch_board(me: Participant, redraw_on_change: bool) -> None:
    """Called by the router in every full run. That run draws the board as it is now, so it
    only notes the version: a rerun from here would throw away the press of a button whose
    value the page reads (Start training, Delete, ...). Pages that redraw on a change poll
    every 2 s; the others (Train keeps itself current in fragments of its own) every 5 s,
    for the sidebar's line and "who is here"."""
    st.session_state["_board_full_run"] = True
    st.session_state.pop("_board_key_of", None)  # the page says again what it depends on
    st.session_state.pop("_beats", None)  # and which of its fragments run on a timer
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
    now, last_poll = time.monotonic(), st.session_state.get("_board_polled")
    st.session_state["_board_polled"] = now
    if full_run:
        return
    if redraw_on_change:
        key_of, key = st.session_state.get("_board_key_of"), st.session_state.get("_board_key")
        if page_changed(seen, version, key_of, key, jm.board):
            st.rerun(scope="app")  # a start, an end or a move: the page shows it within 2 s
    if stalled(st.session_state.get("_beats", {}), last_poll, now):
        st.rerun(scope="app")  # a full redraw starts the frozen fragment's timer again


def page_changed(seen, version, key_of, key, board_of: Callable[[], dict]) -> bool:
    """Whether a live page must be redrawn: the board's version moved since ``seen`` and, for
    a page that said what it depends on (``key_of``, ``key``: ``redraw_when``), that part of
    the board is no longer ``key``. ``board_of`` is only asked when the version moved."""
    if seen is None or version == seen:
        return False
    return key_of is None or key_of(board_of()) != key


def keep_alive(name: str, every: float) -> None:
    """Called at each run of a fragment that redraws itself every ``every`` seconds (a run's
    live view): if it stops running while the board's poll goes on, the poll redraws the page.
    A full redraw that raced with one of the fragment's own updates could leave its timer
    gone, and a student's live view frozen at step 10 while the run trained on."""
    st.session_state.setdefault("_beats", {})[name] = (every, time.monotonic())


def stalled(beats: dict[str, tuple[float, float]], last_poll: float | None, now: float) -> bool:
    """Whether a fragment in ``beats`` (name: (its interval, when it last ran)) has missed
    several of its runs while this poll kept to its own. A browser slows every timer of a tab
    in the background, this poll's too: then the poll before this one is long ago, and
    nothing is judged."""
    if last_poll is None or now - last_poll > SLOWED_S:
        return False
    return any(now - ran > max(STALL_S, 5 * every) for every, ran in beats.values())


def redraw_when(key_of: Callable[[dict], Hashable], board: dict) -> None:
    """A live page that shows only part of the class redraws when that part changes, not at
    every start and end in the class (thirty Train pages redrawn whole at each of them kept
    the server's cores from training): ``key_of(board)`` is what it shows that the board
    decides, ``board`` the one it was drawn from."""
    st.session_state["_board_key_of"] = key_of
    st.session_state["_board_key"] = key_of(board)


STALL_S = 10.0  # a live fragment that has not run for this long (at least) is frozen
SLOWED_S = 15.0  # polls further apart than this (three of the 5 s ones): a tab in the background


@st.fragment(run_every=2.0)
def _board_live(me: Participant, redraw_on_change: bool) -> None:
    _board(me, redraw_on_change)


@st.fragment(run_every=5.0)
def _board_quiet(me: Participant, redraw_on_change: bool) -> None:
    _board(me, redraw_on_change)
