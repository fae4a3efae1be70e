"""``bench --only ray``: a job on the Ray cluster against the same job on a local worker.

The cluster is a head (no CPUs: it keeps the class board) and one worker node of 2 CPUs, both on
this machine's 2 cores, inside a private network namespace (``benchmarks.local_cluster``). Each
side trains the same configuration through its job manager (local worker processes, or the
board actor on the cluster): once to warm its worker or actor (torch imported, MNIST loaded,
as for a class's second Start), then in turn with the other, twice; the best of each counts.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.local_cluster import INSIDE_ENV, Cluster, in_private_network, namespace_refused

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO, GOAL_FIRST_BATCH_S = 0.9, 2.0
ROUNDS = 2


def bench_ray() -> dict:
    if os.environ.get(INSIDE_ENV) != "1":
        reason = namespace_refused()
        if reason:
            return {"skipped": reason}
        done = in_private_network(f"{sys.executable} -m benchmarks --only ray --json", ROOT, 900)
        for line in reversed(done.stdout.splitlines()):  # Ray's own messages come after it
            if line.startswith('{"machine"'):
                return json.loads(line)["ray"]
        return {"failed": (done.stdout + done.stderr)[-2000:]}
    return _measure()


def _job(jm, config, who) -> dict:
    """Start → first batch, and the epoch's images/s, of one job of ``config``."""
    t0 = time.perf_counter()
    run_id = jm.start(config, who)
    first = None
    while first is None:
        snap = jm.snapshot(run_id)
        if snap["step"] > 0:
            first = time.perf_counter() - t0
        elif snap["state"] not in ("queued", "starting", "running"):
            raise RuntimeError(f"the benchmark's run ended early: {snap['message']}")
        else:
            time.sleep(0.02)
    state = jm.wait(run_id, 600)
    snap = jm.snapshot(run_id)
    return {"state": state, "first_batch_s": round(first, 3),
            "images_per_s": round(snap["epoch_metrics"][-1]["images_per_s"], 1),
            "test_accuracy": snap["epoch_metrics"][-1]["test_acc"]}  # fmt: skip


def _measure() -> dict:
    from lenet.runs import RunStore
    from lenet.serving import JobManager, Participant
    from lenet.serving.cluster import connect
    from lenet.serving.people import TEACHER
    from lenet.serving.replicas import ClusterJobManager
    from lenet.training import PRESETS

    config = replace(PRESETS["default"], epochs=1)
    teacher = Participant("the-teacher-of-the-benchmark", "Teacher", TEACHER)
    with tempfile.TemporaryDirectory(prefix="lenet-bench-ray-") as tmp:
        nodes = Cluster(Path(tmp))
        local = JobManager(RunStore(Path(tmp) / "local"), max_jobs=1, warm=True)
        try:
            t0 = time.perf_counter()
            nodes.start()
            cluster_up_s = time.perf_counter() - t0
            connect(nodes.address)
            board = ClusterJobManager(nodes.address, RunStore(Path(tmp) / "shared"))
            _job(local, config, teacher), _job(board, config, teacher)  # both warm now
            # In turn, the best of each: the cores are shared, one pair alone can mislead.
            pairs = [(_job(local, config, teacher), _job(board, config, teacher))
                     for _ in range(ROUNDS)]  # fmt: skip
        finally:
            local.shutdown()
            nodes.stop()
    here = max((p[0] for p in pairs), key=lambda r: r["images_per_s"])
    there = max((p[1] for p in pairs), key=lambda r: r["images_per_s"])
    ratio = there["images_per_s"] / here["images_per_s"]
    return {
        "cluster": "a head (0 CPUs, the board) and 1 worker node (2 CPUs) on this machine",
        "config": {"preset": "default", "epochs": 1, "train_images": 60000},
        "cluster_start_s": round(cluster_up_s, 1),
        "local": here,
        "ray": there,
        "rounds": ROUNDS,
        "images_per_s_ratio": round(ratio, 3),
        "goal_ratio": GOAL_RATIO,
        "first_batch_s_warm": there["first_batch_s"],
        "goal_first_batch_s": GOAL_FIRST_BATCH_S,
        "meets_goals": ratio >= GOAL_RATIO and there["first_batch_s"] <= GOAL_FIRST_BATCH_S,
    }
