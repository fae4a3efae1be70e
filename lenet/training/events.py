"""What a training run reports, and the one vocabulary of run states.

The trainer calls ``on_event(event)`` with plain JSON-able dicts; each kind is a ``TypedDict``
below, so the fields are written down once. A run folder's ``metrics.jsonl`` is these events,
one per line, and every reader (CLI, curves, archive, jobs) goes through the helpers here.

A run's state moves through::

    queued -> starting -> running <-> paused -> finished | stopped | diverged | failed | interrupted
                                  interrupted -> queued (resume) -> ...

``interrupted`` means the process ended (or was shut down) before the run did: its finished
epochs are kept and it can be resumed. ``corrupt`` is what the run store calls a folder it
can't read.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

# fmt: off
__all__ = [
    "QUEUED", "STARTING", "RUNNING", "PAUSED", "FINISHED", "STOPPED", "DIVERGED", "FAILED",
    "INTERRUPTED", "CORRUPT", "ACTIVE", "UNFINISHED", "ENDED", "STATES", "END_EVENTS",
    "StartEvent", "ResumeEvent", "BatchEvent", "LrEvent", "EpochEvent", "EndEvent", "Event",
    "end_event", "end_state",
]
# fmt: on

QUEUED = "queued"
STARTING = "starting"
RUNNING = "running"
PAUSED = "paused"
FINISHED = "finished"
STOPPED = "stopped"
DIVERGED = "diverged"
FAILED = "failed"
INTERRUPTED = "interrupted"
CORRUPT = "corrupt"

ACTIVE = (STARTING, RUNNING, PAUSED)  # a job that holds a training slot
UNFINISHED = (QUEUED, *ACTIVE)  # waiting for a slot or holding one
ENDED = (FINISHED, STOPPED, DIVERGED, FAILED, INTERRUPTED, CORRUPT)
STATES = (QUEUED, *ACTIVE, *ENDED)

# The event that ends a run, by type, and the state it leaves the run in. A run that finishes
# logs "done" (the name stored runs have always used); the others are named after their state.
END_EVENTS: dict[str, str] = {
    "done": FINISHED,
    STOPPED: STOPPED,
    DIVERGED: DIVERGED,
    INTERRUPTED: INTERRUPTED,
}


class StartEvent(TypedDict):
    type: Literal["start"]
    time: float  # wall-clock seconds since the epoch
    train_images: int
    test_images: int
    steps_per_epoch: int  # updates per epoch (one per batch; one per pattern in "paper")
    total_steps: int
    lr: float  # the learning rate of the first update
    class_digits: NotRequired[int]  # of train_images, how many are the class's drawings


class ResumeEvent(TypedDict):
    """An interrupted run going on from its newest checkpoint: steps from ``step`` on replace
    whatever the log holds beyond it (the epoch the interruption cut short)."""

    type: Literal["resume"]
    time: float
    epoch: int  # the first epoch trained now
    step: int
    total_steps: int


class BatchEvent(TypedDict):
    """Every ``log_every`` steps: the means over the window since the last one."""

    type: Literal["batch"]
    epoch: int
    step: int  # updates so far, over the whole run
    loss: float
    acc: float  # train accuracy of the window, %
    lr: float
    images_per_s: float  # training time only: paused time and evaluation are left out
    train_seconds: float
    # Every two seconds, and at a divergence: {measure: {layer: share}} of the weights now on
    # the probe digits, e.g. {"saturated": {"C1": 0.012, ...}} (lenet.analysis.health)
    health: NotRequired[dict[str, dict[str, float]]]


class LrEvent(TypedDict):
    """A learning rate set by hand while training; it holds from ``step`` on."""

    type: Literal["lr"]
    step: int
    epoch: int
    lr: float


class EpochEvent(TypedDict):
    type: Literal["epoch"]
    epoch: int
    step: int
    train_loss: float
    train_acc: float
    test_loss: float  # cross-entropy on the logits, comparable across variants
    test_acc: float  # top-1, %
    test_top3: float
    lr: float
    train_seconds: float
    images_per_s: float


class EndEvent(TypedDict):
    type: Literal["done", "stopped", "diverged", "interrupted"]
    step: int
    train_seconds: float
    message: NotRequired[str]


Event = StartEvent | ResumeEvent | BatchEvent | LrEvent | EpochEvent | EndEvent


def end_event(events: list[dict]) -> dict | None:
    """The event that ended the run, or None while it hasn't ended (or its log was cut)."""
    return next((e for e in reversed(events) if e.get("type") in END_EVENTS), None)


def end_state(events: list[dict]) -> str | None:
    """The state the run's events say it ended in (``finished`` for "done"), or None."""
    end = end_event(events)
    return END_EVENTS[end["type"]] if end is not None else None
