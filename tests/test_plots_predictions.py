"""The predictions table on a real model and the real test split, its filters and pages, and the
figures built from it (digit grids, confusion matrix), checked against plain-Python references.
"""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from lenet import plots
from lenet.analysis.metrics import confusion_matrix, per_class_accuracy
from lenet.analysis.predictions import filter_predictions, predict, prediction_summary
from lenet.data import load_split
from lenet.plots.images import CORRECT_RGB, WRONG_RGB, GridLayout, compose_grid, to_uint8
from lenet.runs import RunStore
from lenet.training import TrainConfig, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model, test split, predictions table, the run's own test metrics) of a 2,000-image,
    1-epoch run."""
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = train(TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1), store=store)
    assert result.status == "finished"
    model = store.get(result.run_id).load_model()
    split = load_split("test")
    epoch = next(e for e in store.get(result.run_id).events() if e["type"] == "epoch")
    return model, split, predict(model, split), epoch


# ------------------------------------------------------------------------------ predictions table
def test_table_agrees_with_the_trainers_own_evaluation(trained):
    model, split, table, epoch = trained
    assert len(table) == 10_000 and table["index"].tolist() == list(range(10_000))
    assert (table["label"].to_numpy() == split.labels.numpy()).all()
    summary = prediction_summary(table)
    # the trainer measured the same checkpoint with evaluate_classification: same numbers
    assert summary["accuracy"] == pytest.approx(epoch["test_acc"], abs=1e-6)
    assert summary["top3"] == pytest.approx(epoch["test_top3"], abs=1e-6)
    assert summary["misclassified"] == 10_000 - table["correct"].sum() > 0
    assert table["loss"].mean() == pytest.approx(epoch["test_loss"], rel=1e-4)
    assert ((table["confidence"] > 0) & (table["confidence"] <= 1)).all()
    right, wrong = table[table["correct"]], table[~table["correct"]]
    assert summary["sure_right"] == pytest.approx(100 * (right["confidence"] >= 0.9).mean())
    assert summary["sure_wrong"] == pytest.approx(100 * (wrong["confidence"] >= 0.9).mean())
    assert (table["prediction"] == table["top1"]).all() and (
        table["confidence"] == table["p1"]
    ).all()


def test_confusion_matrix_and_per_class_agree_with_the_table(trained):
    _, _, table, _ = trained
    cm = confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy())
    assert cm.sum() == 10_000 and cm.trace() == table["correct"].sum()
    for (t, p), n in table.groupby(["label", "prediction"]).size().items():
        assert cm[t, p] == n
    by_class = table.groupby("label")["correct"].mean().to_numpy() * 100
    assert np.allclose(per_class_accuracy(cm).numpy(), by_class)


def test_cell_filter_is_one_confusion_cell(trained):
    _, _, table, _ = trained
    cm = confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy())
    for cell in [(4, 9), (7, 7), (5, 3)]:
        rows = filter_predictions(table, cell=cell)
        assert len(rows) == cm[cell]
        assert (rows["label"] == cell[0]).all() and (rows["prediction"] == cell[1]).all()
    # the cell narrows the other filters; it never widens them
    assert filter_predictions(table, "correct", cell=(4, 9)).empty


def test_filter_sorts_and_confidence_range(trained):
    _, _, table, _ = trained
    hard = filter_predictions(table, "misclassified", sort="loss")
    assert (~hard["correct"]).all() and hard["loss"].is_monotonic_decreasing
    unsure = filter_predictions(table, confidence=(0.2, 0.6), sort="confidence")
    assert (
        unsure["confidence"].between(0.2, 0.6).all()
        and unsure["confidence"].is_monotonic_increasing
    )
    assert (
        filter_predictions(table, true=[3], pred=[5])["index"].tolist()
        == table[(table.label == 3) & (table.prediction == 5)]["index"].tolist()
    )


def test_grid_image_size_replication_and_borders():
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    colors = np.array([CORRECT_RGB, WRONG_RGB] * 3 + [CORRECT_RGB], np.uint8)
    L = GridLayout(cols=3, rows=3, scale=2)
    grid = compose_grid(digits, L, colors)
    assert grid.shape == (3 * L.cell_h, 3 * L.cell_w, 3) and grid.dtype == np.uint8
    assert L.digit * L.scale >= 56  # the page's promise: at least 56 px per digit
    for i in range(7):
        r, c = divmod(i, 3)
        y0, x0 = r * L.cell_h, c * L.cell_w + L.gap // 2
        tile = grid[y0 : y0 + L.tile, x0 : x0 + L.tile]
        inner = tile[L.border : -L.border, L.border : -L.border]
        # nearest neighbour: every source pixel is a 2x2 block of the same grey, in all channels
        assert (inner[::2, ::2, 0] == digits[i]).all() and (inner[1::2, 1::2, 1] == digits[i]).all()
        assert (inner[::2, 1::2, 2] == digits[i]).all() and (inner[1::2, ::2, 0] == digits[i]).all()
        ring = np.concatenate(
            [
                tile[: L.border].reshape(-1, 3),
                tile[-L.border :].reshape(-1, 3),
                tile[:, : L.border].reshape(-1, 3),
                tile[:, -L.border :].reshape(-1, 3),
            ]
        )
        assert (ring == colors[i]).all()
    assert (grid[2 * L.cell_h :, L.cell_w :] == 255).all()  # cells 7 and 8 are empty background


def _png_of(fig) -> np.ndarray:
    uri = fig.data[0].source
    assert uri.startswith("data:image/png;base64,")  # lossless: never JPEG
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def test_prediction_grid_figure_carries_indices_and_right_colours(trained):
    _, split, table, _ = trained
    rows = filter_predictions(table, "all", sort="loss").iloc[:30]
    fig = plots.prediction_grid(rows, split.raw, cols=10)
    image, markers = fig.data
    assert list(markers.customdata) == rows["index"].tolist()
    L = GridLayout(cols=10, rows=3)
    png = _png_of(fig)
    assert png.shape == (L.height, L.width, 3) and (fig.layout.width, fig.layout.height) == (
        L.width,
        L.height + 8,
    )
    for i, row in enumerate(rows.itertuples()):
        x, y = L.centre(i)
        border = png[int(y - L.tile / 2), int(x)]  # top edge of the tile
        assert tuple(border) == (CORRECT_RGB if row.correct else WRONG_RGB)
        digit = png[int(y - L.tile / 2) + L.border :: 2, int(x - L.tile / 2) + L.border :: 2][
            :28, :28, 0
        ]
        assert (digit == split.raw[row.index].numpy()).all()
        assert (
            fig.layout.annotations[i].text
            == f"{row.label} → {row.prediction} · {100 * row.confidence:.0f}%"
        )
        assert (markers.x[i], markers.y[i]) == (x, y)


def test_show_batch_images_from_a_normalised_batch(trained):
    _, split, _, _ = trained
    x, y = split.images[:12], split.labels[:12]  # (12, 1, 32, 32) normalised, as a DataLoader gives
    back = to_uint8(x)
    assert back.shape == (12, 32, 32)
    assert (
        np.abs(back[:, 2:30, 2:30].astype(int) - split.raw[:12].numpy()).max() <= 1
    )  # padding 2 px
    fig = plots.show_batch_images(x, y, cols=6)
    assert [a.text for a in fig.layout.annotations] == [str(int(v)) for v in y]
    assert _png_of(fig).shape == (
        GridLayout(6, 2, digit=32).height,
        GridLayout(6, 2, digit=32).width,
        3,
    )
    wrong = (y + 1) % 10
    fig = plots.show_batch_images(x, y, preds=wrong)
    assert all(a.font.color == plots.COLORS["wrong"] for a in fig.layout.annotations)


def test_visualize_test_predictions_shows_mistakes_only(trained):
    model, split, table, _ = trained
    fig = plots.visualize_test_predictions(model, split, n=12, misclassified_only=True)
    ids = list(fig.data[1].customdata)
    assert len(ids) == 12 and not table.loc[ids, "correct"].any()
    assert ids == filter_predictions(table, "misclassified", sort="loss")["index"].tolist()[:12]
    fig = plots.visualize_test_predictions(
        model, split, n=5, misclassified_only=False, sort="index"
    )
    assert list(fig.data[1].customdata) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------ summary figures
def test_confusion_scatter_cells_carry_true_and_predicted(trained):
    _, _, table, _ = trained
    cm = confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy())
    fig = plots.confusion_figure(cm)
    (trace,) = fig.data
    assert (
        trace.type == "scatter" and trace.marker.symbol == "square"
    )  # clickable, unlike a heatmap
    assert len(trace.customdata) == 100
    for i, (t, p) in enumerate(trace.customdata):
        assert (t, p) == divmod(i, 10) and (trace.y[i], trace.x[i]) == (t, p)
        assert trace.text[i] == ("" if cm[t, p] == 0 else str(int(cm[t, p])))
    assert trace.selectedpoints is None
    assert plots.confusion_figure(cm, chosen=(4, 9)).data[0].selectedpoints == (49,)
    rows = plots.confusion_figure(cm, normalize=True).data[0].text
    t = int(table["label"].iloc[0])
    assert rows[t * 10 + t] == f"{100 * cm[t, t].item() / cm[t].sum().item():.1f}"


def test_per_class_and_confidence_figures(trained):
    _, _, table, _ = trained
    cm = confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy())
    acc = per_class_accuracy(cm).numpy()
    bars = plots.per_class_figure(acc, cm.sum(1).numpy()).data[0]
    assert np.allclose(bars.y, acc) and list(bars.customdata) == cm.sum(1).tolist()
    assert bars.marker.color[int(acc.argmin())] == plots.COLORS["wrong"]
    right, wrong = plots.confidence_figure(table).data
    assert len(right.x) == table["correct"].sum() and len(wrong.x) == (~table["correct"]).sum()
    assert f"({len(wrong.x):,})" in wrong.name


def test_bench_reports_percentiles(trained):
    _, split, table, _ = trained
    from benchmarks.predictions import bench_predictions_grid

    result = bench_predictions_grid(table, split.raw.numpy(), n=100, repeats=3)
    assert result["digits"] == 100 and result["rows"] == 10_000
    assert 0 < result["filter_grid_p50_ms"] <= result["total_p50_ms"]
