"""The command line: the configuration its flags describe, bad flags, the benchmarks hand-off,
one real one-epoch MNIST run with its JSON summary, and ``train --resume`` of a killed run."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from lenet import cli
from lenet.cli import build_parser, config_from_args, main
from lenet.models import LeNet5
from lenet.runs import RunStore
from lenet.training import PRESETS, TrainConfig

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
        (["--variant", "paper,output=softmax"], "output='softmax' is not an option"),
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


def test_a_variant_can_be_a_named_one_with_options_changed():
    assert _config("--variant", "paper,output=linear").variant == "paper,output=linear"
    assert _config("--variant", "classic,activation=relu,subsampling=max").variant == "modern"


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


# -- train --resume ----------------------------------------------------------------------------
def test_resume_finishes_a_real_run_killed_after_its_first_epoch(tmp_path):
    env = {"LENET_RUNS_DIR": str(tmp_path)}
    args = ["train", "--epochs", "3", "--train-subset", "2000", "--threads", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lenet", *args],
        cwd=REPO,
        env=dict(os.environ, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not any('"type": "epoch"' in p.read_text() for p in tmp_path.glob("*/metrics.jsonl")):
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no finished epoch within 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (info,) = RunStore(tmp_path).list()
    assert info.status == "interrupted" and info.resumable and 1 <= info.epochs_done < 3
    out = _cli("train", "--resume", info.id, "--json", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["run_id"] == info.id and summary["status"] == "finished"
    assert summary["epochs"] == 3 and summary["test_accuracy"] > 80
    (after,) = json.loads(_cli("runs", "--json", env=env).stdout)  # the same run, no new one
    assert (after["id"], after["status"], after["epochs_done"]) == (info.id, "finished", 3)
    kinds = [e["type"] for e in RunStore(tmp_path).get(info.id).events()]
    assert kinds.count("start") == 1 and kinds.count("resume") == 1 and kinds[-1] == "done"


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """The CLI's run store in tmp_path, with a finished run and a resumable one."""
    monkeypatch.setenv("LENET_RUNS_DIR", str(tmp_path))
    store = RunStore(tmp_path)
    cfg = TrainConfig(epochs=3)
    runs = {}
    for name, state in (("finished", "finished"), ("interrupted", "interrupted")):
        run = store.create(asdict(cfg))
        run.save_epoch(1, LeNet5("classic"), None, cfg, None)
        run.append({"type": "epoch", "epoch": 1, "test_acc": 90.0})
        run.finish(state)
        runs[name] = run
    assert runs["interrupted"].info().resumable and not runs["finished"].info().resumable
    return runs


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--resume", "20990101-000000-abcdef"], "there is no such run"),
        (["--resume", "../../etc"], "there is no such run"),
        (["--resume", "{finished}"], "the run is finished with 1 finished epoch"),
        (["--resume", "{interrupted}", "--epochs", "5"], "drop --epochs"),
        (
            ["--resume", "{interrupted}", "--lr", "0.1", "--train-subset", "9"],
            "--lr, --train-subset",
        ),
        (["--resume", "{interrupted}", "--preset", "quick"], "--preset"),
        (["--resume", "{interrupted}", "--no-store"], "--no-store"),
    ],
)
def test_a_resume_that_cannot_go_on_exits_2_with_one_line_and_changes_nothing(
    stored, capsys, flags, needle
):
    ids = {name: run.id for name, run in stored.items()}
    before = {name: run.status() for name, run in stored.items()}
    with pytest.raises(SystemExit) as exc:
        main(["train", *(f.format(**ids) for f in flags)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in captured.err
    assert captured.out == ""
    assert {name: run.status() for name, run in stored.items()} == before
    assert len(RunStore().list()) == 2  # no new run either
