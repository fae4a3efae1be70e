"""The Predictions page's view as URL query parameters, and its pages of digits, without
Streamlit: a shared link opens the same view, and a mistyped one still opens the page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lenet.analysis.predictions import SORTS

__all__ = ["PAGE_SIZES", "SORT_LABELS", "Page", "paginate", "parse_prediction_params"]

SORT_LABELS = {
    "index": "test-set order",
    "confidence": "least sure first",
    "loss": "hardest first (loss)",
    "learned": "learned earliest first",
}

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
    """Clamp ``page`` into range: a stale page number after a filter change shows the last."""
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
        "show": lambda v: v if v in ("all", "correct", "misclassified", "forgotten") else None,
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
    "show": "expected all, correct, misclassified or forgotten",
    "true": "expected classes 0-9",
    "pred": "expected classes 0-9",
    "sort": f"expected one of {', '.join(SORTS)}",
    "size": f"expected one of {', '.join(map(str, PAGE_SIZES))}",
    "page": "expected a page number",
    "sample": "expected a test image index from 0 to {last}",
    "cell": "expected true-predicted, e.g. 4-9",
    "conf": "expected two whole percentages from 0 to 100",
}
