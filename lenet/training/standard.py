"""The standard recipe: Adam or SGD on cross-entropy, one update per mini-batch, with a
learning-rate schedule stepped every batch. Also the seed's ``train_epoch_classification``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lenet import speed
from lenet.training.config import TrainConfig
from lenet.training.recipe import Chunk

__all__ = ["StandardRecipe", "make_optimizer", "make_scheduler", "train_epoch_classification"]

# Cross-entropy above this means the right class got probability below e^-100: no run that is
# learning gets there, while tanh's saturation can keep a blown-up run finite for a long time.
DIVERGED_LOSS = 100.0


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return speed.optimizer_class("sgd")(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            **speed.optimizer_options(),
        )
    return speed.optimizer_class("adam")(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **speed.optimizer_options()
    )


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


def _update(model, optimizer, scheduler, loss_fn, xb: Tensor, yb: Tensor) -> tuple[float, int]:
    """One optimizer step on a batch; returns (mean loss, right answers)."""
    logits = model(xb)  # (B, 10)
    loss = loss_fn(logits, yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return loss.item(), int((logits.argmax(1) == yb).sum())


class StandardRecipe:
    """Today's way to train LeNet-5: see the module docstring. A learning rate set by hand
    while training replaces the schedule for the rest of the run."""

    unit = "batches"
    chunk_steps = 1
    diverged_above = DIVERGED_LOSS

    def __init__(self, model: nn.Module, cfg: TrainConfig, train_images: int) -> None:
        self.model = speed.prepare_model(model)  # channels_last, faster layers (``lenet.speed``)
        self.patterns_per_step = cfg.batch_size
        total_steps = -(-train_images // cfg.batch_size) * cfg.epochs
        self.optimizer = make_optimizer(model, cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg, total_steps)
        self.first_lr = cfg.lr
        self._order = torch.Generator().manual_seed(cfg.seed)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def set_lr(self, lr: float) -> None:
        self.scheduler = None  # a teacher's new rate holds from here on: the schedule yields
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict:
        """What a resumed run needs besides the optimizer: the schedule and the batch order."""
        return {"order": self._order.get_state(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        self._order.set_state(state["order"])
        if state["scheduler"] is None:  # a rate set by hand had replaced the schedule
            self.scheduler = None
        elif self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])

    def begin_epoch(self, epoch: int, images: Tensor) -> tuple[Tensor, Tensor]:
        self.model.train()
        return images, torch.randperm(len(images), generator=self._order)

    def train(self, images: Tensor, labels: Tensor, idx: Tensor) -> Chunk:
        xb, yb = speed.prepare_batch(images[idx]), labels[idx]  # (B, 1, 32, 32), (B,)
        loss, correct = _update(self.model, self.optimizer, self.scheduler, F.cross_entropy, xb, yb)
        return Chunk(loss * len(yb), correct, len(yb), 1)


def train_epoch_classification(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Tensor]],
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
        loss, right = _update(model, optimizer, scheduler, loss_fn, xb, yb)
        total_loss += loss * len(yb)
        correct += right
        seen += len(yb)
    return {"loss": total_loss / max(seen, 1), "top1": 100.0 * correct / max(seen, 1)}
