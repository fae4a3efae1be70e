"""The class's own handwriting: digits drawn in the dashboard, each kept with its true label and
who drew it, to measure how a network trained on MNIST reads them (and to train on them).

Each digit is two files in ``<runs>/.class/digits/``: ``<id>.png``, the 28×28 picture MNIST's
recipe made of the drawing (``preprocess_digit``), and ``<id>.json`` (label, who, when). Files
are written whole (temp file and rename), so thirty students adding at once never see half a
digit, and several servers sharing the runs folder see the same collection.

Who may do what is checked here, with the acting participant (anything with ``id``, ``name``
and ``is_teacher``): a student adds up to ``MAX_PER_STUDENT`` digits and deletes their own;
the teacher adds without a cap and deletes any.

Held out: a digit's id decides, once and for all, whether it is one of the quarter of the
class's digits that training never uses (``held_out``), so "accuracy on our digits" of a run
that mixed the others into its training is still measured on digits it never saw.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import secrets
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lenet._atomic import write_atomic
from lenet.data.mnist import Split, to_model_input

__all__ = ["MAX_PER_STUDENT", "HELD_OUT_SHARE", "ClassDigit", "ClassDigits", "ClassDigitsFull"]

MAX_PER_STUDENT = 30  # enough for three of each class, few enough that one student can't flood
HELD_OUT_SHARE = 4  # one digit in four is never trained on


class ClassDigitsFull(ValueError):
    """A student has added as many digits as allowed."""


@dataclasses.dataclass(frozen=True)
class ClassDigit:
    id: str
    label: int
    owner: dict  # {"id", "name"} of who drew it
    created: float
    path: Path  # the PNG

    @property
    def held_out(self) -> bool:
        """One digit in ``HELD_OUT_SHARE`` (by its id's hash): never used for training."""
        return held_out(self.id)

    def pixels(self) -> np.ndarray:
        """(28, 28) uint8, ink white on black, as MNIST stores its digits."""
        with Image.open(self.path) as image:
            return np.asarray(image.convert("L"), np.uint8)


def held_out(digit_id: str) -> bool:
    return hashlib.sha256(digit_id.encode()).digest()[0] % HELD_OUT_SHARE == 0


class ClassDigits:
    """The collection in ``root`` (``for_runs(runs folder)`` is where the dashboard keeps it)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @classmethod
    def for_runs(cls, runs_root: str | Path) -> ClassDigits:
        return cls(Path(runs_root) / ".class" / "digits")

    # -- reading ---------------------------------------------------------------------------
    def list(self, label: int | None = None, owner_id: str | None = None) -> list[ClassDigit]:
        """Every readable digit, oldest first; ``label`` / ``owner_id`` keep only those."""
        if not self.root.is_dir():
            return []
        out = []
        for meta in self.root.glob("*.json"):
            try:
                d = json.loads(meta.read_text())
                digit = ClassDigit(
                    d["id"], int(d["label"]), dict(d["owner"]), float(d["created"]),
                    meta.with_suffix(".png"),
                )  # fmt: skip
            except (OSError, ValueError, KeyError, TypeError):
                continue  # half-deleted or damaged: not part of the collection
            if not digit.path.is_file() or digit.id != meta.stem:
                continue
            if (label is None or digit.label == label) and (
                owner_id is None or digit.owner.get("id") == owner_id
            ):
                out.append(digit)
        return sorted(out, key=lambda d: (d.created, d.id))

    def arrays(self, part: str = "all") -> tuple[np.ndarray, np.ndarray, list[ClassDigit]]:
        """(pixels (N, 28, 28) uint8, labels (N,) int64, the digits) of ``part``: all, train
        (the three quarters training may use) or held_out."""
        if part not in ("all", "train", "held_out"):
            raise ValueError(f"unknown part {part!r}; choose all, train or held_out")
        digits = [
            d for d in self.list()
            if part == "all" or d.held_out == (part == "held_out")
        ]  # fmt: skip
        if not digits:
            return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), []
        pixels = np.stack([d.pixels() for d in digits])
        return pixels, np.array([d.label for d in digits], np.int64), digits

    def split(self, part: str = "all", normalization: str = "mnist") -> tuple[Split, list]:
        """``part``'s digits as a ``Split`` like MNIST's (padded to 32×32, normalised), for
        ``predict``, ``evaluate_classification`` or training, and the digits in its order."""
        pixels, labels, digits = self.arrays(part)
        images = to_model_input(pixels, normalization) if len(pixels) else torch.zeros(0, 1, 32, 32)
        split = Split(images, torch.from_numpy(labels), torch.from_numpy(pixels), normalization)
        return split, digits

    # -- changing --------------------------------------------------------------------------
    def add(self, pixels: np.ndarray, label: int, who) -> ClassDigit:
        """Keep a digit drawn by ``who``: (28, 28) uint8 pixels and its true label 0-9."""
        pixels = np.asarray(pixels)
        if pixels.shape != (28, 28) or pixels.dtype != np.uint8:
            raise ValueError(f"a class digit is 28×28 uint8 pixels, not {pixels.shape}")
        if isinstance(label, bool) or int(label) != label or not 0 <= int(label) <= 9:
            raise ValueError(f"a digit's label is 0 to 9, not {label!r}")
        if not pixels.any():
            raise ValueError("the digit is empty: draw it first")
        if not who.is_teacher and len(self.list(owner_id=who.id)) >= MAX_PER_STUDENT:
            raise ClassDigitsFull(
                f"you have added {MAX_PER_STUDENT} digits, the most one student may; delete "
                "one of yours to add another"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        digit_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        png = io.BytesIO()
        Image.fromarray(pixels).save(png, format="PNG")
        write_atomic(self.root / f"{digit_id}.png", lambda f: f.write(png.getvalue()))
        meta = {"id": digit_id, "label": int(label), "owner": {"id": who.id, "name": who.name},
                "created": time.time()}  # fmt: skip
        write_atomic(self.root / f"{digit_id}.json", lambda f: f.write(json.dumps(meta).encode()))
        return ClassDigit(digit_id, int(label), meta["owner"], meta["created"],
                          self.root / f"{digit_id}.png")  # fmt: skip

    def delete(self, digit_id: str, who) -> None:
        """Remove a digit: the teacher any, a student their own (PermissionError otherwise)."""
        found = [d for d in self.list() if d.id == digit_id]
        if not found:
            raise KeyError(f"no class digit {digit_id!r}")
        if not who.is_teacher and found[0].owner.get("id") != who.id:
            raise PermissionError("only the teacher can delete another student's digit")
        (self.root / f"{digit_id}.json").unlink(missing_ok=True)  # first: no longer listed
        (self.root / f"{digit_id}.png").unlink(missing_ok=True)
