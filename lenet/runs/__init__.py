"""Training runs on disk: the store (one crash-safe folder per run), zip export and import,
the curves and outcome views draw from a run's events, its kernels' evolution, and copies to
take home (a checkpoint as ONNX, the curves as TensorBoard event files)."""

from lenet.runs.archive import MAX_TOTAL_BYTES, export_run, import_run
from lenet.runs.curves import Curves, curves_from_events, curves_from_snapshot, outcome
from lenet.runs.evolution import evolution, pick_epochs
from lenet.runs.portable import (
    MissingPackage,
    checkpoint_onnx,
    export_onnx,
    export_tensorboard,
    onnx_bytes,
)
from lenet.runs.store import LEGACY_OWNER, CheckpointError, Run, RunInfo, RunStore, runs_dir

__all__ = [
    "MAX_TOTAL_BYTES",
    "export_run",
    "import_run",
    "Curves",
    "curves_from_events",
    "curves_from_snapshot",
    "outcome",
    "evolution",
    "pick_epochs",
    "MissingPackage",
    "checkpoint_onnx",
    "export_onnx",
    "export_tensorboard",
    "onnx_bytes",
    "CheckpointError",
    "LEGACY_OWNER",
    "Run",
    "RunInfo",
    "RunStore",
    "runs_dir",
]
