"""Background training for a UI: jobs run ``lenet.training.train`` apart from the pages.

A job belongs to the manager (one per server), not to a page or a browser, so it survives
reruns, page switches and reloads; any number of viewers poll ``snapshot()``. The trainer
never touches the UI. A cap on concurrent jobs (default 1) keeps a classroom's shared cores
from thrashing.

``isolation="process"`` (the dashboard's) trains in a ``python -m lenet.serving.worker``
child: its own interpreter lock, so pages being drawn never hold up the trainer's Python between
torch calls; events arrive over a pipe and commands go back the same way
(``lenet.serving.protocol``). ``"thread"`` trains in a thread of this process: no start-up cost
(≈3 s to import torch and load MNIST in a child), for notebooks and tests.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import nn

from lenet.data import data_dir
from lenet.models import LeNet5
from lenet.runs import RunStore
from lenet.serving.protocol import RESULT, decode, encode, read_weights
from lenet.training import Control, TrainConfig, train
from lenet.training import events as ev

__all__ = ["JobManager", "Busy", "ISOLATIONS"]

ISOLATIONS = ("process", "thread")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
log = logging.getLogger(__name__)


class _RemoteControl(Control):
    """The manager's handle on a worker process. Commands go down the worker's stdin; their
    effect is mirrored here so a snapshot says "paused" at once. ``weights()`` reads the
    worker's latest published file (only when it has changed)."""

    def __init__(self, send: Callable[[dict], None], weights_file: Path) -> None:
        super().__init__()
        self._send, self.file, self._seen = send, weights_file, None

    def pause(self) -> None:
        super().pause()
        self._send({"cmd": "pause"})

    def resume(self) -> None:
        super().resume()
        self._send({"cmd": "resume"})

    def stop(self) -> None:
        super().stop()
        self._send({"cmd": "interrupt" if self.interrupted else "stop"})

    def set_lr(self, lr: float) -> None:
        super().set_lr(lr)  # validates
        self.take_lr()
        self._send({"cmd": "lr", "lr": float(lr)})

    def weights(self):
        try:
            stamp = self.file.stat().st_mtime_ns
        except OSError:
            return super().weights()
        if stamp != self._seen:
            try:
                published = read_weights(self.file)
            except (OSError, ValueError):  # a file being replaced: keep the last good copy
                return super().weights()
            with self._lock:
                self._weights, self._seen = published, stamp
        return super().weights()


class Busy(RuntimeError):
    """Raised by ``start`` when the concurrency cap is reached."""


@dataclass
class _Job:
    id: str
    config: TrainConfig
    control: Control
    started: float
    state: str = ev.STARTING
    message: str = ""
    batches: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    lr_changes: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # the "start" event: sizes and step counts
    thread: threading.Thread | None = None  # the trainer, or the reader of its worker's events
    process: subprocess.Popen | None = None


class JobManager:
    """Starts, controls and reports training jobs; every method is thread-safe."""

    def __init__(
        self,
        store: RunStore | None = None,
        max_jobs: int = 1,
        isolation: str = "process",
        warm: bool = False,
    ):
        """``warm`` (process isolation): keep one worker started, with torch imported and MNIST
        loaded, waiting for the next job, so Start begins training in well under a second
        instead of ≈3 s. It is started now and again whenever a job ends."""
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.store = store or RunStore()
        self.max_jobs = max_jobs
        self.isolation = isolation
        self.warm = warm and isolation == "process"
        self._spare: subprocess.Popen | None = None
        self._closed = False
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        atexit.register(self.shutdown)  # a thread still inside torch at exit aborts the process
        if self.warm:
            self._spare = self._popen()

    def start(self, config: TrainConfig) -> str:
        """Start a job and return its id (= its run id); ``Busy`` when the cap is reached."""
        config.validate()
        with self._lock:
            active = [j for j in self._jobs.values() if j.state in ev.ACTIVE]
            if len(active) >= self.max_jobs:
                raise Busy(
                    f"Busy: run {active[0].id} is already training on this server's cores. "
                    "Watch it, or wait until it finishes."
                )
            run = self.store.create(asdict(config))
            job = _Job(run.id, config, Control(), time.time())
            if self.isolation == "process":
                job.control = self._spawn(job, run)
            self._jobs[job.id] = job
        target = self._read if self.isolation == "process" else self._work
        job.thread = threading.Thread(
            target=target, args=(job, run), name=f"train-{job.id}", daemon=True
        )
        job.thread.start()
        return job.id

    def _on_event(self, job: _Job, event: dict) -> None:
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
                job.state = ev.RUNNING

    def _popen(self, preload: bool = True) -> subprocess.Popen:
        # Absolute paths: the worker runs from the package root, not the server's folder.
        env = dict(
            os.environ,
            LENET_DATA_DIR=str(data_dir().resolve()),
            LENET_RUNS_DIR=str(self.store.root.resolve()),
            PYTHONPATH=os.pathsep.join(
                p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p
            ),
        )
        args = [sys.executable, "-m", "lenet.serving.worker", *(["--preload"] * preload)]
        return subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=env,
            cwd=_PACKAGE_ROOT,
        )

    def _spawn(self, job: _Job, run) -> _RemoteControl:
        """Hand ``job`` to the spare worker, or to a new one (see ``lenet.serving.worker``)."""
        spare, self._spare = self._spare, None
        alive = spare is not None and spare.poll() is None
        job.process = spare if alive else self._popen(preload=False)
        folder = Path(tempfile.mkdtemp(prefix=f"lenet-job-{job.id}-"))
        pipe, lock = job.process.stdin, threading.Lock()

        def send(msg: dict) -> None:
            with lock:
                try:
                    pipe.write(encode(msg))
                    pipe.flush()
                except (OSError, ValueError):  # the worker has ended; nothing left to command
                    pass

        send(
            {
                "config": asdict(job.config),
                "runs_dir": str(self.store.root.resolve()),
                "data_dir": str(data_dir().resolve()),
                "run_id": run.id,
                "weights": str(folder / "weights.pt"),
            }
        )
        return _RemoteControl(send, folder / "weights.pt")

    def _read(self, job: _Job, run) -> None:
        """Follow a worker's events until it ends; a worker that dies is reported, not lost."""
        proc, result = job.process, None
        for line in proc.stdout:
            try:
                event = decode(line)
            except ValueError:
                continue
            if event.get("type") == RESULT:
                result = event
            else:
                self._on_event(job, event)
        code = proc.wait()
        job.control.weights()  # keep the final weights in memory, then drop the worker's folder
        shutil.rmtree(job.control.file.parent, ignore_errors=True)
        if result is not None:
            state, message = result["status"], result["message"]
        elif self._closed:  # killed while the server shut down: the run can be resumed
            state = ev.INTERRUPTED
            message = "The server shut down during training; finished epochs are kept."
        else:
            state = ev.FAILED
            message = (
                f"The training process ended unexpectedly (exit code {code}); "
                "finished epochs are kept."
            )
        if result is None and run.status().get("state") == ev.RUNNING:
            run.finish(state, message)
        run.release()
        try:
            proc.stdin.close()
        except OSError:
            pass
        with self._lock:
            job.state, job.message = state, message
            if self.warm and self._spare is None and not self._closed:
                self._spare = self._popen()  # the next Start won't wait for imports

    def _work(self, job: _Job, run) -> None:
        try:
            result = train(
                job.config,
                control=job.control,
                on_event=lambda e: self._on_event(job, e),
                run=run,
            )
            state, message = result.status, result.message
        except Exception as e:  # the UI shows the reason; the traceback goes to the log
            log.exception("training job %s failed", job.id)
            state, message = ev.FAILED, f"Training failed: {type(e).__name__}: {e}"
            try:
                run.finish(ev.FAILED, message)
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
                "config": asdict(job.config),
                "started": job.started,
                "elapsed": time.time() - job.started,
                "train_seconds": train_s,
                "step": step,
                "total_steps": total,
                "epoch": last.get("epoch", 0),
                "epochs": job.config.epochs,
                "progress": step / total if total else 0.0,
                "eta_seconds": eta if state in (ev.RUNNING, ev.PAUSED) else 0.0,
                "images_per_s": last.get("images_per_s"),
                "batches": list(job.batches),
                "epoch_metrics": list(job.epochs),
                "lr_changes": list(job.lr_changes),
                "latest": job.epochs[-1] if job.epochs else None,
            }

    def jobs(self) -> list[dict]:
        """Short rows for every job this process knows, newest first."""
        with self._lock:
            newest = sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)
            ids = [j.id for j in newest]
        return [
            {k: v for k, v in self.snapshot(i).items() if k not in ("batches", "epoch_metrics")}
            for i in ids
        ]

    def active(self) -> list[str]:
        with self._lock:
            return [j.id for j in self._jobs.values() if j.state in ev.ACTIVE]

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
        """Block until the job ends or ``timeout`` passes (scripts, tests); return its state."""
        thread = self._get(job_id).thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot(job_id)["state"]

    def shutdown(self, timeout: float = 30.0) -> None:
        """Interrupt every job and wait for it (called at interpreter exit): its run ends
        ``interrupted`` with finished epochs kept. A worker that doesn't end in time is
        killed, and its run is reported interrupted too."""
        with self._lock:
            jobs, spare, self._spare, self._closed = (
                list(self._jobs.values()),
                self._spare,
                None,
                True,
            )
        if spare is not None and spare.poll() is None:
            spare.stdin.close()  # an unused spare exits when its input ends
        for job in jobs:
            if job.state in ev.ACTIVE:
                job.control.interrupt()
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None and job.thread.is_alive():
                job.thread.join(max(deadline - time.monotonic(), 0.1))
            if job.process is not None and job.process.poll() is None:
                job.process.kill()
                if job.thread is not None:
                    job.thread.join(5)
        if spare is not None:
            try:
                spare.wait(5)
            except subprocess.TimeoutExpired:
                spare.kill()
