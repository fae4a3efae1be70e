"""``python -m lenet bench``: the opt-in paper runs are parsed and compared with the right figure."""

import json

import pytest

from lenet import bench


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
