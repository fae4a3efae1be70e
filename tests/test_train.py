"""The trainer (``lenet.training``) on tiny synthetic data: control, determinism, divergence,
events, the store, resuming an interrupted run, and the config's checks."""

import json
import math
import threading
import time
from dataclasses import replace

import pytest
import torch

import lenet.training.loop as train_mod
from lenet.analysis.metrics import evaluate_classification
from lenet.data import Split
from lenet.models import LeNet5
from lenet.runs import RunStore, curves_from_events
from lenet.training import (
    LESSONS,
    PRESETS,
    TYPICAL_SECONDS,
    ConfigError,
    Control,
    TrainConfig,
    lesson_of,
    make_config,
    train,
    train_epoch_classification,
    training_device,
)


def _synthetic_split(n: int, seed: int) -> Split:
    """Ten classes a convnet can learn: each class lights a different horizontal band."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randn(n, 1, 32, 32, generator=g) * 0.3
    for c in range(10):
        images[labels == c, 0, 3 * c : 3 * c + 3, 4:28] += 2.0
    return Split(images.contiguous(), labels, torch.zeros(n, 28, 28, dtype=torch.uint8), "mnist")


@pytest.fixture
def tiny(monkeypatch):
    data = {"train": _synthetic_split(640, 0), "test": _synthetic_split(200, 1)}
    monkeypatch.setattr(train_mod, "load_split", lambda split, normalization="mnist": data[split])
    return data


CFG = TrainConfig(epochs=2, batch_size=32, lr=3e-3, log_every=2, threads=1)


def _losses(history):
    return [e["loss"] for e in history if e["type"] == "batch"]


def test_learns_and_reports_events(tiny):
    result = train(CFG)
    kinds = [e["type"] for e in result.history]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert result.status == "finished" and result.final["test_acc"] > 90
    losses = _losses(result.history)
    assert losses[-1] < losses[0] / 3
    epoch = result.final
    assert set(epoch) >= {
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
        "test_top3",
        "images_per_s",
    }
    ev = evaluate_classification(result.model, (tiny["test"].images, tiny["test"].labels))
    assert ev["top1"] == pytest.approx(epoch["test_acc"])


def test_same_seed_same_losses(tiny):
    a, b = train(replace(CFG, epochs=1)), train(replace(CFG, epochs=1))
    assert _losses(a.history) == _losses(b.history)
    c = train(replace(CFG, epochs=1, seed=1))
    assert _losses(c.history) != _losses(a.history)


def test_overfits_one_batch(tiny):
    result = train(replace(CFG, train_subset=16, batch_size=16, epochs=60, schedule="constant"))
    assert result.history[-2]["train_acc"] == 100.0
    assert _losses(result.history)[-1] < 0.05


def test_divergence_is_reported_with_the_learning_rate(tiny):
    result = train(replace(CFG, optimizer="sgd", lr=1e3, schedule="constant"))
    assert result.status == "diverged"
    assert "1000" in result.message and result.history[-1]["type"] == "diverged"


class _Slow:
    """on_event hook that slows batches down so a test can act between them."""

    def __init__(self, control, delay=0.02):
        self.control, self.delay, self.steps = control, delay, []

    def __call__(self, event):
        if event["type"] == "batch":
            self.steps.append(event["step"])
            time.sleep(self.delay)


def _start(cfg, control, hook):
    out = {}
    t = threading.Thread(
        target=lambda: out.setdefault("r", train(cfg, control=control, on_event=hook))
    )
    t.start()
    return t, out


def _wait_for(cond, timeout=30):
    end = time.time() + timeout
    while not cond():
        assert time.time() < end, "timed out"
        time.sleep(0.01)


def test_pause_resume_stop(tiny):
    control = Control()
    hook = _Slow(control)
    t, out = _start(replace(CFG, epochs=50, log_every=1), control, hook)
    _wait_for(lambda: len(hook.steps) >= 3)
    control.pause()
    time.sleep(0.2)  # let the batch in flight finish
    frozen = len(hook.steps)
    time.sleep(0.5)
    assert len(hook.steps) == frozen and control.paused
    control.resume()
    _wait_for(lambda: len(hook.steps) > frozen + 2)
    control.stop()
    at_stop = len(hook.steps)
    t.join(10)
    assert not t.is_alive()
    assert len(hook.steps) <= at_stop + 1  # honoured within one batch
    assert out["r"].status == "stopped" and out["r"].history[-1]["type"] == "stopped"


def test_stop_while_paused(tiny):
    control = Control()
    hook = _Slow(control)
    t, out = _start(replace(CFG, epochs=50, log_every=1), control, hook)
    _wait_for(lambda: len(hook.steps) >= 2)
    control.pause()
    control.stop()
    t.join(10)
    assert out["r"].status == "stopped"


def test_set_lr_takes_effect(tiny):
    control = Control()
    hook = _Slow(control, delay=0.01)
    t, out = _start(replace(CFG, epochs=20, log_every=1), control, hook)
    _wait_for(lambda: len(hook.steps) >= 3)
    control.set_lr(1e-5)
    _wait_for(lambda: len(hook.steps) >= 8)
    control.stop()
    t.join(10)
    history = out["r"].history
    change = next(e for e in history if e["type"] == "lr")
    assert change["lr"] == 1e-5
    after = [e for e in history if e["type"] == "batch" and e["step"] > change["step"]]
    assert after and all(e["lr"] == 1e-5 for e in after)  # the schedule no longer overrides it
    with pytest.raises(ValueError):
        control.set_lr(float("nan"))


def test_interrupt_ends_the_run_interrupted_with_its_finished_epochs_kept(tiny, tmp_path):
    control, store = Control(), RunStore(tmp_path)

    def on_event(event):
        if event["type"] == "epoch":
            control.interrupt()  # the process is shutting down, nobody asked to stop

    result = train(replace(CFG, epochs=5), store=store, control=control, on_event=on_event)
    assert result.status == "interrupted" and control.interrupted
    assert result.history[-1]["type"] == "interrupted" and "interrupted" in result.message
    assert [e["epoch"] for e in result.history if e["type"] == "epoch"] == [1]
    run = store.get(result.run_id)
    assert run.info().status == "interrupted" and run.epochs() == [0, 1]
    assert isinstance(run.load_model(1), LeNet5)


def test_live_weights_are_a_copy(tiny):
    control = Control()
    result = train(replace(CFG, epochs=1), control=control)
    state, epoch, step = control.weights()
    assert epoch == 1
    key = "C1.conv.weight"
    assert torch.equal(state[key], result.model.state_dict()[key])
    assert state[key].data_ptr() != result.model.C1.conv.weight.data_ptr()


def test_store_gets_events_checkpoints_and_status(tiny, tmp_path):
    store = RunStore(tmp_path)
    result = train(replace(CFG, epochs=2), store=store)
    run = store.get(result.run_id)
    assert run.epochs() == [0, 1, 2]
    assert [e["type"] for e in run.events()] == [e["type"] for e in result.history]
    info = store.list()[0]
    assert info.status == "finished" and info.epochs_done == 2
    assert info.best_test_acc == pytest.approx(
        max(e["test_acc"] for e in result.history if e["type"] == "epoch")
    )
    model = run.load_model()
    assert torch.equal(model.OUTPUT.weight, result.model.OUTPUT.weight)
    assert run.load_snapshot(1)["C1"]["conv.weight"].shape == (6, 1, 5, 5)


@pytest.mark.parametrize(
    "field,value",
    [
        ("batch_size", 0),
        ("epochs", -1),
        ("variant", "lenet7"),
        ("lr", float("nan")),
        ("optimizer", "rmsprop"),
        ("recipe", "paper"),
        ("device", "gpu"),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        replace(TrainConfig(), **{field: value}).validate()


def test_the_device_is_the_gpu_only_when_asked_for_or_there_and_the_recipe_uses_it(monkeypatch):
    paper = TrainConfig(variant="paper", recipe="paper")
    with pytest.raises(ConfigError, match="one pattern at a time"):
        replace(paper, device="cuda").validate()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device(TrainConfig()).type == "cpu"  # auto, on this machine
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        training_device(TrainConfig(device="cuda"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_device(TrainConfig()).type == "cuda"
    assert training_device(TrainConfig(device="cpu")).type == "cpu"
    assert training_device(paper).type == "cpu"  # auto: the 1998 recipes stay on the CPU
    assert lesson_of(replace(PRESETS["quick"], device="cpu")) == "quick"  # how, not what


def test_published_weights_are_a_cpu_copy():
    model, control = LeNet5("classic"), Control()
    control.publish(model, 1, 10)
    state, epoch, step = control.weights()
    assert (epoch, step) == (1, 10)
    for name, tensor in model.state_dict().items():
        assert state[name].device.type == "cpu" and torch.equal(state[name], tensor)
        assert state[name].data_ptr() != tensor.data_ptr()  # a copy, not the live tensor


@pytest.mark.parametrize(
    "field,value",
    [("batch_size", 2.5), ("epochs", True), ("distort", "no"), ("lr", "0.1"), ("lr", True)],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(field, value):
    # A stored or imported config is JSON: 2.5 epochs or "no" for a flag must not reach the
    # trainer, and bool, an int to Python, is no number of epochs.
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value}).validate()


def test_whole_numbers_are_accepted_for_float_fields():
    cfg = TrainConfig(lr=1, momentum=0, weight_decay=0, optimizer="sgd").validate()
    assert (cfg.lr, cfg.momentum, cfg.weight_decay) == (1, 0, 0)
    assert TrainConfig.from_dict(json.loads('{"lr": 1, "epochs": 2}')).validate().epochs == 2


def test_make_config_starts_from_the_recipes_preset_and_refuses_unknown_names():
    assert make_config() == PRESETS["default"]
    assert make_config(recipe="paper-fast", variant="paper") == PRESETS["paper-fast"]
    assert make_config("quick", epochs=2) == replace(PRESETS["quick"], epochs=2)
    with pytest.raises(ConfigError, match="preset"):
        make_config("nonsense")
    with pytest.raises(ConfigError, match="colour"):
        make_config(colour="red")


def test_presets_are_valid_and_each_has_a_lesson_and_a_typical_time():
    for cfg in PRESETS.values():
        cfg.validate()
    assert set(LESSONS) == set(PRESETS) == set(TYPICAL_SECONDS)
    assert {"default", "fast99", "lr-too-high", "overfit-500"} <= set(PRESETS)
    assert PRESETS["overfit-500"].train_subset == 500


def test_seed_train_epoch_classification(tiny):
    model = LeNet5("classic")
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    loader = [
        (tiny["train"].images[i : i + 64], tiny["train"].labels[i : i + 64])
        for i in range(0, 640, 64)
    ]
    first = train_epoch_classification(model, loader, opt)
    second = train_epoch_classification(model, loader, opt)
    assert second["loss"] < first["loss"] and math.isfinite(second["top1"])


# -- resuming an interrupted run -------------------------------------------------------------
CFG3 = replace(CFG, epochs=3)
RESUMABLE = {
    "standard, adam": CFG3,
    "standard, sgd and a step schedule": replace(
        CFG3, optimizer="sgd", lr=0.05, momentum=0.9, schedule="step"
    ),
    "paper-fast": replace(PRESETS["paper-fast"], epochs=3, log_every=2, threads=1),
    "paper, one pattern per update": replace(
        PRESETS["paper"], epochs=3, train_subset=300, log_every=1, threads=1
    ),
}


def _cut_short(cfg, store, at: str = "during epoch 2", lr_at: int | None = None):
    """A run of ``cfg`` interrupted after its first epoch (at its end, or at the second's
    first logged step), like a server shutting down; ``lr_at``: a rate set by hand first."""
    control = Control()

    def on_event(event):
        if lr_at is not None and event["type"] == "batch" and event["step"] == lr_at:
            control.set_lr(1e-4)
        if at == "at the end of epoch 1" and event["type"] == "epoch":
            control.interrupt()
        if at == "during epoch 2" and event["type"] == "batch" and event["epoch"] == 2:
            control.interrupt()

    result = train(cfg, store=store, control=control, on_event=on_event)
    assert result.status == "interrupted"
    return store.get(result.run_id)


def _same_weights(a, b) -> bool:
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("recipe", RESUMABLE)
def test_a_resumed_run_ends_with_the_weights_of_one_never_interrupted(
    tiny, tmp_path, monkeypatch, recipe
):
    monkeypatch.setenv("LENET_NO_COMPILE", "1")  # the eager one-pattern step: same numbers
    cfg = RESUMABLE[recipe]
    full = train(cfg, store=RunStore(tmp_path / "full"))
    run = _cut_short(cfg, RunStore(tmp_path / "cut"))
    assert run.info().resumable and run.epochs() == [0, 1]
    resumed = train(cfg, run=run, resume=True)
    assert resumed.status == "finished" and resumed.run_id == run.id
    assert _same_weights(resumed.model, full.model)
    assert _same_weights(run.load_model(3), full.model)
    events = run.events()
    kinds = [e["type"] for e in events]
    assert kinds.count("start") == 1 and kinds.count("resume") == 1 and kinds[-1] == "done"
    resume = events[kinds.index("resume")]
    spe = events[0]["steps_per_epoch"]
    assert (resume["epoch"], resume["step"], resume["total_steps"]) == (2, spe, 3 * spe)
    cut_short = [e["step"] for e in events if e["type"] == "batch" and spe < e["step"] <= 2 * spe]
    assert len(cut_short) > len(set(cut_short))  # the log holds the cut-short steps twice...
    curves, reference = curves_from_events(events), curves_from_events(full.history)
    assert [b["step"] for b in curves.batches] == [b["step"] for b in reference.batches]  # ...once
    assert [b["loss"] for b in curves.batches] == [b["loss"] for b in reference.batches]
    assert [e["test_loss"] for e in curves.epochs] == [e["test_loss"] for e in reference.epochs]
    assert [m["label"] for m in curves.marks if "label" in m] == ["resumed"]
    info = run.info()
    assert (info.status, info.epochs_done, info.resumable) == ("finished", 3, False)


def test_a_run_interrupted_at_an_epochs_end_resumes_to_the_same_weights(tiny, tmp_path):
    full = train(CFG3)
    run = _cut_short(CFG3, RunStore(tmp_path), at="at the end of epoch 1")
    resumed = train(CFG3, run=run, resume=True)
    assert _same_weights(resumed.model, full.model)
    assert [e["epoch"] for e in run.events() if e["type"] == "epoch"] == [1, 2, 3]


@pytest.mark.parametrize("recipe", ["standard, sgd and a step schedule", "paper-fast"])
def test_a_rate_set_by_hand_before_the_interruption_holds_after_the_resume(tiny, tmp_path, recipe):
    cfg = RESUMABLE[recipe]
    control = Control()

    def set_at_step_6(event):
        if event["type"] == "batch" and event["step"] == 6:
            control.set_lr(1e-4)

    full = train(cfg, control=control, on_event=set_at_step_6)
    run = _cut_short(cfg, RunStore(tmp_path), lr_at=6)
    resumed = train(cfg, run=run, resume=True)
    after = [e["lr"] for e in resumed.history if e["type"] == "batch"]
    assert after and all(lr == 1e-4 for lr in after)  # neither the schedule nor η per pass
    assert _same_weights(resumed.model, full.model)


def test_resuming_needs_a_run_whose_newest_checkpoint_can_go_on(tiny, tmp_path):
    with pytest.raises(ValueError, match="needs the run"):
        train(CFG3, resume=True)
    store = RunStore(tmp_path)
    old = store.create({})  # checkpoints from before the training state was kept
    old.save_epoch(1, LeNet5("classic"), None, CFG3, None)
    old.finish("interrupted")
    with pytest.raises(ValueError, match="no training state"):
        train(CFG3, run=store.get(old.id), resume=True)
    assert [e["type"] for e in store.get(old.id).events()] == []  # nothing logged


def test_only_the_newest_checkpoint_keeps_the_training_state(tiny, tmp_path):
    store = RunStore(tmp_path)
    result = train(CFG3, store=store)
    run = store.get(result.run_id)
    kept = {e: run.load_checkpoint(e) for e in run.epochs()}
    assert [e for e, c in kept.items() if c.get("training")] == [3]
    assert [e for e, c in kept.items() if c.get("optimizer")] == [3]
    training = kept[3]["training"]
    assert training["step"] == 60 and training["seen"] == 3 * 640
    assert set(training["recipe"]) == {"order", "scheduler"} and training["train_seconds"] > 0
