"""Training: one config dataclass, a trainer that reports through events, and a live control.

The trainer knows nothing of the UI: it calls ``on_event(dict)`` and checks a ``Control``
between batches. The CLI prints a progress bar from those events; the dashboard's ``JobManager``
keeps them for its live charts; a ``Run`` in the store writes them to ``metrics.jsonl``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lenet.control import Control
from lenet.data import Split, load_split
from lenet.metrics import evaluate_classification
from lenet.model import INITS, VARIANTS, build_model

__all__ = [
    "TrainConfig",
    "PRESETS",
    "LESSONS",
    "Control",
    "Result",
    "train",
    "train_epoch_classification",
    "evaluate_classification",
    "configure_threads",
    "ConfigError",
]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "step", "onecycle")
RECIPES = ("standard", "paper", "paper-fast")


class ConfigError(ValueError):
    """A training configuration that can't run; the message says which field and why."""


@dataclass
class TrainConfig:
    variant: str = "classic"
    epochs: int = 3  # ~15 s of training here; enough to pass 98.5 % and see the curves bend
    batch_size: int = 128  # large enough to keep both cores busy, small enough to learn in 1 epoch
    lr: float = 0.01  # peak learning rate; one-cycle warms up to it from lr/25
    optimizer: str = "adam"  # forgiving of the learning rate, which a live class will change
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0  # 60k parameters on 60k images barely overfit without it
    schedule: str = "onecycle"  # warm-up then anneal: the fastest way to a good model in few epochs
    seed: int = 0
    train_subset: int = 0  # 0 = all 60,000 images; e.g. 500 for the overfitting lesson
    init: str = "xavier"  # Glorot with tanh gain keeps tanh out of saturation at the start
    threads: int = 2  # these machines have 2 cores; more threads only add contention
    recipe: str = "standard"  # "paper"/"paper-fast": the 1998 SDLM recipe (lenet.paper)
    distort: bool = False  # paper recipes: random affine distortions (the paper's 0.8 % run)
    log_every: int = 10  # batches between live "batch" events
    eval_batch_size: int = 1000

    def validate(self) -> TrainConfig:
        """Raise ``ConfigError`` naming the first bad field; return self so calls can chain."""
        checks = [
            (self.variant in VARIANTS, "variant", f"must be one of {', '.join(VARIANTS)}"),
            (self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}"),
            (self.init in INITS, "init", f"must be one of {', '.join(INITS)}"),
            (self.recipe in RECIPES, "recipe", f"must be one of {', '.join(RECIPES)}"),
            (
                self.recipe == "standard" or self.variant == "paper",
                "recipe",
                "the paper recipes train the paper variant only",
            ),
            (1 <= self.epochs <= 1000, "epochs", "must be between 1 and 1000"),
            (1 <= self.batch_size <= 60000, "batch_size", "must be between 1 and 60000"),
            (math.isfinite(self.lr) and self.lr > 0, "lr", "must be a positive number"),
            (0 <= self.momentum < 1, "momentum", "must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay", "must be 0 or more"),
            (0 <= self.train_subset <= 60000, "train_subset", "must be between 0 (all) and 60000"),
            (1 <= self.threads <= 64, "threads", "must be between 1 and 64"),
            (self.log_every >= 1, "log_every", "must be 1 or more"),
        ]
        for ok, name, why in checks:
            if not ok:
                raise ConfigError(f"{name} = {getattr(self, name)!r}: {why}")
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a stored ``asdict`` (unknown keys from other versions are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# Named configurations shared by the CLI (--preset) and the dashboard's lessons.
PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    "fast99": TrainConfig(variant="modern", epochs=3, batch_size=128, lr=0.01, init="default"),
    "lr-too-high": TrainConfig(
        optimizer="sgd", lr=5.0, momentum=0.9, schedule="constant", epochs=1
    ),
    "lr-too-low": TrainConfig(
        optimizer="sgd", lr=1e-4, momentum=0.0, schedule="constant", epochs=1
    ),
    "overfit-500": TrainConfig(
        train_subset=500, epochs=60, batch_size=50, lr=3e-3, schedule="constant", log_every=5
    ),
    "quick": TrainConfig(epochs=1, train_subset=6000, log_every=5),
    "paper": TrainConfig(variant="paper", recipe="paper", epochs=20, batch_size=1, init="paper"),
    "paper-fast": TrainConfig(
        variant="paper", recipe="paper-fast", epochs=20, batch_size=32, init="paper"
    ),
}

# Lesson presets for a class: (preset name, title, what to watch).
LESSONS: dict[str, tuple[str, str]] = {
    "default": (
        "Good defaults",
        "Loss falls fast in the first few hundred batches; test accuracy passes 98 % in one epoch.",
    ),
    "lr-too-high": (
        "Learning rate too high",
        "Steps are so large the loss explodes to infinity within a few batches: the run stops as diverged.",
    ),
    "lr-too-low": (
        "Learning rate too low",
        "Nothing is broken, yet the loss barely moves: each step is too small to matter.",
    ),
    "overfit-500": (
        "Overfit 500 images",
        "Train accuracy climbs to 100 % while test accuracy stalls far below: memorising is not learning.",
    ),
    "fast99": (
        "Race to 99 %",
        "ReLU and max-pooling with a one-cycle schedule pass 99 % test accuracy in three epochs.",
    ),
}


@dataclass
class Result:
    status: str  # "finished" | "stopped" | "diverged"
    model: nn.Module
    history: list[dict] = field(default_factory=list)
    run_id: str | None = None
    message: str = ""

    @property
    def final(self) -> dict:
        """The last epoch event (test metrics), or {} when no epoch finished."""
        return next((e for e in reversed(self.history) if e["type"] == "epoch"), {})


_threads_set = False


def configure_threads(n: int) -> None:
    """Set torch's thread pools once per process (the interop pool can't be resized later)."""
    global _threads_set
    torch.set_num_threads(n)
    if not _threads_set:
        try:
            torch.set_num_interop_threads(1)  # no inter-op parallelism in a chain of small ops
        except RuntimeError:
            pass  # already fixed by earlier parallel work in this process
        _threads_set = True


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    """A per-batch scheduler, or None for a constant learning rate."""
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total_steps, cycle_momentum=cfg.optimizer == "sgd"
        )
    if cfg.schedule == "step":  # x0.1 at half and three quarters of training
        milestones = [total_steps // 2, (3 * total_steps) // 4]
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    return None


def train_epoch_classification(
    model: nn.Module,
    data,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable = F.cross_entropy,
    scheduler=None,
) -> dict:
    """One pass over ``data`` (a DataLoader or an iterable of (images, labels) batches).

    The seed's name, for notebooks; returns {"loss": mean loss, "top1": train accuracy %}.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for xb, yb in data:
        logits = model(xb)
        loss = loss_fn(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.item() * len(yb)
        correct += (logits.argmax(1) == yb).sum().item()
        seen += len(yb)
    return {"loss": total_loss / max(seen, 1), "top1": 100.0 * correct / max(seen, 1)}


def _subset(split: Split, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not n or n >= len(split.labels):
        return split.images, split.labels
    g = torch.Generator().manual_seed(seed + 1)  # independent of the batch order's stream
    idx = torch.randperm(len(split.labels), generator=g)[:n]
    return split.images[idx].contiguous(), split.labels[idx]


# Cross-entropy above this means the right class got probability below e^-100: no run that is
# learning gets there, while tanh's saturation can keep a blown-up run finite for a long time.
DIVERGED_LOSS = 100.0


def _diverged_message(lr: float, loss: float) -> str:
    what = "became NaN" if math.isnan(loss) else f"exploded to {loss:.3g}"
    return (
        f"The loss {what} at learning rate {lr:g}: each step overshot so far that the "
        f"weights blew up. Try a learning rate 10x smaller."
    )


def reporter(cfg: TrainConfig, store, run, on_event):
    """(run, history, emit) for a trainer: ``emit`` records an event in the history, the run's
    metrics log (creating the run in ``store`` when no ``run`` is given) and ``on_event``."""
    if run is None and store is not None:
        run = store.create(asdict(cfg))
    history: list[dict] = []

    def emit(event: dict) -> None:
        history.append(event)
        if run is not None:
            run.append(event)
        if on_event is not None:
            on_event(event)

    return run, history, emit


def train(
    config: TrainConfig,
    store=None,
    control: Control | None = None,
    on_event: Callable[[dict], None] | None = None,
    run=None,
) -> Result:
    """Train LeNet-5 as ``config`` says, reporting through ``on_event`` and a ``Run``.

    ``store`` (a ``RunStore``) creates a run folder, or pass an existing ``run``. Events are
    plain JSON-able dicts with a "type": start, batch, lr, epoch, then done|stopped|diverged.
    """
    cfg = config.validate()
    if cfg.recipe != "standard":
        from lenet.sdlm import train_paper  # the 1998 recipe has its own loop

        return train_paper(cfg, store=store, control=control, on_event=on_event, run=run)
    configure_threads(cfg.threads)
    control = control or Control()
    run, history, emit = reporter(cfg, store, run, on_event)
    norm = "paper" if cfg.variant == "paper" else "mnist"
    X, Y = _subset(load_split("train", norm), cfg.train_subset, cfg.seed)
    test = load_split("test", norm)
    model = build_model(cfg.variant, cfg.init, seed=cfg.seed)
    opt = make_optimizer(model, cfg)
    n = len(Y)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    sched = make_scheduler(opt, cfg, total_steps)
    order = torch.Generator().manual_seed(cfg.seed)
    if run is not None:
        run.save_epoch(0, model, opt, cfg, None)  # epoch 0: the untrained network, for "evolution"
    emit(
        {
            "type": "start",
            "time": time.time(),
            "train_images": n,
            "test_images": len(test.labels),
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
            "lr": cfg.lr,
        }
    )

    step, seen_total, active_s, last_publish = 0, 0, 0.0, 0.0
    status, message = "finished", ""
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=order)
        ep_loss, ep_correct, ep_seen = 0.0, 0, 0
        win_loss, win_correct, win_seen, win_t = 0.0, 0, 0, time.perf_counter()
        for b in range(steps_per_epoch):
            win_t += control.wait_while_paused()  # paused time doesn't count as training time
            if control.stopped:
                status = "stopped"
                break
            new_lr = control.take_lr()
            if new_lr is not None:
                sched = None  # a teacher's new rate holds from here on: the schedule yields
                for g in opt.param_groups:
                    g["lr"] = new_lr
                emit({"type": "lr", "step": step, "epoch": epoch, "lr": new_lr})
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            xb, yb = X[idx], Y[idx]  # (B, 1, 32, 32), (B,)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            loss_v = loss.item()
            if not loss_v < DIVERGED_LOSS:  # also catches NaN and inf
                status, message = "diverged", _diverged_message(opt.param_groups[0]["lr"], loss_v)
                if math.isfinite(loss_v):  # the spike itself, so the curve shows the explosion
                    emit(
                        {
                            "type": "batch",
                            "epoch": epoch,
                            "step": step,
                            "loss": loss_v,
                            "acc": 100.0 * float((logits.argmax(1) == yb).float().mean()),
                            "lr": opt.param_groups[0]["lr"],
                            "images_per_s": 0.0,
                            "train_seconds": active_s + time.perf_counter() - win_t,
                        }
                    )
                break
            correct = int((logits.argmax(1) == yb).sum())
            ep_loss += loss_v * len(yb)
            ep_correct += correct
            ep_seen += len(yb)
            seen_total += len(yb)
            win_loss += loss_v * len(yb)
            win_correct += correct
            win_seen += len(yb)
            if step % cfg.log_every == 0 or b == steps_per_epoch - 1:
                now = time.perf_counter()
                active_s += now - win_t
                emit(
                    {
                        "type": "batch",
                        "epoch": epoch,
                        "step": step,
                        "loss": win_loss / win_seen,
                        "acc": 100.0 * win_correct / win_seen,
                        "lr": opt.param_groups[0]["lr"],
                        "images_per_s": win_seen / max(now - win_t, 1e-9),
                        "train_seconds": active_s,
                    }
                )
                win_loss, win_correct, win_seen, win_t = 0.0, 0, 0, now
                if now - last_publish > 1.0:  # live weights for inspection, about once a second
                    control.publish(model, epoch, step)
                    last_publish = now
        if status != "finished":
            break
        metrics = evaluate_classification(
            model, (test.images, test.labels), topk=(1, 3), batch_size=cfg.eval_batch_size
        )
        event = {
            "type": "epoch",
            "epoch": epoch,
            "step": step,
            "train_loss": ep_loss / max(ep_seen, 1),
            "train_acc": 100.0 * ep_correct / max(ep_seen, 1),
            "test_loss": metrics["loss"],
            "test_acc": metrics["top1"],
            "test_top3": metrics["top3"],
            "lr": opt.param_groups[0]["lr"],
            "train_seconds": active_s,
            "images_per_s": seen_total / max(active_s, 1e-9),
        }
        control.publish(model, epoch, step)
        if run is not None:
            run.save_epoch(epoch, model, opt, cfg, event)
        emit(event)

    if status == "finished":
        emit({"type": "done", "step": step, "train_seconds": active_s})
    elif status == "stopped":
        message = f"Stopped by request after {step} of {total_steps} batches."
        emit({"type": "stopped", "step": step, "train_seconds": active_s, "message": message})
    else:
        emit({"type": "diverged", "step": step, "train_seconds": active_s, "message": message})
    if run is not None:
        run.finish(status, message)
    return Result(
        status=status,
        model=model,
        history=history,
        run_id=run.id if run is not None else None,
        message=message,
    )
