"""How C1 and C3 changed while a run learned: its checkpoints replayed on one digit."""

from __future__ import annotations

import numpy as np
import torch

from lenet.analysis.introspection import activations, connection_table, kernels
from lenet.runs.store import CheckpointError, Run

__all__ = ["pick_epochs", "evolution"]


def pick_epochs(epochs: list[int], max_frames: int = 30) -> list[int]:
    """At most ``max_frames`` epochs, evenly spread, always keeping the first and the last."""
    epochs = sorted(epochs)
    if len(epochs) <= max_frames:
        return epochs
    idx = np.linspace(0, len(epochs) - 1, max_frames).round().astype(int)
    return [epochs[i] for i in sorted(set(idx.tolist()))]


@torch.no_grad()
def evolution(
    run: Run, x: torch.Tensor, epochs: list[int] | None = None, max_frames: int = 30
) -> dict:
    """How C1 and C3 changed while the network learned: per stored epoch, kernels and maps of ``x``.

    Each epoch's checkpoint is loaded in turn (epoch 0 is the
    untrained network). Returns ``epochs`` (list), ``skipped`` (epochs whose checkpoint could not
    be read), ``connections`` (16, 6) and, for "C1" and "C3", ``kernels`` (E, out, in, 5, 5) and
    ``maps`` (E, out, H, W) as numpy arrays.
    """
    wanted = pick_epochs(run.epochs() if epochs is None else list(epochs), max_frames)
    kept, skipped, table = [], [], None
    kern: dict[str, list] = {"C1": [], "C3": []}
    maps: dict[str, list] = {"C1": [], "C3": []}
    for epoch in wanted:
        try:
            model = run.load_model(epoch)
        except CheckpointError:
            skipped.append(epoch)
            continue
        acts = activations(model, x)
        for layer in ("C1", "C3"):
            kern[layer].append(kernels(model, layer).numpy())
            maps[layer].append(acts[layer][0].numpy())
        table = connection_table(model).numpy() if table is None else table
        kept.append(epoch)
    out = {
        "epochs": kept,
        "skipped": skipped,
        "connections": table if table is not None else np.ones((16, 6), bool),
    }
    for layer in ("C1", "C3"):
        out[layer] = {
            "kernels": np.stack(kern[layer]) if kept else np.zeros((0,)),
            "maps": np.stack(maps[layer]) if kept else np.zeros((0,)),
        }
    return out
