"""How one job trains, apart from the pages: in a ``python -m lenet.serving.worker`` process (the
dashboard's way) or in a thread of this process (notebooks and tests).

A worker process has its own interpreter lock, so pages being drawn never hold up the
trainer's Python between torch calls. Its events arrive over a pipe and commands go back the
same way (``lenet.serving.protocol``). A worker that has finished a job waits for the next
(``warm``: one is started with torch imported and MNIST loaded before the first Start), so a
queue pays the ≈3 s of importing torch and loading MNIST once, not once per run. ``"thread"``
has no start-up cost at all. Either way the runner reports each event and the end to its
manager.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from lenet.data import data_dir
from lenet.runs import Run, RunStore
from lenet.serving.protocol import RESULT, decode, encode, read_weights
from lenet.training import Control, train
from lenet.training import events as ev

__all__ = ["ISOLATIONS", "Runner", "RemoteControl", "end_lost"]

ISOLATIONS = ("process", "thread", "ray")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
log = logging.getLogger(__name__)


class RemoteControl(Control):
    """The manager's handle on a trainer elsewhere (a worker process, a Ray actor). Commands
    go through ``send``; their effect is mirrored here so a snapshot says "paused" at once.
    ``fetch()`` returns the trainer's newer published weights, or None when nothing is new."""

    def __init__(self, send: Callable[[dict], None], fetch: Callable[[], tuple | None]) -> None:
        super().__init__()
        self._send, self._fetch = send, fetch

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
        published = self._fetch()
        if published is not None:
            with self._lock:
                self._weights = published
        return super().weights()


def _file_reader(path: Path) -> Callable[[], tuple | None]:
    """Reads a worker's weights file when it has changed (a file being replaced: nothing new)."""
    seen = None

    def fetch():
        nonlocal seen
        try:
            stamp = path.stat().st_mtime_ns
            if stamp == seen:
                return None
            published = read_weights(path)
        except (OSError, ValueError):
            return None
        seen = stamp
        return published

    return fetch


def end_lost(run: Run, message: str) -> None:
    """A run whose trainer went away without a result (killed, its node lost, the server shut
    down) ends ``interrupted`` with its finished epochs kept: resumable."""
    if run.status().get("state") == ev.RUNNING:
        # an epoch's checkpoint is written before its event: a trainer killed in between still
        # finished that epoch
        done = max([run.status().get("epochs_done", 0), *run.epochs()])
        run.set_state(ev.RUNNING, epochs_done=done)
        run.finish(ev.INTERRUPTED, message)


class Runner:
    """Trains jobs for a manager. ``on_event(job, event)`` gets every training event and
    ``on_end(job, state, message, lost=...)`` the end (``lost``: the worker died). A job is
    any object with ``id``, ``config``, ``resume`` and the attributes this sets: ``control``,
    ``thread`` and ``process``."""

    def __init__(self, store: RunStore, isolation: str, warm: bool, on_event, on_end) -> None:
        if isolation not in ("process", "thread"):
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.store, self.isolation = store, isolation
        self.warm = warm and isolation == "process"
        self._on_event, self._on_end = on_event, on_end
        self._lock = threading.Lock()
        # idle workers, waiting for a job: at most one is kept (each holds torch and MNIST)
        self._idle: list[subprocess.Popen] = [self._popen()] if self.warm else []
        self.closing = False

    def where(self) -> dict:
        """What a run's status records about where it trains (here: its pid is enough)."""
        return {}

    @property
    def idle(self) -> list[subprocess.Popen]:
        """The workers waiting for a job (alive or not: a dead one is dropped when needed)."""
        with self._lock:
            return list(self._idle)

    def launch(self, job, run: Run) -> None:
        """Start training ``job`` (whose ``run`` is already marked running)."""
        if self.isolation == "process":
            job.control = self._spawn(job, run)
            target = self._read
        else:
            job.control = Control()
            target = self._work
        job.thread = threading.Thread(target=target, args=(job, run), name=f"train-{job.id}",
                                      daemon=True)  # fmt: skip
        job.thread.start()

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
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
            bufsize=1, env=env, cwd=_PACKAGE_ROOT,
        )  # fmt: skip

    def _take_idle(self) -> subprocess.Popen | None:
        with self._lock:
            while self._idle:
                proc = self._idle.pop()
                if proc.poll() is None:
                    return proc
        return None

    def _spawn(self, job, run: Run) -> RemoteControl:
        """Hand ``job`` to an idle worker, or to a new one (see ``lenet.serving.worker``)."""
        job.process = self._take_idle() or self._popen(preload=False)
        folder = Path(tempfile.mkdtemp(prefix=f"lenet-job-{job.id}-"))
        pipe, lock = job.process.stdin, threading.Lock()

        def send(msg: dict) -> None:
            if "cmd" in msg:
                msg = {**msg, "run": run.id}  # a worker obeys commands for its current run only
            with lock:
                try:
                    pipe.write(encode(msg))
                    pipe.flush()
                except (OSError, ValueError):  # the worker has ended; nothing left to command
                    pass

        send({"config": asdict(job.config), "runs_dir": str(self.store.root.resolve()),
              "data_dir": str(data_dir().resolve()), "run_id": run.id,
              "weights": str(folder / "weights.pt"), "resume": job.resume})  # fmt: skip
        job.weights_dir = folder
        return RemoteControl(send, _file_reader(folder / "weights.pt"))

    def _read(self, job, run: Run) -> None:
        """Follow a worker's events until its result; a worker that dies is reported, not
        lost. A worker that finished its job waits for the next one."""
        proc, result = job.process, None
        while result is None and (line := proc.stdout.readline()):
            try:
                event = decode(line)
            except ValueError:
                continue
            if event.get("type") == RESULT:
                result = event
            else:
                self._on_event(job, event)
        job.control.weights()  # keep the final weights in memory, then drop the worker's folder
        shutil.rmtree(job.weights_dir, ignore_errors=True)
        lost = result is None and not self.closing
        if result is not None:
            state, message = result["status"], result["message"]
            self._keep_or_end(proc)
        else:  # killed (out of memory, a signal) or shut down with the server: resumable
            code = proc.wait()
            state = ev.INTERRUPTED
            why = "the server shut down" if self.closing else f"exit code {code}"
            message = f"The training process ended early ({why}); finished epochs are kept."
            end_lost(run, message)
            _close(proc)
            if self.warm and not self.closing and not self.idle:
                with self._lock:
                    self._idle.append(self._popen())  # the next Start won't wait for imports
        run.release()
        self._on_end(job, state, message, lost=lost)  # may hand the next job to this worker
        self._trim()

    def _keep_or_end(self, proc: subprocess.Popen) -> None:
        """A worker whose job ended: idle for the next job, or told to end (closing down)."""
        if self.closing or self.isolation != "process":
            _close(proc)
            return
        with self._lock:
            self._idle.append(proc)

    def _trim(self) -> None:
        """Keep one idle worker when warm (none otherwise); the others end."""
        keep = 1 if self.warm and not self.closing else 0
        with self._lock:
            extra, self._idle = self._idle[keep:], self._idle[:keep]
        for proc in extra:
            _close(proc)

    def _work(self, job, run: Run) -> None:
        try:
            result = train(job.config, control=job.control, run=run, resume=job.resume,
                           on_event=lambda e: self._on_event(job, e))  # fmt: skip
            state, message = result.status, result.message
        except Exception as e:  # the UI shows the reason; the traceback goes to the log
            log.exception("training job %s failed", job.id)
            state, message = ev.FAILED, f"Training failed: {type(e).__name__}: {e}"
            try:
                run.finish(ev.FAILED, message)
            except OSError:
                pass
        self._on_end(job, state, message)

    def close(self) -> None:
        """No idle workers any more (the manager is shutting down)."""
        self.closing = True
        self._trim()


def _close(proc: subprocess.Popen, timeout: float = 5) -> None:
    """End a worker that is not training: it exits when its input ends."""
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
