"""What the training loop asks of a recipe: how to take one chunk of steps, and the few facts
the loop reports with. The loop (``lenet.training.loop``) owns everything else: data, order of
epochs, control, events, evaluation, checkpoints and the ending."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch
from torch import Tensor

__all__ = ["Chunk", "Recipe"]


class Chunk(NamedTuple):
    """What a chunk of training steps did: summed loss, right answers, patterns, updates."""

    loss_sum: float
    correct: int
    patterns: int
    steps: int


class Recipe(Protocol):
    """A way to train; the standard one and the 1998 SDLM ones implement it."""

    unit: str  # what a step is called in messages: "batches", "updates"
    patterns_per_step: int  # the mini-batch size (1 for one pattern per update)
    chunk_steps: int  # steps per ``train`` call: the loop checks its control in between
    diverged_above: float  # a chunk's mean loss above this (or not finite) ends the run
    first_lr: float  # the learning rate of the first step, for the start event
    optimizer: torch.optim.Optimizer  # saved in checkpoints

    @property
    def lr(self) -> float: ...

    def set_lr(self, lr: float) -> None:
        """A learning rate set by hand: it holds for the rest of the run."""

    def state_dict(self) -> dict:
        """The recipe's own state after an epoch (schedule, random streams), for resuming."""

    def load_state_dict(self, state: dict) -> None: ...

    def begin_epoch(self, epoch: int, images: Tensor) -> tuple[Tensor, Tensor]:
        """(the images this epoch trains on, the order to visit them in)."""

    def train(self, images: Tensor, labels: Tensor, idx: Tensor) -> Chunk:
        """Train on ``images[idx]``: ``chunk_steps`` steps or fewer at the end of an epoch."""
