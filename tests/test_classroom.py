"""The classroom layer without Streamlit: who is who (``lenet.serving.people``), the class's
rules (``lenet.serving.policy``), and the job manager that enforces them: permissions on every
command, the queue's order and limits, its waiting times, a restarted server's queue, resuming
an interrupted run, owners of stored runs, and the predictions cache.

Training here is on tiny synthetic data in threads (``isolation="thread"`` sees the
monkeypatched loader); tests/test_jobs.py covers worker processes on real MNIST."""

import json
import subprocess
import threading
import time
from dataclasses import asdict, replace

import pandas as pd
import pytest
import torch

import lenet.analysis.predictions as predictions_mod
import lenet.training.loop as train_mod
from lenet.analysis.predictions import PREDICTION_COLUMNS, cached_predict, predict
from lenet.models import LeNet5
from lenet.runs import LEGACY_OWNER, RunStore
from lenet.serving import (
    STUDENT,
    TEACHER,
    ClassSettings,
    JobManager,
    Participant,
    QueueFull,
    Roster,
    may_control,
)
from lenet.serving.people import MAX_NAME, clean_name
from lenet.serving.policy import check_start, expected_seconds, queue_order
from lenet.training import PRESETS, TYPICAL_SECONDS, ConfigError, Control, TrainConfig, train
from test_train import _synthetic_split

TOKEN = "the-class-token-for-tests"
CFG = TrainConfig(epochs=3, batch_size=32, lr=3e-3, log_every=2, threads=1)
LONG = replace(CFG, epochs=200)  # holds a slot for as long as a test needs it (paused)


def _until(predicate, timeout: float = 60.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def tiny(monkeypatch):
    data = {"train": _synthetic_split(640, 0), "test": _synthetic_split(200, 1)}
    monkeypatch.setattr(train_mod, "load_split", lambda split, normalization="mnist": data[split])
    return data


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("LENET_TEACHER_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def managers(tiny, token, tmp_path):
    """``make(max_jobs=1)``: job managers on one store (a restarted server is a second one);
    all shut down at the end."""
    made = []

    def make(max_jobs: int = 1) -> JobManager:
        jm = JobManager(RunStore(tmp_path / "runs"), max_jobs=max_jobs, isolation="thread")
        made.append(jm)
        return jm

    yield make
    for jm in made:
        jm.shutdown()


@pytest.fixture
def jm(managers):
    return managers()


class Class:
    """The teacher and four students of one manager's roster."""

    def __init__(self, roster: Roster) -> None:
        self.teacher = roster.sign_in(Roster.new_id(), TOKEN)
        self.ann, self.bob, self.cy, self.dee = (
            roster.join(Roster.new_id(), name) for name in ("Ann", "Bob", "Cy", "Dee")
        )
        assert self.teacher.is_teacher and not self.ann.is_teacher


@pytest.fixture
def people(jm):
    return Class(jm.roster)


def _hold_slot(jm: JobManager, actor: Participant) -> str:
    """Start a long run for ``actor`` and pause it once it has trained a little: it keeps the
    manager's only slot, and its remaining time stays fixed while the test looks at the queue."""
    run_id = jm.start(LONG, actor)
    _until(lambda: jm.snapshot(run_id)["step"] > 0, what="the first logged step")
    jm.pause(run_id, actor)
    assert jm.snapshot(run_id)["state"] == "paused"
    # The worker finishes the batch in hand and may still report it: wait until its step holds.
    step, deadline = jm.snapshot(run_id)["step"], time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1.0)
        step, before = jm.snapshot(run_id)["step"], step
        if step == before:
            return run_id
    raise AssertionError(f"run {run_id} kept training after it was paused")


def _interrupted_run(store: RunStore, owner: Participant, cfg: TrainConfig = CFG) -> str:
    """A run of ``cfg`` owned by ``owner``, interrupted during its second epoch (its first is
    checkpointed): resumable."""
    run = store.create(asdict(cfg), owner=owner.owner())
    control = Control()

    def on_event(event):
        if event["type"] == "batch" and event["epoch"] == 2:
            control.interrupt()

    assert train(cfg, run=run, control=control, on_event=on_event).status == "interrupted"
    assert store.get(run.id).info().resumable
    return run.id


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- names, ids and the teacher's sign-in --------------------------------------------------
def test_a_name_is_trimmed_folded_capped_and_stripped_of_control_characters():
    assert clean_name("   Ann   Lee \n") == "Ann Lee"
    assert clean_name("Ann\x00\x07\x1b[31m\u202eLee") == "Ann [31m Lee"
    assert all(ch.isprintable() for ch in clean_name("".join(map(chr, range(0, 64)))))
    assert clean_name("x" * 10_000) == "x" * MAX_NAME
    assert clean_name("a" * (MAX_NAME - 1) + " b") == "a" * (MAX_NAME - 1)  # no trailing space
    assert clean_name("  \t\n") == "" and clean_name(None) == "" and clean_name(42) == ""


def test_joining_gives_default_names_and_keeps_names_unique(tmp_path):
    roster = Roster(tmp_path)
    first, second = roster.join(Roster.new_id()), roster.join(Roster.new_id(), "")
    assert (first.name, second.name) == ("Student 1", "Student 2")
    assert roster.join(Roster.new_id(), "  \x00  ").name == "Student 3"  # nothing printable
    ann = roster.join(Roster.new_id(), " Ann ")
    ann2, ann3 = roster.join(Roster.new_id(), "ann"), roster.join(Roster.new_id(), "Ann")
    assert (ann.name, ann2.name, ann3.name) == ("Ann", "ann (2)", "Ann (3)")
    assert roster.join(ann.id, "Ann").name == "Ann"  # one's own name is no clash
    assert roster.join(ann.id).name == "Ann" and roster.join(ann.id, "") == ann  # kept
    long = roster.join(Roster.new_id(), "y" * 10_000)
    long2 = roster.join(Roster.new_id(), "Y" * 10_000)
    assert long.name == "y" * MAX_NAME and len(long2.name) == MAX_NAME
    assert long2.name.endswith(" (2)") and long2.name.casefold() != long.name.casefold()
    names = [p.name.casefold() for p in roster.everyone()]
    assert len(names) == len(set(names)) == 8


def test_a_renamed_participant_keeps_their_id_and_role_and_the_roster_persists(tmp_path):
    roster = Roster(tmp_path)
    pid = Roster.new_id()
    roster.join(pid, "Ann")
    renamed = roster.join(pid, "Annie")
    assert (renamed.id, renamed.name, renamed.role) == (pid, "Annie", STUDENT)
    assert roster.join(Roster.new_id(), "Ann").name == "Ann"  # the old name is free again
    again = Roster(tmp_path)
    assert again.get(pid) == renamed and len(again.everyone()) == 2
    saved = json.loads((tmp_path / "people.json").read_text())
    assert sorted(row["name"] for row in saved) == ["Ann", "Annie"]


def test_two_servers_sharing_a_roster_file_see_each_others_people(tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_TEACHER_TOKEN", "a-token-for-two-servers")
    a, b = Roster(tmp_path), Roster(tmp_path)  # two replicas over one shared runs folder
    ann, bob = Roster.new_id(), Roster.new_id()
    a.join(ann, "Ann")
    time.sleep(0.01)  # a new mtime, on file systems that count in coarse steps
    assert b.get(ann).name == "Ann"
    b.join(bob, "Ann")  # B knows Ann now: the name is taken
    assert b.get(bob).name == "Ann (2)"
    time.sleep(0.01)
    teacher = b.sign_in(ann, "a-token-for-two-servers")
    assert a.get(ann) == teacher and a.get(ann).is_teacher
    assert [p.name for p in a.everyone()] == ["Ann", "Ann (2)"]


@pytest.mark.parametrize(
    "bad",
    ["short", "a" * 15, "a" * 65, "spaces are not ok in ids", "../../etc/passwd0", "ü" * 20, ""],
)
def test_an_id_that_is_not_one_of_ours_is_refused(tmp_path, bad):
    roster = Roster(tmp_path)
    with pytest.raises(ValueError, match="participant id"):
        roster.join(bad, "Ann")
    assert roster.everyone() == [] and not (tmp_path / "people.json").exists()


def test_ids_are_refused_whatever_their_type(tmp_path):
    roster = Roster(tmp_path)
    for bad in (None, 12345678901234567890, b"a" * 20):
        with pytest.raises(ValueError):
            roster.join(bad)
    assert len(Roster.new_id()) >= 16 and roster.join(Roster.new_id()).name == "Student 1"


@pytest.mark.parametrize("wrong", ["", "not-the-token", TOKEN + " ", TOKEN[:-1], None, 12])
def test_sign_in_with_a_wrong_or_empty_token_changes_nothing(tmp_path, token, wrong):
    roster = Roster(tmp_path)
    ann = roster.join(Roster.new_id(), "Ann")
    saved = (tmp_path / "people.json").read_text()
    assert roster.sign_in(ann.id, wrong) is None
    assert roster.sign_in(Roster.new_id(), wrong) is None  # nobody new either
    assert roster.get(ann.id) == ann and not roster.get(ann.id).is_teacher
    assert (tmp_path / "people.json").read_text() == saved and len(roster.everyone()) == 1


def test_sign_in_with_the_token_makes_a_teacher_who_stays_one(tmp_path, token):
    roster = Roster(tmp_path)
    newcomer, ann = Roster.new_id(), roster.join(Roster.new_id(), "Ann")
    teacher = roster.sign_in(newcomer, token)
    assert teacher.is_teacher and teacher.role == TEACHER and teacher.name == "Teacher"
    named = roster.sign_in(ann.id, token)
    assert named.is_teacher and named.name == "Ann"  # a chosen name stays
    again = Roster(tmp_path)  # a restarted server
    assert again.get(newcomer).is_teacher and again.get(ann.id).is_teacher
    assert again.join(newcomer, "Ms Lee").is_teacher  # renaming keeps the role


def test_the_teacher_token_is_the_configured_one_or_one_random_per_process(monkeypatch):
    import lenet.serving.people as people_mod

    monkeypatch.setenv("LENET_TEACHER_TOKEN", "  s3cret  ")
    assert people_mod.teacher_token() == ("s3cret", False)
    monkeypatch.delenv("LENET_TEACHER_TOKEN")
    monkeypatch.setattr(people_mod, "_generated_token", None)
    made, generated = people_mod.teacher_token()
    assert generated and len(made) >= 16 and people_mod.teacher_token() == (made, True)


def test_presence_lists_who_checked_in_recently_teacher_first(tmp_path, token):
    roster = Roster(tmp_path)
    bob, ann = roster.join(Roster.new_id(), "bob"), roster.join(Roster.new_id(), "Ann")
    teacher = roster.sign_in(Roster.new_id(), token)
    assert [p.name for p in roster.present()] == ["Teacher", "Ann", "bob"]
    roster._seen[bob.id] -= 1000  # bob's page stopped checking in long ago
    assert [p.name for p in roster.present()] == ["Teacher", "Ann"]
    roster.seen(bob.id)
    roster.seen("nobody-with-this-id")  # unknown ids are ignored
    assert [p.id for p in roster.present()] == [teacher.id, ann.id, bob.id]
    assert Roster(tmp_path).present() == []  # presence is this process's, not saved


def test_may_control_lets_the_teacher_act_on_any_run_and_a_student_on_their_own():
    teacher = Participant("t" * 16, "Teacher", TEACHER)
    ann, bob = Participant("a" * 16, "Ann"), Participant("b" * 16, "Bob")
    assert may_control(ann, ann.owner()) and not may_control(bob, ann.owner())
    assert may_control(teacher, ann.owner()) and may_control(teacher, None)
    assert not may_control(ann, None) and not may_control(ann, LEGACY_OWNER)  # the teacher's
    assert not may_control(None, ann.owner())
    impostor = Participant("b" * 16, "Ann")  # the same name is not the same person
    assert not may_control(impostor, ann.owner())


# -- the class's rules as pure functions ---------------------------------------------------
def test_queue_order_puts_the_teachers_first_then_ranks_then_first_come_first_served():
    entries = [
        {"name": "s-late", "teacher": False, "queued_at": 5.0, "rank": None},
        {"name": "s-early", "teacher": False, "queued_at": 1.0, "rank": None},
        {"name": "t-late", "teacher": True, "queued_at": 9.0, "rank": None},
        {"name": "s-moved", "teacher": False, "queued_at": 7.0, "rank": 0.0},
        {"name": "t-early", "teacher": True, "queued_at": 3.0, "rank": None},
    ]
    order = [e["name"] for e in queue_order(entries)]
    assert order == ["t-early", "t-late", "s-moved", "s-early", "s-late"]


def test_check_start_refuses_students_with_a_message_and_never_the_teacher():
    teacher = Participant("t" * 16, "Teacher", TEACHER)
    ann = Participant("a" * 16, "Ann")
    strict = ClassSettings(watch_only=True, lessons=["quick"], max_student_epochs=1,
                           max_student_images=100, max_queue=0, per_student=1)  # fmt: skip
    check_start(teacher, CFG, strict, active_of_actor=99, queued=99)  # no exception
    check_start(ann, CFG, ClassSettings(), 0, 0)
    with pytest.raises(PermissionError, match="watch only"):
        check_start(ann, CFG, ClassSettings(watch_only=True), 0, 0)
    with pytest.raises(PermissionError, match="quick"):
        check_start(ann, CFG, ClassSettings(lessons=["quick"]), 0, 0)
    check_start(ann, CFG, ClassSettings(lessons=["default"]), 0, 0, lesson="default")
    with pytest.raises(PermissionError, match="at most 2 epoch"):
        check_start(ann, CFG, ClassSettings(max_student_epochs=2), 0, 0)
    with pytest.raises(PermissionError, match="60,000"):
        check_start(ann, CFG, ClassSettings(max_student_images=6000), 0, 0)
    with pytest.raises(QueueFull, match="already have 1 run"):
        check_start(ann, CFG, ClassSettings(), 1, 0)
    with pytest.raises(QueueFull, match="queue is full"):
        check_start(ann, CFG, ClassSettings(max_queue=3), 0, 3)


def test_expected_seconds_uses_finished_runs_speed_else_the_presets_time():
    cfg = replace(CFG, train_subset=6000, epochs=2)
    same = {"variant": "classic", "recipe": "standard", "images_per_s": 1000.0}
    other = {"variant": "paper", "recipe": "paper-fast", "images_per_s": 1.0}
    speeds = [same, {**same, "images_per_s": 3000.0}, {**same, "images_per_s": 2000.0}, other]
    assert expected_seconds(cfg, speeds) == pytest.approx(12_000 / 2000.0)  # the median
    fallback = expected_seconds(cfg, [other])
    assert fallback == expected_seconds(cfg, []) > 0
    assert expected_seconds(replace(cfg, epochs=4), []) == pytest.approx(2 * fallback)
    quick = PRESETS["quick"]
    assert expected_seconds(quick, []) == pytest.approx(TYPICAL_SECONDS["quick"])  # measured


def test_class_settings_round_trip_and_refuse_nonsense(tmp_path):
    path = tmp_path / "settings.json"
    assert ClassSettings.load(path) == ClassSettings()  # none saved yet
    wanted = ClassSettings(watch_only=True, lessons=["quick"], max_student_epochs=3, max_queue=5)
    wanted.save(path)
    assert ClassSettings.load(path) == wanted
    for bad in (
        ClassSettings(lessons=["no-such-lesson"]),
        ClassSettings(max_queue=-1),
        ClassSettings(per_student=0),
        ClassSettings(max_student_epochs=True),
        ClassSettings(max_student_images=1.5),
    ):
        with pytest.raises(ConfigError):
            bad.validate()
    path.write_text('{"max_queue": "lots"}')
    assert ClassSettings.load(path) == ClassSettings()  # unreadable: the defaults
    path.write_text('{"max_queue": 7, "from_a_newer_version": 1}')
    assert ClassSettings.load(path).max_queue == 7


# -- owners ----------------------------------------------------------------------------------
def test_a_students_run_records_its_owner_and_older_runs_belong_to_the_teacher(jm, people):
    run_id = jm.start(replace(CFG, epochs=1), people.ann)
    assert jm.wait(run_id, 60) == "finished"
    run = jm.store.get(run_id)
    status = json.loads((run.path / "status.json").read_text())
    assert status["owner"] == people.ann.owner() == run.owner == run.info().owner
    assert jm.snapshot(run_id)["owner"] == people.ann.owner()
    assert jm.store.create({}).owner == LEGACY_OWNER  # no owner given: the teacher's
    old = jm.store.create(asdict(CFG))
    old.finish("finished")
    legacy = json.loads((old.path / "status.json").read_text())
    del legacy["owner"]  # as stored before runs had owners
    (old.path / "status.json").write_text(json.dumps(legacy))
    assert old.owner == LEGACY_OWNER and old.info().owner == LEGACY_OWNER
    with pytest.raises(PermissionError, match="Teacher"):
        jm.delete_run(old.id, people.ann)
    assert old.path.is_dir()
    jm.delete_run(old.id, people.teacher)
    assert not old.path.exists()


# -- permissions on every command ----------------------------------------------------------
def test_a_student_controls_only_their_own_training_run(jm, people):
    ann, bob, teacher = people.ann, people.bob, people.teacher
    run_id = _hold_slot(jm, ann)
    for command, args in [(jm.resume, ()), (jm.stop, ()), (jm.set_lr, (0.5,)), (jm.pause, ())]:
        with pytest.raises(PermissionError, match="belongs to Ann"):
            command(run_id, bob, *args)
    time.sleep(0.3)
    assert jm.snapshot(run_id)["state"] == "paused"  # Bob's resume and stop did nothing
    jm.resume(run_id, ann)
    assert jm.snapshot(run_id)["state"] == "running"
    jm.pause(run_id, teacher)
    assert jm.snapshot(run_id)["state"] == "paused"
    jm.set_lr(run_id, ann, 1e-4)
    jm.resume(run_id, teacher)
    _until(lambda: jm.snapshot(run_id)["lr_changes"], what="Ann's rate change")
    jm.stop(run_id, teacher)
    assert jm.wait(run_id, 60) == "stopped"
    assert [c["lr"] for c in jm.snapshot(run_id)["lr_changes"]] == [1e-4]  # Bob's never came


def test_a_student_cancels_only_their_own_queued_run(jm, people):
    holder = _hold_slot(jm, people.dee)
    ann_run, bob_run = jm.start(CFG, people.ann), jm.start(CFG, people.bob)
    with pytest.raises(PermissionError, match="belongs to Bob"):
        jm.cancel(bob_run, people.ann)
    with pytest.raises(PermissionError, match="belongs to Dee"):
        jm.cancel(holder, people.ann)
    assert [j.id for j in jm.queue()] == [ann_run, bob_run]
    jm.cancel(ann_run, people.ann)
    jm.cancel(bob_run, people.teacher)
    assert jm.queue() == [] and [i.id for i in jm.store.list()] == [holder]  # folders gone
    with pytest.raises(ValueError, match="not waiting"):
        jm.cancel(holder, people.teacher)  # training, not queued: stop it instead
    with pytest.raises(KeyError):
        jm.cancel(ann_run, people.ann)


def test_a_student_resumes_and_deletes_only_their_own_stored_runs(jm, people):
    ann, bob, teacher = people.ann, people.bob, people.teacher
    anns, others = _interrupted_run(jm.store, ann), _interrupted_run(jm.store, bob)
    with pytest.raises(PermissionError, match="belongs to Ann"):
        jm.resume_run(anns, bob)
    with pytest.raises(PermissionError, match="belongs to Ann"):
        jm.delete_run(anns, bob)
    assert jm.store.get(anns).info().status == "interrupted" and jm.queue() == []
    assert jm.wait(jm.resume_run(anns, ann), 60) == "finished"
    assert jm.wait(jm.resume_run(others, teacher), 60) == "finished"
    assert jm.store.get(others).info().epochs_done == 3
    with pytest.raises(PermissionError, match="belongs to Bob"):
        jm.delete_run(others, ann)
    jm.delete_run(anns, ann)
    jm.delete_run(others, teacher)
    assert jm.store.list() == []
    with pytest.raises(KeyError):
        jm.delete_run(anns, ann)


def test_only_the_teacher_reorders_the_queue_changes_settings_and_picks_the_spotlight(jm, people):
    ann, teacher = people.ann, people.teacher
    _hold_slot(jm, people.dee)
    queued = jm.start(CFG, ann)
    with pytest.raises(PermissionError, match="Only the teacher"):
        jm.move(queued, ann, -1)
    with pytest.raises(PermissionError, match="Only the teacher"):
        jm.set_settings(ClassSettings(watch_only=False, per_student=5), ann)
    with pytest.raises(PermissionError, match="Only the teacher"):
        jm.set_spotlight(queued, ann)
    assert jm.settings == ClassSettings() and jm.spotlight() is None
    assert not (jm.class_dir / "settings.json").exists()
    jm.set_spotlight(queued, teacher)
    assert jm.spotlight() == queued and jm.board()["spotlight"] == queued
    jm.set_settings(ClassSettings(per_student=2), teacher)
    assert jm.settings.per_student == 2
    assert ClassSettings.load(jm.class_dir / "settings.json").per_student == 2
    with pytest.raises(ConfigError, match="lessons"):
        jm.set_settings(ClassSettings(lessons=["nonsense"]), teacher)
    assert jm.settings.per_student == 2  # a refused change changes nothing
    with pytest.raises(KeyError):
        jm.set_spotlight("20990101-000000-abcdef", teacher)


def test_the_spotlight_is_the_teachers_latest_run_until_they_choose_one(jm, people):
    assert jm.spotlight() is None
    students = jm.start(replace(CFG, epochs=1), people.ann)
    assert jm.spotlight() is None  # a student's run is not the class's
    assert jm.wait(students, 60) == "finished"
    teachers = jm.start(replace(CFG, epochs=1), people.teacher)
    assert jm.spotlight() == teachers
    jm.set_spotlight(students, people.teacher)
    assert jm.spotlight() == students
    jm.set_spotlight(None, people.teacher)
    assert jm.spotlight() == teachers
    jm.set_spotlight(students, people.teacher)
    assert jm.wait(teachers, 60) == "finished"
    jm.delete_run(students, people.ann)
    assert jm.spotlight() == teachers  # the chosen run is gone: back to the teacher's latest


# -- the queue: order, limits, waiting times -----------------------------------------------
def test_start_never_says_busy_it_queues_first_come_first_served_the_teachers_first(jm, people):
    holder = _hold_slot(jm, people.dee)
    a, b, c = (jm.start(CFG, p) for p in (people.ann, people.bob, people.cy))
    assert [j.id for j in jm.queue()] == [a, b, c]
    status = jm.store.get(a).status()
    assert status["state"] == "queued" and status["owner"] == people.ann.owner()
    assert status["queued_at"] > 0 and status["teacher"] is False
    assert jm.store.get(a).info().status == "queued"
    t = jm.start(CFG, people.teacher)
    assert [j.id for j in jm.queue()] == [t, a, b, c]
    assert jm.store.get(t).status()["teacher"] is True
    assert jm.counts() == {"queued": 4, "running": 1, "paused": 1}  # the holder, paused
    assert [jm.snapshot(r)["state"] for r in (holder, t, a)] == ["paused", "queued", "queued"]


def test_the_teacher_moves_a_run_within_its_part_of_the_queue(jm, people):
    _hold_slot(jm, people.dee)
    a, b, c = (jm.start(CFG, p) for p in (people.ann, people.bob, people.cy))
    t1, t2 = jm.start(CFG, people.teacher), jm.start(CFG, people.teacher)
    jm.move(c, people.teacher, -2)
    assert [j.id for j in jm.queue()] == [t1, t2, c, a, b]
    jm.move(a, people.teacher, -100)  # clamped at the top of the students' part
    assert [j.id for j in jm.queue()] == [t1, t2, a, c, b]
    jm.move(t1, people.teacher, 5)  # the teacher's runs stay ahead of every student's
    assert [j.id for j in jm.queue()] == [t2, t1, a, c, b]
    assert jm.store.get(c).status()["rank"] == 1.0  # kept for a restarted server
    with pytest.raises(ValueError, match="not waiting"):
        jm.move(jm.active()[0], people.teacher, 1)


def test_a_student_may_have_one_run_waiting_or_training(jm, people):
    holder = _hold_slot(jm, people.ann)
    before = len(jm.store.list())
    with pytest.raises(QueueFull, match="already have 1 run"):
        jm.start(CFG, people.ann)  # the paused one counts: it holds a slot
    queued = jm.start(CFG, people.bob)
    with pytest.raises(QueueFull, match="already have 1 run.*at most 1 each"):
        jm.start(CFG, people.bob)
    assert len(jm.store.list()) == before + 1  # a refused Start leaves no folder
    jm.cancel(queued, people.bob)
    assert jm.start(CFG, people.bob)  # cancelled: a new one is welcome
    jm.set_settings(ClassSettings(per_student=2), people.teacher)
    assert jm.start(CFG, people.ann)
    for _ in range(3):
        jm.start(CFG, people.teacher)  # the teacher is never refused
    assert len(jm.queue()) == 5 and jm.snapshot(holder)["state"] == "paused"


def test_the_queue_has_a_limit_for_students_but_not_for_the_teacher(jm, people):
    _hold_slot(jm, people.dee)
    jm.set_settings(ClassSettings(max_queue=2), people.teacher)
    jm.start(CFG, people.ann)
    jm.start(CFG, people.bob)
    with pytest.raises(QueueFull, match=r"queue is full \(2 runs waiting\)"):
        jm.start(CFG, people.cy)
    jm.start(CFG, people.teacher)
    assert len(jm.queue()) == 3 and len(jm.store.list()) == 4


@pytest.mark.parametrize(
    "settings,config,match",
    [
        (ClassSettings(watch_only=True), CFG, "watch only"),
        (ClassSettings(lessons=["quick"]), CFG, "not open to students.*quick"),
        (ClassSettings(max_student_epochs=2), CFG, "at most 2 epoch"),
        (ClassSettings(max_student_images=500), CFG, "at most 500 images; .* 60,000"),
        (ClassSettings(max_student_images=500), replace(CFG, train_subset=501), "501"),
    ],
)
def test_the_teachers_settings_refuse_a_students_start_but_not_the_teachers(
    jm, people, settings, config, match
):
    jm.set_settings(settings, people.teacher)
    with pytest.raises(PermissionError, match=match):
        jm.start(config, people.ann)
    assert jm.store.list() == [] and jm.counts() == {"queued": 0, "running": 0, "paused": 0}
    run_id = jm.start(replace(config, epochs=1), people.teacher)
    assert jm.wait(run_id, 60) == "finished"


def test_what_the_teacher_allows_a_student_may_start(jm, people):
    jm.set_settings(
        ClassSettings(lessons=["quick"], max_student_epochs=1, max_student_images=6000),
        people.teacher,
    )
    quick = replace(PRESETS["quick"], train_subset=6000, threads=1, log_every=2)
    run_id = jm.start(quick, people.ann)  # threads and log_every don't change the lesson
    assert jm.wait(run_id, 120) == "finished"
    with pytest.raises(PermissionError, match="not open"):
        jm.start(replace(quick, lr=0.5), people.ann)  # no longer the lesson


def test_queue_positions_and_waits_are_ordered_positive_and_shrink_as_jobs_end(jm, people):
    holder = _hold_slot(jm, people.dee)
    queued = replace(CFG, epochs=5, train_subset=640)  # the synthetic set's size: estimates fit
    a, b, c = (jm.start(queued, p) for p in (people.ann, people.bob, people.cy))
    times = jm.queue_times()
    assert [times[r][0] for r in (a, b, c)] == [1, 2, 3]
    waits = [times[r][1] for r in (a, b, c)]
    assert 0 < waits[0] < waits[1] < waits[2]
    each = expected_seconds(queued, [])  # nothing has finished in this store yet
    assert waits[1] - waits[0] == pytest.approx(each) and waits[2] - waits[1] == pytest.approx(each)
    snap = jm.snapshot(b)
    assert (snap["queue_position"], snap["queue_wait_s"]) == (2, pytest.approx(waits[1]))
    assert (jm.snapshot(holder)["queue_position"], jm.snapshot(holder)["queue_wait_s"]) == (0, 0)
    assert waits[0] > 10 * each, "the premise: the paused long run ahead of them dominates"

    jm.stop(holder, people.teacher)
    _until(lambda: jm.snapshot(a)["state"] != "queued", what="the first queued run to start")
    later = jm.queue_times()
    assert set(later) == {b, c} and [later[b][0], later[c][0]] == [1, 2]
    assert 0 < later[b][1] < waits[1] and later[b][1] < later[c][1] < waits[2]

    assert jm.wait(a, 60) == "finished"
    _until(lambda: jm.snapshot(b)["state"] != "queued", what="the second queued run to start")
    last = jm.queue_times()
    assert set(last) == {c} and last[c][0] == 1 and 0 < last[c][1] < waits[2]
    assert jm.wait(c, 120) == "finished" and jm.queue_times() == {}
    assert jm.snapshot(c)["queue_position"] == 0


def test_the_board_and_its_version_tell_pages_what_changed(jm, people):
    v0 = jm.version
    first = jm.start(replace(CFG, epochs=1), people.ann)
    assert jm.version > v0
    assert jm.wait(first, 60) == "finished"
    v1 = jm.version
    time.sleep(0.2)
    assert jm.version == v1  # nothing happens, nothing changes
    second = jm.start(replace(CFG, epochs=1), people.teacher)
    jm.wait(second, 60)
    board = jm.board()
    assert board["version"] == jm.version > v1
    assert [r["id"] for r in board["jobs"]] == [second, first]  # newest first
    row = board["jobs"][1]
    assert row["owner"] == people.ann.owner() and row["state"] == "finished"
    assert "batches" not in row and board["max_jobs"] == 1
    assert board["spotlight"] == second and board["settings"] == asdict(ClassSettings())


# -- a restarted server --------------------------------------------------------------------
def test_queued_runs_survive_a_restart_and_start_in_their_order(managers):
    jm = managers()
    people = Class(jm.roster)
    holder = _hold_slot(jm, people.dee)
    short = replace(CFG, epochs=1)
    a, b, c = (jm.start(short, p) for p in (people.ann, people.bob, people.cy))
    t = jm.start(short, people.teacher)
    jm.move(c, people.teacher, -2)
    order = [j.id for j in jm.queue()]
    assert order == [t, c, a, b]
    jm.shutdown()  # the server stops: the training run is interrupted, the queue kept
    assert jm.snapshot(holder)["state"] == "interrupted"
    infos = {i.id: i for i in jm.store.list()}
    assert infos[holder].status == "interrupted"
    assert all(infos[r].status == "queued" for r in order)

    again = managers()
    for run_id in order:
        assert again.wait(run_id, 60) == "finished"
    started = [again.store.get(r).status()["started"] for r in order]
    assert started == sorted(started)  # one slot: each began after the one before
    assert again.snapshot(a)["owner"] == people.ann.owner()
    assert not again.has(holder)  # interrupted, not queued: it waits for someone to resume it
    assert again.spotlight() == t  # the teacher's latest run, found in the store


def test_a_run_whose_server_died_lists_as_interrupted_and_resume_run_finishes_it(managers, tiny):
    class Died(BaseException):
        """The server process ends here (nothing after this line runs)."""

    store = managers().store
    owner = Participant(Roster.new_id(), "Ann")
    run = store.create(asdict(CFG), owner=owner.owner())

    def on_event(event):
        if event["type"] == "batch" and event["epoch"] == 2:
            raise Died

    with pytest.raises(Died):
        train(CFG, run=run, on_event=on_event)
    run.set_state("running", pid=_dead_pid())  # its status still says running, by that pid
    run.release()
    assert run.events()[-1]["type"] == "batch"  # no end event: nobody wrote one
    jm = managers()
    info = store.get(run.id).info()
    assert info.status == "interrupted" and info.resumable and info.epochs_done == 1
    assert jm.queue() == [] and not jm.has(run.id)  # not queued again by itself
    assert jm.wait(jm.resume_run(run.id, owner), 60) == "finished"
    info = store.get(run.id).info()
    assert info.status == "finished" and info.epochs_done == 3
    assert [e["type"] for e in run.events()].count("resume") == 1
    uninterrupted = train(CFG)
    assert _weights_equal(store.get(run.id).load_model(3).state_dict(),
                          uninterrupted.model.state_dict())  # fmt: skip


# -- resuming through the manager ----------------------------------------------------------
@pytest.mark.parametrize("how", ["interrupt", "shutdown"])
def test_resume_run_goes_on_from_the_checkpoint_to_the_same_weights(managers, how):
    jm = managers()
    ann = jm.roster.join(Roster.new_id(), "Ann")
    reached = threading.Event()
    report = jm._runner._on_event

    def on_event(job, event):  # cut the run short at its second epoch's first logged step
        report(job, event)
        if event["type"] == "batch" and event["epoch"] == 2 and not reached.is_set():
            reached.set()
            if how == "interrupt":
                job.control.interrupt()
            else:  # hold the trainer here until the shutdown interrupts it
                _until(lambda: job.control.stopped, what="the shutdown")

    jm._runner._on_event = on_event
    run_id = jm.start(CFG, ann)
    assert reached.wait(60)
    if how == "shutdown":
        jm.shutdown()
    assert jm.wait(run_id, 60) == "interrupted"
    if how == "shutdown":
        jm = managers()  # the next server
    cut = jm.store.get(run_id).info()
    assert cut.resumable and cut.epochs_done == 1
    assert jm.resume_run(run_id, ann) == run_id
    with pytest.raises(ValueError, match="already waiting or training"):
        jm.resume_run(run_id, ann)  # once is enough
    assert jm.wait(run_id, 60) == "finished"

    uninterrupted = train(CFG)
    run = jm.store.get(run_id)
    assert _weights_equal(run.load_model(3).state_dict(), uninterrupted.model.state_dict())
    snap = jm.snapshot(run_id)
    full_steps = [e["step"] for e in uninterrupted.history if e["type"] == "batch"]
    assert [b["step"] for b in snap["batches"]] == full_steps  # the cut-short steps dropped
    assert [e["epoch"] for e in snap["epoch_metrics"]] == [1, 2, 3]
    assert len(snap["resumes"]) == 1 and snap["resumes"][0]["epoch"] == 2
    info = run.info()
    assert (info.status, info.epochs_done, info.resumable) == ("finished", 3, False)


def test_a_finished_or_unknown_run_cannot_be_resumed(jm, people):
    done = jm.start(replace(CFG, epochs=1), people.ann)
    assert jm.wait(done, 60) == "finished"
    with pytest.raises(ValueError, match="finished with 1 finished epoch"):
        jm.resume_run(done, people.ann)
    never = jm.store.create(asdict(CFG), owner=people.ann.owner())
    never.finish("interrupted", "before its first epoch")
    with pytest.raises(ValueError, match="interrupted with 0 finished epoch"):
        jm.resume_run(never.id, people.teacher)
    with pytest.raises(KeyError):
        jm.resume_run("20990101-000000-abcdef", people.teacher)


def test_cancelling_a_queued_resume_keeps_the_run_and_what_it_trained(jm, people):
    _hold_slot(jm, people.dee)
    cut = _interrupted_run(jm.store, people.ann)
    jm.resume_run(cut, people.ann)
    assert [j.id for j in jm.queue()] == [cut] and jm.store.get(cut).info().status == "queued"
    jm.cancel(cut, people.ann)
    info = jm.store.get(cut).info()
    assert info.status == "interrupted" and info.resumable and info.epochs_done == 1
    assert jm.store.get(cut).epochs() == [0, 1]


# -- the predictions cache -----------------------------------------------------------------
@pytest.fixture
def predicted(tmp_path):
    model = LeNet5("classic").eval()
    split = _synthetic_split(300, 3)
    run = RunStore(tmp_path).create({})
    return model, split, run.cache_path("predictions", 1, ".npz")


def test_cached_predict_computes_once_and_then_reads_the_file(predicted, monkeypatch):
    model, split, path = predicted
    assert path.parent.name == "predictions" and path.name == "epoch_001.npz"
    first = cached_predict(model, split, path)
    pd.testing.assert_frame_equal(first, predict(model, split), check_dtype=False)
    assert path.is_file() and list(first.columns) == PREDICTION_COLUMNS

    def no_second_time(*args, **kwargs):
        raise AssertionError("predicted again instead of reading the cache")

    monkeypatch.setattr(predictions_mod, "predict", no_second_time)
    second = cached_predict(model, split, path)
    pd.testing.assert_frame_equal(second, first)


@pytest.mark.parametrize(
    "damage", ["garbage", "truncated", "empty", "a column missing", "another split's size"]
)
def test_a_damaged_predictions_cache_is_computed_again(predicted, monkeypatch, damage):
    import numpy as np

    model, split, path = predicted
    first = cached_predict(model, split, path)
    whole = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an npz file at all")
    elif damage == "truncated":
        path.write_bytes(whole[: len(whole) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "a column missing":
        np.savez(path, **{c: first[c].to_numpy() for c in PREDICTION_COLUMNS[:-1]})
    else:
        np.savez(path, **{c: first[c].to_numpy()[:10] for c in PREDICTION_COLUMNS})
    calls = []
    real = predictions_mod.predict
    monkeypatch.setattr(predictions_mod, "predict", lambda *a: calls.append(1) or real(*a))
    again = cached_predict(model, split, path)
    assert calls == [1]
    pd.testing.assert_frame_equal(again, first)
    pd.testing.assert_frame_equal(cached_predict(model, split, path), first)  # repaired
    assert calls == [1]


def test_resume_follows_the_class_rules_but_not_the_lesson_rules(managers, tiny):
    jm = managers()
    ann = jm.roster.join(Roster.new_id(), "Ann")
    run = jm.store.create(asdict(CFG), owner=ann.owner())
    control = Control()

    def cut_short(event):
        if event["type"] == "batch" and event["epoch"] == 2:
            control.interrupt()

    train(CFG, run=run, control=control, on_event=cut_short)
    assert run.info().resumable
    jm.settings = ClassSettings(watch_only=True)
    with pytest.raises(PermissionError, match="watch only"):
        jm.resume_run(run.id, ann)
    jm.settings = ClassSettings(lessons=["quick"], max_student_epochs=1)  # the run breaks both
    assert jm.wait(jm.resume_run(run.id, ann), 60) == "finished"  # accepted when it started
