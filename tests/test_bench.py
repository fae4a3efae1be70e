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
