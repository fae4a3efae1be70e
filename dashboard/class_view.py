"""The Class page's parts: the overlaid curves and the sweep, and the teacher's controls (the
spotlight, the queue, the class's settings, clearing the class's runs)."""

from __future__ import annotations

import html

import streamlit as st

import services
from class_data import is_teachers, sweep_rows
from formatting import format_duration, plural
from identity import owner_name, plain
from layout import chart
from lenet import plots
from lenet.runs import curves_from_events
from lenet.serving.people import Participant
from lenet.serving.policy import ClassSettings
from lenet.training import LESSONS, ConfigError
from run_view import act

__all__ = ["curves_and_sweep", "spotlight_control", "queue_controls", "settings_form", "clear_runs"]


def curves_and_sweep(infos: list, me: Participant, teacher_ids: set[str]) -> None:
    runs = []
    for i in infos[:60]:  # the newest sixty: more lines stop being readable
        who = (
            "mine"
            if i.owner.get("id") == me.id
            else ("teacher" if is_teachers(i.owner, teacher_ids) else "other")
        )
        epochs = curves_from_events(services.store().get(i.id).events()).epochs
        runs.append(
            {
                # Plotly reads HTML in trace names: a name like "<b>x</b>" must show as typed
                "label": html.escape(f"{owner_name(i.owner)} · {i.id[-6:]}"),
                "who": who,
                "epochs": epochs,
            }
        )
    if not any(r["epochs"] for r in runs):  # no empty axes: say what will be here
        st.info(
            "Once a run has finished an epoch, this shows every run's test accuracy, "
            "epoch by epoch: yours in blue, the teacher's in black."
        )
    else:
        chart(plots.class_curves_figure(runs), key="class_curves")
        st.caption(
            "Every run's test accuracy after each epoch: yours in blue, the teacher's in "
            "black, everyone else's in grey."
        )
    rows = sweep_rows(infos)
    if len(rows) < 2:
        st.info(
            "Once two runs have finished, this shows the class's runs side by side, "
            "one line each, coloured by how well they did."
        )
        return
    fig, same = _varied_axes(plots.sweep_figure(rows))
    if len(fig.data[0].dimensions) < 2:
        st.info(
            f"The {len(rows)} finished runs all used the same settings ({same}), so there is "
            "nothing to compare yet: a run with another learning rate, say, adds an axis here."
        )
        return
    chart(fig, key="class_sweep")
    st.caption(
        "The class as one experiment: each line is a finished run, coloured by its test "
        "accuracy. Drag along an axis to pick out the runs that did best: which learning "
        "rates worked?" + (f" Left out, the same in every run: {same}." if same else "")
    )


def _varied_axes(fig):
    """The sweep without its axes on which every run has the same value (one point each says
    nothing, and seven axes crowd the page), and those settings in words."""
    *settings, accuracy = fig.data[0].dimensions
    varied, same = [], []
    for d in settings:
        if len(set(d.values)) > 1:
            varied.append(d)
            continue
        value = d.values[0]  # the axis' one tick says it as the chart would
        shown = d.ticktext[list(d.tickvals).index(value)] if d.ticktext else f"{value:,g}"
        same.append(f"{d.label.replace(' (log scale)', '')} {shown}")
    fig.data[0].dimensions = [*varied, accuracy]
    fig.update_layout(margin=dict(r=90))  # room for the colour bar beside the last axis
    return fig, ", ".join(same)


def spotlight_control(me: Participant, infos: list) -> None:
    jm = services.job_manager()
    ids = [i.id for i in infos]
    states = {j["id"]: j["state"] for j in jm.board()["jobs"]}  # "paused" is only known here
    labels = {i.id: f"{owner_name(i.owner)} · {i.id} · {states.get(i.id, i.status)}" for i in infos}
    # The box shows the spotlight as it is now, also when it moved elsewhere (the teacher's new
    # run, another tab): a choice kept from an earlier run must not pull the class back.
    current = jm.spotlight()
    st.session_state["spotlight"] = current if current in ids else None
    st.selectbox(
        "The run the class follows",
        ids,
        format_func=labels.get,
        placeholder="the teacher's latest run",
        key="spotlight",
        on_change=_spotlight_chosen,
        args=(me,),
    )


def _spotlight_chosen(me: Participant) -> None:
    if (chosen := st.session_state.get("spotlight")) is not None:
        act(services.job_manager().set_spotlight, chosen, me)


def queue_controls(me: Participant, jobs: list[dict]) -> None:
    jm = services.job_manager()
    waiting = sorted((j for j in jobs if j["state"] == "queued"), key=lambda j: j["queue_position"])
    if not waiting:
        st.caption("Nothing is waiting in the queue.")
        return
    for j in waiting:
        text, up, down, cancel = st.columns([6, 1, 1, 1], vertical_alignment="center")
        text.markdown(f"**#{j['queue_position']}** {plain(owner_name(j['owner']))}")
        # The same estimate, in the same words, as the table above and the student's page.
        text.caption(
            f"starts in about {format_duration(j['queue_wait_s'])} · run …{j['id'][-6:]}",
            help=f"Run {j['id']}",
        )
        for col, icon, command, args, tip, name in (
            (up, "arrow_upward", jm.move, (-1,), "Earlier in the queue", "up"),
            (down, "arrow_downward", jm.move, (1,), "Later in the queue", "down"),
            (cancel, "close", jm.cancel, (), "Cancel this run", "cancel"),
        ):
            col.button(
                "",
                icon=f":material/{icon}:",
                key=f"{name}_{j['id']}",
                on_click=act,
                args=(command, j["id"], me, *args),
                help=tip,
                width="stretch",
            )


def settings_form(me: Participant) -> None:
    jm = services.job_manager()
    s = jm.settings
    with st.form("class_settings"):
        watch_only = st.toggle("Watch only: students can't start runs", value=s.watch_only)
        lessons = st.multiselect(
            "Lessons students may start (none chosen: any)",
            list(LESSONS),
            default=s.lessons,
            format_func=lambda n: LESSONS[n][0],
        )
        a, b = st.columns(2)
        epochs = a.number_input(
            "Most epochs per student run (0: no cap)", 0, 1000, s.max_student_epochs
        )
        images = b.number_input(
            "Most training images per student run (0: no cap)",
            0,
            60_000,
            s.max_student_images,
            step=1000,
        )
        per = a.number_input("Runs waiting or training per student", 1, 20, s.per_student)
        queue = b.number_input("Most runs waiting in the queue", 1, 1000, s.max_queue)
        requeue = st.toggle(
            "Queue a run again, once, when its worker is lost", value=s.requeue_interrupted
        )
        if st.form_submit_button("Save the settings", type="primary"):
            new = ClassSettings(
                watch_only, list(lessons), int(epochs), int(images), int(queue), int(per), requeue
            )
            try:
                jm.set_settings(new.validate(), me)
                st.success("Saved: they apply to every Start from now on.")
            except (ConfigError, PermissionError) as e:
                st.error(str(e))


def clear_runs(me: Participant, infos: list, teacher_ids: set[str]) -> None:
    """Delete every student's stored run (the teacher's stay), after a confirmation."""
    jm = services.job_manager()
    theirs = [i.id for i in infos if not is_teachers(i.owner, teacher_ids)]
    if not theirs:
        st.caption("There are no student runs to clear.")
        return
    if not st.session_state.get("confirm_clear"):
        st.button(
            f"Clear the class's {plural(len(theirs), 'student run')}…",
            icon=":material/delete:",
            on_click=lambda: st.session_state.update(confirm_clear=True),
        )
        return
    st.warning(
        f"Delete {plural(len(theirs), 'student run')} for good? Runs still training or waiting "
        "are left alone.",
        icon=":material/delete_forever:",
    )
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, clear them", type="primary"):
        for run_id in theirs:
            act(jm.delete_run, run_id, me)
        st.session_state.pop("_command_refused", None)  # those still training: left, as said
        st.session_state.pop("confirm_clear")
        st.rerun()
    if no.button("Cancel", key="clear_no"):
        st.session_state.pop("confirm_clear")
        st.rerun()
