"""1998 → today, one change at a time: a ladder of runs from the paper's network and recipe to
the modern network, each step changing one thing and measured on the test set.

``STEPS`` is the ladder; each step's configuration is the one before with its change on top,
so the difference between two neighbouring bars is that change alone (and the seed's noise:
``seeds`` repeats every step). ``climb`` trains the steps in this process, stores each as a run
tagged with its step (``config["ladder"]``) and keeps the ladder's record in the runs folder
(``ladder.json`` under ``.ladder/``, rewritten after every run so a stopped ladder keeps what it
measured); ``latest`` reads it back for the Paper page.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lenet._atomic import write_json_atomic
from lenet.models import OPTIONS, architecture_of, variant_name
from lenet.runs.store import RunStore
from lenet.training import events as ev
from lenet.training.config import TrainConfig
from lenet.training.loop import train

__all__ = ["Step", "STEPS", "QUICK_EPOCHS", "FULL_EPOCHS", "step_configs", "climb", "latest"]


@dataclass(frozen=True)
class Step:
    key: str  # short and stable: the runs' tag and the CLI's --only
    change: str  # what this step changes, as the waterfall's label says it
    why: str  # what the change is, in a sentence (the Paper page, the lesson plan)
    fields: dict[str, Any]  # what it sets on top of the step before: TrainConfig fields, or
    # the network's options (``lenet.models.OPTIONS``), which change its variant


STEPS: tuple[Step, ...] = (
    Step("1998", "the 1998 network and recipe",
         "Scaled tanh, trainable subsampling, Table I's C3, the RBF output, the paper's pixel "
         "scale and initialisation, trained by SDLM (mini-batches of 32, the paper's step sizes).",
         {"variant": "paper", "recipe": "paper-fast", "init": "paper", "batch_size": 32}),
    Step("adam", "SDLM → Adam, one-cycle",
         "The same network trained the way this project trains everything: Adam with a "
         "one-cycle learning rate (peak 0.01), batches of 128, cross-entropy on −distances.",
         {"recipe": "standard", "batch_size": 128, "optimizer": "adam", "schedule": "onecycle",
          "lr": 0.01}),
    Step("softmax", "RBF → linear + softmax",
         "The ten fixed 7×12 bitmaps and their distances give way to a trained linear layer "
         "whose outputs are read through a softmax.",
         {"output": "linear"}),
    Step("dense-c3", "Table I → dense C3",
         "Every C3 map reads all six S2 maps (96 kernels instead of Table I's 60).",
         {"c3": "dense"}),
    Step("avg-pool", "trainable subsampling → average pooling",
         "S2 and S4 lose their trained coefficient and bias: a plain 2×2 mean, then the "
         "activation.",
         {"subsampling": "average"}),
    Step("tanh", "scaled tanh → tanh",
         "1.7159·tanh(2a/3) becomes plain tanh.",
         {"activation": "tanh"}),
    Step("inputs", "pixels −0.1…1.175 → mean 0, std 1",
         "The paper's input scale gives way to MNIST's mean and standard deviation.",
         {"inputs": "mnist"}),
    Step("glorot", "±2.4/Fᵢ → Glorot initialisation",
         "Appendix A's uniform weights give way to Glorot's with tanh's gain: the classic "
         "network, as this project's default trains it.",
         {"init": "xavier"}),
    Step("relu", "tanh → ReLU",
         "Every activation becomes max(0, a).",
         {"activation": "relu"}),
    Step("max-pool", "average → max pooling",
         "S2 and S4 keep the largest of their four inputs: the modern network.",
         {"subsampling": "max"}),
)  # fmt: skip
QUICK_EPOCHS = 3  # --quick: every step three passes (about 6 minutes on two cores)
FULL_EPOCHS = 20  # the paper's 20 passes for every step


def step_configs(epochs: int = FULL_EPOCHS, seed: int = 0, **common) -> list[TrainConfig]:
    """Each step's whole configuration, in ladder order (``common``: fields every step gets,
    e.g. ``train_subset`` for a try-out)."""
    fields: dict[str, Any] = {"epochs": epochs, "seed": seed, **common}
    configs = []
    for step in STEPS:
        options = {k: v for k, v in step.fields.items() if k in OPTIONS}
        fields = {**fields, **{k: v for k, v in step.fields.items() if k not in OPTIONS}}
        if options:
            fields["variant"] = variant_name(
                architecture_of(fields["variant"]).with_options(**options)
            )
        configs.append(TrainConfig(**fields).validate())
    return configs


def _record_path(store: RunStore, make: bool = False) -> Path:
    folder = store.root / ".ladder"
    if make:
        folder.mkdir(parents=True, exist_ok=True)
    return folder / "ladder.json"


def climb(
    quick: bool = False,
    seeds: int = 1,
    only: list[str] | None = None,
    store: RunStore | None = None,
    on_run: Callable[[dict], None] | None = None,
    **common,
) -> dict:
    """Train the ladder (``only``: these steps' keys) for seeds 0 … ``seeds``-1 and return its
    record: per step its change, configuration, runs and test errors (percent). ``on_run`` is
    called with each finished run's row; ``common`` goes into every step's configuration."""
    keys = [s.key for s in STEPS]
    unknown = [k for k in (only or []) if k not in keys]
    if unknown:
        raise ValueError(f"no ladder step {unknown[0]!r}; the steps are {', '.join(keys)}")
    if seeds < 1:
        raise ValueError("seeds must be 1 or more")
    store = store or RunStore()
    epochs = QUICK_EPOCHS if quick else FULL_EPOCHS
    ladder_id = RunStore.new_id()
    record: dict[str, Any] = {"ladder": ladder_id, "quick": quick, "epochs": epochs,
                              "seeds": seeds, "started": time.time(), "finished": False,
                              "steps": []}  # fmt: skip
    chosen = [(i, s) for i, s in enumerate(STEPS) if not only or s.key in only]
    per_seed = {seed: step_configs(epochs, seed, **common) for seed in range(seeds)}
    for i, step in chosen:
        row = {"step": i, "key": step.key, "change": step.change,
               "variant": per_seed[0][i].variant, "config": asdict(per_seed[0][i]),
               "runs": [], "test_error": [], "status": [], "seconds": []}  # fmt: skip
        record["steps"].append(row)
        for seed in range(seeds):
            cfg = per_seed[seed][i]
            tag = {"ladder": ladder_id, "step": i, "key": step.key, "change": step.change}
            run = store.create({**asdict(cfg), "ladder": tag})
            t0 = time.perf_counter()
            result = train(cfg, run=run)
            acc = result.final.get("test_acc")
            row["runs"].append(run.id)
            row["status"].append(result.status)
            row["test_error"].append(None if acc is None else round(100.0 - acc, 2))
            row["seconds"].append(round(time.perf_counter() - t0, 1))
            _summarise(row)
            write_json_atomic(_record_path(store, make=True), record)
            if on_run is not None:
                on_run({**row, "seed": seed, "run": run.id})
            if result.status == ev.STOPPED:
                return record
    record["finished"] = True
    write_json_atomic(_record_path(store, make=True), record)
    return record


def _summarise(row: dict) -> None:
    errors = [e for e in row["test_error"] if e is not None]
    row["mean_error"] = round(statistics.fmean(errors), 2) if errors else None
    row["spread"] = [min(errors), max(errors)] if errors else None


def latest(store: RunStore | None = None) -> dict | None:
    """The newest ladder's record (None when none was climbed in this runs folder, or the file
    is unreadable); each step's ``runs`` are kept only where the run still exists."""
    store = store or RunStore()
    try:
        record = json.loads(_record_path(store).read_text())
        steps = record["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for row in steps:
        row["present"] = [store.has(r) for r in row.get("runs", [])]
    return record
