"""The Runs page's downloads for one run: the whole run as a zip, to import on another server,
and its newest checkpoint as ONNX, to run outside the lab. Each is made when its button is
clicked, never on a rerun of the page."""

from __future__ import annotations

import re
from functools import partial

from lenet.runs import RunInfo, checkpoint_onnx, export_run
from services import store

__all__ = ["download_buttons"]


def download_buttons(zip_place, onnx_place, info: RunInfo, running: bool) -> None:
    """The "Export .zip" button in ``zip_place`` (disabled while the run trains or waits: its
    folder is still changing) and, once the run has a checkpoint, "Download ONNX" in
    ``onnx_place``."""
    run = store().get(info.id)
    zip_place.download_button(
        "Export .zip",
        icon=":material/download:",
        data=partial(export_run, run),
        file_name=f"lenet5-run-{info.id}.zip",
        mime="application/zip",
        key=f"export_{info.id}",
        disabled=running,
        on_click="ignore",
        help="Stop the run first" if running else "config, metrics and checkpoints",
    )
    epochs = run.epochs()
    if not epochs:  # queued, or interrupted before its first checkpoint
        return
    # Checkpoints are written whole, so a training run's newest one is as good as a finished
    # run's: no need to wait for the end.
    onnx_place.download_button(
        "Download ONNX",
        icon=":material/download:",
        data=partial(checkpoint_onnx, run, epochs[-1]),
        file_name=f"lenet5_{_safe(info.variant)}_{info.id}_epoch{epochs[-1]}.onnx",
        mime="application/octet-stream",
        key=f"onnx_{info.id}",
        on_click="ignore",
        help=f"Epoch {epochs[-1]}'s network as ONNX: open it in Netron to see the graph, or run "
        "it with onnxruntime in any language, on a phone too",
    )


def _safe(text: str) -> str:
    """A variant's name as part of a file name: "paper,output=linear" → "paper-output-linear"."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "lenet5"
