"""A server or CLI given a cluster address it can't use: the address and the reason, and only
training is off. (The cluster itself is tested in ``tests/cluster``, in a network namespace.)"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from app_utils import ROOT, open_page
from lenet.runs import RunStore
from lenet.serving import ClusterUnavailable, Participant
from lenet.serving.cluster import connect, resources
from lenet.serving.people import TEACHER
from lenet.training import TrainConfig

pytest.importorskip("ray")
TEACHER_ME = Participant("the-teacher-of-a-lost-cluster", "Teacher", TEACHER)


def _closed_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "address,match",
    [("nonsense", "not a Ray address"), ("host:0", "not a Ray address"),
     ("127.0.0.1:99999", "not a Ray address")],
)  # fmt: skip
def test_a_malformed_address_is_refused_with_the_form_it_needs(address, match):
    with pytest.raises(ClusterUnavailable, match=match):
        connect(address)


def test_an_unreachable_cluster_is_named_and_only_starting_is_off(tmp_path):
    from lenet.serving.replicas import Unreachable, manager_for

    address = f"127.0.0.1:{_closed_port()}"
    store = RunStore(tmp_path)
    jm = manager_for(address, store)
    assert isinstance(jm, Unreachable) and address in jm.unavailable
    with pytest.raises(ClusterUnavailable, match=f"No Ray cluster answers at {address}"):
        jm.start(TrainConfig(), TEACHER_ME)
    assert store.list() == []  # nothing was stored for the refused run
    assert jm.board()["jobs"] == [] and jm.counts()["queued"] == 0


def test_the_cli_names_the_address_it_could_not_reach(tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "lenet", "train", "--ray", address, "--epochs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "LENET_RUNS_DIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 4
    assert f"No Ray cluster answers at {address}" in done.stderr
    assert "Traceback" not in done.stderr and RunStore(tmp_path).list() == []


def test_the_dashboard_says_training_is_off_and_start_is_refused(monkeypatch, use_runs, tmp_path):
    monkeypatch.setenv("LENET_RAY_ADDRESS", f"127.0.0.1:{_closed_port()}")
    use_runs(tmp_path)  # a job manager made for this address, not one cached before
    at = open_page("train")
    at.run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "No Ray cluster answers at 127.0.0.1:" in warnings and "Training is off" in warnings
    start = next(b for b in at.button if b.label == "Start training")
    start.click().run()
    assert not at.exception
    shown = " ".join(w.value for w in [*at.warning, *at.sidebar.warning])
    assert shown.count("No Ray cluster answers") >= 2  # the sidebar's, and the refusal's


def test_a_job_asks_the_cluster_for_a_cpu_per_thread_and_a_quarter_gpu_for_cuda():
    assert resources(TrainConfig(threads=2)) == {"num_cpus": 2, "num_gpus": 0}
    assert resources(TrainConfig(threads=1, device="cuda")) == {"num_cpus": 1, "num_gpus": 0.25}


def test_a_run_trained_on_the_cluster_says_on_which_node(use_runs, tmp_path):
    from app_utils import STUDENT_ID, stored_run

    use_runs(tmp_path)
    store = RunStore(tmp_path)
    owner = Participant(STUDENT_ID, "Ann")
    run_id = stored_run(store, owner, [90.0, 95.0])
    store.get(run_id).set_state("finished", backend="ray", node="1a2b3c4d" + "0" * 48)
    at = open_page("train", {"run": run_id})
    at.run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "The run is yours · on the Ray cluster, node 1a2b3c4d." in captions
