"""The dashboard's helpers that need no Streamlit (dashboard/formatting.py, train_form.py,
prediction_params.py): numbers in words, metric cards, the runs table, the Train form's ladder and
lessons, and the Predictions page's view as URL query parameters."""

import math
from dataclasses import asdict, replace
from itertools import pairwise

import pandas as pd
import pytest

from formatting import (
    final_metrics,
    format_duration,
    live_metrics,
    median_duration,
    pct,
    plural,
    run_label,
    run_table,
)
from lenet import plots
from lenet.runs import RunInfo, outcome
from lenet.training import LESSONS, PRESETS, TYPICAL_SECONDS, TrainConfig, lesson_of
from prediction_params import PAGE_SIZES, paginate, parse_prediction_params
from test_curves import EVENTS
from train_form import FORM_FIELDS, LR_CHOICES, nearest_lr, preset_duration


def test_plural_says_one_run_and_two_runs():
    said = [plural(n, "run") for n in (0, 1, 2, 1500)]
    assert said == ["0 runs", "1 run", "2 runs", "1,500 runs"]
    assert [plural(n, "class", "classes") for n in (1, 2)] == ["1 class", "2 classes"]


def test_lr_ladder_is_log_spaced_and_holds_every_preset():
    assert LR_CHOICES[0] == 1e-4 and LR_CHOICES[-1] == 10.0
    assert list(LR_CHOICES) == sorted(LR_CHOICES)
    steps = [math.log10(b / a) for a, b in pairwise(LR_CHOICES)]
    assert max(steps) < 0.41  # 1-2-3-5: never more than a factor 2.5 between neighbours
    for preset in PRESETS.values():
        assert preset.lr in LR_CHOICES
    assert nearest_lr(0.0007) == 5e-4 and nearest_lr(0.0008) == 1e-3 and nearest_lr(50) == 10.0
    assert nearest_lr(float("nan")) in LR_CHOICES


def test_final_metrics_show_an_ended_runs_outcome():
    assert dict(final_metrics(outcome(EVENTS))) == {
        "Test accuracy (top-1)": "80.00 %",
        "Test top-3": "95.00 %",
        "Training time": "3.0 s",
        "Images / s": "640",
    }
    assert dict(final_metrics(outcome([])))["Test top-3"] == "–"


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


def test_pct_has_a_dash_for_nothing():
    assert pct(98.765) == "98.77 %" and pct(98.765, 1) == "98.8 %" and pct(None) == "–"


def test_lesson_of_recognises_each_preset_and_nothing_else():
    assert "recipe" in FORM_FIELDS  # paper and paper-fast differ from each other only there
    for name in LESSONS:
        assert lesson_of(asdict(PRESETS[name])) == name
    assert lesson_of(asdict(replace(PRESETS["default"], seed=7))) is None
    older = {k: v for k, v in asdict(PRESETS["default"]).items() if k != "recipe"}
    assert lesson_of(older) == "default"  # a run stored before recipes existed


def _info(run_id: str, status: str, duration: float | None, **config) -> RunInfo:
    cfg = asdict(replace(PRESETS["default"], **config))
    return RunInfo(run_id, status, cfg["variant"], cfg, 3, 98.7, 98.7, 1.7e9, duration)


def test_preset_duration_prefers_this_servers_finished_runs():
    assert preset_duration("quick", []) == (
        f"about {format_duration(TYPICAL_SECONDS['quick'])} on a 2-core machine"
    )
    infos = [
        _info("20240101-120000-000001", "finished", 30.0),
        _info("20240101-120000-000002", "finished", 50.0),
        _info("20240101-120000-000003", "stopped", 5.0),  # not a whole run
        _info("20240101-120000-000004", "finished", 99.0, seed=7),  # not the preset
    ]
    assert median_duration(infos[:3]) == 40.0 and median_duration([]) is None
    assert preset_duration("default", infos) == "about 40 s here (median of 3 runs)"


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
    assert run_label(infos[0]) == "Teacher · 20240101-120000-abcdef · classic · finished · 98.70%"
    assert run_label(infos[1]).endswith("corrupt · no test yet")


def test_a_trainconfig_is_all_the_form_needs():
    assert set(FORM_FIELDS) <= set(asdict(TrainConfig()))


# ------------------------------------------------ the Predictions page's view as query parameters
@pytest.mark.parametrize(
    "total, page, size, expected",
    [
        (137, 1, 50, (1, 3, 0, 50)),
        (137, 3, 50, (3, 3, 100, 137)),
        (137, 9, 50, (3, 3, 100, 137)),
        (137, 0, 50, (1, 3, 0, 50)),
        (0, 4, 50, (1, 1, 0, 0)),
        (9_900, 2, 100, (2, 99, 100, 200)),
    ],
)
def test_paginate(total, page, size, expected):
    p = paginate(total, page, size)
    assert (p.number, p.pages, p.start, p.stop) == expected and p.total == total


def test_query_params_typed_or_noted():
    good, notes = parse_prediction_params(
        {
            "show": ["misclassified"],
            "true": ["3", "5", "x", "12"],
            "pred": ["9"],
            "conf": ["20", "90"],
            "sort": ["loss"],
            "size": ["100"],
            "page": ["2"],
            "cell": ["4-9"],
            "sample": ["123"],
        }
    )
    assert parse_prediction_params({"conf": ["90", "20"]})[0] == {
        "conf": (20, 90)
    }  # reversed: still a range
    assert good == {
        "show": "misclassified",
        "true": [3, 5],
        "pred": [9],
        "conf": (20, 90),
        "sort": "loss",
        "size": 100,
        "page": 2,
        "cell": (4, 9),
        "sample": 123,
    }
    assert notes == ["ignored true=x&12: expected classes 0-9"]
    good, notes = parse_prediction_params(
        {
            "show": ["wrong"],
            "conf": ["0.9", "0.2"],
            "sort": ["best"],
            "size": ["7"],
            "page": ["-1"],
            "cell": ["4-10"],
            "sample": ["10000"],
            "unrelated": ["1"],
        }
    )
    assert good == {} and len(notes) == 7
    assert any("sample=10000" in n and "0 to 9999" in n for n in notes)
    assert 7 not in PAGE_SIZES


def test_a_live_page_redraws_only_when_what_it_shows_changed():
    from board_view import page_changed

    asked = []

    def board():
        asked.append(1)
        return {"spotlight": "run-b", "jobs": []}

    spotlight = lambda b: b["spotlight"]  # noqa: E731 - what a follower's page depends on
    assert not page_changed(3, 3, spotlight, "run-a", board) and not asked  # nothing moved
    assert not page_changed(None, 3, None, None, board)  # its first poll: nothing to compare
    assert page_changed(3, 4, None, None, board)  # a page that depends on the whole class
    assert page_changed(3, 4, spotlight, "run-a", board)  # the teacher spotlit another run
    assert not page_changed(3, 4, spotlight, "run-b", board)  # a move elsewhere in the class
    assert len(asked) == 2


def test_a_frozen_live_fragment_is_noticed_but_not_in_a_background_tab():
    from board_view import stalled

    live = {"live_view": (1.0, 100.0)}  # a 1 s fragment that last ran at t = 100 s
    assert not stalled(live, last_poll=108.0, now=109.0)  # 9 s: late, not yet frozen
    assert stalled(live, last_poll=108.0, now=111.0)  # 11 s while the poll kept its 2 s
    assert not stalled(live, last_poll=90.0, now=111.0)  # the poll slept too: a hidden tab
    assert not stalled(live, last_poll=None, now=111.0)  # the first poll has nothing to go by
    assert not stalled({}, last_poll=108.0, now=111.0)  # a page without a live fragment
    assert not stalled({"queued_view": (4.0, 100.0)}, last_poll=118.0, now=119.0)  # 19 < 5 × 4
    assert stalled({"queued_view": (4.0, 100.0)}, last_poll=118.0, now=121.0)


def test_a_units_sum_is_written_with_the_numbers_explain_unit_gives():
    import torch

    from layer_view import sum_text
    from lenet import explain_unit
    from lenet.models import build_model

    model = build_model("classic", "xavier", seed=2).eval()
    x = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    got = explain_unit(model, x, "C1", (1, 5, 6))
    text = sum_text(got)
    summed = float(got["products"].sum())
    for number in (summed, got["bias"], got["pre_activation"], got["activation"]):
        assert f"{number:.3f}" in text
    assert "1 input map × 5×5" in text and "**tanh**" in text
    paper = build_model("paper", "paper", seed=2).eval()
    s2 = sum_text(explain_unit(paper, x, "S2", (0, 1, 1)))
    assert "The sum of the 4 values" in s2 and "coefficient" in s2 and "**squash**" in s2
    rbf = sum_text(explain_unit(paper, x, "OUTPUT", 3))
    assert "distance to class 3's bitmap" in rbf
