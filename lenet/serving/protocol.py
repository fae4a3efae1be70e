"""How a job manager and a worker process talk: one JSON object per line, both ways.

- manager → worker (the worker's stdin): first the job, ``{"config": {...}, "runs_dir": ...,
  "data_dir": ..., "run_id": ..., "weights": <file>}`` (paths absolute: the worker's working
  directory is not the server's), then commands ``{"cmd": "pause" | "resume" | "stop" |
  "interrupt"}`` and ``{"cmd": "lr", "lr": 0.001}``. End of input (the server went away)
  interrupts the run.
- worker → manager (its stdout): every training event, then ``{"type": RESULT, "status": ...,
  "message": ...}``.

Live weights travel through a file instead (``write_weights`` / ``read_weights``), written
whole and renamed, about once a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lenet._atomic import write_atomic
from lenet.training.control import Control

__all__ = ["RESULT", "COMMANDS", "encode", "decode", "apply_command", "write_weights",
           "read_weights"]  # fmt: skip

RESULT = "_result"  # the type of the last line a worker writes
COMMANDS = ("pause", "resume", "stop", "interrupt", "lr")


def encode(message: dict) -> str:
    return json.dumps(message) + "\n"


def decode(line: str) -> dict:
    """One line as a message; ValueError for anything that is not a JSON object."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"not a message: {line.strip()[:80]!r}")
    return message


def apply_command(control: Control, message: dict) -> None:
    """Carry out one command on ``control``; ValueError for an unknown or malformed one."""
    cmd = message.get("cmd")
    if cmd not in COMMANDS:
        raise ValueError(f"unknown command {cmd!r}")
    if cmd == "lr":
        if not isinstance(message.get("lr"), int | float):
            raise ValueError(f"an lr command needs a number, got {message.get('lr')!r}")
        control.set_lr(float(message["lr"]))
    else:
        getattr(control, cmd)()


def write_weights(path: Path, state: dict, epoch: int, step: int) -> None:
    # Rewritten every second: atomic, but not worth an fsync.
    payload = {"state": state, "epoch": epoch, "step": step}
    write_atomic(path, lambda f: torch.save(payload, f), durable=False)


def read_weights(path: Path) -> tuple[dict, int, int]:
    """(state_dict, epoch, step) from a weights file; OSError or ValueError when unreadable."""
    try:
        w = torch.load(path, map_location="cpu", weights_only=True)
        return w["state"], int(w["epoch"]), int(w["step"])
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - torch raises many types for a half-replaced file
        raise ValueError(f"weights file {path} unreadable: {type(e).__name__}") from None
