"""When each test digit was learned: every checkpoint's predictions side by side.

For each of the 10,000 test digits, epoch by epoch: was it read right, and its loss. From that,
the first epoch it was right ("learned at"), the epochs after that it was wrong again
("forgotten"), and how many digits each epoch taught. The predictions come from the run
folder's cache (``cached_predict``, the same files the Predictions page reads), so a checkpoint
already looked at costs nothing; the others take about a second each, once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from lenet.analysis.predictions import cached_predict, read_predictions

__all__ = ["NEVER", "LearningHistory", "learning_history"]

NEVER = -1  # ``learned_at`` of a digit no epoch read right


@dataclasses.dataclass(frozen=True)
class LearningHistory:
    """``correct[i, k]`` and ``loss[i, k]``: digit ``i`` at checkpoint ``epochs[k]``."""

    epochs: tuple[int, ...]
    labels: np.ndarray  # (N,)
    correct: np.ndarray  # (N, E) bool
    loss: np.ndarray  # (N, E) float32

    def until(self, epoch: int) -> LearningHistory:
        """The history as it stood at ``epoch``: its checkpoints up to and including it."""
        keep = sum(e <= epoch for e in self.epochs)
        if keep == 0:
            raise ValueError(f"no checkpoint at or before epoch {epoch}")
        return dataclasses.replace(
            self,
            epochs=self.epochs[:keep],
            correct=self.correct[:, :keep],
            loss=self.loss[:, :keep],
        )

    @property
    def learned_at(self) -> np.ndarray:
        """(N,) the first epoch each digit was right, ``NEVER`` if none."""
        first = self.correct.argmax(1)
        return np.where(self.correct.any(1), np.asarray(self.epochs)[first], NEVER)

    @property
    def times_forgotten(self) -> np.ndarray:
        """(N,) how many checkpoints after it was first right each digit was wrong again."""
        after = np.cumsum(self.correct, axis=1) > 0  # from the first right epoch on
        return (after & ~self.correct).sum(1)

    def forgotten_epochs(self, i: int) -> list[int]:
        """The epochs digit ``i`` was wrong after it had been right."""
        after = np.cumsum(self.correct[i]) > 0
        return [e for e, f in zip(self.epochs, after & ~self.correct[i], strict=True) if f]

    def learned_per_epoch(self) -> dict[int, int]:
        """How many digits each checkpoint read right for the first time (epoch 0: by chance,
        the untrained network's guesses)."""
        learned = self.learned_at
        return {e: int((learned == e).sum()) for e in self.epochs}

    def forgotten_per_epoch(self) -> dict[int, int]:
        """How many digits each checkpoint read wrong after an earlier one had read them right."""
        after = np.cumsum(self.correct, axis=1) > 0
        lost = np.zeros_like(self.correct)
        lost[:, 1:] = after[:, :-1] & ~self.correct[:, 1:]
        return {e: int(n) for e, n in zip(self.epochs, lost.sum(0), strict=True)}


def learning_history(
    run, split, epochs: list[int] | None = None, progress: Callable[[int, int], None] | None = None
) -> LearningHistory:
    """The history of ``run`` over ``epochs`` (default: all its checkpoints) on ``split`` (the
    test split, normalised as the run's model expects). ``progress(done, total)`` after each
    checkpoint."""
    epochs = sorted(run.epochs() if epochs is None else epochs)
    if not epochs:
        raise ValueError(f"run {run.id} has no checkpoint yet")
    correct, loss = [], []
    for k, epoch in enumerate(epochs):
        path = run.cache_path("predictions", epoch, ".npz")
        table = read_predictions(path, len(split.labels))
        if table is None:
            table = cached_predict(run.load_model(epoch), split, path)
        correct.append(table["correct"].to_numpy(bool))
        loss.append(table["loss"].to_numpy(np.float32))
        if progress:
            progress(k + 1, len(epochs))
    labels = split.labels.numpy() if hasattr(split.labels, "numpy") else np.asarray(split.labels)
    return LearningHistory(tuple(epochs), labels, np.stack(correct, 1), np.stack(loss, 1))
