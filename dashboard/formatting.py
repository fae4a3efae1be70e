"""Numbers and runs in words for the pages: durations, percentages, metric cards, run tables.

Pure Python (no Streamlit), so the tests check it directly.
"""

from __future__ import annotations

import math
import statistics
import time

import pandas as pd

from lenet.plots import smooth

__all__ = [
    "plural",
    "format_duration",
    "pct",
    "live_metrics",
    "final_metrics",
    "run_table",
    "DURATION_HELP",
    "run_label",
    "median_duration",
]


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1, "run"`` -> ``"1 run"``; ``3, "run"`` -> ``"3 runs"``; ``many`` where "s" won't do."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


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


def pct(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f} %" if value is not None else "–"


def live_metrics(snap: dict) -> list[tuple[str, str]]:
    """(label, value) cards for a running job: smoothed loss, accuracies, speed, time left."""
    batches = snap.get("batches") or []
    loss = smooth([b["loss"] for b in batches])[-1] if batches else None  # as the curve draws
    latest, ips, eta = snap.get("latest"), snap.get("images_per_s"), snap.get("eta_seconds")
    return [
        ("Loss (smoothed)", f"{loss:.4f}" if loss is not None else "–"),
        ("Train accuracy", pct(batches[-1]["acc"], 1) if batches else "–"),
        ("Test top-1", pct(latest["test_acc"]) if latest else "–"),
        ("Images / s", f"{ips:,.0f}" if ips else "–"),
        ("Time left", format_duration(eta) if eta else "–"),
    ]


def final_metrics(out: dict) -> list[tuple[str, str]]:
    """(label, value) cards summarising an ended run, from ``lenet.runs.outcome``."""
    ips = out.get("images_per_s")
    return [
        ("Test accuracy (top-1)", pct(out.get("test_acc"))),
        ("Test top-3", pct(out.get("test_top3"))),
        ("Training time", format_duration(out.get("train_seconds"))),
        ("Images / s", f"{ips:,.0f}" if ips else "–"),
    ]


# What a run's "duration" counts, beside the Train page's "Training time" (the steps alone).
DURATION_HELP = (
    "From start to end: the training steps, the test pass after each epoch and saving each "
    "checkpoint. The Train page's training time counts the training steps alone."
)


# fmt: off
RUN_COLUMNS = ["run", "owner", "status", "variant", "optimizer", "lr", "batch", "schedule",
               "train images", "epochs", "best test %", "duration", "started", "message"]
# fmt: on


def run_table(infos: list, names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per ``RunInfo``: owner, status, variant, key hyperparameters, best accuracy,
    timing. ``names`` (participant id -> name now) wins over the name stored with a run."""
    names = names or {}
    rows = []
    for i in infos:
        c = i.config or {}
        planned = c.get("epochs")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i.started or 0))
        rows.append(
            {
                "run": i.id,
                "owner": names.get(i.owner.get("id"), i.owner.get("name", "?")),
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
                "started": pd.Timestamp(started) if i.started else pd.NaT,
                "message": i.message or "",
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def run_label(info, owner: str | None = None) -> str:
    """How a run is named in a picker: whose it is first (in a class, the first thing one looks
    for, and what a narrow sidebar still shows), then id, variant, status and best accuracy.
    ``owner``: the name its owner goes by now, else the one stored with the run."""
    acc = f"{info.best_test_acc:.2f}%" if info.best_test_acc is not None else "no test yet"
    owner = owner or str(info.owner.get("name", "?"))
    return f"{owner} · {info.id} · {info.variant} · {info.status} · {acc}"


def median_duration(infos: list) -> float | None:
    """The median duration of the finished runs among ``infos``, or None when there is none."""
    done = [i.duration for i in infos if i.status == "finished" and i.duration]
    return statistics.median(done) if done else None
