"""Who is at this browser: a participant id kept in the browser's local storage (so it survives
reloads, page switches and a second tab), the name they chose, and the teacher's sign-in.

The id is random and made in the browser the first time; permissions check it, never the name.
The teacher opens any page with ``?teacher=<token>``: the token is checked once, in constant
time, taken out of the address at once, and never shown or logged.
"""

from __future__ import annotations

import re

import streamlit as st

import services
from lenet.serving.people import Participant

__all__ = ["current", "me", "plain", "names", "owner_name", "name_box"]

# A few lines of JavaScript: read the id from local storage, or make one (16 random bytes,
# URL-safe base64), and hand it to the server once. A browser that refuses local storage
# (some private modes, blocked site data) still gets an id, for as long as the tab is open.
# A teacher link's token leaves the address here, in the history entry itself: removed by the
# server instead, it would stay in the entry before, one "Back" away.
# The script also reloads a page that Streamlit's own script broke: on a machine short of CPU,
# a fragment's update that arrives after a full redraw of another layout throws "Bad delta
# path" (or "Cannot set a node at a delta path") in the browser, which leaves the page blank
# and cut off from the server. A reload brings it back as it was (the id is in local storage,
# the run in the address or followed again); at most once in 30 s, so it can't loop.
_PARTICIPANT = st.components.v2.component(
    "lenet_participant",
    html="",
    js="""
export default function (component) {
  if (!window.lenetRecovers) {
    window.lenetRecovers = true;
    window.addEventListener("error", (event) => {
      if (!/Bad delta path|Cannot set a node at a delta path/.test(String(event.message))) return;
      let last = 0;
      try {
        last = Number(window.sessionStorage.getItem("lenet-reloaded")) || 0;
      } catch (e) {}
      if (Date.now() - last < 30000) return;
      try {
        window.sessionStorage.setItem("lenet-reloaded", String(Date.now()));
      } catch (e) {}
      window.location.reload();
    });
  }
  const key = "lenet-participant";
  let id = null;
  try {
    id = window.localStorage.getItem(key);
  } catch (e) {}
  if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_")
      .replace(/=+$/, "");
    try {
      window.localStorage.setItem(key, id);
    } catch (e) {}
  }
  try {
    const url = new URL(window.location.href);
    if (url.searchParams.has("teacher")) {
      url.searchParams.delete("teacher");
      window.history.replaceState(window.history.state, "", url.toString());
    }
  } catch (e) {}
  component.setStateValue("id", id);
}
""",
)


def current() -> Participant | None:
    """The participant of this browser session, or None while the browser has not said yet
    (the first moments of a visit). Also applies a ``?teacher=`` sign-in."""
    roster = services.job_manager().roster
    if (offered := st.query_params.get("teacher")) is not None:
        st.session_state["_offered_token"] = offered
    participant_id = st.session_state.get("participant_id")
    if participant_id is None:
        with st.sidebar:
            found = _PARTICIPANT(key="participant", default={"id": None}, on_id_change=lambda: None)
            participant_id = found.id
        if participant_id is None:
            return None  # the browser's script takes a token out of the address, then answers
        st.session_state["participant_id"] = participant_id
    st.query_params.pop("teacher", None)  # out of the address, whatever happens next
    try:
        me = roster.join(participant_id)
    except ValueError:  # not one of ours: start afresh
        st.session_state.pop("participant_id", None)
        return None
    if (token := st.session_state.pop("_offered_token", None)) is not None:
        teacher = roster.sign_in(me.id, token)
        if teacher is None:
            st.toast(
                "That teacher link's token is not right: you take part as a student.",
                icon=":material/lock:",
            )
        else:
            st.toast("Signed in as the teacher.", icon=":material/school:")
            me = teacher
    return me


# Markdown's punctuation, plus "$" (LaTeX) and "&" (entities such as &lt;).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$&])")
# Streamlit turns ":smile:", ":material/home:" and ":red[x]" into emoji, icons and colours
# after the markdown is parsed, so a backslash can't stop them: an invisible word joiner after
# each colon does.
_WORD_JOINER = "\u2060"


def plain(text: str) -> str:
    """``text`` for st.markdown, shown as typed: "**x** <b>y</b> :smile:" stays exactly that."""
    return _MARKDOWN.sub(r"\\\1", text).replace(":", ":" + _WORD_JOINER)


def names() -> dict[str, str]:
    """Every participant's name now, by id (a run keeps the name its owner had at Start)."""
    return {p.id: p.name for p in services.job_manager().roster.everyone()}


def owner_name(owner: dict | None) -> str:
    """The name a run's owner goes by now: the roster's, else the one stored with the run."""
    owner = owner or {}
    person = services.job_manager().roster.get(owner.get("id"))
    return person.name if person is not None else str(owner.get("name", "?"))


def me() -> Participant | None:
    """This session's participant, as the router found it (None while still unknown)."""
    return services.job_manager().roster.get(st.session_state.get("participant_id"))


def name_box(person: Participant) -> None:
    """The sidebar's "You are …", with a box to change one's name (made unique in the class:
    a second "Ann" becomes "Ann (2)")."""
    roster = services.job_manager().roster

    def rename() -> None:
        name = roster.join(person.id, st.session_state["my_name"]).name
        st.session_state["my_name"] = st.session_state["_my_name_was"] = name

    # The box follows the roster when the name changed elsewhere (the teacher's sign-in turns
    # "Student 3" into "Teacher"; another tab renamed them), not only on first sight.
    if st.session_state.get("_my_name_was") != person.name:
        st.session_state["my_name"] = person.name
        st.session_state["_my_name_was"] = person.name
    role = "teacher" if person.is_teacher else "student"
    st.sidebar.text_input(
        "Your name",
        key="my_name",
        on_change=rename,
        max_chars=40,
        placeholder="How the class sees you",
    )
    st.sidebar.caption(f"You take part as **{plain(person.name)}**, the {role}.")
