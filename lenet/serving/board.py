"""What the class's board is made of: a job as the manager keeps it, the row every page polls
for it, and when each queued run should start (the slots' remaining time, then each queued
run's expected time in turn). The job manager (``lenet.serving.jobs``) holds the lock."""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import asdict, dataclass, field

from lenet.serving.policy import expected_seconds
from lenet.training import Control, TrainConfig
from lenet.training import events as ev

__all__ = ["Job", "job_row", "queue_times", "left_seconds"]


@dataclass
class Job:
    """One run the manager knows: queued, training, or ended in this server."""

    id: str
    config: TrainConfig
    owner: dict
    queued_at: float
    teacher: bool = False  # queued by the teacher: goes ahead of students
    resume: bool = False
    requeued: int = 0  # times queued again after its worker was lost
    rank: float | None = None  # the teacher's place in the queue, when reordered
    state: str = ev.QUEUED
    message: str = ""
    started: float | None = None
    control: Control = field(default_factory=Control)
    batches: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    lr_changes: list[dict] = field(default_factory=list)
    resumes: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # the "start" event: sizes and step counts
    thread: threading.Thread | None = None
    process: object | None = None
    weights_dir: object | None = None  # a worker process's live-weights folder

    @functools.cached_property
    def config_dict(self) -> dict:
        """The config as a dict, made once (every page's poll reads it)."""
        return asdict(self.config)


def job_row(job: Job, place: int, wait: float) -> dict:
    """A job's progress without its curves, as the board lists it (the caller holds the
    manager's lock)."""
    state = job.state
    if state in (ev.STARTING, ev.RUNNING) and job.control.paused:
        state = ev.PAUSED
    total = job.info.get("total_steps", 0)
    last = job.batches[-1] if job.batches else {}
    step, train_s = last.get("step", 0), last.get("train_seconds", 0.0)
    eta = train_s / step * (total - step) if step and total else None
    return {
        "id": job.id,
        "state": state,
        "message": job.message,
        "config": dict(job.config_dict),
        "owner": dict(job.owner),
        "queued_at": job.queued_at,
        "queue_position": place,
        "queue_wait_s": wait,
        "started": job.started,
        "elapsed": time.time() - (job.started or job.queued_at),
        "train_seconds": train_s,
        "step": step,
        "total_steps": total,
        "epoch": last.get("epoch", 0),
        "epochs": job.config.epochs,
        "progress": step / total if total else 0.0,
        "eta_seconds": eta if state in (ev.RUNNING, ev.PAUSED) else 0.0,
        "images_per_s": last.get("images_per_s"),
        "latest": job.epochs[-1] if job.epochs else None,
    }


def left_seconds(job: Job, speeds: list[dict]) -> float:
    """Seconds a training job still needs: from its own pace once it has one."""
    last = job.batches[-1] if job.batches else None
    total = job.info.get("total_steps") or 0
    if last and total and last["step"]:
        return last["train_seconds"] / last["step"] * max(total - last["step"], 0)
    return expected_seconds(job.config, speeds)


def queue_times(
    order: list[Job], running: list[Job], slots: int, speeds: list[dict]
) -> dict[str, tuple[int, float]]:
    """For each of the queued jobs in ``order``: (its place, 1 = next; seconds until it should
    start), with ``running`` on ``slots`` training slots, at the ``speeds`` measured here."""
    free_at = [left_seconds(j, speeds) for j in running]
    free_at += [0.0] * max(slots - len(free_at), 0)
    out = {}
    for place, job in enumerate(order, start=1):
        free_at.sort()
        start = free_at[0]
        out[job.id] = (place, start)
        free_at[0] = start + expected_seconds(job.config, speeds)
    return out
