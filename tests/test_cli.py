"""The command line: the configuration its flags describe, bad flags, the benchmarks hand-off,
and one real one-epoch MNIST run with its JSON summary."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lenet import cli
from lenet.cli import build_parser, config_from_args, main
from lenet.training import PRESETS

REPO = Path(__file__).resolve().parents[1]


def _cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "lenet", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--batch-size", "0"], "batch-size"),
        (["--epochs", "-1"], "epochs"),
        (["--variant", "lenet7"], "variant"),
        (["--lr", "abc"], "lr"),
        (["--recipe", "paper", "--variant", "classic"], "recipe"),  # not on the classic variant
        (["--distort", "yes"], "unrecognized arguments: yes"),  # a switch, not a value
    ],
)
def test_bad_flags_exit_2_with_one_line(flags, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert needle in err[-1] and "Traceback" not in "".join(err)


def _config(*flags: str):
    return config_from_args(build_parser().parse_args(["train", *flags]))


def test_a_recipe_alone_brings_its_own_preset():
    assert _config("--variant", "paper", "--recipe", "paper-fast") == PRESETS["paper-fast"]
    assert _config("--recipe", "paper") == PRESETS["paper"]  # its preset's variant, too
    assert _config() == PRESETS["default"]


def test_explicit_flags_override_the_preset():
    paper_fast = _config("--variant", "paper", "--recipe", "paper-fast", "--epochs", "2")
    assert paper_fast == replace(PRESETS["paper-fast"], epochs=2)
    quick = _config("--preset", "quick", "--lr", "0.003", "--train-subset", "0")
    assert quick == replace(PRESETS["quick"], lr=0.003, train_subset=0)


def test_no_distort_turns_off_a_presets_distortions_and_distort_turns_them_on(monkeypatch):
    monkeypatch.setitem(PRESETS, "paper-distorted", replace(PRESETS["paper-fast"], distort=True))
    assert _config("--preset", "paper-distorted").distort is True
    assert _config("--preset", "paper-distorted", "--no-distort").distort is False
    assert _config("--preset", "paper-fast").distort is False
    assert _config("--preset", "paper-fast", "--distort").distort is True


def test_bench_hands_every_flag_to_the_checkouts_benchmarks(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda args, cwd: calls.append((args, cwd)) or 0)
    assert main(["bench", "--json", "--only", "epoch,inference"]) == 0
    ((args, cwd),) = calls
    assert args[1:] == ["-m", "benchmarks", "--json", "--only", "epoch,inference"]
    assert Path(cwd) == REPO


def test_eval_of_unknown_run_is_an_error(capsys):
    assert main(["eval", "--run", "../../etc"]) == 2
    assert "no run" in capsys.readouterr().err


@pytest.mark.slow
def test_one_real_epoch_reaches_97_percent(tmp_path):
    out = _cli(
        "train",
        "--variant",
        "classic",
        "--epochs",
        "1",
        "--json",
        env={"LENET_RUNS_DIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(summary) >= {
        "run_id",
        "variant",
        "epochs",
        "test_accuracy",
        "test_top3_accuracy",
        "test_loss",
        "train_seconds",
        "images_per_second",
    }
    assert summary["epochs"] == 1 and summary["test_accuracy"] >= 97.0
    assert summary["test_top3_accuracy"] >= summary["test_accuracy"]
    runs = _cli("runs", "--json", env={"LENET_RUNS_DIR": str(tmp_path)})
    (info,) = json.loads(runs.stdout)
    assert info["id"] == summary["run_id"] and info["status"] == "finished"
    ev = _cli("eval", "--run", summary["run_id"], "--json", env={"LENET_RUNS_DIR": str(tmp_path)})
    assert json.loads(ev.stdout)["test_accuracy"] == pytest.approx(summary["test_accuracy"])
