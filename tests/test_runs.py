"""The run store (lenet.runs) survives crashes: torn lines, missing status, SIGKILL mid-training,
bad files; its checkpoints stay small and loadable; runs know their owner, wait queued, and
say whether they can be resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

import lenet.runs.store as run_store
from lenet.models import LeNet5, build_model
from lenet.runs import LEGACY_OWNER, CheckpointError, Run, RunInfo, RunStore
from lenet.training import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def _run_with_epochs(store: RunStore, epochs: int = 2) -> Run:
    cfg = TrainConfig()
    run = store.create(asdict(cfg))
    model = LeNet5("classic")
    for e in range(epochs + 1):
        run.save_epoch(e, model, None, cfg, None)
        if e:
            run.append({"type": "epoch", "epoch": e, "test_acc": 90.0 + e})
    return run


def test_ids_are_generated_and_validated(tmp_path):
    store = RunStore(tmp_path)
    run = store.create({"variant": "classic"})
    assert store.valid_id(run.id)
    for bad in ("../etc", "/tmp/x", "20261125-000000-zzzzzz", "", "a/b"):
        with pytest.raises(KeyError):
            store.get(bad)


def test_finished_run_lists_with_best_accuracy(tmp_path):
    store = RunStore(tmp_path)
    run = _run_with_epochs(store)
    run.finish("finished")
    info = store.list()[0]
    assert (info.status, info.epochs_done, info.best_test_acc) == ("finished", 2, 92.0)


def test_running_in_this_process_then_interrupted(tmp_path):
    store = RunStore(tmp_path)
    run = _run_with_epochs(store)
    assert store.list()[0].status == "running"
    run_store._ACTIVE.discard(str(run.path.resolve()))  # as if the training thread died
    assert store.list()[0].status == "interrupted"


def test_interrupted_between_checkpoint_and_epoch_event_counts_the_epoch(tmp_path):
    store = RunStore(tmp_path)
    run = _run_with_epochs(store, epochs=1)
    run.save_epoch(2, LeNet5("classic"), None, TrainConfig(), None)  # then killed before its event
    run_store._ACTIVE.discard(str(run.path.resolve()))
    (info,) = store.list()
    assert info.status == "interrupted" and info.epochs_done == 2
    assert isinstance(store.get(info.id).load_model(2), LeNet5)


def test_torn_last_line_and_missing_status(tmp_path):
    store = RunStore(tmp_path)
    run = _run_with_epochs(store)
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write('{"type": "batch", "ste')  # killed mid-write
    assert [e["epoch"] for e in run.events()] == [1, 2]
    (run.path / "status.json").unlink()
    info = Run(run.path).info()
    assert info.status == "interrupted" and info.best_test_acc == 92.0


def test_corrupt_config_lists_as_corrupt(tmp_path):
    store = RunStore(tmp_path)
    run = _run_with_epochs(store)
    (run.path / "config.json").write_text("{not json")
    info = store.list()[0]
    assert info.status == "corrupt" and "config.json" in info.message


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    store = RunStore(tmp_path)
    run = _run_with_epochs(store)
    path = run.path / "checkpoints" / "epoch_002.pt"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="epoch 2.*damaged"):
        run.load_model(2)
    assert isinstance(run.load_model(1), LeNet5)  # earlier epochs are unharmed
    with pytest.raises(CheckpointError, match="no checkpoint"):
        RunStore(tmp_path / "other").create({}).load_model()


def test_checkpoint_is_a_plain_dict_with_config(tmp_path):
    run = _run_with_epochs(RunStore(tmp_path), 1)
    ckpt = torch.load(run.path / "checkpoints" / "epoch_001.pt", weights_only=True)
    assert (
        set(ckpt) >= {"model", "optimizer", "epoch", "config"}
        and ckpt["config"]["variant"] == "classic"
    )


def test_only_the_newest_checkpoint_keeps_the_optimizer_state(tmp_path):
    cfg = TrainConfig()
    run = RunStore(tmp_path).create(asdict(cfg))
    model = LeNet5("classic")
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(1, 1, 32, 32)).sum().backward()
    optimizer.step()  # Adam has state (two moments per weight) from its first step on
    for epoch in range(4):
        run.save_epoch(epoch, model, optimizer, cfg, None)
    kept = {e: run.load_checkpoint(e)["optimizer"] for e in run.epochs()}
    assert [e for e, state in kept.items() if state is not None] == [3]
    assert len(kept[3]["state"]) == len(list(model.parameters()))  # enough to resume from
    assert all(isinstance(run.load_model(e), LeNet5) for e in run.epochs())


def test_a_paper_checkpoint_saved_with_the_old_layer_names_still_loads(tmp_path):
    cfg = TrainConfig(variant="paper", recipe="paper", init="paper")
    run = RunStore(tmp_path).create(asdict(cfg))
    model = build_model("paper", "paper", seed=1)
    run.save_epoch(0, model, None, cfg, None)
    path = run.path / "checkpoints" / "epoch_000.pt"
    ckpt = torch.load(path, weights_only=True)
    renames = {"C1.conv.": "C1.0.", "C3.conv.": "C3.0.", "C5.conv.": "C5.0.", "F6.fc.": "F6.0."}
    for new, old in renames.items():  # how the paper variant's layers were named before
        for key in [k for k in ckpt["model"] if k.startswith(new)]:
            ckpt["model"][old + key[len(new) :]] = ckpt["model"].pop(key)
    torch.save(ckpt, path)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(run.load_model(0)(x), model.eval()(x))


def test_delete_refuses_active_run(tmp_path):
    store = RunStore(tmp_path)
    run = _run_with_epochs(store)
    with pytest.raises(RuntimeError):
        store.delete(run.id)
    run.finish("stopped")
    store.delete(run.id)
    assert store.list() == []


def test_sigkill_mid_training_leaves_an_interrupted_run(tmp_path):
    env = dict(os.environ, LENET_RUNS_DIR=str(tmp_path), PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lenet",
            "train",
            "--train-subset",
            "3000",
            "--epochs",
            "50",
            "--batch-size",
            "32",
            "--threads",
            "1",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        # the epoch's event is logged just after its checkpoint: wait for both
        while not any('"type": "epoch"' in p.read_text() for p in tmp_path.glob("*/metrics.jsonl")):
            assert proc.poll() is None, "training exited early"
            assert time.time() < deadline, "no checkpoint within 120 s"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    store = RunStore(tmp_path)
    (info,) = store.list()
    assert info.status == "interrupted" and info.epochs_done >= 1
    model = store.get(info.id).load_model(1)
    assert isinstance(model, LeNet5)
    assert any(e["type"] == "epoch" for e in store.get(info.id).events())


# -- owners, queued runs, resuming, caches ---------------------------------------------------
ANN = {"id": "a" * 22, "name": "Ann"}


def test_a_run_records_its_owner_and_one_from_before_owners_is_the_teachers(tmp_path):
    store = RunStore(tmp_path)
    mine = store.create(asdict(TrainConfig()), owner=ANN)
    assert mine.owner == ANN and mine.info().owner == ANN
    assert store.create({}).owner == LEGACY_OWNER  # no owner given: the teacher's
    old = _run_with_epochs(store)
    old.finish("finished")
    status = json.loads((old.path / "status.json").read_text())
    del status["owner"]  # as runs were stored before owners
    (old.path / "status.json").write_text(json.dumps(status))
    assert old.owner == LEGACY_OWNER and old.info().owner == LEGACY_OWNER
    status["owner"] = "not a dict"
    (old.path / "status.json").write_text(json.dumps(status))
    assert old.owner == LEGACY_OWNER and old.info().owner == LEGACY_OWNER
    assert {i.id: i.owner for i in store.list()}[mine.id] == ANN


def test_a_queued_run_waits_unheld_until_set_running(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(asdict(TrainConfig()), owner=ANN, queued=True)
    status = run.status()
    assert status["state"] == "queued" and status["queued_at"] > 0 and "pid" not in status
    info = run.info()
    assert info.status == "queued" and info.queued_at == status["queued_at"]
    assert not info.resumable and info.started is None
    run.set_state("running", pid=os.getpid(), started=123.0)
    assert run.status()["owner"] == ANN and run.status()["queued_at"] == status["queued_at"]
    assert run.info().status == "running" and run.info().started == 123.0
    with pytest.raises(RuntimeError):
        store.delete(run.id)  # being written by this process now
    run.finish("stopped")
    store.delete(run.id)
    queued = store.create({}, queued=True)
    store.delete(queued.id)  # nobody writes a queued run: it may go at once
    assert store.list() == []


def test_the_epoch_events_record_the_training_speed(tmp_path):
    run = RunStore(tmp_path).create(asdict(TrainConfig()))
    assert run.info().images_per_s is None
    run.append({"type": "epoch", "epoch": 1, "test_acc": 90.0, "images_per_s": 1234.5})
    assert run.info().images_per_s == 1234.5 and run.info().epochs_done == 1


@pytest.mark.parametrize(
    "state,epochs_done,planned,resumable",
    [
        ("interrupted", 1, 3, True),
        ("interrupted", 2, 3, True),
        ("interrupted", 0, 3, False),  # nothing to go on from
        ("interrupted", 3, 3, False),  # nothing left to train
        ("finished", 1, 3, False),
        ("stopped", 1, 3, False),  # someone asked it to stop
        ("failed", 1, 3, False),
        ("queued", 1, 3, False),
    ],
)
def test_only_an_interrupted_run_with_a_finished_epoch_and_epochs_left_is_resumable(
    state, epochs_done, planned, resumable
):
    info = RunInfo("20260101-000000-abcdef", state, config={"epochs": planned},
                   epochs_done=epochs_done)  # fmt: skip
    assert info.resumable is resumable
    assert not RunInfo("x", "interrupted", config={}, epochs_done=1).resumable  # a corrupt one


def test_a_run_killed_while_running_is_resumable(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(asdict(TrainConfig(epochs=3)))
    run.save_epoch(1, LeNet5("classic"), None, TrainConfig(), None)
    run.append({"type": "epoch", "epoch": 1, "test_acc": 91.0})
    dead = subprocess.Popen(["true"])
    dead.wait()
    run.set_state("running", pid=dead.pid)  # the process that trained it is gone
    run.release()
    info = store.get(run.id).info()
    assert info.status == "interrupted" and info.epochs_done == 1 and info.resumable


def test_the_training_state_is_kept_in_the_newest_checkpoint_only(tmp_path):
    cfg = TrainConfig()
    run = RunStore(tmp_path).create(asdict(cfg))
    model = LeNet5("classic")
    for epoch in range(3):
        state = {"recipe": {"order": torch.ByteTensor([epoch])}, "step": epoch * 10,
                 "seen": epoch * 100, "train_seconds": float(epoch)}  # fmt: skip
        run.save_epoch(epoch, model, None, cfg, None, training=state)
    kept = {e: run.load_checkpoint(e)["training"] for e in run.epochs()}
    assert [e for e, t in kept.items() if t is not None] == [2]
    assert kept[2]["step"] == 20 and torch.equal(kept[2]["recipe"]["order"], torch.ByteTensor([2]))


def test_cache_paths_live_in_the_run_folder_one_per_epoch(tmp_path):
    run = RunStore(tmp_path).create({})
    path = run.cache_path("predictions", 3, ".npz")
    assert path == run.path / "predictions" / "epoch_003.npz" and path.parent.is_dir()
    assert run.cache_path("predictions", 12, ".npz").name == "epoch_012.npz"
