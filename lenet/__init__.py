"""LeNet-5 Lab: the PyTorch core behind the dashboard, the notebooks and the CLI.

Nothing in this package imports Streamlit: pages, notebooks and the CLI are views over it. The
public API is re-exported here, so a notebook writes ``from lenet import LeNet5, train, ...``:

    data/       MNIST files and splits; drawn and uploaded digits
    models/     the variants' registry, LeNet-5's blocks, the 1998 pieces, summary()
    training/   TrainConfig and PRESETS, typed events, the one loop, Control, the recipes
    analysis/   metrics, introspection, one unit's arithmetic, the F6 map, the reproduction
                against the paper
    runs/       the run store, zip archives, curves, kernel evolution, ONNX and TensorBoard
                exports
    serving/    training jobs for a UI: the job manager, its worker process, their protocol
    plots/      Plotly figures shared by the pages and the notebooks
    speed       the trainer's CPU settings (channels_last, fused optimizers), and the baseline

The names load on first use: ``python -m lenet.serving.worker`` and the CLI start without
importing plotly and pandas, which only views need.
"""

from __future__ import annotations

import importlib

# name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ["ensure_mnist", "load_split", "create_data", "denormalize", "normalize", "Split",
         "MnistUnavailable", "preprocess_digit", "load_image_bytes", "perturb", "data_dir"],
        "lenet.data",
    ),
    **dict.fromkeys(
        ["LeNet5", "VARIANTS", "ConvTanh", "SubsampleAvgPool", "ConvAct", "LinearAct",
         "init_tanh_xavier", "build_model", "summary", "count_parameters"],
        "lenet.models",
    ),
    **dict.fromkeys(
        ["TrainConfig", "PRESETS", "LESSONS", "ConfigError", "Control", "Result", "train",
         "train_epoch_classification", "make_config"],
        "lenet.training",
    ),
    **dict.fromkeys(
        ["evaluate_classification", "topk_accuracies", "_topk_accuracies", "confusion_matrix",
         "per_class_accuracy"],
        "lenet.analysis.metrics",
    ),
    **dict.fromkeys(
        ["predict", "filter_predictions", "prediction_summary"], "lenet.analysis.predictions"
    ),
    **dict.fromkeys(
        ["activations", "kernels", "saliency", "occlusion", "predict_one"],
        "lenet.analysis.introspection",
    ),
    **dict.fromkeys(
        ["explain_unit", "receptive_field"],
        "lenet.analysis.explain",
    ),
    **dict.fromkeys(["health", "probe_batch"], "lenet.analysis.health"),
    **dict.fromkeys(["embed", "embedding", "Embedding"], "lenet.analysis.embed"),
    **dict.fromkeys(["learning_history", "LearningHistory"], "lenet.analysis.history"),
    **dict.fromkeys(
        ["RunStore", "Run", "CheckpointError", "export_run", "import_run", "evolution",
         "onnx_bytes", "export_onnx", "export_tensorboard"],
        "lenet.runs",
    ),
    **dict.fromkeys(["JobManager", "QueueFull", "Participant"], "lenet.serving"),
    **dict.fromkeys(["show_batch_images", "visualize_test_predictions"], "lenet.plots"),
}  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lenet' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
