"""Training LeNet-5: the config and presets, typed events with one vocabulary of states, the
one training loop, its live control, and the recipes (standard; the 1998 SDLM ones)."""

from lenet.training.config import (
    DEVICES,
    LESSONS,
    OPTIMIZERS,
    PRESETS,
    RECIPES,
    SCHEDULES,
    TYPICAL_SECONDS,
    ConfigError,
    TrainConfig,
    lesson_of,
    make_config,
)
from lenet.training.control import Control
from lenet.training.loop import Result, configure_threads, train, training_device
from lenet.training.standard import train_epoch_classification

__all__ = [
    "DEVICES",
    "LESSONS",
    "OPTIMIZERS",
    "PRESETS",
    "RECIPES",
    "SCHEDULES",
    "TYPICAL_SECONDS",
    "ConfigError",
    "TrainConfig",
    "make_config",
    "lesson_of",
    "Control",
    "Result",
    "configure_threads",
    "train",
    "training_device",
    "train_epoch_classification",
]
