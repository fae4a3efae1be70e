"""``Control``: the thread-safe remote control of a running trainer.

A UI thread calls pause/resume/stop/set_lr; the trainer checks between steps. It also carries
the trainer's latest published weights (a copy) for views that inspect the live model.
"""

from __future__ import annotations

import math
import threading
import time

import torch
from torch import nn

__all__ = ["Control"]


class Control:
    """Thread-safe remote control for a running ``train``: pause, resume, stop, set_lr.

    The trainer checks it between batches, so every command takes effect within one batch. It
    also carries the trainer's latest published weights (a copy, never the tensors in training)
    for views that inspect the live model.
    """

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._interrupted = False
        self._lock = threading.Lock()
        self._new_lr: float | None = None
        self._weights: tuple[dict[str, torch.Tensor], int, int] | None = None

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        """End the run at the next step, as asked by a person: it ends ``stopped``."""
        self._stop.set()
        self._running.set()  # a paused trainer must wake up to see the stop

    def interrupt(self) -> None:
        """End the run because its process is shutting down: it ends ``interrupted``, with its
        finished epochs kept, rather than ``stopped`` (nobody asked for it to stop)."""
        self._interrupted = True
        self.stop()

    def set_lr(self, lr: float) -> None:
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {lr!r}")
        with self._lock:
            self._new_lr = float(lr)

    @property
    def paused(self) -> bool:
        return not self._running.is_set() and not self._stop.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting (excluded from throughput)."""
        if self._running.is_set():
            return 0.0
        t0 = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - t0

    def take_lr(self) -> float | None:
        with self._lock:
            lr, self._new_lr = self._new_lr, None
        return lr

    def publish(self, model: nn.Module, epoch: int, step: int) -> None:
        # a copy on the CPU: views and other processes read it, wherever the model trains
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        with self._lock:
            self._weights = (state, epoch, step)

    def weights(self) -> tuple[dict[str, torch.Tensor], int, int] | None:
        """The latest published (state_dict copy, epoch, step), or None before the first."""
        with self._lock:
            return self._weights
