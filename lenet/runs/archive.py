"""Runs as zip files: export one to share it, import one from a classmate or another machine.

An imported zip is untrusted input. ``import_run`` checks everything before the store sees
anything: size (declared and actual, so a zip bomb stops early), member paths (nothing absolute,
no ``..``, no links, only the files a run folder has), ``config.json`` and ``metrics.jsonl``
present and readable, and every checkpoint loadable with ``torch.load(weights_only=True)``. The
files are written to a hidden temporary folder inside the store and renamed to a freshly
generated run id in one ``os.replace``: a failed import leaves nothing behind, and no path from
the zip ever names anything on disk.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import stat
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import torch

from lenet.models import LeNet5
from lenet.runs.store import Run, RunStore
from lenet.training import events as ev
from lenet.training.config import ConfigError, TrainConfig

__all__ = ["export_run", "import_run", "MAX_TOTAL_BYTES", "MAX_RATIO", "MAX_MEMBERS"]

MAX_TOTAL_BYTES = 50 * 1024 * 1024  # a 100-epoch run (the most Train offers) is ~27 MB
MAX_RATIO = 100  # checkpoints barely compress (float weights); a 1000:1 member is a bomb
MAX_MEMBERS = 1000  # config, status, metrics and two files per epoch
_CHUNK = 1 << 16

# The only files a run folder has; anything else in a zip is refused, by name.
_ALLOWED = re.compile(
    r"^(config\.json|status\.json|metrics\.jsonl|(checkpoints|snapshots)/epoch_\d{3,4}\.pt)$"
)
_REQUIRED = ("config.json", "metrics.jsonl")


def export_run(run: Run) -> bytes:
    """The run folder as zip bytes, files under ``<run id>/`` (checkpoints stored, not deflated)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(run.path.rglob("*")):
            rel = path.relative_to(run.path).as_posix()
            if not path.is_file() or path.is_symlink() or not _ALLOWED.match(rel):
                continue  # temporary files of an atomic write in progress, stray files
            # Weights are incompressible floats; deflating them only costs time.
            method = zipfile.ZIP_STORED if rel.endswith(".pt") else zipfile.ZIP_DEFLATED
            zf.write(path, f"{run.id}/{rel}", compress_type=method)
    return buf.getvalue()


def _check_safe(info: zipfile.ZipInfo) -> None:
    """ValueError if a member could land outside the run folder (checked before anything else)."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ValueError(f"The zip contains a link ({name!r}); run archives hold plain files only.")
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        raise ValueError(f"The zip contains an absolute or Windows-style path ({name!r}); refused.")
    if ".." in PurePosixPath(name).parts:
        raise ValueError(
            f"The zip contains a path that climbs out of its folder ({name!r}); refused."
        )


def _member_name(info: zipfile.ZipInfo, prefix: str) -> str | None:
    """The member's path inside the run folder (None for folders); ValueError for strays."""
    parts = PurePosixPath(info.filename).parts[1 if prefix else 0 :]
    rel = "/".join(p for p in parts if p not in ("", "."))
    if info.is_dir():
        return None
    if not _ALLOWED.match(rel):
        raise ValueError(
            f"The zip contains {info.filename!r}, which is not part of a LeNet-5 Lab run "
            f"(expected config.json, status.json, metrics.jsonl, checkpoints/, snapshots/)."
        )
    return rel


def _common_prefix(infos: list[zipfile.ZipInfo]) -> str:
    """The single top-level folder every member sits in (how ``export_run`` writes), or ''."""
    tops = {PurePosixPath(i.filename).parts[0] for i in infos if PurePosixPath(i.filename).parts}
    if len(tops) == 1 and all(
        len(PurePosixPath(i.filename).parts) > 1 or i.is_dir() for i in infos
    ):
        return tops.pop()
    return ""


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: int) -> int:
    """Extract one member, counting real bytes: headers can lie about sizes."""
    written = 0
    with zf.open(info) as src, open(dest, "xb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size or written > budget:
                raise ValueError(
                    "The zip is larger when unpacked than it says (or than "
                    f"{MAX_TOTAL_BYTES // 2**20} MB); refused as a possible zip bomb."
                )
            out.write(chunk)
    return written


def _check_config(path: Path) -> dict:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("config.json in the zip is not valid JSON.") from None
    if not isinstance(cfg, dict):
        raise ValueError("config.json in the zip is not a training configuration.")
    try:
        TrainConfig.from_dict(cfg).validate()
    except (ConfigError, TypeError) as e:
        raise ValueError(f"config.json in the zip is not a usable configuration: {e}") from None
    return cfg


def _check_metrics(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError("metrics.jsonl in the zip is not text.") from None
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn last line is normal for an interrupted run (Run.events skips it)
        if isinstance(event, dict):
            events.append(event)
    if text.strip() and not events:
        raise ValueError("metrics.jsonl in the zip holds no training events.")
    return events


def _check_tensors(path: Path, rel: str, variant: str) -> None:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged or hostile file
        raise ValueError(
            f"{rel} in the zip is not a loadable weights file ({type(e).__name__}); refused."
        ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"{rel} in the zip is not a LeNet-5 Lab checkpoint.")
    if rel.startswith("checkpoints/"):
        try:
            LeNet5(variant).load_state_dict(obj["model"])
        except Exception as e:
            raise ValueError(
                f"{rel} in the zip does not fit a {variant} LeNet-5 ({type(e).__name__}); refused."
            ) from None


def _status_for_import(old: dict, events: list[dict], original_id: str) -> dict:
    """A status.json that is true on this machine: a foreign pid means nothing here."""
    epochs = [
        e for e in events if e.get("type") == "epoch" and isinstance(e.get("test_acc"), int | float)
    ]
    state = old.get("state")
    if state not in (ev.FINISHED, ev.STOPPED, ev.DIVERGED, ev.FAILED):
        state = ev.end_state(events) or ev.INTERRUPTED
    status = {
        "state": state,
        "message": old.get("message", "") if isinstance(old.get("message"), str) else "",
        "epochs_done": len(epochs),
        "best_test_acc": max((e["test_acc"] for e in epochs), default=None),
        "last_test_acc": epochs[-1]["test_acc"] if epochs else None,
        "imported_from": original_id,
        "imported": time.time(),
    }
    for key in ("started", "ended"):
        if isinstance(old.get(key), (int, float)):
            status[key] = old[key]
    if state == ev.INTERRUPTED and not status["message"]:
        status["message"] = "Imported from a run that had not finished."
    return status


def import_run(store: RunStore, data: bytes, max_total: int = MAX_TOTAL_BYTES) -> Run:
    """Validate a zip made by ``export_run`` and add it to ``store`` under a new run id.

    Raises ``ValueError`` with a message for the user when anything is wrong; then nothing is
    written to the store.
    """
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ValueError("The file is empty.")
    if len(data) > max_total:
        raise ValueError(
            f"The file is {len(data) / 2**20:.0f} MB; run archives up to "
            f"{max_total // 2**20} MB are accepted."
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ValueError(
            "This file is not a zip archive. Export a run from the Runs page to get one."
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"The zip holds {len(infos)} files; a run has far fewer. Refused.")
        declared = sum(i.file_size for i in infos)
        if declared > max_total:
            raise ValueError(
                f"The zip unpacks to {declared / 2**20:.0f} MB; at most "
                f"{max_total // 2**20} MB is accepted."
            )
        for i in infos:
            if i.file_size > 1_000_000 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
                raise ValueError(
                    f"{i.filename!r} unpacks {i.file_size // max(i.compress_size, 1)} "
                    f"times larger than it is packed; refused as a possible zip bomb."
                )
        for i in infos:
            _check_safe(i)
        prefix = _common_prefix(infos)
        members: dict[str, zipfile.ZipInfo] = {}
        for i in infos:
            rel = _member_name(i, prefix)
            if rel is None:
                continue
            if rel in members:
                raise ValueError(f"The zip contains {rel} twice; refused.")
            members[rel] = i
        missing = [name for name in _REQUIRED if name not in members]
        if missing:
            raise ValueError(f"The zip is not a LeNet-5 Lab run: it lacks {' and '.join(missing)}.")

        store.root.mkdir(parents=True, exist_ok=True)
        # Hidden, and not a valid run id: RunStore.list() never shows a half-made import.
        tmp = store.root / f".import-{secrets.token_hex(6)}"
        tmp.mkdir()
        try:
            budget = max_total
            try:
                for rel, info in members.items():
                    dest = tmp / rel
                    dest.parent.mkdir(exist_ok=True)
                    budget -= _copy_capped(zf, info, dest, budget)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
                raise ValueError(
                    f"The zip is damaged or uses an unsupported format ({e})."
                ) from None
            cfg = _check_config(tmp / "config.json")
            events = _check_metrics(tmp / "metrics.jsonl")
            for rel in members:
                if rel.endswith(".pt"):
                    _check_tensors(tmp / rel, rel, cfg["variant"])
            old = {}
            if (tmp / "status.json").is_file():
                try:
                    loaded = json.loads((tmp / "status.json").read_text(encoding="utf-8"))
                    old = loaded if isinstance(loaded, dict) else {}
                except (UnicodeDecodeError, ValueError):
                    old = {}
            original = prefix if RunStore.valid_id(prefix) else ""
            (tmp / "status.json").write_text(
                json.dumps(_status_for_import(old, events, original), indent=1)
            )
            while True:
                target = store.root / store.new_id()
                if not target.exists():
                    break
                time.sleep(0.01)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return Run(target)
