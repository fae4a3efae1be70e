"""Background training for a UI: jobs run ``lenet.train.train`` in threads of this process.

A job belongs to the process, not to a page or a browser, so it survives reruns, page switches
and reloads; any number of viewers poll ``snapshot()``. The training thread never touches the
UI. A cap on concurrent jobs (default 1) keeps a classroom's shared cores from thrashing.
"""
from __future__ import annotations

import atexit
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field

from torch import nn

from lenet.model import LeNet5
from lenet.runs import RunStore
from lenet.train import Control, TrainConfig, train

__all__ = ["JobManager", "Busy"]

ACTIVE_STATES = ("starting", "running", "paused")


class Busy(RuntimeError):
    """Raised by ``start`` when the concurrency cap is reached."""


@dataclass
class _Job:
    id: str
    config: TrainConfig
    control: Control
    started: float
    state: str = "starting"
    message: str = ""
    batches: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    lr_changes: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # the "start" event: sizes and step counts
    thread: threading.Thread | None = None


class JobManager:
    """Starts, controls and reports training jobs; every method is thread-safe."""

    def __init__(self, store: RunStore | None = None, max_jobs: int = 1):
        self.store = store or RunStore()
        self.max_jobs = max_jobs
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        atexit.register(self.shutdown)  # a thread still inside torch at exit aborts the process

    def start(self, config: TrainConfig) -> str:
        """Start a job and return its id (= its run id); ``Busy`` when the cap is reached."""
        config.validate()
        with self._lock:
            active = [j for j in self._jobs.values() if j.state in ACTIVE_STATES]
            if len(active) >= self.max_jobs:
                raise Busy(f"Busy: run {active[0].id} is already training on this server's cores. "
                           f"Watch it, or wait until it finishes.")
            run = self.store.create(asdict(config))
            job = _Job(run.id, config, Control(), time.time())
            self._jobs[job.id] = job
        job.thread = threading.Thread(target=self._work, args=(job, run), name=f"train-{job.id}",
                                      daemon=True)
        job.thread.start()
        return job.id

    def _work(self, job: _Job, run) -> None:
        def on_event(event: dict) -> None:
            with self._lock:
                kind = event["type"]
                if kind == "batch":
                    job.batches.append(event)
                elif kind == "epoch":
                    job.epochs.append(event)
                elif kind == "lr":
                    job.lr_changes.append(event)
                elif kind == "start":
                    job.info = event
                    job.state = "running"
        try:
            result = train(job.config, control=job.control, on_event=on_event, run=run)
            state, message = result.status, result.message
        except Exception as e:  # the UI shows the reason; the traceback goes to the log
            traceback.print_exc()
            state, message = "failed", f"Training failed: {type(e).__name__}: {e}"
            try:
                run.finish("failed", message)
            except OSError:
                pass
        with self._lock:
            job.state, job.message = state, message

    def _get(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r} in this server")
        return job

    def control(self, job_id: str) -> Control:
        return self._get(job_id).control

    def has(self, job_id: str) -> bool:
        return job_id in self._jobs

    def snapshot(self, job_id: str) -> dict:
        """A consistent copy of a job's progress and history, safe to read from any thread."""
        with self._lock:
            job = self._get(job_id)
            state = job.state
            if state in ("starting", "running") and job.control.paused:
                state = "paused"
            total = job.info.get("total_steps", 0)
            step = job.batches[-1]["step"] if job.batches else 0
            train_s = job.batches[-1]["train_seconds"] if job.batches else 0.0
            ips = job.batches[-1]["images_per_s"] if job.batches else None
            eta = train_s / step * (total - step) if step and total else None
            return {"id": job.id, "state": state, "message": job.message,
                    "config": asdict(job.config), "started": job.started,
                    "elapsed": time.time() - job.started, "train_seconds": train_s,
                    "step": step, "total_steps": total,
                    "epoch": job.batches[-1]["epoch"] if job.batches else 0,
                    "epochs": job.config.epochs, "progress": step / total if total else 0.0,
                    "eta_seconds": eta if state in ("running", "paused") else 0.0,
                    "images_per_s": ips, "batches": list(job.batches), "epoch_metrics": list(job.epochs),
                    "lr_changes": list(job.lr_changes), "latest": job.epochs[-1] if job.epochs else None}

    def jobs(self) -> list[dict]:
        """Short rows for every job this process knows, newest first."""
        with self._lock:
            ids = [j.id for j in sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)]
        return [{k: v for k, v in self.snapshot(i).items() if k not in ("batches", "epoch_metrics")}
                for i in ids]

    def active(self) -> list[str]:
        with self._lock:
            return [j.id for j in self._jobs.values() if j.state in ACTIVE_STATES]

    def live_model(self, job_id: str) -> tuple[nn.Module, int, int] | None:
        """A copy of the job's latest published weights as (model, epoch, step), or None yet."""
        job = self._get(job_id)
        published = job.control.weights()
        if published is None:
            return None
        state, epoch, step = published
        model = LeNet5(job.config.variant)
        model.load_state_dict(state)
        return model.eval(), epoch, step

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        """Block until the job ends (for scripts and tests); return its final state."""
        thread = self._get(job_id).thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot(job_id)["state"]

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every job and join its thread (called at interpreter exit)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.control.stop()
        for job in jobs:
            if job.thread is not None and job.thread.is_alive():
                job.thread.join(timeout)
