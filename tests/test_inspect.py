"""lenet.analysis.introspection and the figures drawn from it: shapes against the paper,
explanations against models whose answer is known by construction, and the per-epoch replay
(lenet.runs.evolution) against the checkpoints themselves."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

from lenet import plots
from lenet.analysis import introspection as li
from lenet.models import VARIANTS, LeNet5
from lenet.runs import RunStore, evolution, pick_epochs
from lenet.training import TrainConfig, train

PAPER_SHAPES = {
    "C1": (6, 28, 28),
    "S2": (6, 14, 14),
    "C3": (16, 10, 10),
    "S4": (16, 5, 5),
    "C5": (120,),
    "F6": (84,),
    "OUTPUT": (10,),
}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One real run (2,000 images, 1 epoch): checkpoints for epochs 0 and 1."""
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = train(TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1), store=store)
    assert result.status == "finished"
    return store.get(result.run_id)


class RegionSum(nn.Module):
    """Class 0's logit is the sum of the pixels in rows 10..15, cols 12..17; other logits are 0."""

    ROWS, COLS = slice(10, 16), slice(12, 18)

    def forward(self, x):
        s = x[:, 0, self.ROWS, self.COLS].sum((1, 2))
        return torch.cat([s[:, None], torch.zeros(len(x), 9)], dim=1)


# ------------------------------------------------------------------------------ activations
@pytest.mark.parametrize("variant", VARIANTS)
def test_activation_shapes_follow_the_paper_and_output_is_forward(variant):
    torch.manual_seed(0)
    model = LeNet5(variant).eval()
    x = torch.randn(3, 1, 32, 32)
    acts = li.activations(model, x)
    assert list(acts) == list(li.LAYERS)
    assert {k: tuple(v.shape[1:]) for k, v in acts.items()} == PAPER_SHAPES
    with torch.no_grad():
        assert torch.allclose(acts["OUTPUT"], model(x), atol=1e-6)


def test_activations_of_concurrent_viewers_do_not_mix():
    # One cached model serves every browser: two threads at once must each get their own maps.
    torch.manual_seed(0)
    model = LeNet5("classic").eval()
    inputs = [torch.randn(1, 1, 32, 32) for _ in range(2)]
    expected = [li.activations(model, x)["C3"] for x in inputs]
    mismatches = []

    def worker(i):
        for _ in range(40):
            if not torch.equal(li.activations(model, inputs[i])["C3"], expected[i]):
                mismatches.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mismatches == []
    assert all(not m._forward_hooks for m in model.modules())


def test_predict_one_and_analyse_digit():
    torch.manual_seed(0)
    model = LeNet5("classic").eval()
    x = torch.randn(1, 1, 32, 32)
    result = li.analyse_digit(model, x)
    assert result["probs"].shape == (10,) and abs(float(result["probs"].sum()) - 1) < 1e-5
    assert result["target"] == result["prediction"] == result["top3"][0][0]
    assert [p for _, p in result["top3"]] == sorted([p for _, p in result["top3"]], reverse=True)
    assert result["saliency"].shape == (32, 32) and result["occlusion"].shape == (32, 32)
    assert li.analyse_digit(model, x, target=3)["target"] == 3


# ------------------------------------------------------------------------------ explanations
def test_saliency_shape_and_value_on_a_linear_model():
    # For logit = sum(w * x) the gradient is w itself: saliency must be |w| exactly.
    w = torch.randn(1, 1, 32, 32)

    class Linear(nn.Module):
        def forward(self, x):
            return torch.cat([(x * w).sum((1, 2, 3))[:, None], torch.zeros(len(x), 9)], dim=1)

    model = Linear()
    sal = li.saliency(model, torch.rand(1, 1, 32, 32), target=0)
    assert sal.shape == (32, 32)
    np.testing.assert_allclose(sal, w[0, 0].abs().numpy(), rtol=1e-6)


def test_saliency_of_lenet_leaves_no_gradients_on_the_model():
    model = LeNet5("classic").eval()
    sal = li.saliency(model, torch.randn(1, 1, 32, 32), target=7)
    assert sal.shape == (32, 32) and (sal >= 0).all()
    assert all(p.grad is None for p in model.parameters())


def test_occlusion_lights_up_exactly_the_region_the_model_reads():
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, RegionSum.ROWS, RegionSum.COLS] = 1.0  # the evidence for class 0
    patch = 6
    heat = li.occlusion(RegionSum(), x, target=0, patch=patch, stride=2)
    assert heat.shape == (32, 32)
    region = np.zeros((32, 32), bool)
    region[RegionSum.ROWS, RegionSum.COLS] = True
    assert (heat[region] > 0).all()  # blanking evidence lowers class 0's probability
    # A pixel whose every covering patch misses the region must show no effect at all.
    r, c = np.ogrid[:32, :32]
    far = (np.abs(r - 12.5) > 2.5 + patch) | (np.abs(c - 14.5) > 2.5 + patch)
    assert np.abs(heat[far]).max() < 1e-6
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    assert region[peak]


# ------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("variant", VARIANTS)
def test_kernels_and_connection_table(variant):
    model = LeNet5(variant)
    k1, k3 = li.kernels(model, "C1"), li.kernels(model, "C3")
    assert k1.shape == (6, 1, 5, 5) and k3.shape == (16, 6, 5, 5)
    table = li.connection_table(model)
    assert table.shape == (16, 6) and table.dtype == torch.bool
    assert torch.equal(k1, model.C1.conv.weight.detach())  # every variant's C1 is a ConvAct
    if variant == "paper":
        assert int(table.sum()) == 60  # LeCun et al. 1998, Table I
        assert torch.all(k3[~table] == 0)
    else:
        assert bool(table.all())
    with pytest.raises(ValueError):
        li.kernels(model, "S2")


# ------------------------------------------------------------------------------ evolution
def test_pick_epochs_keeps_ends_and_caps_count():
    assert pick_epochs([0, 1, 2]) == [0, 1, 2]
    picked = pick_epochs(list(range(61)), 30)
    assert len(picked) == 30 and picked[0] == 0 and picked[-1] == 60 and picked == sorted(picked)


def test_evolution_replays_every_checkpoint(trained_run):
    x = torch.randn(1, 1, 32, 32)
    evo = evolution(trained_run, x)
    assert evo["epochs"] == [0, 1] and evo["skipped"] == []
    assert evo["C1"]["kernels"].shape == (2, 6, 1, 5, 5) and evo["C3"]["kernels"].shape == (
        2,
        16,
        6,
        5,
        5,
    )
    assert evo["C1"]["maps"].shape == (2, 6, 28, 28) and evo["C3"]["maps"].shape == (2, 16, 10, 10)
    for i, epoch in enumerate(evo["epochs"]):  # against the checkpoint itself
        model = trained_run.load_model(epoch)
        np.testing.assert_array_equal(evo["C1"]["kernels"][i], li.kernels(model, "C1").numpy())
        np.testing.assert_allclose(
            evo["C3"]["maps"][i], li.activations(model, x)["C3"][0].numpy(), atol=1e-6
        )
    assert not np.allclose(
        evo["C1"]["kernels"][0], evo["C1"]["kernels"][1]
    )  # training moved the weights


def test_evolution_skips_a_damaged_checkpoint(trained_run, tmp_path):
    import shutil

    copy = RunStore(tmp_path).get(shutil.copytree(trained_run.path, tmp_path / trained_run.id).name)
    (copy.path / "checkpoints" / "epoch_001.pt").write_bytes(b"not a checkpoint")
    evo = evolution(copy, torch.randn(1, 1, 32, 32))
    assert evo["epochs"] == [0] and evo["skipped"] == [1]


# ------------------------------------------------------------------------------ figures
def test_mosaic_places_tiles_with_empty_gutters():
    tiles = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)
    grid, origins = plots.mosaic(tiles, cols=2, gap=1, row_gap=2)
    assert grid.shape == (2 * 2 + 2, 2 * 2 + 1)
    assert origins == [(0, 0), (0, 3), (4, 0)]
    np.testing.assert_array_equal(grid[4:6, 0:2], tiles[2])
    assert np.isnan(grid[:, 2]).all() and np.isnan(grid[2:4]).all() and np.isnan(grid[4:, 3:]).all()


def test_feature_map_scales():
    maps = np.stack([np.full((4, 4), -2.0), np.full((4, 4), 0.5)])
    own = plots.feature_maps_figure(maps, "C1", "own").data[0]
    assert own.zmin == -1 and own.zmax == 1 and np.nanmax(np.abs(own.z)) == pytest.approx(1)
    shared = plots.feature_maps_figure(maps, "C1", "shared").data[0]
    assert shared.zmin == -2 and shared.zmax == 2
    relu = plots.feature_maps_figure(np.abs(maps), "C1", "shared").data[0]
    assert relu.zmin == 0  # nothing negative: a sequential scale from 0


def test_kernel_figure_leaves_unconnected_pairs_empty():
    k = np.ones((16, 6, 5, 5))
    table = np.ones((16, 6), bool)
    table[3, 2] = False  # C3 map 3 does not read S2 map 2
    z = np.asarray(plots.kernels_figure(k, table).data[0].z)
    assert z.shape == (6 * 6 - 1, 16 * 6 - 1)  # rows: S2 maps, columns: C3 maps (Table I)
    assert np.isnan(z[2 * 6 : 2 * 6 + 5, 3 * 6 : 3 * 6 + 5]).all()
    assert (z[0:5, 3 * 6 : 3 * 6 + 5] == 1).all()


def test_evolution_figure_has_one_frame_per_epoch(trained_run):
    evo = evolution(trained_run, torch.randn(1, 1, 32, 32))
    for layer in ("C1", "C3"):
        fig = plots.evolution_figure(evo, layer)
        assert [f.name for f in fig.frames] == ["0", "1"]
        assert len(fig.layout.sliders[0].steps) == 2
