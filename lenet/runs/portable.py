"""Taking a model home: a checkpoint as ONNX, a run's curves as TensorBoard event files.

Both are copies made on request; the run folder (``metrics.jsonl`` and the checkpoints) stays
the source of truth. ONNX export needs the ``onnx`` and ``onnxscript`` packages, TensorBoard
files the ``tensorboard`` package; each is imported only when its export runs, so training and
the dashboard never load them.

**ONNX**: one input and one output, whatever the variant.

    image   float32 (N, 1, 32, 32), N free. A 28x28 MNIST-style digit (light ink on a dark
            background, pixels 0…255), padded by 2 px of background to 32x32, then scaled as
            (pixel / 255 - mean) / std with the variant's normalisation,
            ``lenet.data.NORMALIZATIONS[normalization_of(variant)]``: "mnist" (0.1307, 0.3081)
            for classic and modern, "paper" (0.0784, 0.7843) for paper, which puts the
            background at -0.1 and full ink at 1.175. ``lenet.data.to_model_input`` does all of
            this to uint8 digits.
    scores  float32 (N, 10): the logits ``LeNet5.forward`` returns (for ``paper`` the negated
            RBF distances); argmax is the digit, softmax the confidences.

The file's metadata says the same (variant, normalisation, mean, std, run, epoch), so a
program that runs it needs nothing from this package.

**TensorBoard**: ``export_tensorboard(run, directory)`` writes ``directory/<run id>/``, so
several runs exported into one directory open side by side with ``tensorboard --logdir``. The
step axis is the run's update count as ``metrics.jsonl`` has it (one update per batch; one per
pattern in the paper recipe): batch scalars at their event's step, an epoch's scalars at the
step of its last update. Wall time is the run's start plus its training seconds, so
TensorBoard's "relative" axis is training time, paused time and evaluation left out.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import torch
from torch import nn

from lenet._atomic import write_atomic
from lenet.data import NORMALIZATIONS
from lenet.models import normalization_of
from lenet.runs.curves import curves_from_events
from lenet.runs.store import Run

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAME",
    "OPSET",
    "SCALARS",
    "MissingPackage",
    "onnx_bytes",
    "checkpoint_onnx",
    "export_onnx",
    "export_tensorboard",
]

INPUT_NAME, OUTPUT_NAME = "image", "scores"
OPSET = 20  # torch 2.14's default for its exporter: no version conversion after the export
ONNX_FORMAT = 1  # in a cached file's name: one of another format is made again

# TensorBoard tag: (event type in metrics.jsonl, field). Values that an event lacks (a run
# logged before a field existed) are left out; nothing else is.
SCALARS: dict[str, tuple[str, str]] = {
    "loss/train_batch": ("batch", "loss"),  # the mean over the steps since the last batch event
    "accuracy/train_batch": ("batch", "acc"),
    "learning_rate": ("batch", "lr"),
    "loss/train": ("epoch", "train_loss"),
    "loss/test": ("epoch", "test_loss"),
    "accuracy/train": ("epoch", "train_acc"),
    "accuracy/test": ("epoch", "test_acc"),
    "accuracy/test_top3": ("epoch", "test_top3"),
}

# torch.onnx.export keeps global state while it traces: of six exports started at once from
# six threads (a classroom clicking Download together), every one failed. One at a time, then.
_EXPORT_LOCK = threading.RLock()


class MissingPackage(ImportError):
    """A package an export needs is not installed; the message names it and how to get it."""


def _require(*packages: str, purpose: str) -> None:
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise MissingPackage(
            f"{purpose} needs the {' and '.join(missing)} package(s): "
            f"pip install -r requirements.txt (or pip install {' '.join(missing)})"
        )


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def onnx_bytes(model: nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """A ``LeNet5`` as an ONNX model: input "image" (N, 1, 32, 32), output "scores" (N, 10),
    weights inside; ``metadata`` is added to the file's own (variant, normalisation, …)."""
    _require("onnx", "onnxscript", purpose="ONNX export")
    import onnx  # the exporter's own dependency; here for the metadata

    norm = normalization_of(model.variant)
    mean, std = NORMALIZATIONS[norm]
    props = {
        "variant": model.variant,
        "normalization": norm,
        "input_mean": f"{mean:.6g}",
        "input_std": f"{std:.6g}",
        **(metadata or {}),
    }
    # Batch 2: torch.export takes a size of 1 for a constant and would fix the batch axis.
    example = torch.zeros(2, 1, 32, 32)
    was_training = model.training
    model.eval()
    try:
        with _EXPORT_LOCK:
            # The torch.export-based exporter (dynamo=True), torch's default and the one it
            # maintains: all three variants export (the paper's sparse C3 and RBF output
            # included) and run in onnxruntime as in torch. The TorchScript exporter
            # (dynamo=False) gives the same scores and is faster and lighter (no onnx, no
            # onnxscript), but every call warns that it will be removed, and pyproject.toml
            # allows any torch 2.x. ``checkpoint_onnx`` keeps each file, so the cost is paid
            # once per checkpoint.
            program = torch.onnx.export(
                model,
                (example,),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
    finally:
        model.train(was_training)
    proto = program.model_proto
    proto.doc_string = (
        f"LeNet-5 ({model.variant}) from LeNet-5 Lab. Input '{INPUT_NAME}': float32 "
        f"(N, 1, 32, 32), a 28x28 digit (light ink on dark, 0-255) padded by 2 px of "
        f"background, scaled as (pixel / 255 - {mean:.4f}) / {std:.4f}. Output "
        f"'{OUTPUT_NAME}': float32 (N, 10) logits; argmax is the digit, softmax the confidences."
    )
    onnx.helper.set_model_props(proto, props)
    return proto.SerializeToString()


def checkpoint_onnx(run: Run, epoch: int | None = None) -> bytes:
    """The checkpoint of ``epoch`` (default: the newest) as ONNX bytes; ``CheckpointError`` if
    there is none. Made once per checkpoint and kept in the run folder (``onnx/``; never in a
    zip), so a class downloading one run waits for one export."""
    epochs = run.epochs()
    if epoch is None and epochs:
        epoch = epochs[-1]
    model = run.load_model(epoch)  # CheckpointError: no checkpoint, or none for this epoch
    with _EXPORT_LOCK:  # the second of two clicks at once finds the first one's file
        try:
            cache = run.cache_path("onnx", epoch, f"_f{ONNX_FORMAT}.onnx")
            if cache.is_file():
                return cache.read_bytes()
        except OSError:  # a read-only run folder: made every time
            cache = None
        data = onnx_bytes(model, {"run_id": run.id, "epoch": str(epoch)})
        if cache is not None:
            try:
                write_atomic(cache, lambda f: f.write(data), durable=False)
            except OSError:
                pass
    return data


def export_onnx(run: Run, epoch: int | None, path: str | os.PathLike) -> Path:
    """Write ``checkpoint_onnx(run, epoch)`` to ``path``, replacing a file already there (whole
    or not at all). ``ValueError`` for a path that can't be a file; ``OSError`` from writing."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; name the file to write, e.g. {path / 'lenet5.onnx'}")
    if not path.parent.is_dir():
        raise ValueError(f"the folder {path.parent} does not exist")
    data = checkpoint_onnx(run, epoch)
    write_atomic(path, lambda f: f.write(data))
    return path


def export_tensorboard(run: Run, directory: str | os.PathLike) -> Path:
    """Write the run's scalars (``SCALARS``) as TensorBoard event files in
    ``directory/<run id>/``, replacing an earlier export there; returns that folder.

    A resumed run's log holds the steps the interruption cut short twice; like the curves, only
    the values the run went on with are written. ``ValueError`` when the run has logged no
    steps or the folder is a file; ``OSError`` from writing."""
    folder = Path(directory) / run.id
    for place in (Path(directory), folder):
        if place.exists() and not place.is_dir():
            raise ValueError(f"{place} is a file; TensorBoard files go into a folder")
    events = run.events()
    curves = curves_from_events(events)
    if not curves.batches and not curves.epochs:
        raise ValueError(f"Run {run.id} has logged no training steps yet: nothing to export.")
    _require("tensorboard", purpose="TensorBoard export")
    from torch.utils.tensorboard import SummaryWriter

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events.out.tfevents.*"):  # one export per folder, not two overlaid
        old.unlink()
    start = next((e for e in events if e.get("type") == "start"), {})
    t0 = float(start.get("time") or run.status().get("started") or 0.0)
    logged = sorted([*curves.batches, *curves.epochs], key=lambda e: e["step"])  # batch first
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for event in logged:
            wall = t0 + float(event.get("train_seconds") or 0.0)
            for tag, (kind, key) in SCALARS.items():
                value = event.get(key)
                if event.get("type") == kind and _is_number(value):
                    writer.add_scalar(tag, value, event["step"], walltime=wall)
    finally:
        writer.close()
    return folder
