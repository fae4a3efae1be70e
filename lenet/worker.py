"""The training process behind ``JobManager(isolation="process")``: ``python -m lenet.worker``
(``--preload``: import and load MNIST first, then wait for a job: a warm spare).

A job trained in its own process has its own interpreter lock, so a server busy drawing pages
for a class never holds up the trainer's Python between torch calls, and the trainer never
slows the pages. The protocol is one JSON object per line:

- stdin, parent → worker: first the job ``{"config": {...}, "runs_dir": ..., "run_id": ...,
  "weights": <file>}``, then commands ``{"cmd": "pause" | "resume" | "stop"}`` and
  ``{"cmd": "lr", "lr": 0.001}``. End of input (the server went away) stops the run cleanly.
- stdout, worker → parent: every trainer event, then ``{"type": "_result", "status": ...,
  "message": ...}``. Anything else the process prints goes to stderr, the server's log.

The worker writes the run folder itself (events, checkpoints, final status) and publishes its
live weights, about once a second, to the ``weights`` file (written whole, then renamed).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from pathlib import Path

__all__ = ["main", "RESULT"]

RESULT = "_result"  # the last line a worker writes


def _write_weights(path: Path, state: dict, epoch: int, step: int) -> None:
    import torch

    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state": state, "epoch": epoch, "step": step}, tmp)
    os.replace(tmp, path)


def _listen(control, stream) -> None:
    """Apply the parent's commands until its end of the pipe closes, then stop the run."""
    for line in stream:
        try:
            msg = json.loads(line)
            cmd = msg.get("cmd")
            if cmd == "pause":
                control.pause()
            elif cmd == "resume":
                control.resume()
            elif cmd == "stop":
                control.stop()
            elif cmd == "lr":
                control.set_lr(float(msg["lr"]))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            print(f"lenet.worker: ignored command {line.strip()!r}: {e}", file=sys.stderr)
    control.stop()


def _preload() -> None:
    """What every job needs first (torch, the trainer, MNIST normalised for classic/modern):
    done before the job arrives, so a spare worker starts training at once."""
    from lenet.data import load_split

    try:
        load_split("train"), load_split("test")
    except Exception as e:  # noqa: BLE001 - a missing dataset is reported by the job itself
        print(f"lenet.worker: MNIST not preloaded: {e}", file=sys.stderr)


def main() -> int:
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")  # the protocol's own fd
    os.dup2(2, 1)  # stray prints (warnings, libraries) go to the log, not into the protocol
    from lenet.control import Control
    from lenet.runs import RunStore
    from lenet.train import TrainConfig, train

    if "--preload" in sys.argv:
        _preload()
    line = sys.stdin.readline()
    if not line:  # a spare that was never used
        return 0
    job = json.loads(line)

    weights = Path(job["weights"])

    class PublishingControl(Control):
        def publish(self, model, epoch: int, step: int) -> None:
            super().publish(model, epoch, step)
            try:
                _write_weights(weights, self.weights()[0], epoch, step)
            except OSError as e:  # a full disk must not end the run; views just see older weights
                print(f"lenet.worker: live weights not written: {e}", file=sys.stderr)

    lock = threading.Lock()

    def send(obj: dict) -> None:
        with lock:
            channel.write(json.dumps(obj) + "\n")

    control = PublishingControl()
    threading.Thread(
        target=_listen, args=(control, sys.stdin), name="commands", daemon=True
    ).start()
    run = RunStore(job["runs_dir"]).get(job["run_id"])
    try:
        result = train(TrainConfig(**job["config"]), control=control, on_event=send, run=run)
        send({"type": RESULT, "status": result.status, "message": result.message})
    except Exception as e:  # the page shows the reason; the traceback goes to the log
        traceback.print_exc()
        message = f"Training failed: {type(e).__name__}: {e}"
        try:
            run.finish("failed", message)
        except OSError:
            pass
        send({"type": RESULT, "status": "failed", "message": message})
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
