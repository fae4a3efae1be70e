"""AppTest for the dashboard as a classroom: the teacher's sign-in, names, the Class page, and
who may steer, queue or start what on the Train page.

AppTest runs no JavaScript, so the participant id the browser keeps in local storage is put
into the session (``app_utils.open_page(..., participant=...)``); the tests' job manager is the
dashboard's own (``services.job_manager()``, one per process, cached), so a test acts for the
other people of the class through it.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import streamlit as st

from app_utils import (
    STUDENT_ID,
    TEACHER_ID,
    TOKEN,
    element_texts,
    open_page,
    person,
    poll,
    stored_run,
)
from lenet.serving import ClassSettings, QueueFull
from lenet.training import PRESETS

ANN_ID, BOB_ID, CY_ID = (f"student-{n}-of-the-tests-000" for n in ("ann", "bob", "cy"))
# Small enough to start in seconds, long enough to be acted on while it is held paused.
SHORT = replace(PRESETS["default"], train_subset=2000, epochs=1, threads=1)


@pytest.fixture
def classroom(tmp_path, monkeypatch):
    """An empty class of this test's own: its runs folder, the teacher's token, one training
    slot; caches cleared so the dashboard builds its job manager for it."""
    monkeypatch.setenv("LENET_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("LENET_TEACHER_TOKEN", TOKEN)
    monkeypatch.setenv("LENET_MAX_JOBS", "1")
    st.cache_resource.clear()
    st.cache_data.clear()
    import services

    yield services.job_manager()
    services.job_manager().shutdown()  # no worker outlives its test
    st.cache_resource.clear()
    st.cache_data.clear()


def texts(at) -> str:
    kinds = ("info", "warning", "error", "success", "caption", "markdown", "toast")
    return " ".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def sidebar_captions(at) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def buttons(at) -> list[str]:
    return [b.label for b in at.button]


def subheaders(at) -> list[str]:
    return [h.value for h in at.subheader]


def class_table(at):
    """The "Who is doing what" table of the Class page."""
    return at.dataframe[0].value


def progress(at) -> str:
    bars = at.get("progress")
    return bars[0].proto.text if bars else ""


def rename(at, name: str):
    at.text_input(key="my_name").set_value(name).run()
    assert not at.exception
    return at


def restart(jm):
    """The dashboard's job manager anew, as a restarted server builds it from the store."""
    import services

    jm.shutdown()
    st.cache_resource.clear()
    return services.job_manager()


def stop_everything(jm) -> None:
    """Cancel what waits (so nothing starts), then stop what trains, as the teacher."""
    teacher = person(TEACHER_ID, teacher=True)
    for job in jm.queue():
        jm.cancel(job.id, teacher)
    for run_id in jm.active():
        jm.stop(run_id, teacher)
        jm.wait(run_id, 60)


# --- the teacher's sign-in -------------------------------------------------------------------


def test_teacher_signs_in_with_the_token_which_leaves_the_address(classroom):
    at = open_page("class", {"teacher": TOKEN}, participant=TEACHER_ID).run()
    assert not at.exception
    assert "teacher" not in at.query_params  # taken out of the address at once
    assert [t.value for t in at.toast] == ["Signed in as the teacher."]
    assert [h.value for h in at.header] == ["Teacher"]
    assert {"What the class follows", "The queue", "Settings", "Clear the class"} <= set(
        subheaders(at)
    )
    assert TOKEN not in element_texts(at)  # in no element, widget or toast
    assert classroom.roster.get(TEACHER_ID).is_teacher
    # The placeholder name becomes "Teacher", in the caption and in the name box alike.
    assert "You take part as **Teacher**, the teacher." in sidebar_captions(at)
    assert at.text_input(key="my_name").value == "Teacher"
    # Signed in for the session: the next run (any page) keeps the rights, without the token.
    at.switch_page("views/train.py").run()
    assert not at.exception and "teacher" not in at.query_params
    assert "You take part as **Teacher**, the teacher." in sidebar_captions(at)
    assert TOKEN not in element_texts(at)


@pytest.mark.parametrize("offered", ["not-the-token", "", TOKEN[:-1]])
def test_a_wrong_or_empty_token_gives_no_rights(classroom, offered):
    at = open_page("class", {"teacher": offered}).run()
    assert not at.exception
    assert "teacher" not in at.query_params
    assert any("token is not right" in t.value for t in at.toast)
    assert not at.header  # no Teacher section
    assert "Settings" not in subheaders(at) and "The queue" not in subheaders(at)
    assert not at.get("form")  # no settings form
    assert not classroom.roster.get(STUDENT_ID).is_teacher
    assert any(c.endswith(", the student.") for c in sidebar_captions(at))
    if offered:
        assert offered not in element_texts(at)


def test_a_visitor_whose_browser_has_not_answered_yet_is_asked_to_wait(classroom):
    for page in ("train", "class"):
        at = open_page(page, participant=None).run()
        assert not at.exception
        assert "Joining the class…" in texts(at)
        assert not at.get("text_input")  # no name box before the browser says who it is
    assert classroom.roster.everyone() == []


# --- names -------------------------------------------------------------------------------------


def test_a_huge_or_markup_name_is_capped_and_shown_as_typed(classroom):
    at = open_page("class").run()
    rename(at, "Zoë" + "z" * 9_997)  # 10,000 characters
    capped = "Zoë" + "z" * 37
    assert at.text_input(key="my_name").value == capped
    assert f"You take part as **{capped}**, the student." in sidebar_captions(at)
    assert list(class_table(at)["name"]) == [capped]

    markup = "**x** <b>y</b> [a](http://e.co) `c` #"
    rename(at, markup)
    assert at.text_input(key="my_name").value == markup
    assert list(class_table(at)["name"]) == [markup]  # a table cell holds plain text
    # In markdown every markup character is escaped, so the caption shows the name as typed.
    # Colons get an invisible word joiner: Streamlit reads ":name:" and ":red[x]" after parsing.
    escaped = "\\*\\*x\\*\\* \\<b\\>y\\</b\\> \\[a\\]\\(http:\u2060//e\\.co\\) \\`c\\` \\#"
    assert f"You take part as **{escaped}**, the student." in sidebar_captions(at)
    assert classroom.roster.get(STUDENT_ID).name == markup

    # Emoji and icon codes, colour directives, LaTeX and entities are no markup here either.
    rename(at, ":smile: :red[x] $x^2$ &lt;")
    wj = "\u2060"
    assert (
        f"You take part as **:{wj}smile:{wj} :{wj}red\\[x\\] \\$x^2\\$ \\&lt;**, the student."
        in sidebar_captions(at)
    )

    rename(at, "   ")  # nothing printable: the name stays
    assert at.text_input(key="my_name").value == ":smile: :red[x] $x^2$ &lt;"


def test_two_students_choosing_the_same_name(classroom):
    ann = rename(open_page("class", participant=ANN_ID).run(), "Ann")
    other = rename(open_page("class", participant=BOB_ID).run(), "  ann  ")
    assert ann.text_input(key="my_name").value == "Ann"
    assert other.text_input(key="my_name").value == "ann (2)"
    assert "You take part as **ann \\(2\\)**, the student." in sidebar_captions(other)
    assert set(class_table(other.run())["name"]) == {"Ann", "ann (2)"}
    # The first keeps hers when she saves it again; the second can't take it either way.
    rename(ann, "Ann")
    rename(other, "ANN")
    assert ann.text_input(key="my_name").value == "Ann"
    assert other.text_input(key="my_name").value == "ANN (2)"


def test_a_run_names_its_owner_as_they_are_called_now(classroom):
    bob = person(BOB_ID, "Bob")
    stored_run(classroom.store, bob, [97.0])
    person(BOB_ID, "Robert")  # renamed after the run
    at = open_page("runs").run()
    assert not at.exception
    assert list(at.dataframe[0].value["owner"]) == ["Robert"]
    at = open_page("class").run()
    assert list(at.dataframe[1].value["name"]) == ["Robert"]  # the leaderboard


# --- the Class page ---------------------------------------------------------------------------


def test_class_page_with_runs_of_several_owners(classroom):
    teacher = person(TEACHER_ID, teacher=True)
    ann, bob, cy = person(ANN_ID, "Ann"), person(BOB_ID, "Bob"), person(CY_ID, "Cy")
    store = classroom.store
    stored_run(store, teacher, [98.0, 99.1], epochs=2)
    stored_run(store, ann, [96.5, 97.7], epochs=2, lr=0.003)
    stored_run(store, ann, [95.0], lr=0.03)
    stored_run(store, bob, [98.9], batch_size=64)
    stored_run(store, cy, [94.0], status="interrupted", epochs=3)

    at = open_page("class", participant=ANN_ID).run()
    assert not at.exception
    rows = {r["name"]: r for r in class_table(at).to_dict("records")}
    assert set(rows) == {"Teacher", "Ann", "Bob", "Cy"}
    assert list(class_table(at)["name"])[0] == "Teacher"  # the teacher first, then by name
    assert rows["Teacher"]["role"] == "teacher" and rows["Ann"]["role"] == "student"
    assert rows["Ann"]["runs"] == 2 and rows["Ann"]["best test %"] == pytest.approx(97.7)
    assert rows["Bob"]["doing"] == "finished, 98.90 %"
    assert rows["Cy"]["doing"] == "interrupted, 94.00 %"
    assert rows["Bob"]["lesson"] == "own settings"  # batch 64 is no preset
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs so far"] == "5" and metrics["Training"] == "0"

    board = at.dataframe[1].value  # the leaderboard: finished runs, best first
    assert list(board["name"]) == ["Teacher", "Bob", "Ann", "Ann"]
    assert list(board["test %"]) == pytest.approx([99.1, 98.9, 97.7, 95.0])
    assert list(board["place"]) == [1, 2, 3, 4]

    charts = {c.key: c for c in at.get("plotly_chart")}
    assert {"class_curves", "class_sweep"} <= set(charts)
    sweep = json.loads(charts["class_sweep"].proto.spec)["data"][0]
    assert sweep["type"] == "parcoords"
    assert all(len(d["values"]) == 4 for d in sweep["dimensions"])  # one line per finished run
    # Only the settings that differ between runs get an axis; the rest are said in words.
    labels = [d["label"] for d in sweep["dimensions"]]
    assert labels == [
        "learning rate (log scale)",
        "batch size",
        "epochs",
        "best test accuracy (%)",
    ]
    lr, batch, epochs, accuracy = sweep["dimensions"]
    assert lr["ticktext"] == ["0.003", "0.01", "0.03"]  # the rates the runs used, not log10
    assert min(lr["values"]) > lr["range"][0] and max(lr["values"]) < lr["range"][1]
    assert all(t.isdigit() for t in epochs["ticktext"])  # whole epochs only
    assert "Left out, the same in every run: training images 60,000, optimizer adam, " in texts(at)
    curves = json.loads(charts["class_curves"].proto.spec)["data"]
    assert len(curves) == 5
    assert [t["showlegend"] for t in curves].count(True) == 3  # Ann's two, the teacher's
    assert not at.header  # a student sees no teacher section


def test_class_page_sweep_waits_for_two_finished_runs(classroom):
    stored_run(classroom.store, person(ANN_ID, "Ann"), [97.0])
    at = open_page("class").run()
    assert not at.exception
    assert [c.key for c in at.get("plotly_chart")] == ["class_curves"]
    assert "Once two runs have finished" in texts(at)
    x = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["xaxis"]
    assert x["dtick"] == 1 and x["range"][1] < 2  # a one-epoch run: epoch 1, no 0.2, 0.4, ...
    # Two finished runs of the very same settings: no axis to compare them on, and it says so.
    stored_run(classroom.store, person(BOB_ID, "Bob"), [96.0])
    at.run()
    assert [c.key for c in at.get("plotly_chart")] == ["class_curves"]
    assert "all used the same settings (learning rate 0.01, batch size 128" in texts(at)


def test_class_page_of_a_class_without_runs(classroom):
    at = open_page("class").run()
    assert not at.exception
    assert not at.get("plotly_chart")  # no empty axes
    assert "Once a run has finished an epoch" in texts(at)
    assert "No run has finished yet." in texts(at)
    assert list(class_table(at)["name"]) == ["Student 1"]  # whoever is here, without a run


def test_a_markup_name_in_the_class_curves_is_escaped_for_plotly(classroom):
    stored_run(classroom.store, person(ANN_ID, "<b>Ann</b>"), [97.0])
    at = open_page("class", participant=ANN_ID).run()
    assert not at.exception
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.key == "class_curves").proto.spec)
    assert spec["data"][0]["name"].startswith("&lt;b&gt;Ann&lt;/b&gt; · ")


# --- the Train page: who may steer, the queue, watch only --------------------------------------


def test_student_can_steer_own_run_but_not_the_teachers(classroom):
    jm = classroom
    teacher = person(TEACHER_ID, teacher=True)
    job = jm.start(SHORT, teacher)
    jm.pause(job, teacher)  # held active for as long as the test needs
    try:
        at = open_page("train").run()  # a student with no run: follows the teacher's
        assert not at.exception
        assert any(job in h.value for h in at.subheader)
        assert "The run is Teacher's · you follow the teacher's run." in texts(at)
        poll(at, lambda a: progress(a).startswith("**Paused**"), 90, "the paused teacher's run")
        assert not {"Pause", "Resume", "Stop", "Set rate"} & set(buttons(at))
        assert "Watching Teacher's run: only they and the teacher can pause" in texts(at)
        with pytest.raises(PermissionError):
            jm.stop(job, person(STUDENT_ID))
        # The teacher's own page has the controls.
        mine = open_page("train", participant=TEACHER_ID).run()
        assert {"Resume", "Stop", "Set rate"} <= set(buttons(mine))
        assert "The run is yours." in texts(mine)
        jm.stop(job, teacher)
        assert jm.wait(job, 60) == "stopped"

        # The student's own run: Start, then the controls are theirs.
        at.run()
        at.number_input(key="cfg_train_subset").set_value(SHORT.train_subset)
        at.number_input(key="cfg_epochs").set_value(1)
        at.button(key="start").click().run()
        assert not at.exception
        own = at.session_state["run_id"]
        assert own != job and jm.snapshot(own)["owner"]["id"] == STUDENT_ID
        jm.pause(own, person(STUDENT_ID))
        poll(at, lambda a: progress(a).startswith("**Paused**"), 90, "the student's paused run")
        assert {"Resume", "Stop", "Set rate"} <= set(buttons(at))
        assert "The run is yours." in texts(at)
        # A new learning rate from the page: the trainer takes it and the curves mark it.
        at.select_slider(key=f"live_lr_{own}").set_value(0.02).run()
        at.button(key="set_lr").click().run()
        assert not at.exception
        jm.resume(own, person(STUDENT_ID))
        poll(
            at,
            lambda a: jm.snapshot(own)["lr_changes"] or jm.snapshot(own)["state"] == "finished",
            90,
            "the new learning rate",
        )
        assert [c["lr"] for c in jm.snapshot(own)["lr_changes"]] == [0.02]
        at.run()
        marks = [
            a["text"]
            for c in at.get("plotly_chart")
            for a in json.loads(c.proto.spec)["layout"].get("annotations", [])
        ]
        assert "lr → 0.02" in marks
        if "Stop" in buttons(at):
            next(b for b in at.button if b.label == "Stop").click().run()
        assert jm.wait(own, 60) in ("stopped", "finished")
        poll(at, lambda a: "Test accuracy (top-1)" in {m.label for m in a.metric} or "Stopped"
             in texts(a), 60, "the ended view")  # fmt: skip
    finally:
        stop_everything(jm)


def test_a_second_start_is_queued_with_its_place(classroom):
    jm = classroom
    teacher = person(TEACHER_ID, teacher=True)
    bob = person(BOB_ID, "Bob")
    person(STUDENT_ID, "Sam"), person(ANN_ID, "Ann")
    job = jm.start(SHORT, bob)
    jm.pause(job, bob)
    try:
        at = open_page("train").run()  # a student: Bob's run is no teacher's, so not followed
        assert not at.exception
        assert "Training now: Bob." in texts(at)
        assert "Choose a lesson" in texts(at)
        at.button(key="start").click().run()  # the only slot is Bob's: queued
        assert not at.exception
        mine = at.session_state["run_id"]
        assert at.query_params["run"] in (mine, [mine])
        assert "**Waiting in the queue**, next in line" in texts(at)
        assert "the class shares 1 training slot)" in texts(at)
        assert "later if a paused run stays paused" in texts(at)  # Bob's is held paused
        assert "Cancel this run" in buttons(at)

        # A second Start of the same student: the per-student limit says so.
        at.button(key="start").click().run()
        assert not at.exception
        assert any("You already have 1 run waiting or training" in w.value for w in at.warning)
        with pytest.raises(QueueFull):
            jm.start(SHORT, person(STUDENT_ID))
        assert len(jm.queue()) == 1

        # Ann queues after; the teacher's run goes ahead of both.
        ann_run = open_page("train", participant=ANN_ID).run()
        ann_run.button(key="start").click().run()
        assert "1 run ahead of it" in texts(ann_run)
        teachers = jm.start(SHORT, teacher)
        at.run()
        assert "**Waiting in the queue**, 1 run ahead of it" in texts(at)
        assert "2 runs ahead of it" in texts(ann_run.run())
        assert "Cancel this run" in buttons(ann_run)  # her own queued run: hers to cancel

        # The Class page shows each place; the teacher's has the queue's controls.
        board = open_page("class", participant=TEACHER_ID).run()
        rows = {r["name"]: r for r in class_table(board).to_dict("records")}
        assert rows["Sam"]["doing"].startswith("waiting, #2 in line")
        assert rows["Ann"]["doing"].startswith("waiting, #3 in line")
        assert rows["Bob"]["doing"] == "paused"  # how far: the progress column, in %
        assert 0 <= rows["Bob"]["progress"] <= 100 and math.isnan(rows["Sam"]["progress"])
        metrics = {m.label: m.value for m in board.metric}
        assert metrics["Waiting"] == "3" and metrics["Training"] == "1"
        assert "**#1** Teacher" in [m.value for m in board.markdown]
        # The teacher moves Ann up: ahead of Sam, still behind the teacher's own run.
        anns = ann_run.session_state["run_id"]
        board.button(key=f"up_{anns}").click().run()
        assert not board.exception
        assert [j.owner["name"] for j in jm.queue()] == ["Teacher", "Ann", "Sam"]
        assert "2 runs ahead of it" in texts(at.run())
        board.button(key=f"up_{anns}").click().run()  # the teacher's run stays first
        assert [j.owner["name"] for j in jm.queue()] == ["Teacher", "Ann", "Sam"]

        # Cancel: the run leaves the queue and the page stops showing it.
        at.button(key="cancel_queued").click().run()
        assert not at.exception
        assert not jm.has(mine) and "run_id" not in at.session_state
        assert "run" not in at.query_params
        assert mine not in " ".join(subheaders(at))
        assert any(teachers in h for h in subheaders(at))  # now following the teacher's
        assert any("cancelled" in t.value for t in at.toast)
        assert "1 run ahead of it" in texts(ann_run.run())  # behind the teacher's only
    finally:
        stop_everything(jm)


def test_watch_only_disables_a_students_start(classroom):
    jm = classroom
    board = open_page("class", {"teacher": TOKEN}, participant=TEACHER_ID).run()
    watch_only = next(t for t in board.toggle if t.label.startswith("Watch only"))
    watch_only.set_value(True)
    next(b for b in board.button if b.label == "Save the settings").click().run()
    assert not board.exception
    assert "Saved: they apply to every Start from now on." in texts(board)
    assert jm.settings.watch_only

    at = open_page("train").run()
    assert not at.exception
    assert at.button(key="start").disabled
    assert "The teacher has set the class to watch only." in sidebar_captions(at)
    with pytest.raises(PermissionError, match="watch only"):
        jm.start(SHORT, person(STUDENT_ID))
    assert not open_page("train", participant=TEACHER_ID).run().button(key="start").disabled

    board.run()
    watch_only = next(t for t in board.toggle if t.label.startswith("Watch only"))
    assert watch_only.value is True  # the form shows the saved settings
    watch_only.set_value(False)
    next(b for b in board.button if b.label == "Save the settings").click().run()
    assert not at.run().button(key="start").disabled


# --- the teacher's other controls, and presses that must not be lost ---------------------------


def test_a_press_is_not_lost_when_the_board_changed_since_the_last_run(classroom):
    """The sidebar's board reruns the page when the class changes; in a run caused by a press
    it must not, or the press (read from the button's value) would be thrown away."""
    jm = classroom
    mine = stored_run(jm.store, person(STUDENT_ID, "Sam"), [97.0])
    at = open_page("runs").run()
    assert not at.exception
    jm.set_settings(ClassSettings(max_queue=50), person(TEACHER_ID, teacher=True))  # a change
    at.button(key="delete").click().run()
    assert not at.exception
    assert f"Delete {mine} for good?" in texts(at)


def test_the_teacher_spotlights_a_run_the_students_follow(classroom):
    jm = classroom
    teacher = person(TEACHER_ID, teacher=True)
    theirs = stored_run(jm.store, teacher, [98.0])
    bobs = stored_run(jm.store, person(BOB_ID, "Bob"), [97.0])
    jm = restart(jm)  # the class's server starts on these runs: the teacher's newest leads
    at = open_page("train").run()
    assert "The run is Teacher's · you follow the teacher's run." in texts(at)
    board = open_page("class", {"teacher": TOKEN}, participant=TEACHER_ID).run()
    board.selectbox(key="spotlight").set_value(bobs).run()
    assert not board.exception and jm.spotlight() == bobs
    at.run()
    assert any(bobs in h.value for h in at.subheader)
    assert "The run is Bob's · you follow the teacher's run." in texts(at)
    assert "Only its owner and the teacher can resume or delete it." in texts(at)
    # Moved elsewhere (another tab of the teacher's), the box follows and keeps it so.
    jm.set_spotlight(theirs, teacher)
    board.run()
    assert board.selectbox(key="spotlight").value == theirs and jm.spotlight() == theirs
    at.toggle(key="follow").set_value(False).run()
    assert not at.subheader and "Choose a lesson" in texts(at)


def test_the_teacher_clears_the_students_runs(classroom):
    jm = classroom
    kept = stored_run(jm.store, person(TEACHER_ID, teacher=True), [98.0])
    for sid, name in ((ANN_ID, "Ann"), (BOB_ID, "Bob")):
        stored_run(jm.store, person(sid, name), [96.0])
    board = open_page("class", {"teacher": TOKEN}, participant=TEACHER_ID).run()
    next(b for b in board.button if b.label.startswith("Clear the class's 2 student")).click()
    board.run()
    assert "Delete 2 student runs for good?" in texts(board)
    next(b for b in board.button if b.label == "Yes, clear them").click().run()
    assert not board.exception
    assert [i.id for i in jm.store.list()] == [kept]
    assert "There are no student runs to clear." in texts(board)
    # A student has no such section, and can't do it behind the page's back either.
    with pytest.raises(PermissionError):
        jm.delete_run(kept, person(ANN_ID))
