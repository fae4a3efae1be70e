"""When each digit was learned: a run's checkpoints' predictions side by side."""

import types

import numpy as np
import pandas as pd
import pytest
import torch

from lenet.analysis.history import NEVER, learning_history
from lenet.analysis.predictions import (
    PREDICTION_COLUMNS,
    cached_predict,
    filter_predictions,
    with_history,
)
from lenet.models import build_model
from lenet.runs import RunStore
from lenet.training import TrainConfig

# Five digits over epochs 0..3 (1 = read right): digit 0 learned at 1 and kept; 1 right by
# chance at 0, forgotten at 1 and 2, learned back at 3; 2 never; 3 at 2; 4 at 0, forgotten at 2.
RIGHT = np.array([[0, 1, 1, 1], [1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 0, 1]], bool)


def _table(correct: np.ndarray, loss: np.ndarray) -> dict:
    n = len(correct)
    labels = np.arange(n) % 10
    prediction = np.where(correct, labels, (labels + 1) % 10)
    table = {c: np.zeros(n) for c in PREDICTION_COLUMNS}
    table.update(index=np.arange(n), label=labels, prediction=prediction, correct=correct,
                 loss=loss, confidence=np.full(n, 0.5))  # fmt: skip
    return table


@pytest.fixture
def run(tmp_path):
    store = RunStore(tmp_path)
    r = store.create(TrainConfig().__dict__)
    for epoch in range(4):
        r.save_epoch(epoch, build_model("classic"), None, TrainConfig(), None)
        path = r.cache_path("predictions", epoch, ".npz")
        np.savez(path, **_table(RIGHT[:, epoch], np.full(5, 4.0 - epoch, np.float32)))
    return r


SPLIT = types.SimpleNamespace(labels=torch.arange(5) % 10, images=torch.zeros(5, 1, 32, 32))


def test_first_right_epoch_forgotten_epochs_and_losses(run):
    h = learning_history(run, SPLIT)
    assert h.epochs == (0, 1, 2, 3)
    assert h.learned_at.tolist() == [1, 0, NEVER, 2, 0]
    assert h.times_forgotten.tolist() == [0, 2, 0, 0, 1]
    assert h.forgotten_epochs(1) == [1, 2] and h.forgotten_epochs(4) == [2]
    assert h.forgotten_epochs(2) == []  # never right, so never forgotten
    assert h.learned_per_epoch() == {0: 2, 1: 1, 2: 1, 3: 0}
    assert h.forgotten_per_epoch() == {0: 0, 1: 1, 2: 2, 3: 0}
    np.testing.assert_array_equal(h.loss[0], [4, 3, 2, 1])


def test_the_history_as_it_stood_at_an_epoch(run):
    h = learning_history(run, SPLIT).until(1)
    assert h.epochs == (0, 1) and h.learned_at.tolist() == [1, 0, NEVER, NEVER, 0]
    assert h.times_forgotten.tolist() == [0, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="no checkpoint at or before epoch -1"):
        h.until(-1)


def test_a_missing_or_damaged_cache_is_predicted_from_the_checkpoint(run):
    run.cache_path("predictions", 2, ".npz").write_bytes(b"damaged")
    run.cache_path("predictions", 3, ".npz").unlink()
    seen = []
    h = learning_history(run, SPLIT, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    model = run.load_model(2)
    fresh = cached_predict(model, SPLIT, run.path / "x.npz")
    np.testing.assert_array_equal(h.correct[:, 2], fresh["correct"].to_numpy())
    assert run.cache_path("predictions", 3, ".npz").is_file()  # kept for the next viewer


def test_filters_and_sort_by_when_a_digit_was_learned(run):
    h = learning_history(run, SPLIT)
    df = with_history(pd.DataFrame(_table(RIGHT[:, 3], np.zeros(5, np.float32))), h)
    assert filter_predictions(df, "forgotten")["index"].tolist() == [1, 4]
    assert filter_predictions(df, learned=0)["index"].tolist() == [1, 4]
    assert filter_predictions(df, learned=NEVER)["index"].tolist() == [2]
    assert filter_predictions(df, sort="learned")["index"].tolist() == [1, 4, 0, 3, 2]
    plain = pd.DataFrame(_table(RIGHT[:, 3], np.zeros(5, np.float32)))
    with pytest.raises(ValueError, match="needs their learning history"):
        filter_predictions(plain, "forgotten")
    with pytest.raises(ValueError, match="unknown filter 'lost'"):
        filter_predictions(df, "lost")
