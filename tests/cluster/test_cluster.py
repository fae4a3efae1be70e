"""Training on a real Ray cluster: the CLI, one board shared by several replicas, a lost node."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from lenet.runs import RunStore
from lenet.serving import ClassSettings, Participant
from lenet.serving.people import STUDENT, TEACHER
from lenet.training import PRESETS

TEACHER_ME = Participant("the-teacher-on-the-cluster-01", "Teacher", TEACHER)
ANN = Participant("ann-a-student-on-the-cluster", "Ann", STUDENT)
QUICK = replace(PRESETS["quick"], train_subset=3000)


def _cli(*args: str, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "lenet", "train", *args, "--json"], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _until(predicate, timeout: float = 120.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def _short(snapshot: dict) -> dict:
    return {k: v for k, v in snapshot.items() if k not in ("batches", "epoch_metrics")}


@pytest.fixture(scope="module")
def replicas(cluster, runs):
    """Two replicas' handles on the one board (in this process; the browser test has two
    servers)."""
    from lenet.serving.cluster import connect
    from lenet.serving.replicas import ClusterJobManager

    connect(cluster.address)
    return ClusterJobManager(cluster.address, runs), ClusterJobManager(cluster.address, runs)


def test_a_cli_run_on_the_cluster_reaches_the_accuracy_of_a_local_run(cluster, tmp_path):
    import os

    flags = ["--preset", "quick", "--train-subset", "3000"]
    env = {**cluster.env, "LENET_RUNS_DIR": str(tmp_path)}
    local = _cli(*flags, env={k: v for k, v in env.items() if k != "LENET_RAY_ADDRESS"})
    remote = _cli(*flags, "--ray", cluster.address, env=env)
    assert remote["status"] == local["status"] == "finished"
    assert remote["test_accuracy"] == pytest.approx(local["test_accuracy"], abs=0.5)
    assert remote["test_accuracy"] > 80
    status = RunStore(tmp_path).get(remote["run_id"]).status()
    assert status["backend"] == "ray" and status["state"] == "finished"
    assert len(status["node"]) == 56  # the id of the node it trained on
    assert "backend" not in RunStore(tmp_path).get(local["run_id"]).status()
    assert os.environ.get("RAY_AUTH_MODE") == "token"


def test_a_job_started_on_one_replica_is_watched_and_controlled_from_the_other(replicas, runs):
    a, b = replicas
    run_id = a.start(replace(QUICK, epochs=30), TEACHER_ME)
    _until(lambda: b.snapshot(run_id)["step"] > 0, what="the run to train, as B sees it")
    status = runs.get(run_id).status()
    assert status["backend"] == "ray" and len(status["node"]) == 56  # Ray's node id, in hex
    assert runs.get(run_id).info().status == "running"  # alive by its heartbeat, not a pid
    with pytest.raises(PermissionError, match="belongs to Teacher"):
        b.stop(run_id, ANN)  # a student on B can't stop the teacher's job from A
    b.pause(run_id, TEACHER_ME)
    assert a.snapshot(run_id)["state"] == "paused"
    time.sleep(1.5)  # the batch in hand arrives; then nothing moves
    held = a.snapshot(run_id)["step"]
    time.sleep(1.5)
    assert a.snapshot(run_id)["step"] == held
    b.resume(run_id, TEACHER_ME)
    _until(lambda: a.snapshot(run_id)["step"] > held, what="the resumed run to move")
    assert a.live_model(run_id) is not None  # the live weights come through the object store
    b.stop(run_id, TEACHER_ME)
    assert a.wait(run_id, 60) == "stopped"
    assert runs.get(run_id).info().status == "stopped"
    assert [r["id"] for r in a.board()["jobs"]] == [r["id"] for r in b.board()["jobs"]]


def test_a_lost_node_leaves_the_run_interrupted_and_it_is_queued_again_once(
    cluster, replicas, runs
):
    a, _ = replicas
    a.set_settings(ClassSettings(requeue_interrupted=True), TEACHER_ME)
    cfg = replace(QUICK, epochs=40)
    run_id = a.start(cfg, TEACHER_ME)
    _until(lambda: runs.get(run_id).status().get("epochs_done", 0) >= 2, 180, "two epochs")
    assert cluster.kill_node(cluster.nodes[0]) > 1
    _until(lambda: a.snapshot(run_id)["state"] in ("queued", "starting"), 120,
           "the lost run to be queued again")  # fmt: skip
    info = runs.get(run_id).info()
    assert info.epochs_done >= 2
    assert runs.get(run_id).status()["requeued"] == 1
    cluster.add_node()  # somewhere to go on
    _until(lambda: a.snapshot(run_id)["state"] == "running", 180,
           lambda: f"the run to go on: {_short(a.snapshot(run_id))}")  # fmt: skip
    a.stop(run_id, TEACHER_ME)
    assert a.wait(run_id, 60) == "stopped"
    snap = a.snapshot(run_id)
    assert snap["resumes"] and snap["resumes"][0]["epoch"] >= 2
    a.set_settings(ClassSettings(), TEACHER_ME)
