"""The predictions table: one row per test digit (label, prediction, confidence, loss, top-3),
and the filters, orderings and headline numbers the Predictions page and notebooks use."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lenet._atomic import write_atomic
from lenet.analysis.metrics import logits_and_labels

__all__ = [
    "PREDICTION_COLUMNS",
    "SORTS",
    "predict",
    "read_predictions",
    "cached_predict",
    "filter_predictions",
    "with_history",
    "prediction_summary",
]

PREDICTION_COLUMNS = [
    "index",
    "label",
    "prediction",
    "correct",
    "confidence",
    "loss",
    "top1",
    "top2",
    "top3",
    "p1",
    "p2",
    "p3",
]


@torch.no_grad()
def predict(model: nn.Module, split, batch_size: int = 2000) -> pd.DataFrame:
    """The predictions table of a whole split: one row per image, columns ``PREDICTION_COLUMNS``.

    ``confidence`` is the softmax probability of the predicted class, ``loss`` the per-image
    cross-entropy, ``top1..top3``/``p1..p3`` the three most likely classes and probabilities.
    """
    logits, labels = logits_and_labels(model, split, batch_size)
    probs = logits.softmax(dim=1)
    p3, c3 = probs.topk(3, dim=1)
    losses = F.cross_entropy(logits, labels, reduction="none")
    pred = c3[:, 0]
    return pd.DataFrame(
        {
            "index": np.arange(len(labels)),
            "label": labels.numpy(),
            "prediction": pred.numpy(),
            "correct": (pred == labels).numpy(),
            "confidence": p3[:, 0].numpy(),
            "loss": losses.numpy(),
            "top1": c3[:, 0].numpy(),
            "top2": c3[:, 1].numpy(),
            "top3": c3[:, 2].numpy(),
            "p1": p3[:, 0].numpy(),
            "p2": p3[:, 1].numpy(),
            "p3": p3[:, 2].numpy(),
        }
    )


def read_predictions(path: Path, n: int) -> pd.DataFrame | None:
    """The predictions table kept at ``path`` if it is there, readable and has ``n`` rows."""
    try:
        with np.load(path) as stored:
            table = pd.DataFrame({c: stored[c] for c in PREDICTION_COLUMNS})
    except Exception:  # noqa: BLE001 - numpy and zipfile raise many types for a damaged file
        return None  # not there yet, or damaged: made again
    return table if len(table) == n else None


def cached_predict(model: nn.Module, split, path: Path) -> pd.DataFrame:
    """``predict``, kept in ``path`` (an .npz of the columns): the first viewer of a checkpoint
    computes its table (about a second), everyone after reads it (milliseconds), whichever
    server process they reach and however many other runs are open."""
    table = read_predictions(path, len(split.labels))
    if table is not None:
        return table
    table = predict(model, split)
    columns = {c: table[c].to_numpy() for c in PREDICTION_COLUMNS}
    write_atomic(path, lambda f: np.savez(f, **columns), durable=False)
    return table


SORTS = {
    "index": ("index", True),
    "confidence": ("confidence", True),
    "loss": ("loss", False),
    "learned": ("learned_order", True),  # with a learning history: earliest first, never last
}


def filter_predictions(
    df: pd.DataFrame,
    which: str = "all",
    true: Iterable[int] | None = None,
    pred: Iterable[int] | None = None,
    confidence: tuple[float, float] = (0.0, 1.0),
    sort: str = "index",
    cell: tuple[int, int] | None = None,
    learned: int | None = None,
) -> pd.DataFrame:
    """Rows of a predictions table that pass the filters, sorted.

    ``which`` is all | correct | misclassified | forgotten; ``true``/``pred`` keep only those
    classes (None or empty = any); ``confidence`` is an inclusive range; ``cell`` = (true,
    predicted) keeps one cell of the confusion matrix; ``sort`` is index (ascending),
    confidence (ascending: least sure first), loss (descending: hardest first) or learned
    (the epoch it was learned at, earliest first). ``forgotten``, ``learned`` (one epoch, or
    -1 for never) and the learned sort need a table with the learning history's columns
    ``learned_at`` and ``times_forgotten`` (``with_history``).
    """
    if which not in ("all", "correct", "misclassified", "forgotten"):
        raise ValueError(f"unknown filter {which!r}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    if (which == "forgotten" or learned is not None or sort == "learned") and (
        "learned_at" not in df
    ):
        raise ValueError("filtering by when digits were learned needs their learning history")
    mask = np.ones(len(df), dtype=bool)
    if which == "forgotten":
        mask &= df["times_forgotten"].to_numpy() > 0
    elif which != "all":
        mask &= df["correct"].to_numpy() == (which == "correct")
    if learned is not None:
        mask &= df["learned_at"].to_numpy() == learned
    if true:
        mask &= df["label"].isin(list(true)).to_numpy()
    if pred:
        mask &= df["prediction"].isin(list(pred)).to_numpy()
    if cell is not None:
        mask &= (df["label"].to_numpy() == cell[0]) & (df["prediction"].to_numpy() == cell[1])
    lo, hi = confidence
    conf = df["confidence"].to_numpy()
    mask &= (conf >= lo) & (conf <= hi)
    column, ascending = SORTS[sort]
    rows = df[mask]
    if sort == "learned":  # never learned (-1) goes last
        at = rows["learned_at"].to_numpy()
        rows = rows.assign(learned_order=np.where(at < 0, np.iinfo(np.int64).max, at))
        return rows.sort_values(column, kind="stable").drop(columns="learned_order")
    return rows.sort_values(column, ascending=ascending, kind="stable")


def with_history(df: pd.DataFrame, history) -> pd.DataFrame:
    """The predictions table with a learning history's columns (``lenet.analysis.history``):
    ``learned_at`` (first epoch right, -1 never) and ``times_forgotten``."""
    return df.assign(learned_at=history.learned_at, times_forgotten=history.times_forgotten)


def prediction_summary(df: pd.DataFrame, sure: float = 0.9) -> dict:
    """Headline numbers of a predictions table: images, accuracy and top-3 accuracy (%), mistakes,
    and how often right and wrong answers were at least ``sure`` confident (% of each group)."""
    n = len(df)
    top3 = (df[["top1", "top2", "top3"]].to_numpy() == df["label"].to_numpy()[:, None]).any(axis=1)
    right = df["correct"].to_numpy()
    confident = df["confidence"].to_numpy() >= sure
    wrong = int((~right).sum())
    return {
        "images": n,
        "accuracy": 100.0 * (n - wrong) / max(n, 1),
        "top3": 100.0 * top3.sum() / max(n, 1),
        "misclassified": wrong,
        "sure_right": 100.0 * confident[right].mean() if wrong < n else float("nan"),
        "sure_wrong": 100.0 * confident[~right].mean() if wrong else float("nan"),
    }
