"""Milliseconds per update of the 1998 recipes: ``paper`` (SDLM, one pattern per update, its
compiled step) and ``paper-fast`` (SDLM per mini-batch of 32), through the recipes' own
``train`` as the trainer calls them.

The one-pattern recipe is bound by what each update costs beyond its arithmetic (a digit's
forward and backward are ~0.7 MFLOP); a pass is 60,000 of them. The step is compiled once per
process before the clock starts (tens of seconds the first time, cached on disk after), and
the curvature estimate that opens each pass is left out: both are paid once per pass.
"""

from __future__ import annotations

import time
from dataclasses import replace

from lenet import speed
from lenet.data import load_split
from lenet.models import build_model
from lenet.training import PRESETS, configure_threads
from lenet.training.loop import RECIPE_CLASSES

__all__ = ["bench_sdlm"]


def _ms_per_update(preset: str, updates: int) -> float:
    cfg = PRESETS[preset]
    train = load_split("train", "paper")
    model = build_model(cfg.variant, cfg.init, seed=0)
    recipe = RECIPE_CLASSES[cfg.recipe](model, replace(cfg, epochs=1), len(train.labels))
    data, order = recipe.begin_epoch(1, train.images)
    chunk = recipe.chunk_steps * recipe.patterns_per_step
    recipe.train(data, train.labels, order[:chunk])  # compiles the one-pattern step
    steps, t0 = 0, time.perf_counter()
    for start in range(chunk, chunk + updates * recipe.patterns_per_step, chunk):
        steps += recipe.train(data, train.labels, order[start : start + chunk]).steps
    return 1000 * (time.perf_counter() - t0) / steps


def bench_sdlm(updates: int = 3000, threads: int = 2) -> dict:
    configure_threads(threads)
    speed.keep_freed_memory()  # as the trainer does
    return {
        "threads": threads,
        "paper_ms_per_update": round(_ms_per_update("paper", updates), 3),
        "paper_fast_ms_per_update": round(_ms_per_update("paper-fast", updates // 10), 3),
        "paper_fast_batch": PRESETS["paper-fast"].batch_size,
    }
