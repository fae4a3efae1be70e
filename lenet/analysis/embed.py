"""The F6 map: every test digit as one point on a plane, placed by what a layer (F6, or C5)
makes of it, so digits the network finds alike lie close together.

Two ways down from 84 (or 120) numbers to two:

- ``"pca"``: the plane through the features' two directions of largest spread. Linear, exact
  and immediate (well under a second for 10,000 digits), and a new digit lands on it by the same
  projection.
- ``"tsne"``: t-SNE (scikit-learn's Barnes-Hut implementation), which keeps each digit's nearest
  neighbours near and lets separate groups drift apart, so the classes show as islands. It takes
  tens of seconds, so pages compute it in the background (``lenet.serving.embeddings``) and keep
  it in the run folder. t-SNE has no projection for new points: a new digit is placed at the
  distance-weighted mean of its nearest test digits' points (``Embedding.place``).

For t-SNE the features are first reduced to ``TSNE_PCA_DIMS`` directions by PCA, the usual
preparation that keeps nearly all of the spread and makes the neighbour search cheap.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lenet._atomic import write_atomic
from lenet.analysis.introspection import activations

__all__ = [
    "EMBED_LAYERS",
    "METHODS",
    "Embedding",
    "features",
    "features_and_predictions",
    "embedding",
    "embed",
    "cached_embedding",
]

EMBED_LAYERS = ("F6", "C5")
METHODS = ("pca", "tsne")
TSNE_PCA_DIMS = 30
TSNE_ITERATIONS = 500  # 250 of them with early exaggeration, scikit-learn's default share
# Barnes-Hut's accuracy: far groups of points whose size/distance is below it count as one.
# scikit-learn's 0.5 took 56 s for the 10,000 test digits on 2 shared cores, 0.7 took 35 s; its
# documentation puts the useful range at 0.2-0.8, and the islands look the same.
TSNE_ANGLE = 0.7
NEIGHBOURS = 10  # test digits a new digit's t-SNE place is averaged from


def _check(layer: str, method: str) -> None:
    if layer not in EMBED_LAYERS:
        raise ValueError(
            f"layer {layer!r} can't be mapped; choose one of {', '.join(EMBED_LAYERS)}"
        )
    if method not in METHODS:
        raise ValueError(f"method {method!r} is unknown; choose one of {', '.join(METHODS)}")


@torch.no_grad()
def features(
    model: nn.Module, images: torch.Tensor, layer: str = "F6", batch_size: int = 2000
) -> np.ndarray:
    """``layer``'s output for every image, (N, 84) for F6 or (N, 120) for C5, float32."""
    return features_and_predictions(model, images, layer, batch_size)[0]


@torch.no_grad()
def features_and_predictions(
    model: nn.Module, images: torch.Tensor, layer: str = "F6", batch_size: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """``features`` and the class the network reads each image as, from one forward pass."""
    _check(layer, "pca")
    feats, predicted = [], []
    for i in range(0, len(images), batch_size):
        acts = activations(model, images[i : i + batch_size])
        feats.append(acts[layer].reshape(len(acts[layer]), -1))
        predicted.append(acts["OUTPUT"].argmax(1))
    return torch.cat(feats).numpy().astype(np.float32, copy=False), torch.cat(predicted).numpy()


def _pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, basis (d, k)) of ``x``'s top ``k`` principal directions, each signed so that its
    largest loading is positive: the same features give the same plane, never a mirror image."""
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    basis = vt[:k].T.copy()
    signs = np.sign(basis[np.abs(basis).argmax(0), np.arange(basis.shape[1])])
    return mean, (basis * np.where(signs == 0, 1, signs)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Embedding:
    """One 2-D point per digit, and what it takes to place a new digit among them."""

    method: str
    layer: str
    points: np.ndarray  # (N, 2) float32
    mean: np.ndarray  # (d,) the features' mean
    basis: np.ndarray  # (d, 2) for PCA: the plane; for t-SNE: unused (zeros)
    explained: float  # PCA: the share of the features' variance the plane shows; t-SNE: nan

    def place(self, feature: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        """The (2,) point of a new digit whose ``layer`` output is ``feature``. For t-SNE,
        ``known`` is the (N, d) features the points were made from (``features``)."""
        feature = np.asarray(feature, np.float32).reshape(-1)
        if self.method == "pca":
            return (feature - self.mean) @ self.basis
        if known is None:
            raise ValueError("placing a digit on a t-SNE map needs the mapped digits' features")
        distance = np.linalg.norm(known - feature, axis=1)
        near = np.argpartition(distance, NEIGHBOURS)[:NEIGHBOURS]
        weight = 1.0 / (distance[near] + 1e-6)
        return (self.points[near] * weight[:, None]).sum(0) / weight.sum()

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            method=self.method,
            layer=self.layer,
            points=self.points,
            mean=self.mean,
            basis=self.basis,
            explained=self.explained,
        )
        return buffer.getvalue()

    @classmethod
    def from_file(cls, path: Path) -> Embedding:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                method=str(z["method"]),
                layer=str(z["layer"]),
                points=z["points"],
                mean=z["mean"],
                basis=z["basis"],
                explained=float(z["explained"]),
            )


def embedding(
    model: nn.Module,
    split,
    layer: str = "F6",
    method: str = "pca",
    seed: int = 0,
    threads: int | None = None,
    feats: np.ndarray | None = None,
) -> Embedding:
    """The map of ``split`` (its ``images``) through ``layer``; ``feats`` reuses features already
    computed. t-SNE is deterministic for a seed and a machine; ``threads`` caps its threads."""
    _check(layer, method)
    x = features(model, split.images, layer) if feats is None else feats
    mean, basis = _pca(x, 2)
    if method == "pca":
        total = float(((x - mean) ** 2).sum())
        points = (x - mean) @ basis
        shown = float((points**2).sum())
        return Embedding("pca", layer, points.astype(np.float32), mean, basis, shown / total)
    try:
        from sklearn.manifold import TSNE
    except ImportError as e:  # pragma: no cover - scikit-learn is in requirements.txt
        raise RuntimeError("t-SNE needs scikit-learn: pip install -r requirements.txt") from e
    pre_mean, pre_basis = _pca(x, min(TSNE_PCA_DIMS, x.shape[1]))
    reduced = (x - pre_mean) @ pre_basis
    tsne = TSNE(
        n_components=2,
        init="pca",
        learning_rate="auto",
        perplexity=30.0,
        max_iter=TSNE_ITERATIONS,
        angle=TSNE_ANGLE,
        random_state=seed,
        n_jobs=threads,
    )
    points = tsne.fit_transform(reduced).astype(np.float32)
    return Embedding("tsne", layer, points, mean, np.zeros_like(basis), float("nan"))


def embed(model: nn.Module, split, layer: str = "F6", method: str = "pca", seed: int = 0):
    """One 2-D point per digit of ``split``, (N, 2): ``embedding(...).points``."""
    return embedding(model, split, layer, method, seed).points


def cached_embedding(model: nn.Module, split, path: Path, layer="F6", method="pca", **kw):
    """``embedding``, kept at ``path`` (a run's cache for its checkpoint): computed once, then
    read back. A damaged file is computed again."""
    path = Path(path)
    if path.is_file():
        try:
            return Embedding.from_file(path)
        except (OSError, ValueError, KeyError):
            pass
    result = embedding(model, split, layer, method, **kw)
    write_atomic(path, lambda f: f.write(result.to_bytes()))
    return result
