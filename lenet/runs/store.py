"""The run store: one folder per training run, written so that a crash loses nothing finished.

    runs/<run_id>/config.json  status.json  metrics.jsonl
                  checkpoints/epoch_003.pt  snapshots/epoch_003.pt  health/epoch_003.json

Checkpoints are plain dicts (weights, config, metrics), loaded with ``weights_only=True``; only
the newest one also keeps the optimizer's state, which is all a resumed run needs and would
otherwise triple the size of a long run. Every event is one flushed line of ``metrics.jsonl``;
checkpoints, snapshots and status are written to a temporary file and renamed (``os.replace``
is atomic), so a reader sees either the old file or the new one. Listing never raises: a run
that can't be read shows as ``corrupt`` and one whose process died shows as ``interrupted``,
each with what survived.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

import torch
from torch import nn

from lenet._atomic import write_atomic, write_json_atomic
from lenet.analysis.health import HEALTH_VERSION, probe_batch
from lenet.analysis.health import health as health_record
from lenet.data import MnistUnavailable
from lenet.models import LeNet5, normalization_of
from lenet.training import events as ev

__all__ = ["RunStore", "Run", "RunInfo", "CheckpointError", "runs_dir", "LEGACY_OWNER"]

# Who a run belongs to is {"id", "name"} in its status; runs stored before owners were recorded
# belong to the teacher (an id no participant can have: theirs are random and longer).
LEGACY_OWNER = {"id": "teacher", "name": "Teacher"}

_RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
_ACTIVE: set[str] = set()  # run folders being written by this process
ALIVE_FOR_S = 30.0  # a cluster run whose heartbeat is older than this has lost its trainer


class CheckpointError(RuntimeError):
    """A checkpoint that is missing or can't be loaded; the message says which and why."""


def runs_dir() -> Path:
    """The runs root: env LENET_RUNS_DIR, else ./runs (read at each call, like ``data_dir``)."""
    return Path(os.environ.get("LENET_RUNS_DIR", "runs"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunInfo:
    """What the Runs page lists: everything readable about a run, never an exception."""

    id: str
    status: str
    variant: str = "?"
    config: dict = field(default_factory=dict)
    epochs_done: int = 0
    best_test_acc: float | None = None
    last_test_acc: float | None = None
    started: float | None = None
    duration: float | None = None
    message: str = ""
    owner: dict = field(default_factory=lambda: dict(LEGACY_OWNER))
    queued_at: float | None = None
    images_per_s: float | None = None  # the training speed over its epochs so far

    @property
    def resumable(self) -> bool:
        """An interrupted run with a finished epoch to go on from, and epochs left to train."""
        planned = self.config.get("epochs") if self.config else None
        return (self.status == ev.INTERRUPTED and self.epochs_done >= 1
                and isinstance(planned, int) and self.epochs_done < planned)  # fmt: skip


class Run:
    """One run folder. Writers: ``append``, ``save_epoch``, ``finish``; readers: the rest."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.id = self.path.name
        self._log = None

    # -- writing ---------------------------------------------------------------------------
    def append(self, event: dict) -> None:
        """Append one event as a JSON line, flushed so another process can read it now."""
        if self._log is None:
            self._log = open(self.path / "metrics.jsonl", "a", encoding="utf-8")
        self._log.write(json.dumps(event) + "\n")
        self._log.flush()
        if event.get("type") == "epoch":
            st = self.status()
            st["epochs_done"] = event["epoch"]
            st["last_test_acc"] = event["test_acc"]
            st["best_test_acc"] = max(event["test_acc"], st.get("best_test_acc") or 0.0)
            st["images_per_s"] = event.get("images_per_s")
            write_json_atomic(self.path / "status.json", st)

    def save_epoch(
        self,
        epoch: int,
        model: nn.Module,
        optimizer,
        config,
        metrics: dict | None,
        training: dict | None = None,
        health: dict | None = None,
    ) -> None:
        """Checkpoint (model, optimizer, config) and kernel snapshot for ``epoch``, atomically.
        ``training`` is what a resumed run needs beyond the optimizer (the recipe's state, the
        step count): like the optimizer's state it is kept in the newest checkpoint only.
        ``health`` (``lenet.analysis.health.health``) is written first, so a reader that finds
        the checkpoint finds its record too."""
        if health is not None:
            self._write_health(epoch, health)
        cfg = asdict(config) if is_dataclass(config) else dict(config)
        ckpt = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer else None,
            "training": training,
            "epoch": epoch,
            "config": cfg,
            "variant": cfg.get("variant"),
            "metrics": metrics,
        }
        snap = {"epoch": epoch, "C1": model.C1.state_dict(), "C3": model.C3.state_dict()}
        previous = [e for e in self.epochs() if e < epoch]
        for sub, payload in (("checkpoints", ckpt), ("snapshots", snap)):
            folder = self.path / sub
            folder.mkdir(exist_ok=True)
            write_atomic(folder / f"epoch_{epoch:03d}.pt", lambda f, p=payload: torch.save(p, f))
        if previous:  # the new checkpoint is on disk: the previous one keeps its weights only
            self._drop_training_state(previous[-1])

    def _write_health(self, epoch: int, record: dict) -> None:
        text = json.dumps(record, separators=(",", ":")).encode()
        write_atomic(self.cache_path("health", epoch, ".json"), lambda f: f.write(text))

    def _drop_training_state(self, epoch: int) -> None:
        path = self.path / "checkpoints" / f"epoch_{epoch:03d}.pt"
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged old checkpoint stays as it is
            return
        if isinstance(ckpt, dict) and (ckpt.get("optimizer") or ckpt.get("training")):
            ckpt["optimizer"] = ckpt["training"] = None
            write_atomic(path, lambda f: torch.save(ckpt, f))

    def set_state(self, state: str, **fields) -> None:
        """Write a new state (and other status fields) into status.json, e.g. a queued run
        that starts training, or one queued again to be resumed."""
        st = self.status()
        st.update(fields, state=state)
        write_json_atomic(self.path / "status.json", st)
        if state == ev.RUNNING:
            _ACTIVE.add(str(self.path.resolve()))

    def cache_path(self, kind: str, epoch: int, suffix: str) -> Path:
        """Where something derived from a checkpoint is kept (e.g. its predictions): made
        once, read by every viewer, never exported (a zip holds only what can't be derived)."""
        folder = self.path / kind
        folder.mkdir(exist_ok=True)
        return folder / f"epoch_{epoch:03d}{suffix}"

    def finish(self, status: str, message: str = "") -> None:
        st = self.status()
        st.update(state=status, message=message, ended=time.time())
        write_json_atomic(self.path / "status.json", st)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.release()

    def release(self) -> None:
        """This process stops vouching that the run is being written (another process that
        trained it has finished it, or died)."""
        _ACTIVE.discard(str(self.path.resolve()))

    # -- reading ---------------------------------------------------------------------------
    @property
    def owner(self) -> dict:
        """Who started the run: {"id", "name"} (the teacher for runs from before owners)."""
        owner = self.status().get("owner")
        return owner if isinstance(owner, dict) and "id" in owner else dict(LEGACY_OWNER)

    @property
    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    def status(self) -> dict:
        try:
            return json.loads((self.path / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def events(self) -> list[dict]:
        """Parsed metrics lines; a torn last line (a crash mid-write) is skipped."""
        out = []
        try:
            with open(self.path / "metrics.jsonl", encoding="utf-8") as f:
                for line in f:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        continue
        except OSError:
            pass
        return out

    def epochs(self) -> list[int]:
        """Epochs with a checkpoint on disk (0 = the untrained network), ascending."""
        found = []
        for p in (self.path / "checkpoints").glob("epoch_*.pt"):
            try:
                found.append(int(p.stem.split("_")[1]))
            except (IndexError, ValueError):
                continue
        return sorted(found)

    def load_checkpoint(self, epoch: int | None = None) -> dict:
        """The checkpoint of ``epoch`` (default: the latest); ``CheckpointError`` if unusable."""
        epochs = self.epochs()
        if not epochs:
            raise CheckpointError(f"Run {self.id} has no checkpoint yet: train at least one epoch.")
        epoch = epochs[-1] if epoch is None else epoch
        path = self.path / "checkpoints" / f"epoch_{epoch:03d}.pt"
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(ckpt, dict) or "model" not in ckpt:
                raise ValueError("not a LeNet-5 Lab checkpoint")
        except FileNotFoundError:
            raise CheckpointError(f"Run {self.id} has no checkpoint for epoch {epoch}.") from None
        except Exception as e:  # torch raises many types for a damaged file
            raise CheckpointError(
                f"The checkpoint for epoch {epoch} of run {self.id} could not be "
                f"loaded ({type(e).__name__}: {str(e)[:120]}). The file is damaged; "
                f"choose another epoch or run."
            ) from None
        return ckpt

    def load_model(self, epoch: int | None = None) -> nn.Module:
        """A ``LeNet5`` in eval mode with the weights of ``epoch`` (default: the latest)."""
        ckpt = self.load_checkpoint(epoch)
        try:
            model = LeNet5(ckpt.get("variant") or ckpt["config"]["variant"])
            model.load_state_dict(ckpt["model"])
        except Exception as e:
            raise CheckpointError(
                f"The checkpoint of run {self.id} does not fit LeNet-5 ({type(e).__name__})."
            ) from None
        return model.eval()

    def load_snapshot(self, epoch: int) -> dict:
        path = self.path / "snapshots" / f"epoch_{epoch:03d}.pt"
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(
                f"Kernel snapshot of epoch {epoch} unreadable ({type(e).__name__})."
            ) from None

    def health(self) -> dict[int, dict]:
        """The health record of every checkpointed epoch (``lenet.analysis.health``), by epoch.

        The trainer writes one with each checkpoint. An epoch without one (a run trained before
        records were kept, or imported from a zip, which leaves derived files out) gets it
        computed from its checkpoint and kept, the first time it is asked for. Epochs whose
        record can't be made (a damaged checkpoint, no MNIST on this machine) are left out."""
        records, probe = {}, None
        for epoch in self.epochs():
            path = self.path / "health" / f"epoch_{epoch:03d}.json"
            try:
                record = json.loads(path.read_text())
                if record.get("version") == HEALTH_VERSION:
                    records[epoch] = record
                    continue
            except (OSError, ValueError, AttributeError):
                pass  # not recorded, damaged, or of another version: made again
            try:
                model = self.load_model(epoch)
                if probe is None:
                    probe = probe_batch(normalization=normalization_of(model.variant))
                records[epoch] = health_record(model, probe)
            except (CheckpointError, MnistUnavailable):
                continue
            try:
                self._write_health(epoch, records[epoch])
            except OSError:  # a read-only folder: the record is made again next time
                pass
        return records

    def info(self) -> RunInfo:
        """Everything listable about this run; never raises."""
        try:
            cfg = self.config
        except (OSError, ValueError):
            return RunInfo(
                self.id,
                ev.CORRUPT,
                message="config.json is missing or unreadable",
                epochs_done=len([e for e in self.epochs() if e > 0]),
            )
        st = self.status()
        if not st:  # status lost: rebuild what we can from the metrics log
            epochs = [e for e in self.events() if e.get("type") == "epoch"]
            st = {
                "state": ev.INTERRUPTED,
                "message": "status.json was missing; rebuilt from metrics",
                "epochs_done": len(epochs),
                "best_test_acc": max((e["test_acc"] for e in epochs), default=None),
            }
        state = st.get("state", ev.CORRUPT)
        if state == ev.RUNNING and not self._still_running(st):
            state = ev.INTERRUPTED
            st["message"] = (
                "The training process ended without finishing; completed epochs are kept."
            )
            # an epoch's checkpoint is written before its event: a process killed in between still
            # finished that epoch
            st["epochs_done"] = max([st.get("epochs_done", 0), *self.epochs()])
        started, ended = st.get("started"), st.get("ended")
        return RunInfo(
            id=self.id,
            status=state if state in ev.STATES else ev.CORRUPT,
            variant=cfg.get("variant", "?"),
            config=cfg,
            epochs_done=st.get("epochs_done", 0),
            best_test_acc=st.get("best_test_acc"),
            last_test_acc=st.get("last_test_acc"),
            started=started,
            duration=(ended or time.time()) - started if started else None,
            message=st.get("message", ""),
            owner=st["owner"] if isinstance(st.get("owner"), dict) else dict(LEGACY_OWNER),
            queued_at=st.get("queued_at"),
            images_per_s=st.get("images_per_s"),
        )

    def beat(self) -> None:
        """Say that this run's trainer is alive (its manager does, every few seconds): for a
        run on a cluster, where the trainer's pid means nothing to other machines."""
        (self.path / "alive").touch()

    def _still_running(self, st: dict) -> bool:
        if st.get("backend") == "ray":
            try:
                return time.time() - (self.path / "alive").stat().st_mtime < ALIVE_FOR_S
            except OSError:
                return False
        pid = st.get("pid")
        if pid == os.getpid():
            return str(self.path.resolve()) in _ACTIVE
        return isinstance(pid, int) and _pid_alive(pid)


class RunStore:
    """All runs under one folder (``LENET_RUNS_DIR``, default ``./runs``)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else runs_dir()

    @staticmethod
    def new_id() -> str:
        """Timestamp plus random suffix: sortable, unique, never derived from user text."""
        return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)

    @staticmethod
    def valid_id(run_id: str) -> bool:
        return isinstance(run_id, str) and bool(_RUN_ID.match(run_id))

    def create(self, config: dict, owner: dict | None = None, queued: bool = False) -> Run:
        """A new run folder for ``config``, owned by ``owner`` (the teacher when None): training
        now in this process, or ``queued`` to start when a slot is free."""
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.root / self.new_id()
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        write_json_atomic(path / "config.json", config)
        status = {"owner": dict(owner or LEGACY_OWNER), "epochs_done": 0}
        if queued:
            status.update(state=ev.QUEUED, queued_at=time.time())
        else:
            status.update(state=ev.RUNNING, pid=os.getpid(), started=time.time())
            _ACTIVE.add(str(path.resolve()))
        write_json_atomic(path / "status.json", status)
        return Run(path)

    def get(self, run_id: str) -> Run:
        """The run with this id; ``KeyError`` for an unknown or malformed id."""
        if not self.has(run_id):
            raise KeyError(f"no run {run_id!r}")
        return Run(self.root / run_id)

    def has(self, run_id: str) -> bool:
        """Whether a run with this id is in the store (False for a malformed id)."""
        return self.valid_id(run_id) and (self.root / run_id).is_dir()

    def list(self) -> list[RunInfo]:
        """Every run, newest first; unreadable ones included as ``corrupt``."""
        if not self.root.is_dir():
            return []
        runs = [Run(p).info() for p in self.root.iterdir() if p.is_dir() and self.valid_id(p.name)]
        return sorted(runs, key=lambda r: r.id, reverse=True)

    def delete(self, run_id: str) -> None:
        run = self.get(run_id)
        if str(run.path.resolve()) in _ACTIVE:
            raise RuntimeError("This run is still training; stop it before deleting it.")
        shutil.rmtree(run.path)
