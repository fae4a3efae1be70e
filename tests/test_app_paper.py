"""AppTest for the Paper page: with no runs, and with one small paper-fast run."""

from dataclasses import replace

from streamlit.testing.v1 import AppTest

from app_utils import open_page
from lenet.runs import RunStore
from lenet.training import PRESETS, train


def _render() -> AppTest:
    at = open_page("paper").run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error
    return at


def test_paper_page_without_runs(tmp_path, use_runs):
    use_runs(tmp_path)
    at = _render()
    layers = at.dataframe[0].value
    assert list(layers["layer"]) == ["C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"]
    assert list(layers["match"]) == ["✓"] * 6 + ["—"]
    assert [m.value for m in at.metric][:3] == ["60,000", "60,000", "6 of 6"]
    assert sum("no paper-variant run yet" in i.value.lower() for i in at.info) == 2
    changes = at.dataframe[1].value.set_index("stage")
    assert changes.loc["best stored test accuracy"].tolist() == ["—", "—", "—"]
    assert changes.loc["parameters", "paper"] == "60,000"
    # the bitmaps' caption states the closest pair as measured from the bitmaps themselves
    assert any(
        "closest pair, 0 and 6, differ in 18 of the 84 values" in c.value for c in at.caption
    )


def test_paper_page_with_a_paper_fast_run(tmp_path, use_runs):
    cfg = replace(PRESETS["paper-fast"], epochs=1, train_subset=1000, batch_size=16, threads=1)
    result = train(cfg, store=RunStore(tmp_path))
    distorted = train(replace(cfg, distort=True), store=RunStore(tmp_path))
    assert result.status == distorted.status == "finished"
    use_runs(tmp_path)
    at = _render()
    # kernels, error and comparison all have a run to show; only the ladder is not measured
    assert [i.value for i in at.info if "No ladder has been measured" not in i.value] == []
    shown = {m.label: m.value for m in at.metric}
    # each compared with its own figure of the paper: 0.95 % plain, 0.8 % with distortions
    assert (
        shown["Best reproduction (1 pass; paper 0.95 %)"]
        == f"{100 - result.final['test_acc']:.2f} %"
    )
    assert (
        shown["With distortions (1 pass; paper 0.8 %)"]
        == f"{100 - distorted.final['test_acc']:.2f} %"
    )
    changes = at.dataframe[1].value.set_index("stage")
    assert changes.loc["best stored test accuracy", "paper"].endswith("after 1 epoch")
    assert changes.loc["best stored test accuracy", "classic"] == "—"


def test_paper_page_without_a_ladder_lists_its_steps_and_how_to_measure_them(tmp_path, use_runs):
    use_runs(tmp_path)
    at = _render()
    assert any("python -m lenet ladder --quick" in i.value for i in at.info)
    steps = at.table[0].value
    assert list(steps.index) == list(range(10))
    assert steps["change"].iloc[0] == "the 1998 network and recipe"
    assert set(steps["test error"]) == {"—"}


def test_paper_page_shows_the_measured_ladder_from_its_runs(tmp_path, use_runs):
    from lenet.runs.ladder import climb

    store = RunStore(tmp_path)
    record = climb(quick=True, only=["tanh", "inputs"], store=store, train_subset=300, threads=1)
    use_runs(tmp_path)
    at = _render()
    assert not any("No ladder has been measured" in i.value for i in at.info)
    steps = at.table[0].value
    for row in record["steps"]:
        info = store.get(row["runs"][0]).info()
        assert steps.loc[row["step"], "test error"] == f"{100 - info.last_test_acc:.2f} %"
        assert steps.loc[row["step"], "network"] == info.variant
    assert steps.loc[0, "test error"] == "—"  # not climbed this time
    assert any("3 passes over the 60,000 training digits, 1 seed per step" in c.value
               for c in at.caption)  # fmt: skip
