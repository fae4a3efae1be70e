"""Network health (``lenet.analysis.health``): the record's shape and its numbers against the
activations and PyTorch's own ops, saturation and dead units in models built to have them,
the records a training run writes with its checkpoints, and runs from before they existed."""

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import lenet.analysis.health as health_mod
import lenet.training.loop as train_mod
from lenet import plots
from lenet.analysis.health import (
    BINS,
    HEALTH_LAYERS,
    PROBE_SIZE,
    activation_kind,
    health,
    live_health,
    probe_batch,
)
from lenet.analysis.introspection import activations
from lenet.data import MnistUnavailable, load_split
from lenet.models import build_model
from lenet.models.paper import A
from lenet.runs import RunStore
from lenet.training import TrainConfig, train
from test_train import _synthetic_split

X = torch.randn(64, 1, 32, 32, generator=torch.Generator().manual_seed(0))  # (N, 1, 32, 32)


def _scaled(model, factor: float):
    """``model`` with every weight and bias times ``factor``."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model


def _alike(a: dict, b: dict) -> bool:
    """Two records of one set of weights: equal but for values on a bin edge or the threshold,
    which the trainer's channels_last layout rounds differently from a loaded checkpoint."""
    assert a["probe"] == b["probe"] and a["layers"].keys() == b["layers"].keys()
    for name, la in a["layers"].items():
        lb = b["layers"][name]
        assert la["share"] == pytest.approx(lb["share"], abs=1e-4), name
        for which in ("activations", "weights"):
            if la[which] is None:
                assert lb[which] is None
                continue
            ca, cb = np.array(la[which]["counts"]), np.array(lb[which]["counts"])
            assert la[which]["edges"] == pytest.approx(lb[which]["edges"], rel=1e-4, abs=1e-6)
            assert ca.sum() == cb.sum() and np.abs(ca - cb).sum() <= 1e-4 * ca.sum() + 2, name
    return True


def _finite_json(record: dict) -> str:
    return json.dumps(record, allow_nan=False)  # strict JSON: a NaN would raise


# ------------------------------------------------------------------------------ the record
@pytest.mark.parametrize(
    ("variant", "init", "measure", "bound"),
    [("classic", "xavier", "saturated", 1.0), ("modern", "default", "dead", None),
     ("paper", "paper", "saturated", A)],
)  # fmt: skip
def test_a_record_has_every_layer_with_histograms_that_count_its_values(
    variant, init, measure, bound
):
    model = build_model(variant, init, seed=0)
    record = health(model, X)
    acts = activations(model, X)
    assert list(record["layers"]) == list(HEALTH_LAYERS) == ["C1", "S2", "C3", "S4", "C5", "F6"]
    assert record["probe"] == {"split": "test", "first": 64}
    assert set(record["shares"]) == {measure}
    for name, layer in record["layers"].items():
        a = acts[name]
        assert layer["units"] == a[0].numel()
        hist = layer["activations"]
        assert len(hist["edges"]) == BINS + 1 and len(hist["counts"]) == BINS
        assert sum(hist["counts"]) == a.numel()  # every value of every probe digit, once
        span = (hist["edges"][0], hist["edges"][-1])
        reference, _ = np.histogram(a.numpy(), bins=BINS, range=span)
        assert np.abs(reference - np.array(hist["counts"])).sum() <= 2  # rounding at bin edges
        assert hist["mean"] == pytest.approx(a.mean().item(), rel=1e-4, abs=1e-6)
        assert layer["measure"] == measure and layer["share"] == record["shares"][measure][name]
        if bound is not None:  # a tanh layer's bins span its whole range, whatever the epoch
            assert (hist["edges"][0], hist["edges"][-1]) == pytest.approx((-bound, bound))
        weights = [p for n, p in getattr(model, name).named_parameters() if not n.endswith("bias")]
        if weights:
            assert sum(layer["weights"]["counts"]) == sum(p.numel() for p in weights)
        else:
            assert layer["weights"] is None
    assert len(_finite_json(record)) < 20_000  # small: a few KB per epoch


def test_the_record_is_the_same_every_time_and_leaves_the_model_as_it_was():
    model = build_model("classic", "xavier", seed=0).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first, second = health(model, X), health(model, X)
    assert first == second
    assert model.training  # the trainer's model stays in training mode
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert live_health(model, X) == first["shares"]  # the live numbers are the record's


def test_the_probe_is_the_first_digits_of_the_test_split(real_raw):
    test = load_split("test")
    probe = probe_batch()
    assert probe.shape == (PROBE_SIZE, 1, 32, 32) and torch.equal(probe, test.images[:PROBE_SIZE])
    assert len(torch.unique(test.labels[:PROBE_SIZE])) == 10  # every class is in it
    paper = probe_batch(normalization="paper")
    assert torch.equal(paper, load_split("test", "paper").images[:PROBE_SIZE])


def test_each_variant_measures_what_its_activations_can_lose():
    kinds = {v: activation_kind(build_model(v)) for v in ("classic", "modern", "paper")}
    assert set(kinds["classic"].values()) == {("saturated", 1.0)}
    assert set(kinds["paper"].values()) == {("saturated", A)}
    # max-pooling a ReLU layer's maps: a pooled unit is dead when its four inputs are
    assert set(kinds["modern"].values()) == {("dead", None)}


# ------------------------------------------------------------------------ saturation, dead
def test_huge_weights_saturate_every_tanh_unit_and_tiny_ones_none():
    huge = health(_scaled(build_model("paper", "paper", seed=0), 1e4), X)["shares"]["saturated"]
    assert all(share > 0.99 for share in huge.values()), huge
    tiny = health(_scaled(build_model("paper", "paper", seed=0), 1e-4), X)["shares"]["saturated"]
    assert all(share == 0.0 for share in tiny.values()), tiny


def test_the_classic_subsampling_can_never_saturate():
    # S2 and S4 take tanh of an average of tanh outputs: at most tanh(1) = 0.76 < 0.97
    shares = health(_scaled(build_model("classic", "xavier", seed=0), 1e4), X)["shares"]
    saturated = shares["saturated"]
    assert math.tanh(1.0) < 0.97
    assert saturated["S2"] == saturated["S4"] == 0.0
    assert all(saturated[name] > 0.99 for name in ("C1", "C3", "C5", "F6")), saturated


def test_a_large_negative_bias_kills_the_relu_units_after_it():
    model = build_model("modern", "default", seed=0)
    with torch.no_grad():
        model.C1.conv.bias.fill_(-1e3)
    dead = health(model, X)["shares"]["dead"]
    assert dead["C1"] == dead["S2"] == 1.0  # and max-pooling zeros gives zeros
    # C3 then sees only zeros: each of its units is relu(its map's bias), dead where that is <= 0
    assert dead["C3"] == pytest.approx((model.C3.conv.bias <= 0).float().mean().item())


def test_dead_units_are_those_zero_for_every_probe_digit():
    model = build_model("modern", "default", seed=1)
    record = health(model, X)
    acts = activations(model, X)
    for name in HEALTH_LAYERS:
        reference = (acts[name] == 0).all(dim=0).float().mean().item()
        assert record["shares"]["dead"][name] == pytest.approx(reference, abs=1e-6)


def test_zero_weights_make_every_unit_alike_and_nan_weights_stay_valid_json():
    zero = build_model("classic", "xavier", seed=0)
    with torch.no_grad():
        for p in zero.parameters():
            p.zero_()
    record = health(zero, X)
    for layer in record["layers"].values():
        assert layer["activations"]["std"] == 0.0 and layer["share"] == 0.0
        assert sum(c > 0 for c in layer["activations"]["counts"]) == 1  # one bin: all alike
    broken = build_model("classic", "xavier", seed=0)
    with torch.no_grad():
        broken.F6.fc.weight.fill_(float("nan"))
    record = health(broken, X)
    f6 = record["layers"]["F6"]
    assert f6["share"] is None and "F6" not in record["shares"]["saturated"]
    assert f6["activations"]["nonfinite"] == X.shape[0] * 84 and f6["weights"]["nonfinite"] > 0
    _finite_json(record)


# ----------------------------------------------------------------------- a training run
@pytest.fixture
def tiny(monkeypatch):
    """Synthetic digits for the trainer and for records made from a checkpoint later; every
    "batch" event measures the live health (no waiting for the clock)."""
    data = {"train": _synthetic_split(640, 0), "test": _synthetic_split(200, 1)}
    load = lambda split, normalization="mnist": data[split]  # noqa: E731
    monkeypatch.setattr(train_mod, "load_split", load)
    monkeypatch.setattr(health_mod, "load_split", load)
    monkeypatch.setattr(train_mod, "HEALTH_EVERY_S", 0.0)
    return data


CFG = TrainConfig(epochs=2, batch_size=32, lr=3e-3, log_every=2, threads=1)


def test_a_run_writes_a_record_with_every_checkpoint_and_live_shares_in_its_events(tiny, tmp_path):
    store = RunStore(tmp_path)
    result = train(CFG, store=store)
    run = store.get(result.run_id)
    files = sorted(p.name for p in (run.path / "health").iterdir())
    assert files == ["epoch_000.json", "epoch_001.json", "epoch_002.json"]
    records = run.health()
    assert sorted(records) == run.epochs() == [0, 1, 2]
    probe = probe_batch(tiny["test"])
    untrained = build_model(CFG.variant, CFG.init, seed=CFG.seed)  # the weights of epoch 0
    assert _alike(records[0], health(untrained, probe))
    assert _alike(records[2], health(run.load_model(2), probe))
    assert records[2] != records[0]
    batches = [e for e in result.history if e["type"] == "batch"]
    assert batches and all(set(b["health"]["saturated"]) == set(HEALTH_LAYERS) for b in batches)
    assert [e for e in run.events() if e["type"] == "batch"] == batches  # kept in the log too
    fig = plots.live_health_figure(batches, 20, x_max=2)
    assert go.Figure(fig.to_dict()).to_dict() == fig.to_dict()  # built unvalidated, yet valid
    assert [t.name for t in fig.data] == list(HEALTH_LAYERS)
    start = plots.live_health_figure(batches, 20, start=records[0]["shares"])
    assert (
        start.data[0].x[0] == 0
        and start.data[0].y[0] == 100 * records[0]["shares"]["saturated"]["C1"]
    )  # the untrained network's record, at step 0
    last = batches[-1]["health"]["saturated"]
    assert [fig.data[i].y[-1] for i in range(6)] == [100 * last[n] for n in HEALTH_LAYERS]


def test_a_run_shorter_than_the_health_interval_still_ends_each_epoch_on_a_measurement(
    tiny, monkeypatch, tmp_path
):
    """A run of a second or two gets one reading by the clock; the last "batch" event of each
    epoch measures too, so "at the end" on the Train page is the end, and matches the epoch's
    health record."""
    monkeypatch.setattr(train_mod, "HEALTH_EVERY_S", 3600.0)  # the clock alone: only the first
    store = RunStore(tmp_path)
    result = train(CFG, store=store)
    batches = [e for e in result.history if e["type"] == "batch"]
    measured = [b for b in batches if "health" in b]
    ends = [max((b for b in batches if b["epoch"] == e), key=lambda b: b["step"]) for e in (1, 2)]
    assert all("health" in b for b in ends)
    assert len(measured) == 3  # the first by the clock, then each epoch's last
    record = store.get(result.run_id).health()[2]
    assert ends[-1]["health"]["saturated"] == pytest.approx(record["shares"]["saturated"])


def test_a_run_that_blows_up_shows_its_units_pinned_at_the_ends(tiny):
    result = train(replace(CFG, optimizer="sgd", lr=1e3, schedule="constant"))
    assert result.status == "diverged"
    spike = [e for e in result.history if e["type"] == "batch"][-1]
    assert all(spike["health"]["saturated"][n] > 0.9 for n in ("C1", "C3", "C5", "F6")), spike


def test_a_run_from_before_records_gets_them_from_its_checkpoints_and_keeps_them(tiny, tmp_path):
    store = RunStore(tmp_path)
    run = store.get(train(CFG, store=store).run_id)
    written = run.health()
    shutil.rmtree(run.path / "health")  # as runs trained before records were kept
    (run.path / "health").mkdir()
    (run.path / "health" / "epoch_001.json").write_text('{"version": 0}')  # another version
    remade = run.health()
    assert sorted(remade) == sorted(written) and all(_alike(remade[e], written[e]) for e in remade)
    assert sorted(p.name for p in (run.path / "health").iterdir()) == [
        "epoch_000.json", "epoch_001.json", "epoch_002.json",
    ]  # fmt: skip


def test_epochs_whose_record_cannot_be_made_are_left_out(tiny, tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    run = store.get(train(CFG, store=store).run_id)
    shutil.rmtree(run.path / "health")
    (run.path / "checkpoints" / "epoch_001.pt").write_bytes(b"not a checkpoint")
    assert sorted(run.health()) == [0, 2]

    def no_mnist(*args, **kwargs):
        raise MnistUnavailable(tmp_path, [])

    shutil.rmtree(run.path / "health")
    monkeypatch.setattr(health_mod, "load_split", no_mnist)
    assert run.health() == {}  # nothing to measure on: nothing recorded, nothing raised


# ------------------------------------------------------------------------------ figures
def test_the_figures_draw_the_records_numbers():
    records = {
        e: health(_scaled(build_model("classic", "xavier", seed=0), 1 + 3 * e), X)
        for e in (0, 1, 2)
    }
    shares = plots.health_shares_figure(records, mark=1)
    c1 = next(t for t in shares.data if t.name == "C1")
    assert list(c1.x) == [0, 1, 2]
    assert list(c1.y) == [100 * records[e]["shares"]["saturated"]["C1"] for e in (0, 1, 2)]
    acts = plots.health_histograms_figure(records, "activations")
    assert [t.type for t in acts.data] == ["heatmap"] * 6
    c1_heat = acts.data[0]
    counts = np.array(records[2]["layers"]["C1"]["activations"]["counts"])
    # a tanh layer's bins are the same every epoch: the colours are its own counts' shares
    assert np.allclose(np.asarray(c1_heat.customdata)[:, 2], 100 * counts / counts.sum())
    weights = plots.health_histograms_figure(records, "weights")
    assert len(weights.data) == 4  # C1, C3, C5, F6: the classic subsampling has no weights
    for heat in weights.data:  # each column of a layer spreads its epoch's weights over the grid
        assert np.allclose(np.nansum(np.asarray(heat.customdata), axis=0), 100)


def test_rebinning_keeps_each_histograms_total_and_where_its_values_are():
    h = {"edges": [0.0, 1.0, 2.0], "counts": [4, 6]}
    edges = plots.common_bins([h, {"edges": [0.0, 2.0, 4.0], "counts": [1, 1]}], bins=4)
    assert list(edges) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert list(plots.health._rebin(h, edges)) == [4.0, 6.0, 0.0, 0.0]
