"""Where one classic epoch's time goes, and how close it comes to what these cores can do.

``bench_breakdown`` trains one epoch of classic LeNet-5 (batch 128, the trainer's own model,
optimizer and memory format) with a clock around each phase of every step: gathering the
batch, forward (with the loss), backward, the optimizer step, and reading the loss and the
right answers back. Then the epoch's other costs: the test pass, one checkpoint, the epoch's
"batch" events written to a run's log, and what a fresh process pays before its first step
(``import torch``, the package, parsing MNIST).

The roofline: ``torch.utils.flop_counter`` counts the floating-point operations of one step
(forward and backward; the optimizer's few per weight are left out) and of the test pass;
divided by the measured seconds they are the achieved GFLOP/s. The roof is a measured one,
a large float32 matrix product on the same threads (the fastest these cores run any
arithmetic through torch), and ``theoretical_gflops`` the cores' nominal peak when
``/proc/cpuinfo`` tells enough to work it out (AVX-512 with two FMA units a core assumed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lenet import speed
from lenet.analysis.metrics import evaluate_classification
from lenet.data import load_split
from lenet.models import build_model
from lenet.runs import RunStore
from lenet.training import PRESETS, configure_threads
from lenet.training.standard import make_optimizer

__all__ = ["bench_breakdown", "matmul_gflops", "theoretical_gflops", "step_flops"]

REPO = Path(__file__).resolve().parents[1]


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    """GFLOP/s of an n×n float32 matrix product on torch's threads: the roof, measured."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 * repeats / best / 1e9


def theoretical_gflops(threads: int) -> float | None:
    """Nominal float32 peak of ``threads`` cores: GHz × 2 FMA units × 16 lanes × 2 with AVX-512
    (× 8 lanes with AVX2 only), from /proc/cpuinfo; None where it does not say."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)
    flags = re.search(r"^flags\s*:(.*)$", info, re.M)
    if not mhz or not flags:
        return None
    lanes = 16 if " avx512f" in flags.group(1) else 8 if " avx2" in flags.group(1) else None
    if lanes is None:
        return None
    return threads * float(mhz.group(1)) / 1000 * 2 * lanes * 2


def step_flops(model, xb: torch.Tensor, yb: torch.Tensor) -> tuple[int, int]:
    """(forward, forward + backward) floating-point operations of one training step."""
    with FlopCounterMode(display=False) as forward:
        loss = F.cross_entropy(model(xb), yb)
    with FlopCounterMode(display=False) as backward:
        loss.backward()
    model.zero_grad(set_to_none=True)
    return forward.get_total_flops(), forward.get_total_flops() + backward.get_total_flops()


def _child_s(code: str) -> float:
    """Wall seconds of ``python -c code`` in a fresh process (best of two)."""
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def bench_breakdown(batch_size: int = 128, threads: int = 2) -> dict:
    configure_threads(threads)
    speed.keep_freed_memory()  # as the trainer does
    cfg = replace(PRESETS["default"], epochs=1, batch_size=batch_size, variant="classic")
    train, test = load_split("train"), load_split("test")
    model = speed.prepare_model(build_model(cfg.variant, cfg.init, seed=cfg.seed))
    opt = make_optimizer(model, cfg)
    images, labels = train.images, train.labels
    n = len(labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    phases = dict.fromkeys(("gather", "forward", "backward", "optimizer", "readback"), 0.0)
    clock = time.perf_counter
    t_epoch = clock()
    for start in range(0, n, batch_size):
        t0 = clock()
        idx = order[start : start + batch_size]
        xb, yb = speed.prepare_batch(images[idx]), labels[idx]
        t1 = clock()
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        t2 = clock()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = clock()
        opt.step()
        t4 = clock()
        loss.item(), int((logits.argmax(1) == yb).sum())
        t5 = clock()
        for key, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            phases[key] += seconds
    epoch_s = clock() - t_epoch
    steps = -(-n // batch_size)

    t0 = clock()
    metrics = evaluate_classification(model, (test.images, test.labels), batch_size=1000)
    eval_s = clock() - t0

    with tempfile.TemporaryDirectory(prefix="lenet-bench-breakdown-") as tmp:
        run = RunStore(Path(tmp)).create({"variant": "classic"})
        event = {"type": "batch", "epoch": 1, "step": 1, "loss": 0.1, "acc": 97.0, "lr": 0.01,
                 "images_per_s": 9000.0, "train_seconds": 1.0}  # fmt: skip
        t0 = clock()
        for _ in range(steps // cfg.log_every):
            run.append(event)
        events_s = clock() - t0
        t0 = clock()
        run.save_epoch(1, model, opt, cfg, None, training={"step": steps})
        checkpoint_s = clock() - t0

    parse_s = _child_s(
        "import time, lenet.data as d; t = time.perf_counter(); d.load_split('train'); "
        "d.load_split('test'); print(time.perf_counter() - t)"
    )
    torch_s = _child_s("import torch")
    package_s = _child_s("import lenet.training, lenet.runs")

    xb, yb = speed.prepare_batch(images[order[:batch_size]]), labels[order[:batch_size]]
    fwd, step = step_flops(model, xb, yb)
    train_flops = step * n / batch_size
    eval_flops = fwd * len(test.labels) / batch_size
    roof = matmul_gflops()
    nominal = theoretical_gflops(threads)
    compute_s = sum(phases[k] for k in ("forward", "backward", "optimizer"))
    achieved = train_flops / compute_s / 1e9
    return {
        "batch_size": batch_size,
        "threads": threads,
        "speedups": speed.describe(),
        "steps": steps,
        "epoch_s": round(epoch_s, 3),
        "images_per_s": round(n / epoch_s),
        "phases_s": {k: round(v, 3) for k, v in phases.items()},
        "phases_pct": {k: round(100 * v / epoch_s, 1) for k, v in phases.items()},
        "ms_per_step": {k: round(1000 * v / steps, 3) for k, v in phases.items()},
        "eval_s": round(eval_s, 3),
        "eval_test_accuracy": round(metrics["top1"], 2),
        "events_s": round(events_s, 4),
        "checkpoint_s": round(checkpoint_s, 4),
        "startup_s": {"import_torch": torch_s, "import_lenet": package_s, "parse_mnist": parse_s},
        "gflop_per_epoch": round(train_flops / 1e9, 1),
        "gflop_test_pass": round(eval_flops / 1e9, 2),
        "achieved_gflops_training": round(achieved, 1),
        "achieved_gflops_test_pass": round(eval_flops / eval_s / 1e9, 1),
        "matmul_gflops": round(roof, 1),
        "fraction_of_matmul_roof": round(achieved / roof, 3),
        "theoretical_gflops": round(nominal, 1) if nominal else None,
        "fraction_of_theoretical": round(achieved / nominal, 3) if nominal else None,
        "cores": os.cpu_count(),
    }
