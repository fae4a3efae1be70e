"""t-SNE maps computed in the background: one process at a time per runs folder, at low CPU
priority, each map kept in its run's folder beside the checkpoint it was made from.

A page asks ``tsne_state`` and, when the map is missing, ``request_tsne``; thirty viewers asking
for the same map start one process, and a viewer asking while another map is being computed
waits for it (``"waiting"``) and asks again on its next poll. The process is
``python -m lenet embed --run ID --epoch E --method tsne``; its error, if it fails, is kept
beside the map (``"failed"`` with the message) so a page can say what went wrong once instead
of starting it again and again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from lenet._atomic import write_atomic
from lenet.data import data_dir
from lenet.runs import Run

__all__ = ["READY", "COMPUTING", "WAITING", "FAILED", "MISSING", "embedding_path",
           "tsne_state", "request_tsne"]  # fmt: skip

READY, COMPUTING, WAITING, FAILED, MISSING = "ready", "computing", "waiting", "failed", "missing"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
NICENESS = 10  # the map gives way to training and to the pages


def embedding_path(run: Run, epoch: int, layer: str = "F6", method: str = "tsne") -> Path:
    return run.cache_path("embeddings", epoch, f"_{layer}_{method}.npz")


def _lock(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _error(path: Path) -> Path:
    return path.with_name(path.name + ".error")


def _holder_alive(lock: Path) -> bool:
    """Whether the process named in ``lock`` still runs (a crashed one leaves a stale lock)."""
    try:
        text = lock.read_text()
        if not text and time.time() - lock.stat().st_mtime < 10:
            return True  # just taken: its holder is writing its pid
        pid = int(json.loads(text)["pid"])
        os.kill(pid, 0)
    except PermissionError:
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _folder_lock(run: Run) -> Path:
    return run.path.parent / ".tsne.lock"  # one map at a time for the whole runs folder


def tsne_state(run: Run, epoch: int, layer: str = "F6") -> tuple[str, str]:
    """(state, message): ``READY``, ``COMPUTING`` (this map), ``WAITING`` (another map is being
    computed), ``FAILED`` (message: why), or ``MISSING``."""
    path = embedding_path(run, epoch, layer)
    if path.is_file():
        return READY, ""
    if _error(path).is_file():
        return FAILED, _error(path).read_text(errors="replace")[:500]
    folder = _folder_lock(run)
    if folder.is_file() and _holder_alive(folder):
        mine = json.loads(folder.read_text()).get("map") == str(path)
        return (COMPUTING, "") if mine else (WAITING, "")
    return MISSING, ""


def request_tsne(run: Run, epoch: int, layer: str = "F6") -> str:
    """Start computing the map unless it is there, failed, or another map is being computed;
    the state afterwards (see ``tsne_state``)."""
    state, _ = tsne_state(run, epoch, layer)
    if state != MISSING:
        return state
    folder = _folder_lock(run)
    if folder.is_file():  # its holder is gone (tsne_state looked): take the lock over
        folder.unlink(missing_ok=True)
    try:
        fd = os.open(folder, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return WAITING  # another viewer started one a moment ago
    path = embedding_path(run, epoch, layer)
    env = dict(
        os.environ,
        LENET_DATA_DIR=str(data_dir().resolve()),
        LENET_RUNS_DIR=str(run.path.parent.resolve()),
        PYTHONPATH=os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p),
    )
    args = [sys.executable, "-m", "lenet", "embed", "--run", run.id, "--epoch", str(epoch),
            "--layer", layer, "--method", "tsne", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=_PACKAGE_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(NICENESS),
        start_new_session=True,  # it finishes the map even when the server stops first
    )
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": proc.pid, "map": str(path), "started": time.time()}, f)
    threading.Thread(target=proc.wait, name="tsne-reaper", daemon=True).start()  # no zombie
    return COMPUTING


def compute_in_background_process(run: Run, epoch: int, layer: str, compute) -> None:
    """The background process's side: ``compute()`` returns the map's bytes; they are written
    to the map's file, or the error beside it. The folder's lock is released either way."""
    path = embedding_path(run, epoch, layer)
    folder = _folder_lock(run)
    try:
        data = compute()
        write_atomic(path, lambda f: f.write(data))
    except Exception as e:  # noqa: BLE001 - kept for the page to show, instead of a retry loop
        message = f"{type(e).__name__}: {e}".encode()
        write_atomic(_error(path), lambda f: f.write(message))
        raise
    finally:
        try:
            if json.loads(folder.read_text()).get("pid") in (os.getpid(), None):
                folder.unlink(missing_ok=True)
        except (OSError, ValueError):
            pass
