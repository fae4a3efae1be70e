"""The ladder (``lenet.runs.ladder``): ten steps from the 1998 network and recipe to the modern
one, each changing one thing; climbing stores each step as a tagged run and keeps a record the
Paper page reads; the CLI prints its test errors as JSON."""

import json
from dataclasses import asdict, fields

import pytest

from lenet.cli import main
from lenet.models import OPTIONS, architecture_of, get_variant
from lenet.plots import ladder_figure
from lenet.plots.style import COLORS
from lenet.runs import RunStore
from lenet.runs.ladder import FULL_EPOCHS, QUICK_EPOCHS, STEPS, climb, latest, step_configs
from lenet.training import PRESETS, TrainConfig

TINY = {"train_subset": 300, "threads": 1, "log_every": 5}


def _changes(before: TrainConfig, after: TrainConfig) -> dict:
    """What differs between two configurations: the network's options and the other fields."""
    arch = architecture_of(before.variant).changes(architecture_of(after.variant))
    other = {
        f.name: getattr(after, f.name)
        for f in fields(TrainConfig)
        if f.name != "variant" and getattr(before, f.name) != getattr(after, f.name)
    }
    return {**arch, **other}


def test_every_step_changes_exactly_what_it_says_and_nothing_else():
    configs = step_configs()
    assert len(configs) == len(STEPS) == 10
    first, last = configs[0], configs[-1]
    assert (first.variant, first.recipe, first.init) == ("paper", "paper-fast", "paper")
    assert first.epochs == FULL_EPOCHS == 20
    for step, before, after in zip(STEPS[1:], configs, configs[1:], strict=False):
        changed = _changes(before, after)
        was = {**asdict(before), **asdict(architecture_of(before.variant))}
        declared = {k: v for k, v in step.fields.items() if was[k] != v}
        assert changed == declared, step.key
        options = [k for k in changed if k in OPTIONS]
        assert len(options) <= 1, f"{step.key} changes the network in more than one way"
        assert options or step.key in ("adam", "glorot"), step.key
    assert last.variant == "modern"


def test_the_glorot_step_is_the_projects_default_classic_run_and_quick_only_shortens_it():
    glorot = step_configs()[[s.key for s in STEPS].index("glorot")]
    assert asdict(glorot) == asdict(TrainConfig(**{**asdict(PRESETS["default"]), "epochs": 20}))
    quick = step_configs(QUICK_EPOCHS)
    assert {c.epochs for c in quick} == {QUICK_EPOCHS}
    for a, b in zip(quick, step_configs(), strict=True):
        assert {**asdict(a), "epochs": 0} == {**asdict(b), "epochs": 0}


def test_every_step_network_is_one_variant_model_and_the_named_ones_are_where_they_belong():
    names = [c.variant for c in step_configs()]
    assert names[0] == names[1] == "paper"
    assert names[names.index("classic") :].count("classic") == 2  # inputs, then Glorot
    assert all(get_variant(n) for n in names)


def test_climbing_stores_tagged_runs_and_a_record_the_page_reads_back(tmp_path):
    store = RunStore(tmp_path)
    seen = []
    record = climb(quick=True, only=["softmax", "dense-c3"], store=store, on_run=seen.append,
                   **TINY)  # fmt: skip
    assert record["finished"] and record["epochs"] == QUICK_EPOCHS
    assert [row["key"] for row in record["steps"]] == ["softmax", "dense-c3"]
    assert [r["key"] for r in seen] == ["softmax", "dense-c3"]
    for row in record["steps"]:
        (run_id,) = row["runs"]
        run = store.get(run_id)
        assert run.config["ladder"]["key"] == row["key"]
        assert run.config["ladder"]["step"] == row["step"]
        assert run.config["variant"] == row["variant"]
        info = run.info()
        assert info.status == "finished" and info.epochs_done == QUICK_EPOCHS
        assert row["test_error"] == [round(100 - info.last_test_acc, 2)]
        assert row["mean_error"] == row["test_error"][0]
    again = latest(store)
    assert again["ladder"] == record["ladder"]
    assert [row["present"] for row in again["steps"]] == [[True], [True]]
    store.delete(record["steps"][0]["runs"][0])
    assert latest(store)["steps"][0]["present"] == [False]


def test_seeds_repeat_every_step_and_the_record_says_their_spread(tmp_path):
    record = climb(quick=True, seeds=2, only=["inputs"], store=RunStore(tmp_path), **TINY)
    (row,) = record["steps"]
    assert len(row["runs"]) == 2 and len(set(row["runs"])) == 2
    seeds = [RunStore(tmp_path).get(r).config["seed"] for r in row["runs"]]
    assert seeds == [0, 1]
    assert row["spread"] == [min(row["test_error"]), max(row["test_error"])]


def test_no_record_and_a_broken_record_read_as_none(tmp_path):
    store = RunStore(tmp_path)
    assert latest(store) is None
    (tmp_path / ".ladder").mkdir()
    (tmp_path / ".ladder" / "ladder.json").write_text("{not json")
    assert latest(store) is None


@pytest.mark.parametrize(
    "kwargs, words",
    [({"only": ["sdlm"]}, "no ladder step 'sdlm'; the steps are 1998, adam"),
     ({"seeds": 0}, "seeds must be 1 or more")],
)  # fmt: skip
def test_bad_ladder_requests_say_why(tmp_path, kwargs, words):
    with pytest.raises(ValueError, match=words):
        climb(store=RunStore(tmp_path), **kwargs)
    assert not any(tmp_path.iterdir())  # nothing trained, nothing stored


def test_cli_prints_one_json_object_of_test_errors_per_step(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LENET_RUNS_DIR", str(tmp_path))
    assert main(["ladder", "--quick", "--only", "avg-pool", "--train-subset", "300"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["quick"] and out["finished"] and out["epochs"] == QUICK_EPOCHS
    (step,) = out["steps"]
    assert step["key"] == "avg-pool" and step["step"] == 4
    assert step["variant"] == "classic,activation=scaled-tanh,inputs=paper"
    assert 0 < step["test_error"][0] < 100
    with pytest.raises(SystemExit) as stop:
        main(["ladder", "--only", "nope"])
    assert stop.value.code == 2
    assert "no ladder step 'nope'" in capsys.readouterr().err


def test_the_waterfall_floats_each_bar_from_the_step_before():
    steps = [
        {"step": 0, "change": "a", "mean_error": 2.0, "test_error": [2.0], "runs": ["r0"]},
        {"step": 1, "change": "b", "mean_error": 1.5, "test_error": [1.5], "runs": ["r1"]},
        {"step": 2, "change": "c", "mean_error": None, "test_error": [None], "runs": ["r2"]},
        {"step": 3, "change": "d", "mean_error": 1.75, "test_error": [1.5, 2.0], "runs": ["x"]},
    ]  # fmt: skip
    fig = ladder_figure(steps, paper_error=0.95)
    bars = fig.data[0]
    assert list(bars.y) == ["0. a", "1. b", "3. d"]  # an unmeasured step has no bar
    assert list(bars.base) == [0.0, 1.5, 1.5]
    assert list(bars.x) == pytest.approx([2.0, 0.5, 0.25])
    assert list(bars.marker.color) == [COLORS["muted"], COLORS["correct"], COLORS["wrong"]]
    assert [c[0] for c in bars.customdata] == [0, 1, 3]  # the row each bar opens
    assert list(bars.text) == ["2.00 %", "1.50 % (-0.50)", "1.75 % (+0.25)"]
    assert list(fig.data[1].x) == [2.0, 1.5, 1.5, 2.0]  # a dash per seed, several seeds here
