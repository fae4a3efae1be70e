"""Class: who is here and what each is training, everyone's curves in one chart, the class as
one hyperparameter sweep, a leaderboard; and for the teacher, the queue and the settings."""

import streamlit as st

import identity
import services
from class_data import class_rows, leaderboard
from class_view import (
    clear_runs,
    curves_and_sweep,
    queue_controls,
    settings_form,
    spotlight_control,
)
from formatting import plural
from lenet.training import events as ev
from run_view import show_refusal

st.title("The class")
me = identity.me()
if me is None:
    st.info("Joining the class…", icon=":material/hourglass_top:")
    st.stop()
jm = services.job_manager()
board = jm.board()
infos = [i for i in services.store().list() if i.status != ev.CORRUPT]
people = jm.roster.everyone()
teacher_ids = {p.id for p in people if p.is_teacher}
here = {p.id for p in jm.roster.present()}
counts = jm.counts()
a, b, c, d = st.columns(4)
a.metric("Here now", len(here))
slots = plural(jm.max_jobs, "slot")
b.metric("Training", counts[ev.RUNNING], slots, delta_color="off", delta_arrow="off")
c.metric("Waiting", counts[ev.QUEUED])
d.metric("Runs so far", len(infos))
show_refusal()

st.subheader("Who is doing what")
rows = class_rows(people, board["jobs"], infos, here)
if rows:
    st.dataframe(
        rows,
        hide_index=True,
        placeholder="–",  # a run with no score yet
        width="stretch",
        column_config={
            "here": st.column_config.CheckboxColumn("here", width="small"),
            "role": st.column_config.TextColumn(width="small"),
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0, max_value=100, format="%.0f %%", width="small"
            ),
            "best test %": st.column_config.NumberColumn(format="%.2f", width="small"),
            "runs": st.column_config.NumberColumn(width="small"),
        },
    )
else:
    st.info("Nobody has joined yet. Students join by opening this dashboard's address.")

st.subheader("Everyone's runs")
curves_and_sweep(infos, me, teacher_ids)

st.subheader("Leaderboard")
top = leaderboard(infos, names={p.id: p.name for p in people})
if top:
    st.dataframe(
        top,
        hide_index=True,
        width="stretch",
        column_config={"test %": st.column_config.NumberColumn(format="%.2f")},
    )
else:
    st.caption("No run has finished yet.")

if me.is_teacher:
    st.header("Teacher")
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("What the class follows")
        spotlight_control(me, infos)
        st.subheader("The queue")
        queue_controls(me, board["jobs"])
    with right:
        st.subheader("Settings")
        settings_form(me)
        st.subheader("Clear the class")
        clear_runs(me, infos, teacher_ids)
