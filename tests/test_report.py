"""What the pages show about runs, computed without Streamlit: curves, tables, lessons, words."""

import math
from dataclasses import asdict, replace

import pandas as pd
import pytest

from lenet import plots
from lenet.report import (
    LR_CHOICES,
    curves_from_events,
    curves_from_snapshot,
    final_metrics,
    format_duration,
    lesson_for,
    live_metrics,
    nearest_lr,
    outcome,
    run_table,
)
from lenet.runs import RunInfo
from lenet.train import LESSONS, PRESETS

EVENTS = [
    {"type": "start", "steps_per_epoch": 10, "total_steps": 20, "train_images": 1280},
    {"type": "batch", "epoch": 1, "step": 5, "loss": 2.0, "acc": 30.0, "lr": 0.01},
    {"type": "lr", "epoch": 1, "step": 7, "lr": 0.1},
    {"type": "batch", "epoch": 1, "step": 10, "loss": 1.0, "acc": 60.0, "lr": 0.1},
    {
        "type": "epoch",
        "epoch": 1,
        "step": 10,
        "test_loss": 0.8,
        "test_acc": 80.0,
        "test_top3": 95.0,
        "train_seconds": 2.0,
        "images_per_s": 640.0,
    },
    {"type": "batch", "epoch": 2, "step": 15, "loss": 0.5, "acc": 85.0, "lr": 0.1},
    {
        "type": "stopped",
        "step": 15,
        "train_seconds": 3.0,
        "message": "Stopped by request after 15 of 20 batches.",
    },
]


def test_lr_ladder_is_log_spaced_and_holds_every_preset():
    assert LR_CHOICES[0] == 1e-4 and LR_CHOICES[-1] == 10.0
    assert list(LR_CHOICES) == sorted(LR_CHOICES)
    steps = [math.log10(b / a) for a, b in zip(LR_CHOICES, LR_CHOICES[1:])]
    assert max(steps) < 0.41  # 1-2-3-5: never more than a factor 2.5 between neighbours
    for preset in PRESETS.values():
        assert preset.lr in LR_CHOICES
    assert nearest_lr(0.0007) == 5e-4 and nearest_lr(0.0008) == 1e-3 and nearest_lr(50) == 10.0
    assert nearest_lr(float("nan")) in LR_CHOICES


def test_curves_from_events_split_by_type():
    c = curves_from_events(EVENTS)
    assert [b["step"] for b in c.batches] == [5, 10, 15]
    assert [e["epoch"] for e in c.epochs] == [1]
    assert c.lr_changes == [EVENTS[2]]
    assert c.steps_per_epoch == 10 and c.planned_epochs == 2
    assert curves_from_events([]).batches == [] and curves_from_events([]).steps_per_epoch >= 1


def test_snapshot_and_events_give_the_same_curves():
    snap = {
        "epochs": 2,
        "total_steps": 20,
        "batches": [e for e in EVENTS if e["type"] == "batch"],
        "epoch_metrics": [EVENTS[4]],
        "lr_changes": [EVENTS[2]],
    }
    assert curves_from_snapshot(snap) == curves_from_events(EVENTS)


def test_outcome_and_final_metrics():
    out = outcome(EVENTS)
    assert out["state"] == "stopped" and out["message"].startswith("Stopped by request")
    assert out["test_acc"] == 80.0 and out["test_top3"] == 95.0 and out["train_seconds"] == 3.0
    assert dict(final_metrics(out)) == {
        "Test accuracy (top-1)": "80.00 %",
        "Test top-3": "95.00 %",
        "Training time": "3.0 s",
        "Images / s": "640",
    }
    assert outcome([])["state"] is None and dict(final_metrics(outcome([])))["Test top-3"] == "–"


def test_live_metrics_use_the_curve_smoothing():
    batches = [e for e in EVENTS if e["type"] == "batch"]
    snap = {"batches": batches, "latest": EVENTS[4], "images_per_s": 1234.5, "eta_seconds": 75}
    shown = dict(live_metrics(snap))
    assert shown["Loss (smoothed)"] == f"{plots.smooth([2.0, 1.0, 0.5])[-1]:.4f}"
    assert shown["Train accuracy"] == "85.0 %" and shown["Test top-1"] == "80.00 %"
    assert shown["Images / s"] == "1,234" and shown["Time left"] == "1 min 15 s"
    assert dict(live_metrics({"batches": [], "latest": None}))["Loss (smoothed)"] == "–"


@pytest.mark.parametrize(
    "seconds, words",
    [
        (None, "–"),
        (3.21, "3.2 s"),
        (42, "42 s"),
        (75.2, "1 min 15 s"),
        (3725, "1 h 02 min"),
        (float("nan"), "–"),
    ],
)
def test_format_duration(seconds, words):
    assert format_duration(seconds) == words


def test_lesson_for_recognises_each_preset_and_nothing_else():
    for name in LESSONS:
        assert lesson_for(asdict(PRESETS[name])) == name
    assert lesson_for(asdict(replace(PRESETS["default"], seed=7))) is None


def test_run_table_lists_every_run_with_its_hyperparameters():
    infos = [
        RunInfo(
            "20240101-120000-abcdef",
            "finished",
            "classic",
            asdict(PRESETS["default"]),
            3,
            98.7,
            98.7,
            1.7e9,
            61.0,
        ),
        RunInfo("20240101-110000-012345", "corrupt", message="config.json is missing"),
    ]
    table = run_table(infos)
    assert list(table["run"]) == [i.id for i in infos]
    first = table.iloc[0]
    assert first["status"] == "finished" and first["lr"] == 0.01 and first["epochs"] == "3/3"
    assert first["train images"] == 60000 and first["duration"] == "1 min 01 s"
    assert isinstance(first["started"], pd.Timestamp)
    assert (
        table.iloc[1]["status"] == "corrupt"
        and table.iloc[1]["message"] == "config.json is missing"
    )
    assert run_table([]).empty and "best test %" in run_table([]).columns
