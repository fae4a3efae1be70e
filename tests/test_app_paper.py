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
    assert not at.info  # kernels, error and comparison all have a run to show
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
