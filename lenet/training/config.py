"""``TrainConfig``: every knob of a training run in one dataclass, checked field by field;
``PRESETS``, the named configurations the CLI and the dashboard share, and their lessons."""

from __future__ import annotations

import math
import typing
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from lenet.models import INITS, get_variant

__all__ = [
    "TrainConfig",
    "ConfigError",
    "OPTIMIZERS",
    "SCHEDULES",
    "RECIPES",
    "DEVICES",
    "PRESETS",
    "LESSONS",
    "TYPICAL_SECONDS",
    "make_config",
    "lesson_of",
]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "step", "onecycle")
RECIPES = ("standard", "paper", "paper-fast")
DEVICES = ("auto", "cpu", "cuda")  # auto: a CUDA GPU when there is one, else the CPU


class ConfigError(ValueError):
    """A training configuration that can't run; the message says which field and why."""


@dataclass
class TrainConfig:
    variant: str = "classic"
    epochs: int = 3  # ~15 s of training here; enough to pass 98.5 % and see the curves bend
    batch_size: int = 128  # keeps both cores busy, yet small enough to learn in one epoch
    lr: float = 0.01  # peak learning rate; one-cycle warms up to it from lr/25
    optimizer: str = "adam"  # forgiving of the learning rate, which a live class will change
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0  # 60k parameters on 60k images barely overfit without it
    schedule: str = "onecycle"  # warm-up then anneal: the fastest way to a good model
    seed: int = 0
    train_subset: int = 0  # 0 = all 60,000 images; e.g. 500 for the overfitting lesson
    class_share: float = 0.0  # share of the training set drawn by the class (repeated to fill)
    init: str = "xavier"  # Glorot with tanh gain keeps tanh out of saturation at the start
    threads: int = 2  # these machines have 2 cores; more threads only add contention
    recipe: str = "standard"  # "paper" / "paper-fast": the 1998 SDLM recipe (training.sdlm)
    distort: bool = False  # paper recipes: random affine distortions (the paper's 0.8 % run)
    log_every: int = 10  # steps between live "batch" events
    eval_batch_size: int = 1000
    device: str = "auto"  # the standard recipe trains on a CUDA GPU when there is one

    def validate(self) -> TrainConfig:
        """Raise ``ConfigError`` naming the first bad field; return self so calls can chain.

        Types first (a stored or imported config is JSON: ``2.5`` epochs or ``"no"`` for a
        flag must not reach the trainer), then ranges and combinations. A variant written with
        options becomes its canonical name ("classic,activation=relu,subsampling=max" is
        "modern")."""
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), _FIELD_TYPES[f.name])
        variant, why_not = _canonical_variant(self.variant)
        checks = [
            (variant is not None, "variant", why_not),
            (self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}"),
            (self.init in INITS, "init", f"must be one of {', '.join(INITS)}"),
            (self.recipe in RECIPES, "recipe", f"must be one of {', '.join(RECIPES)}"),
            (
                self.recipe == "standard" or variant == "paper",
                "recipe",
                "the paper recipes train the paper variant only",
            ),
            (1 <= self.epochs <= 1000, "epochs", "must be between 1 and 1000"),
            (1 <= self.batch_size <= 60000, "batch_size", "must be between 1 and 60000"),
            (math.isfinite(self.lr) and self.lr > 0, "lr", "must be a positive number"),
            (0 <= self.momentum < 1, "momentum", "must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay", "must be 0 or more"),
            (0 <= self.train_subset <= 60000, "train_subset", "must be between 0 (all) and 60000"),
            (0 <= self.class_share <= 0.5, "class_share", "must be between 0 and 0.5"),
            (1 <= self.threads <= 64, "threads", "must be between 1 and 64"),
            (self.log_every >= 1, "log_every", "must be 1 or more"),
            (self.eval_batch_size >= 1, "eval_batch_size", "must be 1 or more"),
            (self.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}"),
            (
                self.device != "cuda" or self.recipe == "standard",
                "device",
                "the 1998 recipes update one pattern at a time, on the CPU",
            ),
        ]
        for ok, name, why in checks:
            if not ok:
                raise ConfigError(f"{name} = {getattr(self, name)!r}: {why}")
        self.variant = variant  # one network, one name in every run
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a stored ``asdict`` (unknown keys from other versions are ignored)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a training configuration is a mapping of fields, not {d!r:.40}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _canonical_variant(name: str) -> tuple[str | None, str]:
    """(the canonical name of variant ``name``, "") — "classic", or e.g. "paper,output=linear"
    — or (None, why it is not one)."""
    try:
        return get_variant(name).name, ""
    except ValueError as e:
        return None, str(e)


# The fields' types, resolved once (annotations are strings under postponed evaluation).
_FIELD_TYPES: dict[str, type] = typing.get_type_hints(TrainConfig)


def _check_type(name: str, value: Any, kind: type) -> None:
    # bool is an int in Python, and JSON has only one number type: an int field takes whole
    # numbers that are not True/False; a float field takes any number that is not a bool.
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        bool: isinstance(value, bool),
        str: isinstance(value, str),
    }[kind]
    if not ok:
        word = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
        raise ConfigError(f"{name} = {value!r}: must be {word[kind]}")


# Named configurations shared by the CLI (--preset) and the dashboard's Train page.
PRESETS: dict[str, TrainConfig] = {
    "default": TrainConfig(),
    "fast99": TrainConfig(variant="modern", epochs=3, batch_size=128, lr=0.01, init="default"),
    "lr-too-high": TrainConfig(
        optimizer="sgd", lr=5.0, momentum=0.9, schedule="constant", epochs=1
    ),
    "lr-too-low": TrainConfig(
        optimizer="sgd", lr=1e-4, momentum=0.0, schedule="constant", epochs=1
    ),
    "overfit-500": TrainConfig(
        train_subset=500, epochs=60, batch_size=50, lr=3e-3, schedule="constant", log_every=5
    ),
    "quick": TrainConfig(epochs=1, train_subset=6000, log_every=5),
    "zero-init": TrainConfig(init="zero", epochs=1),
    "paper": TrainConfig(variant="paper", recipe="paper", epochs=20, batch_size=1, init="paper"),
    "paper-fast": TrainConfig(
        variant="paper", recipe="paper-fast", epochs=20, batch_size=32, init="paper"
    ),
}

# What each preset teaches: (title, what to watch while it trains). Every preset has one.
LESSONS: dict[str, tuple[str, str]] = {
    "default": (
        "Good defaults",
        "Loss falls fast in the first few hundred batches; test accuracy passes 98 % in one epoch.",
    ),
    "lr-too-high": (
        "Learning rate too high",
        "Steps are so large the loss explodes within a few batches: the run stops as diverged.",
    ),
    "lr-too-low": (
        "Learning rate too low",
        "Nothing is broken, yet the loss barely moves: each step is too small to matter.",
    ),
    "overfit-500": (
        "Overfit 500 images",
        "Train accuracy climbs to 100 % while test accuracy stalls far below: memorising is "
        "not learning.",
    ),
    "fast99": (
        "Race to 99 %",
        "ReLU and max-pooling with a one-cycle schedule pass 99 % test accuracy in three epochs.",
    ),
    "zero-init": (
        "All weights zero",
        "Every unit of a layer starts the same and gets the same gradient, so none can learn: "
        "only the output's biases move, and it reads every digit as the commonest class, 1 "
        "(11.35 % right). Health shows each layer's units all alike.",
    ),
    "quick": (
        "A quick look",
        "One epoch on 6,000 digits: a model to look inside within seconds, about 92 % right.",
    ),
    "paper-fast": (
        "The 1998 network, mini-batches",
        "The paper's network and criterion with SDLM steps per mini-batch: 20 passes, near "
        "the paper's 0.95 % test error.",
    ),
    "paper": (
        "The 1998 recipe",
        "One pattern per update, as in 1998: 20 passes over 60,000 digits; compare its test "
        "error with the paper's 0.95 %.",
    ),
}

# Wall time of each preset trained alone on the development machine (2 shared x86_64 cores;
# `python -m lenet train --preset <name> --no-store`, the whole process, 2026-12-07), so a page
# can say how long a run takes before anyone has run it here.
TYPICAL_SECONDS: dict[str, float] = {
    "default": 12,
    "fast99": 13,
    "lr-too-high": 2,
    "lr-too-low": 5,
    "overfit-500": 13,
    "quick": 2,
    "zero-init": 5,
    "paper-fast": 189,
    "paper": 298,
}

# The preset each recipe starts from: `--recipe paper-fast` alone means that preset's epochs,
# batch size and initialisation, not the standard recipe's.
RECIPE_PRESETS = {"standard": "default", "paper": "paper", "paper-fast": "paper-fast"}


def make_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """A preset with ``overrides`` on top. Without a preset, the recipe's own preset (or
    "default"), so a recipe brings its own defaults and explicit fields still win."""
    if preset is None:
        preset = RECIPE_PRESETS.get(overrides.get("recipe", "standard"), "default")
    if preset not in PRESETS:
        raise ConfigError(f"preset = {preset!r}: must be one of {', '.join(PRESETS)}")
    unknown = set(overrides) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))}")
    return replace(PRESETS[preset], **overrides).validate()


# How a run is carried out rather than what it learns: a preset is still itself without them.
_HOW = ("threads", "log_every", "eval_batch_size", "device")
_DEFAULT_FIELDS = asdict(TrainConfig())


def _flat(config: TrainConfig) -> dict[str, Any]:
    """A TrainConfig's fields as a dict (its fields are plain values: no deep copy needed)."""
    return {f.name: getattr(config, f.name) for f in fields(config)}


_PRESET_FIELDS: dict[str, tuple[TrainConfig, dict[str, Any]]] = {}  # name: (preset, its "what")


def lesson_of(config: TrainConfig | dict) -> str | None:
    """The preset (a key of ``PRESETS`` and ``LESSONS``) this configuration is, or None.

    Matching on the configuration, not on a remembered choice, lets every viewer of a run (and
    the stored run itself) know what to watch. A field missing from an older run's stored
    config counts as its default. Cheap: every page's poll asks it of every queued run.
    """
    given = config if isinstance(config, dict) else _flat(config)
    default = _DEFAULT_FIELDS
    for name, preset in PRESETS.items():
        known = _PRESET_FIELDS.get(name)
        if known is None or known[0] is not preset:  # first use, or PRESETS changed
            known = _PRESET_FIELDS[name] = (
                preset,
                {k: v for k, v in _flat(preset).items() if k not in _HOW},
            )
        if all(given.get(k, default[k]) == v for k, v in known[1].items()):
            return name
    return None
