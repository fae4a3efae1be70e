"""The training process behind ``JobManager(isolation="process")``:
``python -m lenet.serving.worker`` (``--preload``: import and load MNIST first, then wait for a
job: a warm spare).

A job trained in its own process has its own interpreter lock, so a server busy drawing pages
for a class never holds up the trainer's Python between torch calls, and the trainer never
slows the pages. It speaks ``lenet.serving.protocol`` on stdin and stdout and writes the run
folder itself (events, checkpoints, final status). SIGTERM or SIGINT (the server, or a
terminal's Ctrl-C, shutting everything down) interrupts the run: it ends ``interrupted`` after
the current step, with its finished epochs kept.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from lenet.data import ensure_mnist, load_split
from lenet.runs import RunStore
from lenet.serving.protocol import RESULT, apply_command, decode, encode, write_weights
from lenet.training import Control, TrainConfig, train
from lenet.training.events import FAILED

__all__ = ["main"]

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


def _listen(control: Control, stream) -> None:
    """Apply the manager's commands until its end of the pipe closes, then interrupt the run."""
    for line in stream:
        try:
            apply_command(control, decode(line))
        except (ValueError, TypeError) as e:
            log.warning("ignored command %r: %s", line.strip()[:200], e)
    control.interrupt()


def _preload() -> None:
    """What every job needs first (torch, the trainer, MNIST normalised for classic/modern):
    done before the job arrives, so a spare worker starts training at once."""
    try:
        load_split("train"), load_split("test")
    except Exception as e:  # noqa: BLE001 - a missing dataset is reported by the job itself
        log.warning("MNIST not preloaded: %s", e)


def _run_job(job: dict, send) -> None:
    control = PublishingControl(Path(job["weights"]))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: control.interrupt())
    threading.Thread(
        target=_listen, args=(control, sys.stdin), name="commands", daemon=True
    ).start()
    os.environ["LENET_DATA_DIR"] = job["data_dir"]  # absolute: where the server found MNIST
    run = RunStore(job["runs_dir"]).get(job["run_id"])
    try:
        ensure_mnist(sources=())  # fetching is the server's job, not a worker's
        config = TrainConfig.from_dict(job["config"])
        resume = bool(job.get("resume"))
        result = train(config, control=control, on_event=send, run=run, resume=resume)
        send({"type": RESULT, "status": result.status, "message": result.message})
    except Exception as e:  # the page shows the reason; the traceback goes to the log
        log.exception("training failed")
        message = f"Training failed: {type(e).__name__}: {e}"
        try:
            run.finish(FAILED, message)
        except OSError:
            pass
        send({"type": RESULT, "status": FAILED, "message": message})


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")  # the protocol's own fd
    os.dup2(2, 1)  # stray prints (warnings, libraries) go to the log, not into the protocol
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if "--preload" in sys.argv:
        _preload()
    line = sys.stdin.readline()
    if not line:  # a spare that was never used
        return 0
    lock = threading.Lock()

    def send(message: dict) -> None:
        with lock:
            channel.write(encode(message))

    _run_job(decode(line), send)
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
