"""AppTest for the Predictions page: every kind of filter, shared links, and what goes wrong."""

import shutil

import pytest
from streamlit.testing.v1 import AppTest

import app_utils
from lenet.analysis.metrics import confusion_matrix, most_confused_pairs
from lenet.analysis.predictions import filter_predictions
from lenet.data import load_split
from lenet.runs import RunStore
from lenet.training import TrainConfig, train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(runs folder, run id, the table the page should show) for one 2,000-image, 1-epoch run."""
    root = tmp_path_factory.mktemp("runs")
    result = train(
        TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1), store=RunStore(root)
    )
    assert result.status == "finished"
    from lenet.analysis.predictions import predict

    table = predict(RunStore(root).get(result.run_id).load_model(1), load_split("test"))
    return root, result.run_id, table


def open_page(params: dict | None = None) -> AppTest:
    return app_utils.open_page("predictions", params, default_timeout=120).run()


def texts(at, kinds=("info", "warning", "error")) -> str:
    return " ".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def grid_caption(at) -> str:
    return next((c.value for c in at.caption if c.value.startswith("Digits ")), "")


def test_default_view_shows_the_mistakes(runs, use_runs):
    root, run_id, table = runs
    use_runs(root)
    at = open_page()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    wrong = int((~table["correct"]).sum())
    assert metrics["Accuracy"] == f"{100 * table['correct'].mean():.2f} %"
    assert metrics["Misclassified"] == f"{wrong:,}"
    assert grid_caption(at).startswith(f"Digits 1–50 of {wrong:,}")
    assert at.query_params["run"] == run_id and at.query_params["epoch"] == "1"
    assert at.download_button[0].label == f"Download these {wrong:,} rows (CSV)"
    assert "Click a digit" in grid_caption(at)


FILTERS = [  # (query parameters, the filter_predictions arguments they mean)
    ({"show": "all"}, dict(which="all")),
    ({"show": "correct", "true": ["4", "7"]}, dict(which="correct", true=[4, 7])),
    ({"pred": "8", "sort": "loss"}, dict(which="misclassified", pred=[8], sort="loss")),
    (
        {"show": "all", "conf": ["60", "0"], "sort": "confidence"},
        dict(which="all", confidence=(0, 0.6), sort="confidence"),
    ),  # reversed
    ({"show": "all", "size": "200", "page": "2"}, dict(which="all")),
    ({"cell": "4-9", "show": "correct"}, dict(cell=(4, 9))),  # a cell overrides show/true/pred
]


@pytest.mark.parametrize("params, meaning", FILTERS, ids=[str(p) for p, _ in FILTERS])
def test_filter_combinations_render(runs, use_runs, params, meaning):
    root, _, table = runs
    use_runs(root)
    at = open_page(params)
    assert not at.exception and not at.warning
    n = len(filter_predictions(table, **meaning))
    size, page = int(params.get("size", 50)), int(params.get("page", 1))
    if n == 0:
        assert "No digit matches" in texts(at)
    else:
        first = (page - 1) * size + 1
        assert grid_caption(at).startswith(f"Digits {first:,}–{min(page * size, n):,} of {n:,}")
    assert at.download_button[0].label == f"Download these {n:,} rows (CSV)"


def test_widget_changes_refilter_and_reset_the_page(runs, use_runs):
    root, _, table = runs
    use_runs(root)
    at = open_page({"show": "all", "page": "3"})
    assert grid_caption(at).startswith("Digits 101–150 of 10,000")
    at.pills(key="true").set_value([2]).run()
    n = int((table["label"] == 2).sum())
    assert not at.exception and grid_caption(at).startswith(f"Digits 1–50 of {n:,}")
    at.slider(key="conf").set_value((95, 100)).run()
    n = int(((table["label"] == 2) & (table["confidence"] >= 0.95)).sum())
    assert grid_caption(at).startswith(f"Digits 1–{min(n, 50)} of {n:,}")


def test_confused_pair_button_filters_to_that_cell_and_clears(runs, use_runs):
    root, _, table = runs
    use_runs(root)
    at = open_page()
    t, p, n = most_confused_pairs(
        confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy()), 1
    )[0]
    at.button(key=f"pair_{t}_{p}").click().run()
    assert not at.exception
    assert grid_caption(at).startswith(f"Digits 1–{min(n, 50)} of {n}")
    assert f"true **{t}** read as **{p}**" in texts(at) and at.query_params["cell"] == f"{t}-{p}"
    assert at.sidebar.pills(key="true").disabled
    next(b for b in at.sidebar.button if b.label == "Clear cell filter").click().run()
    assert "cell" not in at.query_params and not at.sidebar.pills(key="true").disabled


def test_filter_matching_nothing_is_a_friendly_empty_state(runs, use_runs):
    root, _, _ = runs
    use_runs(root)
    at = open_page({"show": "misclassified", "conf": ["100", "100"], "true": "1", "pred": "1"})
    assert not at.exception
    assert "No digit matches these filters" in texts(at)
    assert at.download_button[0].disabled


def test_sample_link_opens_the_closer_look(runs, use_runs):
    root, run_id, table = runs
    use_runs(root)
    at = open_page({"sample": "18"})
    assert not at.exception
    md = " ".join(m.value for m in at.markdown)
    assert f"Predicted **{table.prediction[18]}**" in md and "**C3**" in md
    assert f"Feature_maps?sample=18&run={run_id}" in app_utils.links(at)
    assert len(at.get("plotly_chart")) >= 7  # matrix, bars, histogram, grid, top-3, C1, C3


@pytest.mark.parametrize(
    "params, note",
    [
        ({"sample": "10000"}, "ignored sample=10000"),
        ({"sample": "abc", "cell": "4-99", "sort": "best"}, "ignored cell=4-99"),
        ({"conf": ["90"], "show": "some"}, "ignored show=some"),
        ({"run": "20990101-000000-abcdef"}, "no readable run with that id"),
        ({"show": "all", "page": "999"}, "asked for page 999"),
    ],
)
def test_malformed_links_are_ignored_with_a_note(runs, use_runs, params, note):
    root, _, _ = runs
    use_runs(root)
    at = open_page(params)
    assert not at.exception
    assert note in texts(at, ("warning",))
    assert grid_caption(at).startswith("Digits 1–")  # the page still works


def test_no_run_says_so_and_links_to_train(tmp_path, use_runs):
    use_runs(tmp_path / "empty")
    at = open_page()
    assert not at.exception
    assert "No trained model yet" in texts(at)
    assert app_utils.links(at) == ["Train"]


def test_run_without_checkpoint_is_named(runs, tmp_path, use_runs):
    root, run_id, _ = runs
    copy = shutil.copytree(root / run_id, tmp_path / "runs" / "20000101-000000-aaaaaa")
    shutil.rmtree(copy / "checkpoints")
    shutil.copytree(root / run_id, tmp_path / "runs" / run_id)
    use_runs(tmp_path / "runs")
    at = open_page({"run": copy.name})
    assert not at.exception
    assert "has no checkpoint yet" in texts(at) and grid_caption(at)


def test_damaged_checkpoint_gives_a_clear_message(runs, tmp_path, use_runs):
    root, run_id, _ = runs
    copy = shutil.copytree(root / run_id, tmp_path / "runs" / run_id)
    (copy / "checkpoints" / "epoch_001.pt").write_bytes(b"garbage")
    use_runs(tmp_path / "runs")
    at = open_page()
    assert not at.exception
    assert "could not be loaded" in texts(at, ("error",))
