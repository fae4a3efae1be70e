"""lenet.serving without Streamlit: the JobManager's background training, snapshots, the
concurrency cap (a second job waits in the queue) and shutdown; the worker processes the
dashboard trains in; their protocol. Who may do what, the queue's order and resuming are
tests/test_classroom.py's."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

import lenet.training.loop as train_mod
from lenet.data import data_dir
from lenet.models import LeNet5
from lenet.runs import RunStore
from lenet.serving import JobManager, Participant, Roster, default_max_jobs
from lenet.serving.protocol import apply_command, decode, encode, read_weights, write_weights
from lenet.training import Control, TrainConfig
from test_train import _synthetic_split

REPO = Path(__file__).resolve().parents[1]
CFG = TrainConfig(epochs=2, batch_size=32, lr=3e-3, log_every=2, threads=1)
ANN = Participant(Roster.new_id(), "Ann")  # students: commands are theirs to give
BOB = Participant(Roster.new_id(), "Bob")


def _until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def jm(monkeypatch, tmp_path):
    data = {"train": _synthetic_split(640, 0), "test": _synthetic_split(200, 1)}
    monkeypatch.setattr(train_mod, "load_split", lambda split, normalization="mnist": data[split])
    manager = JobManager(RunStore(tmp_path), max_jobs=1, isolation="thread")  # sees the monkeypatch
    yield manager
    manager.shutdown()


def test_job_runs_to_completion_and_is_stored(jm):
    job = jm.start(CFG, ANN)
    assert jm.wait(job, timeout=60) == "finished"
    snap = jm.snapshot(job)
    assert (
        snap["progress"] == 1.0
        and len(snap["epoch_metrics"]) == 2
        and snap["latest"]["test_acc"] > 50
    )
    assert snap["eta_seconds"] == 0.0 and snap["images_per_s"] > 0
    assert jm.store.get(job).epochs() == [0, 1, 2]
    model, epoch, _ = jm.live_model(job)
    assert epoch == 2 and model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_the_cap_queues_a_second_job_until_the_first_ends(jm):
    first = jm.start(replace(CFG, epochs=200), ANN)
    _until(lambda: jm.snapshot(first)["step"] > 0)
    second = jm.start(replace(CFG, epochs=1), BOB)  # never "busy": it waits its turn
    time.sleep(0.5)
    assert jm.snapshot(second)["state"] == "queued" and jm.snapshot(second)["step"] == 0
    assert jm.active() == [first] and jm.snapshot(second)["queue_position"] == 1
    jm.stop(first, ANN)
    assert jm.wait(first, timeout=60) == "stopped"
    assert jm.wait(second, timeout=60) == "finished"  # the slot went to the next in line
    ended, started = jm.store.get(first).status()["ended"], jm.store.get(second).status()["started"]
    assert ended <= started  # one slot: never both at once
    assert [j["id"] for j in jm.jobs()] == [second, first]


def test_paused_state_and_diverged_message(jm):
    job = jm.start(replace(CFG, epochs=200), ANN)
    jm.pause(job, ANN)
    time.sleep(0.3)
    assert jm.snapshot(job)["state"] == "paused"
    jm.stop(job, ANN)
    jm.wait(job, 30)
    bad = jm.start(replace(CFG, optimizer="sgd", lr=1e3, schedule="constant"), ANN)
    assert jm.wait(bad, 60) == "diverged"
    assert "learning rate" in jm.snapshot(bad)["message"]


def test_a_crashing_job_is_reported_not_raised(jm, monkeypatch):
    monkeypatch.setattr(train_mod, "build_model", lambda *a, **k: 1 / 0)
    job = jm.start(CFG, ANN)
    assert jm.wait(job, 30) == "failed"
    assert "ZeroDivisionError" in jm.snapshot(job)["message"]
    assert jm.store.list()[0].status == "failed"


def test_shutdown_interrupts_a_job_training_in_a_thread(jm):
    job = jm.start(replace(CFG, epochs=200), ANN)
    queued = jm.start(CFG, BOB)
    _until(lambda: jm.snapshot(job)["epoch_metrics"])
    jm.shutdown()
    assert jm.snapshot(job)["state"] == "interrupted"
    info = jm.store.get(job).info()
    assert info.status == "interrupted" and info.epochs_done >= 1 and info.resumable
    time.sleep(0.3)  # nothing starts after a shutdown: the queued run waits for the next server
    assert jm.snapshot(queued)["state"] == "queued"
    assert jm.store.get(queued).info().status == "queued"


def test_the_default_number_of_slots_is_one_per_two_cores_or_lenet_max_jobs(monkeypatch):
    monkeypatch.delenv("LENET_MAX_JOBS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert default_max_jobs() == 8
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert default_max_jobs() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_max_jobs() == 1
    monkeypatch.setenv("LENET_MAX_JOBS", "3")
    assert default_max_jobs() == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    for ignored in ("0", "-2", "many", ""):
        monkeypatch.setenv("LENET_MAX_JOBS", ignored)
        assert default_max_jobs() == 8


# -- the line protocol between a manager and its worker ------------------------------------
def test_apply_command_drives_a_control():
    control = Control()
    apply_command(control, decode(encode({"cmd": "pause"})))
    assert control.paused
    apply_command(control, {"cmd": "resume"})
    assert not control.paused
    apply_command(control, {"cmd": "lr", "lr": 0.001})
    assert control.take_lr() == 0.001
    apply_command(control, {"cmd": "lr", "lr": 1})  # JSON's 1 is a number too
    assert control.take_lr() == 1.0
    apply_command(control, {"cmd": "stop"})
    assert control.stopped and not control.interrupted
    shutting_down = Control()
    apply_command(shutting_down, {"cmd": "interrupt"})
    assert shutting_down.stopped and shutting_down.interrupted


@pytest.mark.parametrize(
    "message",
    [{"cmd": "reboot"}, {}, {"cmd": "lr"}, {"cmd": "lr", "lr": "0.1"}, {"cmd": "lr", "lr": None}],
)
def test_apply_command_refuses_an_unknown_or_malformed_command(message):
    control = Control()
    with pytest.raises(ValueError):
        apply_command(control, message)
    assert not control.paused and not control.stopped and control.take_lr() is None


def test_decode_refuses_what_is_not_a_message_and_weights_files_round_trip(tmp_path):
    for line in ("not json\n", "[1, 2]\n", '"pause"\n'):
        with pytest.raises(ValueError):
            decode(line)
    state = LeNet5("classic").state_dict()
    write_weights(tmp_path / "w.pt", state, 3, 120)
    got, epoch, step = read_weights(tmp_path / "w.pt")
    assert (epoch, step) == (3, 120) and all(torch.equal(got[k], state[k]) for k in state)
    (tmp_path / "half.pt").write_bytes(b"half a file")
    with pytest.raises(ValueError, match="unreadable"):
        read_weights(tmp_path / "half.pt")


# -- worker processes (isolation="process"): real MNIST, a small subset ----------------------
SMALL = TrainConfig(epochs=2, train_subset=1024, batch_size=64, log_every=2, threads=1)
# long enough that a signal always lands mid-run: about a second per epoch here
LONG = TrainConfig(epochs=100, train_subset=3000, batch_size=64, log_every=2, threads=1)


@pytest.fixture
def pm(tmp_path):
    manager = JobManager(RunStore(tmp_path), max_jobs=1, isolation="process")
    yield manager
    manager.shutdown()


def test_worker_process_trains_and_obeys_every_command(pm):
    job = pm.start(replace(SMALL, epochs=3), ANN)
    proc = pm._jobs[job].process
    assert proc.pid != os.getpid()
    pm.pause(job, ANN)
    _until(lambda: pm.snapshot(job)["state"] == "paused")
    time.sleep(1.5)  # paused before or after its first batch: either way no progress now
    held = pm.snapshot(job)["step"]
    time.sleep(1.0)
    assert pm.snapshot(job)["step"] == held
    pm.set_lr(job, ANN, 1e-3)
    pm.resume(job, ANN)
    _until(lambda: pm.snapshot(job)["lr_changes"])
    assert pm.snapshot(job)["lr_changes"][0]["lr"] == 1e-3
    assert pm.wait(job, 120) == "finished"
    snap = pm.snapshot(job)
    assert (
        snap["progress"] == 1.0
        and len(snap["epoch_metrics"]) == 3
        and snap["latest"]["test_acc"] > 60
    )
    assert proc.returncode == 0
    model, epoch, _ = pm.live_model(job)  # the worker's last published weights, kept after it ended
    stored = pm.store.get(job).load_model(3)
    a, b = model.state_dict(), stored.state_dict()
    assert epoch == 3 and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    info = pm.store.list()[0]
    assert (info.status, info.epochs_done) == ("finished", 3)


def test_live_weights_arrive_while_the_worker_trains(pm):
    job = pm.start(replace(SMALL, epochs=30), ANN)
    _until(lambda: pm.live_model(job) is not None and pm.live_model(job)[2] > 0)
    model, epoch, step = pm.live_model(job)
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 10) and step > 0
    pm.stop(job, ANN)
    assert pm.wait(job, 60) == "stopped"
    assert pm.store.get(job).info().status == "stopped"


def test_a_worker_killed_mid_run_leaves_it_interrupted_and_resumable_and_the_queue_moves_on(pm):
    job = pm.start(replace(SMALL, epochs=4), ANN)
    waiting = pm.start(replace(SMALL, epochs=1), BOB)
    _until(lambda: pm.snapshot(job)["epoch_metrics"])  # one finished epoch, checkpointed
    assert pm.snapshot(waiting)["state"] == "queued"
    os.kill(pm._jobs[job].process.pid, signal.SIGKILL)  # out of memory, say: no goodbye
    assert pm.wait(job, 30) == "interrupted"
    assert "exit code -9" in pm.snapshot(job)["message"]
    info = pm.store.get(job).info()
    assert info.status == "interrupted" and info.resumable and 1 <= info.epochs_done < 4
    assert pm.wait(waiting, 120) == "finished"  # the slot went to the next in line
    assert pm.resume_run(job, ANN) == job  # and the killed run goes on where it was
    assert pm.wait(job, 120) == "finished", pm.snapshot(job)["message"]
    info = pm.store.get(job).info()
    assert (info.status, info.epochs_done) == ("finished", 4)
    assert [e["type"] for e in pm.store.get(job).events()].count("resume") == 1
    assert [e["epoch"] for e in pm.snapshot(job)["epoch_metrics"]] == [1, 2, 3, 4]
    pm.delete_run(job, ANN)  # no longer held as "being written" by this process


def test_with_the_teachers_setting_a_lost_workers_run_is_queued_again_once(pm):
    pm.settings = replace(pm.settings, requeue_interrupted=True)
    job = pm.start(replace(LONG, epochs=50), ANN)
    _until(lambda: pm.snapshot(job)["epoch_metrics"])
    os.kill(pm._jobs[job].process.pid, signal.SIGKILL)
    _until(lambda: pm.store.get(job).status().get("resume"), 30)  # queued again by itself
    _until(lambda: pm._jobs[job].process is not None and pm._jobs[job].state == "running", 60)
    os.kill(pm._jobs[job].process.pid, signal.SIGKILL)  # lost a second time: not again
    _until(lambda: pm.snapshot(job)["state"] == "interrupted", 30)
    time.sleep(1.0)
    assert pm.snapshot(job)["state"] == "interrupted" and pm.store.get(job).info().resumable


def test_commands_for_a_training_run_refuse_a_queued_one(jm):
    first = jm.start(replace(CFG, epochs=50), ANN)
    _until(lambda: jm.snapshot(first)["state"] == "running")
    waiting = jm.start(CFG, BOB)
    for command in (jm.pause, jm.resume, jm.stop):
        with pytest.raises(ValueError, match="waits in the queue: cancel it instead"):
            command(waiting, BOB)
    with pytest.raises(ValueError, match="waits in the queue"):
        jm.set_lr(waiting, BOB, 0.1)
    jm.stop(first, ANN)


def test_a_worker_is_interrupted_when_the_manager_goes_away(tmp_path):
    """Closing the command pipe (the server exited or was killed) ends the run cleanly, as
    interrupted: nobody asked it to stop."""
    pm = JobManager(RunStore(tmp_path), isolation="process")
    job = pm.start(replace(SMALL, epochs=200), ANN)
    _until(lambda: pm.snapshot(job)["state"] == "running")
    pm._jobs[job].process.stdin.close()
    assert pm.wait(job, 60) == "interrupted"
    assert pm._jobs[job].process.returncode == 0
    assert pm.store.get(job).info().status == "interrupted"
    pm.shutdown()


def test_sigterm_interrupts_a_worker_and_keeps_its_finished_epochs(pm):
    job = pm.start(LONG, ANN)
    _until(lambda: pm.snapshot(job)["epoch_metrics"], timeout=120)  # one epoch checkpointed
    os.kill(pm._jobs[job].process.pid, signal.SIGTERM)
    assert pm.wait(job, 60) == "interrupted"
    assert pm._jobs[job].process.returncode == 0  # ended by its own handler, not the signal
    assert "interrupted" in pm.snapshot(job)["message"]
    run = pm.store.get(job)
    info = run.info()
    assert info.status == "interrupted" and 1 <= info.epochs_done < LONG.epochs
    assert run.events()[-1]["type"] == "interrupted"
    assert isinstance(run.load_model(info.epochs_done), LeNet5)


def test_shutdown_interrupts_a_worker_during_training(tmp_path):
    pm = JobManager(RunStore(tmp_path), isolation="process")
    job = pm.start(LONG, ANN)
    _until(lambda: pm.snapshot(job)["epoch_metrics"], timeout=120)
    pm.shutdown()
    assert pm.snapshot(job)["state"] == "interrupted"
    assert pm._jobs[job].process.returncode == 0  # it ended by itself, in time: not killed
    info = pm.store.get(job).info()
    assert info.status == "interrupted" and info.epochs_done >= 1
    assert isinstance(pm.store.get(job).load_model(1), LeNet5)


def test_a_relative_data_dir_is_found_by_the_worker_process(tmp_path, monkeypatch):
    """LENET_DATA_DIR relative to the server's folder: the worker runs elsewhere (in the
    package root), so the manager must hand it the folder it means."""
    (tmp_path / "mnist-link").symlink_to(data_dir().resolve(), target_is_directory=True)
    assert not (REPO / "mnist-link").exists()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LENET_DATA_DIR", "mnist-link")
    pm = JobManager(RunStore(tmp_path / "runs"), isolation="process")
    try:
        job = pm.start(TrainConfig(epochs=1, train_subset=500, threads=1), ANN)
        assert pm.wait(job, 120) == "finished", pm.snapshot(job)["message"]
    finally:
        pm.shutdown()
    # the server's MNIST, not a copy fetched into "mnist-link" under the worker's own folder
    assert not (REPO / "mnist-link").exists()


def test_a_warm_worker_trains_job_after_job_and_ends_with_the_manager(tmp_path):
    pm = JobManager(RunStore(tmp_path), isolation="process", warm=True)
    try:
        [worker] = pm._runner.idle
        assert worker.poll() is None
        first = pm.start(replace(SMALL, epochs=1), ANN)
        assert pm._jobs[first].process is worker and pm._runner.idle == []
        assert pm.wait(first, 120) == "finished"
        _until(lambda: pm._runner.idle == [worker])  # back, waiting: no new import of torch
        second = pm.start(replace(SMALL, epochs=1, seed=1), ANN)
        assert pm._jobs[second].process is worker
        assert pm.wait(second, 120) == "finished"
        assert pm.store.get(second).info().status == "finished"
    finally:
        pm.shutdown()
    assert worker.poll() is not None and pm._runner.idle == []


def test_a_killed_warm_worker_is_replaced(tmp_path):
    pm = JobManager(RunStore(tmp_path), isolation="process", warm=True)
    try:
        [worker] = pm._runner.idle
        job = pm.start(replace(SMALL, epochs=3), ANN)
        _until(lambda: pm.snapshot(job)["state"] == "running")
        worker.kill()
        assert pm.wait(job, 60) == "interrupted"
        _until(lambda: len(pm._runner.idle) == 1)
        [fresh] = pm._runner.idle
        assert fresh is not worker and fresh.poll() is None
    finally:
        pm.shutdown()


def test_worker_protocol_ignores_bad_commands(tmp_path):
    """The worker's stdin protocol, driven by hand: a bad command is logged, never fatal, and a
    command for another run (the job before, say) does not touch this one."""
    store = RunStore(tmp_path)
    run = store.create({})
    cfg = asdict(replace(SMALL, epochs=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lenet.serving.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(REPO),
    )
    job = {
        "config": cfg,
        "runs_dir": str(tmp_path),
        "data_dir": str(data_dir().resolve()),
        "run_id": run.id,
        "weights": str(tmp_path / "w.pt"),
    }
    other_run = json.dumps({"cmd": "stop", "run": "someone-else"})  # not this job: no effect
    bad_lr = json.dumps({"cmd": "lr", "lr": -1, "run": run.id})
    proc.stdin.write(json.dumps(job) + "\n" + "not json\n" + other_run + "\n" + bad_lr + "\n")
    proc.stdin.flush()  # kept open: its end would mean "the manager went away, stop"
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["type"] == "_result":
            break
    proc.stdin.close()
    err = proc.stderr.read()
    assert proc.wait(30) == 0
    assert [e["type"] for e in events][-2:] == ["done", "_result"] and events[-1][
        "status"
    ] == "finished"
    assert err.count("ignored command") == 2
    assert "which is not training here: ignored" in err
    assert store.get(run.id).info().status == "finished"
