"""Metrics: small pure functions over logits and labels, and the predictions table.

Everything is vectorised and runs under ``torch.no_grad``: a whole test split (10,000 images)
goes through in well under two seconds on two cores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "topk_accuracies",
    "_topk_accuracies",
    "confusion_matrix",
    "per_class_accuracy",
    "evaluate_classification",
    "predict",
    "filter_predictions",
    "most_confused_pairs",
    "PREDICTION_COLUMNS",
    "prediction_summary",
    "Page",
    "paginate",
    "PAGE_SIZES",
    "parse_prediction_params",
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
def topk_accuracies(
    logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 3)
) -> dict[int, float]:
    """Percentage of rows whose target is among the k largest logits, for each k in ``ks``."""
    maxk = max(ks)
    top = logits.topk(maxk, dim=1).indices  # (N, maxk)
    hit = top == targets.view(-1, 1)  # (N, maxk)
    n = max(len(targets), 1)
    return {k: 100.0 * hit[:, :k].any(dim=1).sum().item() / n for k in ks}


_topk_accuracies = topk_accuracies  # the seed's private name, kept for its notebooks


def confusion_matrix(
    labels: torch.Tensor | np.ndarray, preds: torch.Tensor | np.ndarray, num_classes: int = 10
) -> torch.Tensor:
    """Counts (num_classes, num_classes): rows are true classes, columns predicted ones."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    preds = torch.as_tensor(preds, dtype=torch.long)
    flat = labels * num_classes + preds
    return torch.bincount(flat, minlength=num_classes**2).view(num_classes, num_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """Accuracy in percent for each true class (row) of a confusion matrix; NaN for empty rows."""
    cm = torch.as_tensor(cm, dtype=torch.float64)
    totals = cm.sum(dim=1)
    return torch.where(
        totals > 0,
        100.0 * cm.diagonal() / totals.clamp(min=1),
        torch.full_like(totals, float("nan")),
    )


def most_confused_pairs(cm: torch.Tensor, n: int = 5) -> list[tuple[int, int, int]]:
    """The ``n`` largest off-diagonal cells as (true, predicted, count), largest first."""
    off = torch.as_tensor(cm).clone()
    off.fill_diagonal_(0)
    counts, flat = off.flatten().topk(n)
    k = off.shape[0]
    return [(int(i) // k, int(i) % k, int(c)) for c, i in zip(counts, flat) if c > 0]


def _batches(data, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, tuple) and len(data) == 2 and torch.is_tensor(data[0]):
        x, y = data
        for i in range(0, len(y), batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]
    elif hasattr(data, "images") and hasattr(data, "labels"):  # a lenet.data.Split
        yield from _batches((data.images, data.labels), batch_size)
    else:  # a DataLoader or any iterable of (images, labels)
        yield from data


@torch.no_grad()
def _logits(model: nn.Module, data, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    was_training = model.training
    model.eval()
    outs, ys = [], []
    for xb, yb in _batches(data, batch_size):
        outs.append(model(xb))
        ys.append(yb)
    model.train(was_training)
    return torch.cat(outs), torch.cat(ys)


@torch.no_grad()
def evaluate_classification(
    model: nn.Module,
    data,
    topk: Sequence[int] = (1, 3),
    return_predictions: bool = False,
    batch_size: int = 1000,
) -> dict:
    """Mean cross-entropy and top-k accuracies (%) of ``model`` on ``data``.

    ``data`` is a ``Split``, an ``(images, labels)`` pair of tensors or a DataLoader. Keys:
    "loss", "top1", "top3", ... and, with ``return_predictions``, "predictions" (argmax per
    image) and "labels".
    """
    logits, labels = _logits(model, data, batch_size)
    result = {"loss": F.cross_entropy(logits, labels).item()}
    result.update({f"top{k}": v for k, v in topk_accuracies(logits, labels, topk).items()})
    if return_predictions:
        result["predictions"] = logits.argmax(1)
        result["labels"] = labels
    return result


@torch.no_grad()
def predict(model: nn.Module, split, batch_size: int = 2000) -> pd.DataFrame:
    """The predictions table of a whole split: one row per image, columns ``PREDICTION_COLUMNS``.

    ``confidence`` is the softmax probability of the predicted class, ``loss`` the per-image
    cross-entropy, ``top1..top3``/``p1..p3`` the three most likely classes and probabilities.
    """
    logits, labels = _logits(model, split, batch_size)
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


SORTS = {"index": ("index", True), "confidence": ("confidence", True), "loss": ("loss", False)}


def filter_predictions(
    df: pd.DataFrame,
    which: str = "all",
    true: Iterable[int] | None = None,
    pred: Iterable[int] | None = None,
    confidence: tuple[float, float] = (0.0, 1.0),
    sort: str = "index",
    cell: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Rows of a predictions table that pass the filters, sorted.

    ``which`` is all | correct | misclassified; ``true``/``pred`` keep only those classes (None
    or empty = any); ``confidence`` is an inclusive range; ``cell`` = (true, predicted) keeps one
    cell of the confusion matrix; ``sort`` is index (ascending), confidence (ascending: least
    sure first) or loss (descending: hardest first).
    """
    if which not in ("all", "correct", "misclassified"):
        raise ValueError(f"unknown filter {which!r}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    mask = np.ones(len(df), dtype=bool)
    if which != "all":
        mask &= df["correct"].to_numpy() == (which == "correct")
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
    return df[mask].sort_values(column, ascending=ascending, kind="stable")


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


# ------------------------------------------------------------- one page of a long table
PAGE_SIZES = (20, 50, 100, 200)  # a page is drawn as one image grid; 200 is still < 0.5 s


@dataclass(frozen=True)
class Page:
    """Rows ``start:stop`` of ``total``: page ``number`` (1-based) of ``pages``."""

    number: int
    pages: int
    start: int
    stop: int
    total: int


def paginate(total: int, page: int, size: int) -> Page:
    """Clamp ``page`` into range, so a stale page number after a filter change shows the last page."""
    size = max(int(size), 1)
    pages = max(1, -(-total // size))  # ceil; an empty table still has one (empty) page
    number = min(max(int(page), 1), pages)
    start = (number - 1) * size
    return Page(number, pages, start, min(start + size, total), total)


# ------------------------------------------ the predictions view as URL query parameters
def _ints(values: list[str], lo: int, hi: int) -> list[int] | None:
    try:
        out = [int(v) for v in values]
    except ValueError:
        return None
    return out if all(lo <= v <= hi for v in out) else None


def parse_prediction_params(
    params: Mapping[str, list[str]], n_images: int = 10_000, num_classes: int = 10
) -> tuple[dict, list[str]]:
    """Check a shared view's query parameters; return (the usable ones, notes on the rest).

    ``params`` maps each name to all its values (``?true=3&true=5`` -> ["3", "5"]). Recognised:
    show, true, pred (classes), conf (two whole percentages), sort, size, page,
    cell ("4-9": true 4 predicted 9) and sample (a test image index). Values come back typed;
    anything malformed is left out and named in a note, so a mistyped link still opens the page.
    """
    good, notes = {}, []
    one = {
        "show": lambda v: v if v in ("all", "correct", "misclassified") else None,
        "sort": lambda v: v if v in SORTS else None,
        "size": lambda v: x[0] if (x := _ints([v], 1, 10**6)) and x[0] in PAGE_SIZES else None,
        "page": lambda v: x[0] if (x := _ints([v], 1, 10**9)) else None,
        "sample": lambda v: x[0] if (x := _ints([v], 0, n_images - 1)) else None,
        "cell": lambda v: (
            tuple(x) if (x := _ints(v.split("-"), 0, num_classes - 1)) and len(x) == 2 else None
        ),
    }
    for name, values in (
        (n, [str(v) for v in params.get(n, [])]) for n in (*one, "true", "pred", "conf")
    ):
        if not values:
            continue
        if name in ("true", "pred"):  # each class on its own: the valid ones still apply
            ok = [v for v in values if _ints([v], 0, num_classes - 1)]
            bad = [v for v in values if v not in ok]
            value = sorted({int(v) for v in ok}) or None
        elif name == "conf":
            value, bad = _confidence_range(values), values
        else:
            value, bad = (one[name](values[0]) if len(values) == 1 else None), values
        if value is not None:
            good[name] = value
        if value is None or (name in ("true", "pred") and bad):
            notes.append(
                f"ignored {name}={'&'.join(bad)}: " + _EXPECTED[name].format(last=n_images - 1)
            )
    return good, notes


def _confidence_range(values: list[str]) -> tuple[int, int] | None:
    x = _ints(values, 0, 100)
    return (min(x), max(x)) if x and len(x) == 2 else None  # 90&10 means the range 10..90


_EXPECTED = {
    "show": "expected all, correct or misclassified",
    "true": "expected classes 0-9",
    "pred": "expected classes 0-9",
    "sort": f"expected one of {', '.join(SORTS)}",
    "size": f"expected one of {', '.join(map(str, PAGE_SIZES))}",
    "page": "expected a page number",
    "sample": "expected a test image index from 0 to {last}",
    "cell": "expected true-predicted, e.g. 4-9",
    "conf": "expected two whole percentages from 0 to 100",
}
