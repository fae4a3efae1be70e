"""Metrics (lenet.analysis.metrics) and the predictions table (lenet.analysis.predictions) against
plain-Python reference computations on small random cases."""

import numpy as np
import pandas as pd
import pytest
import torch

from lenet.analysis.metrics import (
    _topk_accuracies,
    confusion_matrix,
    evaluate_classification,
    most_confused_pairs,
    per_class_accuracy,
    topk_accuracies,
)
from lenet.analysis.predictions import (
    PREDICTION_COLUMNS,
    filter_predictions,
    predict,
    prediction_summary,
)
from lenet.models import LeNet5


def test_topk_against_python_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 10, generator=g)
    targets = torch.randint(0, 10, (200,), generator=g)
    got = topk_accuracies(logits, targets, ks=(1, 3, 10))
    for k in (1, 3, 10):
        ref = (
            sum(
                int(t) in sorted(range(10), key=lambda c: -row[c])[:k]
                for row, t in zip(logits.tolist(), targets, strict=True)
            )
            / 200
            * 100
        )
        assert got[k] == pytest.approx(ref)
    assert got[10] == 100.0
    assert _topk_accuracies is topk_accuracies


def test_confusion_matrix_and_per_class_against_loops():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    cm = confusion_matrix(y, p)
    ref = np.zeros((10, 10), dtype=int)
    for t, q in zip(y, p, strict=True):
        ref[t, q] += 1
    assert (cm.numpy() == ref).all()
    acc = per_class_accuracy(cm)
    for c in range(10):
        assert acc[c].item() == pytest.approx(100 * ref[c, c] / ref[c].sum())
    pairs = most_confused_pairs(cm, 3)
    off = ref.copy()
    np.fill_diagonal(off, 0)
    assert pairs[0][2] == off.max() and len(pairs) == 3


@pytest.mark.parametrize(
    "labels, preds, message",
    [
        ([0, 10], [0, -10], "label 10 is not a class"),  # 10·10 - 10 = 90: cell (9, 0) before
        ([4, 4], [4, -1], "prediction -1 is not a class"),  # 4·10 - 1 = 39: cell (3, 9) before
        ([1, 2, 3], [2], "3 labels but 1 predictions"),  # broadcast: three (·, 2) before
    ],
)
def test_confusion_matrix_refuses_what_would_land_in_a_wrong_cell(labels, preds, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(torch.tensor(labels), np.array(preds))


def test_per_class_accuracy_empty_row_is_nan():
    cm = torch.zeros(10, 10, dtype=torch.long)
    cm[0, 0] = 3
    acc = per_class_accuracy(cm)
    assert acc[0] == 100 and torch.isnan(acc[1])


def _tiny_data(n=300):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_evaluate_and_predict_agree():
    torch.manual_seed(0)
    model, (x, y) = LeNet5("classic"), _tiny_data()
    ev = evaluate_classification(model, (x, y), topk=(1, 3), return_predictions=True, batch_size=64)
    logits = model.eval()(x)
    assert ev["loss"] == pytest.approx(
        torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5
    )
    assert torch.equal(ev["predictions"], logits.argmax(1))

    class S:  # anything with .images and .labels works like a Split
        images, labels = x, y

    df = predict(model, S, batch_size=64)
    assert list(df.columns) == PREDICTION_COLUMNS and len(df) == len(y)
    assert (df["prediction"].to_numpy() == ev["predictions"].numpy()).all()
    assert df["correct"].mean() * 100 == pytest.approx(ev["top1"])
    assert df["loss"].mean() == pytest.approx(ev["loss"], rel=1e-4)
    assert (df["p1"] >= df["p2"]).all() and (df["p2"] >= df["p3"]).all()
    cm = confusion_matrix(df["label"].to_numpy(), df["prediction"].to_numpy())
    assert cm.sum() == len(y) and cm.trace() == df["correct"].sum()


def _table():
    return pd.DataFrame(
        {
            "index": range(6),
            "label": [1, 1, 2, 3, 7, 7],
            "prediction": [1, 7, 2, 5, 7, 1],
            "correct": [True, False, True, False, True, False],
            "confidence": [0.99, 0.6, 0.8, 0.4, 0.95, 0.55],
            "loss": [0.01, 2.0, 0.2, 3.0, 0.05, 1.0],
        }
    )


def test_filters():
    df = _table()
    assert filter_predictions(df, "misclassified")["index"].tolist() == [1, 3, 5]
    assert filter_predictions(df, "correct", true=[7])["index"].tolist() == [4]
    assert filter_predictions(df, "all", true=[1], pred=[7])["index"].tolist() == [1]
    assert filter_predictions(df, confidence=(0.5, 0.9))["index"].tolist() == [1, 2, 5]
    assert filter_predictions(df, sort="loss")["index"].tolist() == [3, 1, 5, 2, 4, 0]
    assert filter_predictions(df, sort="confidence")["index"].iloc[0] == 3
    assert filter_predictions(df, true=[9]).empty
    with pytest.raises(ValueError):
        filter_predictions(df, "wrong")


def test_prediction_summary_counts_the_table():
    df = _table().assign(top1=lambda d: d["prediction"], top2=[7, 1, 3, 4, 1, 7], top3=9)
    summary = prediction_summary(df, sure=0.9)
    assert summary["images"] == 6 and summary["misclassified"] == 3
    assert summary["accuracy"] == pytest.approx(50.0)
    assert summary["top3"] == pytest.approx(100 * 5 / 6)  # the 3 read as 5, 4, 9 is the miss
    assert summary["sure_right"] == pytest.approx(100 * 2 / 3)  # 0.99 and 0.95, not 0.8
    assert summary["sure_wrong"] == 0.0
