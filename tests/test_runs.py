"""The run store (lenet.runs) survives crashes: torn lines, missing status, SIGKILL mid-training,
bad files; and its checkpoints stay small and loadable."""

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
from lenet.runs import CheckpointError, Run, RunStore
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
