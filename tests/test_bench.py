"""The benchmarks (the checkout's ``benchmarks/``, run by ``python -m lenet bench``): the opt-in
paper runs are parsed and compared with the right figure, and the digit pipeline is timed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import suite as bench
from benchmarks.digit_pipeline import time_digit_pipeline
from lenet.models import LeNet5

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("distort, paper_figure", [(False, 0.95), (True, 0.8)])
def test_bench_paper_reads_the_cli_summary(monkeypatch, distort, paper_figure):
    calls = []

    def fake_child(args, env=None):
        calls.append(args)
        summary = {"epochs": 20, "test_accuracy": 98.96, "train_seconds": 366.7}
        return 390.6, 1352, "progress\n" + json.dumps(summary) + "\n"

    monkeypatch.setattr(bench, "_child", fake_child)
    out = bench.bench_paper("paper-fast", distort=distort)
    assert calls[0][:5] == ["-m", "lenet", "train", "--preset", "paper-fast"]
    assert ("--distort" in calls[0]) == distort and "--no-store" in calls[0]
    assert out == {
        "recipe": "paper-fast",
        "distort": distort,
        "passes": 20,
        "test_error_pct": 1.04,
        "paper_test_error_pct": paper_figure,
        "wall_min": 6.51,
        "train_s": 366.7,
        "peak_rss_mb": 1352,
    }


def test_paper_runs_are_opt_in():
    with pytest.raises(SystemExit, match="unknown benchmark"):
        bench.run_benchmarks(only=["paper_fast"])  # without paper=True it is not in the table


def test_time_digit_pipeline_reports_milliseconds():
    numbers = time_digit_pipeline(LeNet5("classic").eval(), n=5)
    assert numbers["n"] == 5
    assert 0 < numbers["p50_ms"] <= numbers["p95_ms"] <= numbers["max_ms"]
    assert 0 < numbers["explain_p50_ms"] <= numbers["explain_p95_ms"]


def test_time_unit_panel_reports_every_layer_of_both_networks():
    from benchmarks.unit_panel import time_unit_panel

    numbers = time_unit_panel(n=2)
    assert len(numbers["layers"]) == 14 and numbers["n"] == 2
    for name, row in numbers["layers"].items():
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= numbers["slowest_p95_ms"], name
    assert numbers["meets_goal"] == (numbers["slowest_p95_ms"] <= numbers["goal_ms"])


def test_lenet_bench_runs_the_benchmarks_of_the_checkout():
    out = subprocess.run(
        [sys.executable, "-m", "lenet", "bench", "--only", "no-such-benchmark"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "unknown benchmark(s) no-such-benchmark" in out.stderr and "digit_pipeline" in out.stderr


def test_baseline_runs_alternate_and_the_best_of_each_is_compared(monkeypatch):
    """``--baseline``: now, baseline, now, baseline; each side's best run by its first
    compared number; the environment as it was afterwards."""
    monkeypatch.delenv("LENET_BASELINE", raising=False)
    seen = []
    walls = iter([12.0, 20.0, 10.0, 24.0])

    def fake_fast99():
        seen.append(os.environ.get("LENET_BASELINE"))
        return {"wall_s": next(walls), "train_s": 5.0, "test_accuracy": 99.1}

    now, then = bench._best_of_alternating("fast99", fake_fast99)
    assert seen == [None, "1", None, "1"] and "LENET_BASELINE" not in os.environ
    assert now["wall_s"] == 10.0 and then["wall_s"] == 20.0 and now["rounds"] == 2
    compared = bench._compare("fast99", now, then)
    assert compared["wall_s"] == {"now": 10.0, "baseline": 20.0, "times_better": 2.0}
    assert compared["test_accuracy"]["times_better"] == 1.0


def test_the_roofline_counts_a_steps_flops_and_knows_the_cores_peak():
    import torch

    from benchmarks.breakdown import step_flops, theoretical_gflops

    model = LeNet5("classic")
    forward, step = step_flops(model, torch.zeros(2, 1, 32, 32), torch.tensor([1, 2]))
    # 2 images × 2 × the convolutions' and layers' multiply-adds (C1 117,600, C3 240,000,
    # C5 48,000, F6 10,080, OUTPUT 840)
    assert forward == 2 * 2 * (117_600 + 240_000 + 48_000 + 10_080 + 840)
    assert 2.5 * forward <= step <= 3.5 * forward  # backward: about twice the forward
    nominal = theoretical_gflops(1)
    assert nominal is None or nominal > 1
