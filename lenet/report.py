"""What the dashboard and notebooks show about runs: curves split out of events, a runs table,
the learning-rate ladder, and durations in words.

Live jobs (``JobManager.snapshot``) and stored runs (``Run.events()``) describe the same
training in two shapes; both become one ``Curves`` so a single figure builder draws either.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pandas as pd

__all__ = [
    "LR_CHOICES",
    "nearest_lr",
    "Curves",
    "curves_from_events",
    "curves_from_snapshot",
    "outcome",
    "run_table",
    "format_duration",
    "lesson_for",
    "FORM_FIELDS",
    "live_metrics",
    "final_metrics",
    "ACTIVE",
    "ENDED",
]

# A 1-2-3-5 ladder: even steps on a log axis, and every preset's rate is on it.
LR_CHOICES: tuple[float, ...] = tuple(
    float(f"{m}e{e}") for e in range(-4, 1) for m in (1, 2, 3, 5)
) + (10.0,)
ACTIVE = ("starting", "running", "paused")
ENDED = ("finished", "stopped", "diverged", "failed", "interrupted", "corrupt")


def nearest_lr(lr: float) -> float:
    """The ladder's value closest to ``lr`` on a log scale (a slider can only show ladder values)."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        return 1e-2
    return min(LR_CHOICES, key=lambda c: abs(math.log(c) - math.log(lr)))


# The TrainConfig fields a person sets by hand (the rest come from the chosen preset).
FORM_FIELDS = (
    "variant",
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "schedule",
    "momentum",
    "weight_decay",
    "seed",
    "train_subset",
    "init",
)


def lesson_for(config: dict) -> str | None:
    """The lesson (a key of ``LESSONS``) whose preset this configuration is, or None.

    Matching on the form's fields, not on a remembered choice, lets every viewer of a run (and
    the stored run itself) know what to watch.
    """
    from lenet.train import LESSONS, PRESETS

    for name in LESSONS:
        preset = PRESETS[name]
        if all(config.get(f) == getattr(preset, f) for f in FORM_FIELDS):
            return name
    return None


@dataclass
class Curves:
    """Everything the loss and accuracy figures need, from either source."""

    batches: list[dict] = field(default_factory=list)  # "batch" events: step, epoch, loss, acc
    epochs: list[dict] = field(default_factory=list)  # "epoch" events: test_loss, test_acc, ...
    lr_changes: list[dict] = field(default_factory=list)  # "lr" events: step, lr
    steps_per_epoch: int = 1
    planned_epochs: int = 1


def curves_from_events(events: list[dict], planned_epochs: int | None = None) -> Curves:
    """Split a run's ``metrics.jsonl`` events by type; missing parts stay empty."""
    by = {"batch": [], "epoch": [], "lr": []}
    start: dict = {}
    for e in events:
        kind = e.get("type")
        if kind in by:
            by[kind].append(e)
        elif kind == "start":
            start = e
    spe = (
        start.get("steps_per_epoch") or max((b.get("step", 0) for b in by["batch"]), default=1) or 1
    )
    planned = planned_epochs or (start.get("total_steps", spe) // spe if start else None)
    planned = planned or max((e.get("epoch", 1) for e in by["epoch"]), default=1)
    return Curves(by["batch"], by["epoch"], by["lr"], int(spe), int(max(planned, 1)))


def curves_from_snapshot(snap: dict) -> Curves:
    """The same ``Curves`` from a live job's snapshot (steps per epoch = total steps / epochs)."""
    epochs = max(int(snap.get("epochs") or 1), 1)
    spe = max(int(snap.get("total_steps") or 0) // epochs, 1)
    return Curves(
        snap.get("batches", []),
        snap.get("epoch_metrics", []),
        snap.get("lr_changes", []),
        spe,
        epochs,
    )


def outcome(events: list[dict]) -> dict:
    """Final numbers of a run: last test metrics, training time, end state and its message."""
    epochs = [e for e in events if e.get("type") == "epoch"]
    end = next(
        (e for e in reversed(events) if e.get("type") in ("done", "stopped", "diverged")), {}
    )
    last = epochs[-1] if epochs else {}
    return {
        "epochs_done": len(epochs),
        "test_acc": last.get("test_acc"),
        "test_top3": last.get("test_top3"),
        "test_loss": last.get("test_loss"),
        "best_test_acc": max((e["test_acc"] for e in epochs if "test_acc" in e), default=None),
        "train_seconds": end.get("train_seconds", last.get("train_seconds")),
        "images_per_s": last.get("images_per_s"),
        "state": {"done": "finished"}.get(end.get("type"), end.get("type")),
        "message": end.get("message", ""),
    }


def _pct(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f} %" if value is not None else "–"


def live_metrics(snap: dict) -> list[tuple[str, str]]:
    """(label, value) pairs for a running job: smoothed loss, accuracies, speed, time left."""
    from lenet.plots.training import smooth  # the same smoothing the loss curve draws

    batches = snap.get("batches") or []
    loss = smooth([b["loss"] for b in batches])[-1] if batches else None
    latest, ips, eta = snap.get("latest"), snap.get("images_per_s"), snap.get("eta_seconds")
    return [
        ("Loss (smoothed)", f"{loss:.4f}" if loss is not None else "–"),
        ("Train accuracy", _pct(batches[-1]["acc"], 1) if batches else "–"),
        ("Test top-1", _pct(latest["test_acc"]) if latest else "–"),
        ("Images / s", f"{ips:,.0f}" if ips else "–"),
        ("Time left", format_duration(eta) if eta else "–"),
    ]


def final_metrics(out: dict) -> list[tuple[str, str]]:
    """(label, value) pairs summarising an ended run, from ``outcome()``."""
    ips = out.get("images_per_s")
    return [
        ("Test accuracy (top-1)", _pct(out.get("test_acc"))),
        ("Test top-3", _pct(out.get("test_top3"))),
        ("Training time", format_duration(out.get("train_seconds"))),
        ("Images / s", f"{ips:,.0f}" if ips else "–"),
    ]


def format_duration(seconds: float | None) -> str:
    """``75.2`` -> ``"1 min 15 s"``; ``None`` -> ``"–"``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def run_table(infos: list) -> pd.DataFrame:
    """One row per ``RunInfo``: status, variant, key hyperparameters, best accuracy, timing."""
    rows = []
    for i in infos:
        c = i.config or {}
        planned = c.get("epochs")
        rows.append(
            {
                "run": i.id,
                "status": i.status,
                "variant": i.variant,
                "optimizer": c.get("optimizer", "?"),
                "lr": c.get("lr"),
                "batch": c.get("batch_size"),
                "schedule": c.get("schedule", "?"),
                "train images": c.get("train_subset") or (60000 if c else None),
                "epochs": f"{i.epochs_done}/{planned}" if planned else str(i.epochs_done),
                "best test %": i.best_test_acc,
                "duration": format_duration(i.duration),
                "started": pd.Timestamp(
                    time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i.started))
                )
                if i.started
                else pd.NaT,
                "message": i.message or "",
            }
        )
    columns = [
        "run",
        "status",
        "variant",
        "optimizer",
        "lr",
        "batch",
        "schedule",
        "train images",
        "epochs",
        "best test %",
        "duration",
        "started",
        "message",
    ]
    return pd.DataFrame(rows, columns=columns)
