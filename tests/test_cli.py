"""The command line: JSON summary, bad flags, and one real one-epoch MNIST run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lenet.cli import main

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
        (["--recipe", "paper"], "recipe"),  # a paper recipe on the classic variant
    ],
)
def test_bad_flags_exit_2_with_one_line(flags, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert needle in err[-1] and "Traceback" not in "".join(err)


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
