"""The training process behind ``JobManager(isolation="process")``:
``python -m lenet.serving.worker`` (``--preload``: import and load MNIST first, then wait: a
warm worker).

A job trained in its own process has its own interpreter lock, so a server busy drawing pages
for a class never holds up the trainer's Python between torch calls, and the trainer never
slows the pages. It speaks ``lenet.serving.protocol`` on stdin and stdout and writes the run
folder itself (events, checkpoints, final status). One worker trains job after job, so a
queue of thirty quick runs pays for importing torch and loading MNIST once. SIGTERM or SIGINT
(the server, or a terminal's Ctrl-C, shutting everything down) interrupts the current run: it
ends ``interrupted`` after the current step, with its finished epochs kept, and the worker
exits; so does the end of its input.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
from pathlib import Path

from lenet.data import ensure_mnist, load_split
from lenet.runs import RunStore
from lenet.serving.protocol import RESULT, apply_command, decode, encode, write_weights
from lenet.training import Control, TrainConfig, train
from lenet.training.events import FAILED

__all__ = ["main", "preload_mnist", "run_job"]

log = logging.getLogger("lenet.worker")


class PublishingControl(Control):
    """A ``Control`` whose published weights also go to the manager's weights file."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        self.file = weights

    def publish(self, model, epoch: int, step: int) -> None:
        super().publish(model, epoch, step)
        try:
            write_weights(self.file, self.weights()[0], epoch, step)
        except OSError as e:  # a full disk must not end the run; views just see older weights
            log.warning("live weights not written: %s", e)


class _Current:
    """The job being trained, if any: commands name their run, and only its control obeys
    (a late "stop" for the previous job must not reach the next one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.run_id: str | None = None
        self.control: Control | None = None
        self.quitting = False

    def set(self, run_id: str | None, control: Control | None) -> None:
        with self._lock:
            self.run_id, self.control = run_id, control
            if control is not None and self.quitting:
                control.interrupt()

    def done(self, run_id: str) -> None:
        with self._lock:
            if self.run_id == run_id:
                self.run_id, self.control = None, None

    def command(self, message: dict) -> None:
        with self._lock:
            control = self.control if message.get("run") == self.run_id else None
        if control is None:
            log.info("command %r for run %r, which is not training here: ignored",
                     message.get("cmd"), message.get("run"))  # fmt: skip
            return
        apply_command(control, message)

    def quit(self) -> None:
        """Interrupt the current job and take no more."""
        with self._lock:
            self.quitting = True
            if self.control is not None:
                self.control.interrupt()


def _listen(current: _Current, jobs: queue.Queue, stream) -> None:
    """Jobs go to the queue, commands to the current job, until the manager's end of the pipe
    closes: then the current run is interrupted and the worker ends."""
    for line in stream:
        try:
            message = decode(line)
            if "config" in message:  # current at once: a command may follow on the next line
                control = PublishingControl(Path(message["weights"]))
                current.set(message["run_id"], control)
                jobs.put((message, control))
            else:
                current.command(message)
        except (ValueError, TypeError) as e:
            log.warning("ignored command %r: %s", line.strip()[:200], e)
    current.quit()


def preload_mnist() -> None:
    """What every job needs first (torch, the trainer, MNIST normalised for classic/modern):
    done before the job arrives, so a warm worker starts training at once."""
    try:
        load_split("train"), load_split("test")
    except Exception as e:  # noqa: BLE001 - a missing dataset is reported by the job itself
        log.warning("MNIST not preloaded: %s", e)


def run_job(job: dict, control: Control, send, current) -> None:
    """Train one job (``job`` as the protocol's first message), on the cores other processes
    leave free, and send its events and result; ``current.done(run_id)`` when it has ended."""
    os.environ["LENET_DATA_DIR"] = job["data_dir"]  # absolute: where the server found MNIST
    try:
        run = RunStore(job["runs_dir"]).get(job["run_id"])
        try:
            ensure_mnist(sources=())  # fetching is the server's job, not a worker's
            config = TrainConfig.from_dict(job["config"])
            resume = bool(job.get("resume"))
            result = train(config, control=control, on_event=send, run=run, resume=resume,
                           share_cores=True)  # fmt: skip
            send({"type": RESULT, "status": result.status, "message": result.message})
        except Exception as e:  # the page shows the reason; the traceback goes to the log
            log.exception("training failed")
            message = f"Training failed: {type(e).__name__}: {e}"
            try:
                run.finish(FAILED, message)
            except OSError:
                pass
            send({"type": RESULT, "status": FAILED, "message": message})
    finally:
        current.done(job["run_id"])


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")  # the protocol's own fd
    os.dup2(2, 1)  # stray prints (warnings, libraries) go to the log, not into the protocol
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    current, jobs = _Current(), queue.Queue()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: current.quit())
    if "--preload" in sys.argv:
        preload_mnist()
    threading.Thread(
        target=_listen, args=(current, jobs, sys.stdin), name="commands", daemon=True
    ).start()
    lock = threading.Lock()

    def send(message: dict) -> None:
        with lock:
            channel.write(encode(message))

    while not current.quitting:  # a job sent as the worker was told to end is not begun
        try:
            job, control = jobs.get(timeout=0.5)  # a timeout: a signal can end the wait
        except queue.Empty:
            continue
        run_job(job, control, send, current)
    channel.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: the command thread may still be blocked reading stdin, and interpreter
    # shutdown with a daemon thread holding stdin's lock aborts the process. Everything the
    # run needs is already on disk (events flushed, checkpoints and status renamed into place).
    os._exit(code)
