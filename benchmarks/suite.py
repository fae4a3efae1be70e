"""The benchmark suite behind ``python -m lenet bench``: the numbers quoted in the README.

Every number is measured in the same invocation, on this machine, and printed as JSON; nothing
here asserts a target (targets live in the README next to the measured value). Whole-process
timings run the command in a child process, so ``import torch`` and data loading count.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.breakdown import bench_breakdown
from benchmarks.digit_pipeline import time_digit_pipeline
from benchmarks.f6_map import bench_f6_map
from benchmarks.predictions import bench_predictions_grid
from benchmarks.sdlm import bench_sdlm
from benchmarks.unit_panel import time_unit_panel
from lenet import speed
from lenet.analysis.introspection import predict_one
from lenet.analysis.paper import PAPER_TEST_ERROR, PAPER_TEST_ERROR_DISTORTED
from lenet.data import data_dir, ensure_mnist, load_split
from lenet.models import build_model
from lenet.training import PRESETS, configure_threads, train
from lenet.training.standard import make_optimizer

REPO = Path(__file__).resolve().parents[1]


def _child(args: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Run a Python child; return (wall seconds, peak RSS in MB, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, **(env or {})),
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}")
    return wall, round(usage.ru_maxrss / 1024), out  # ru_maxrss is in KiB on Linux


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def bench_epoch(batch_size: int = 128) -> dict:
    """One epoch of classic LeNet-5, whole process: our CLI vs the usual DataLoader loop."""
    ensure_mnist()
    ours_wall, ours_rss, out = _child(
        [
            "-m",
            "lenet",
            "train",
            "--variant",
            "classic",
            "--epochs",
            "1",
            "--batch-size",
            str(batch_size),
            "--no-store",
            "--json",
        ]
    )
    ours = _last_json(out)
    base_wall, base_rss, out = _child(
        [str(REPO / "benchmarks" / "tutorial_loop.py"), str(data_dir()), str(batch_size), "2"]
    )
    base = _last_json(out)
    return {
        "batch_size": batch_size,
        "cli_wall_s": round(ours_wall, 2),
        "cli_test_accuracy": ours["test_accuracy"],
        "cli_train_s": ours["train_seconds"],
        "cli_images_per_s": ours["images_per_second"],
        "cli_peak_rss_mb": ours_rss,
        "tutorial_wall_s": round(base_wall, 2),
        "tutorial_train_s": round(base["train_seconds"], 2),
        "tutorial_test_accuracy": base["test_accuracy"],
        "tutorial_peak_rss_mb": base_rss,
        "speedup_whole_process": round(base_wall / ours_wall, 2),
    }


def bench_loop_overhead(steps: int = 200, batch_size: int = 128) -> dict:
    """The trainer's per-batch cost against bare forward+backward+step on the same batches."""
    configure_threads(2)
    speed.keep_freed_memory()  # the trainer sets it: the bare loop gets it too
    split = load_split("train")
    n = steps * batch_size
    cfg = replace(PRESETS["default"], epochs=1, batch_size=batch_size, train_subset=n)

    def bare() -> float:
        model = speed.prepare_model(build_model("classic", "xavier", seed=0))
        opt = make_optimizer(model, cfg)
        perm = torch.randperm(n)
        x, y = split.images[:n], split.labels[:n]
        t0 = time.perf_counter()
        for b in range(steps):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            loss = F.cross_entropy(model(speed.prepare_batch(x[idx])), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    def ours() -> float:
        result = train(cfg)
        return next(e for e in result.history if e["type"] == "done")["train_seconds"]

    bare_s = min(bare() for _ in range(2))  # best of two: the machine is shared
    ours_s = min(ours() for _ in range(2))
    return {
        "batches": steps,
        "batch_size": batch_size,
        "bare_s": round(bare_s, 3),
        "trainer_s": round(ours_s, 3),
        "ratio": round(ours_s / bare_s, 3),
    }


def bench_fast99() -> dict:
    """``python -m lenet train --preset fast99``: whole process, and when it passed 99 %."""
    wall, rss, out = _child(["-m", "lenet", "train", "--preset", "fast99", "--no-store", "--json"])
    summary = _last_json(out)
    return {
        "wall_s": round(wall, 2),
        "test_accuracy": summary["test_accuracy"],
        "train_s": summary["train_seconds"],
        "peak_rss_mb": rss,
    }


def bench_inference(n: int = 300) -> dict:
    """One image -> prediction and every layer's activations (the Feature maps page's core)."""
    model = build_model("classic", "xavier", seed=0).eval()
    x = torch.randn(1, 1, 32, 32)
    for _ in range(20):
        predict_one(model, x)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        predict_one(model, x)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "n": n,
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(0.95 * n)], 3),
    }


def bench_paper(recipe: str = "paper", distort: bool = False) -> dict:
    """``python -m lenet train --preset <recipe> [--distort]``: 20 SDLM passes, whole process;
    test error against the paper's (0.95 %, 0.8 % with distortions). Minutes, so opt-in."""
    args = [
        "-m",
        "lenet",
        "train",
        "--preset",
        recipe,
        "--no-store",
        "--json",
        *(["--distort"] * distort),
    ]
    wall, rss, out = _child(args)
    summary = _last_json(out)
    return {
        "recipe": recipe,
        "distort": distort,
        "passes": summary["epochs"],
        "test_error_pct": round(100 - summary["test_accuracy"], 2),
        "paper_test_error_pct": PAPER_TEST_ERROR_DISTORTED if distort else PAPER_TEST_ERROR,
        "wall_min": round(wall / 60, 2),
        "train_s": summary["train_seconds"],
        "peak_rss_mb": rss,
    }


PAPER_BENCHMARKS = {
    "paper": lambda: bench_paper("paper"),
    "paper_fast": lambda: bench_paper("paper-fast"),
    "paper_distort": lambda: bench_paper("paper", distort=True),
}

BENCHMARKS = {
    "epoch": bench_epoch,
    "breakdown": bench_breakdown,
    "overhead": bench_loop_overhead,
    "fast99": bench_fast99,
    "sdlm": bench_sdlm,
    "inference": bench_inference,
    "digit_pipeline": time_digit_pipeline,
    "unit_panel": time_unit_panel,
    "f6_map": bench_f6_map,
    "predictions_grid": bench_predictions_grid,
}


# What ``--baseline`` measures again with the trainer as it was (``lenet.speed``), and the
# numbers compared: (key, True when more is better).
AGAINST_BASELINE: dict[str, tuple[tuple[str, bool], ...]] = {
    "epoch": (("cli_wall_s", False), ("cli_train_s", False), ("cli_images_per_s", True),
              ("cli_test_accuracy", True)),
    "fast99": (("wall_s", False), ("train_s", False), ("test_accuracy", True)),
    "breakdown": (("epoch_s", False), ("eval_s", False), ("images_per_s", True),
                  ("achieved_gflops_training", True)),
    "overhead": (("bare_s", False), ("trainer_s", False)),
    "sdlm": (("paper_ms_per_update", False), ("paper_fast_ms_per_update", False)),
}  # fmt: skip
# These train in the benchmark's own process, and the trainer's settings last as long as the
# process does (the memory kept, torch's threads): against the baseline, each side gets a
# fresh process of its own.
IN_PROCESS = {"breakdown", "overhead", "sdlm"}


def _in_fresh_process(name: str) -> dict:
    """Benchmark ``name`` run by a new ``python -m benchmarks`` (which inherits this one's
    environment, ``LENET_BASELINE`` included)."""
    _, _, out = _child(["-m", "benchmarks", "--only", name, "--json"])
    return _last_json(out)[name]


def _with_baseline(fn):
    """``fn`` run with ``LENET_BASELINE=1`` (child processes inherit it)."""
    before = os.environ.get(speed.BASELINE_ENV)
    os.environ[speed.BASELINE_ENV] = "1"
    try:
        return fn()
    finally:
        if before is None:
            os.environ.pop(speed.BASELINE_ENV)
        else:
            os.environ[speed.BASELINE_ENV] = before


def _best_of_alternating(name: str, fn, rounds: int = 2) -> tuple[dict, dict]:
    """``fn`` now and with the baseline, in turn, ``rounds`` times: the best of each by the
    benchmark's first compared number (the cores are shared: one pair alone can mislead)."""
    key, more_is_better = AGAINST_BASELINE[name][0]
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(rounds):
        runs[False].append(fn())
        runs[True].append(_with_baseline(fn))
    pick = max if more_is_better else min
    now, then = (pick(runs[b], key=lambda r: r.get(key) or 0) for b in (False, True))
    return {**now, "rounds": rounds}, then


def _compare(name: str, now: dict, then: dict) -> dict:
    """Each compared number now and with the baseline, and how many times better it got."""
    out = {}
    for key, more_is_better in AGAINST_BASELINE[name]:
        a, b = now.get(key), then.get(key)
        if isinstance(a, int | float) and isinstance(b, int | float) and a and b:
            gain = a / b if more_is_better else b / a
            out[key] = {"now": a, "baseline": b, "times_better": round(gain, 3)}
    return out


def run_benchmarks(
    only: list[str] | None = None,
    dashboard: bool = False,
    paper: bool = False,
    classroom: int = 0,
    baseline: bool = False,
    ray: bool = False,
) -> dict:
    configure_threads(2)
    table = dict(BENCHMARKS)
    if ray or "ray" in (only or ()):
        from benchmarks.ray_cluster import bench_ray  # needs Ray and a network namespace

        table["ray"] = bench_ray
    if dashboard:
        from benchmarks.dashboard import bench_dashboard  # needs playwright, a test tool

        table["dashboard"] = bench_dashboard
    if paper:
        table.update(PAPER_BENCHMARKS)
    if classroom:
        from benchmarks.classroom import bench_classroom  # needs playwright, a test tool

        table["classroom"] = lambda: bench_classroom(classroom)
    unknown = set(only or ()) - set(table)
    if unknown:
        raise SystemExit(
            f"python -m lenet bench: error: unknown benchmark(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(table)}"
        )
    results: dict = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
        }
    }
    for name, fn in table.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        if baseline and name in AGAINST_BASELINE:
            side = (lambda n=name: _in_fresh_process(n)) if name in IN_PROCESS else fn
            now, then = _best_of_alternating(name, side)
            results[name] = {**now, "baseline": then, "against_baseline": _compare(name, now, then)}
        else:
            results[name] = fn()
        print(
            f"bench {name}: {json.dumps(results[name])} ({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
        )
    return results
