"""The faithful LeNet-5 (lenet/models/paper.py) and its training (lenet/training: the criteria,
SDLM, the hand-written backprop and the 1998 recipes) against the paper's numbers, hand
computations and the trainer's contract (events, store, control, CLI)."""

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import lenet.training.loop as loop_mod
from lenet.analysis import paper as reproduction
from lenet.models import LeNet5, architecture_of, layer_table, summary
from lenet.models.architecture import layers_of
from lenet.models.paper import (
    C3_TABLE,
    DIGIT_BITMAPS,
    PAPER_TABLE,
    PartialConv2d,
    RBFOutput,
    c3_connections,
    closest_bitmaps,
    paper_init_,
    paper_parameters,
    rbf_centers,
    squash,
)
from lenet.runs import RunInfo, RunStore
from lenet.training import PRESETS, Control, train
from lenet.training import paper_recipe as recipes
from lenet.training.criteria import MAP_J, map_loss, mle_loss
from lenet.training.paper_recipe import (
    MiniBatchRecipe,
    OnePatternRecipe,
    distort,
    eta_for_pass,
    recipe_eta,
)
from lenet.training.sdlm import SDLM, gauss_newton_diagonal
from test_train import _synthetic_split

REPO = Path(__file__).resolve().parents[1]
ORDER = ("C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT")


class PaperNet(nn.Module):
    """The smallest composition of the paper's layers; forward returns logits = -y."""

    def __init__(self) -> None:
        super().__init__()
        for name, layer in layers_of(architecture_of("paper")).items():
            setattr(self, name, layer)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.S4(self.C3(self.S2(self.C1(x))))
        return self.F6(self.C5(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.OUTPUT(self.features(x))


@pytest.fixture(autouse=True)
def one_thread():
    """Two shared cores: a second intra-op thread only adds contention to these tiny ops."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_net(seed: int = 0) -> PaperNet:
    return paper_init_(PaperNet(), torch.Generator().manual_seed(seed))


def test_layers_match_the_papers_table():
    net = make_net()
    rows = layer_table({name: getattr(net, name) for name in ORDER})
    assert [r["layer"] for r in rows] == list(ORDER)
    table = {r["layer"]: r for r in rows}
    for name, expected in PAPER_TABLE.items():
        assert table[name]["parameters"] == expected["parameters"], name
        assert table[name]["connections"] == expected["connections"], name
    assert sum(table[name]["parameters"] for name in PAPER_TABLE) == 60_000
    assert [table[n]["output_shape"] for n in ORDER] == [
        (6, 28, 28),
        (6, 14, 14),
        (16, 10, 10),
        (16, 5, 5),
        (120,),  # C5's 1×1 maps, flattened into F6's inputs
        (84,),
        (10,),
    ]
    assert table["OUTPUT"]["parameters"] == 0 and table["OUTPUT"]["connections"] == 840


def test_c3_table_is_table_one():
    mask = c3_connections()
    assert mask.shape == (16, 6) and mask.sum() == 60
    assert mask.sum(1).tolist() == [3] * 6 + [4] * 9 + [6]
    assert mask[:, 0].nonzero().flatten().tolist() == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]
    assert C3_TABLE[14] == (0, 2, 3, 5)


def test_partial_conv_equals_a_dense_conv_and_unconnected_cells_stay_zero():
    torch.manual_seed(0)
    layer = PartialConv2d()
    with torch.no_grad():
        layer.kernels.normal_()
        layer.bias.normal_()
    mask = c3_connections()[:, :, None, None].expand(16, 6, 5, 5)
    reference = nn.Conv2d(6, 16, 5)
    with torch.no_grad():
        reference.weight.copy_(layer.weight)
        reference.bias.copy_(layer.bias)
    x = torch.randn(3, 6, 14, 14)
    out, ref = layer(x), reference(x)
    torch.testing.assert_close(out, ref)
    (out**2).sum().backward()
    (ref**2).sum().backward()
    torch.testing.assert_close(layer.kernels.grad, reference.weight.grad[mask].view(60, 5, 5))
    # a gradient arriving at an unconnected cell of the dense weight reaches no parameter
    probe = torch.zeros(16, 6, 5, 5).masked_fill(~mask, 1.0)
    (g,) = torch.autograd.grad((layer.weight * probe).sum(), layer.kernels)
    assert g.abs().sum() == 0
    opt = SDLM(layer.parameters(), lr=0.1)
    opt.step()
    assert (layer.weight[~mask] == 0).all() and (layer.weight[mask] != 0).all()


def test_rbf_and_losses_on_a_hand_computed_case():
    rbf = RBFOutput()
    rbf.centers = torch.tensor([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])  # 2 classes, 3 dims
    x = torch.tensor([[0.5, -1.0, 0.0], [-1.0, 0.0, 1.0]])
    y = rbf(x)
    # (0.5-1)² + 0 + (0-1)² = 1.25 ; (1.5)² + 0 + 1 = 3.25 ; 4 + 1 + 0 = 5 ; 0 + 1 + 0 = 1
    torch.testing.assert_close(y, torch.tensor([[1.25, 3.25], [5.0, 1.0]]))
    t = torch.tensor([0, 1])
    torch.testing.assert_close(mle_loss(y, t), torch.tensor((1.25 + 1.0) / 2))
    j = 1.0
    e0 = 1.25 + math.log(math.exp(-j) + math.exp(-1.25) + math.exp(-3.25))
    e1 = 1.0 + math.log(math.exp(-j) + math.exp(-5.0) + math.exp(-1.0))
    torch.testing.assert_close(map_loss(y, t, j=j), torch.tensor((e0 + e1) / 2))
    # j → ∞: MAP becomes cross-entropy on logits -y
    torch.testing.assert_close(map_loss(y, t, j=1e4), F.cross_entropy(-y, t))


def test_sdlm_step_is_eta_over_mu_plus_h_times_the_gradient():
    a = nn.Parameter(torch.tensor([1.0]))
    b = nn.Parameter(torch.tensor([2.0]))
    opt = SDLM([a, b], lr=0.1, mu=0.02)
    opt.state[a]["hessian"] = torch.tensor([0.5])
    opt.state[b]["hessian"] = torch.tensor([2.0])
    (3 * a + 0.5 * b**2).sum().backward()  # gradients 3 and b = 2
    opt.step()
    assert a.item() == pytest.approx(1.0 - 0.1 / 0.52 * 3.0)
    assert b.item() == pytest.approx(2.0 - 0.1 / 2.02 * 2.0)


def _f6_activations(net: PaperNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c5 = net.C5(net.S4(net.C3(net.S2(net.C1(x))))).flatten(1)
    return c5, net.F6.fc(c5)  # F6 input, F6 pre-activation


def test_gauss_newton_diagonal_of_the_last_layer_is_analytic():
    net, x = make_net(), torch.randn(7, 1, 32, 32)
    h = gauss_newton_diagonal(net, x)
    with torch.no_grad():
        inp, a = _f6_activations(net, x)
        fprime = 1.7159 * (2 / 3) / torch.cosh(2 / 3 * a) ** 2
        # E = Σ_j (f(a_j) - w_j)²: d²E/da² ≈ 2 f'(a)², d²E/dW_ij² = 2 f'(a_i)² x_j²
        expected_w = (2 * fprime[:, :, None] ** 2 * inp[:, None, :] ** 2).mean(0)
        expected_b = (2 * fprime**2).mean(0)
    torch.testing.assert_close(h[10], expected_w)
    torch.testing.assert_close(h[11], expected_b)
    # an average over samples: two halves average to the whole
    halves = [gauss_newton_diagonal(net, part) for part in (x[:3], x[3:])]
    torch.testing.assert_close(h[8], (3 * halves[0][8] + 4 * halves[1][8]) / 7)


def test_gauss_newton_recursion_equals_squared_jacobians_where_it_is_exact():
    """Above S4 every weight feeds one unit of a layer whose curvature is diagonal, so the
    paper's recursion is the exact Gauss-Newton diagonal 2·Σ_j (dx_j/dθ)² for one sample."""
    net, x = make_net(1), torch.randn(1, 1, 32, 32)
    h = gauss_newton_diagonal(net, x)
    params = paper_parameters(net)

    def f6_out(c5_w, c5_b, f6_w, f6_b):
        s4 = net.S4(net.C3(net.S2(net.C1(x))))
        c5 = squash(F.conv2d(s4, c5_w, c5_b)).flatten(1)
        return squash(F.linear(c5, f6_w, f6_b))[0]  # (84,)

    jac = torch.autograd.functional.jacobian(f6_out, tuple(p.detach() for p in params[8:]))
    for k, jk in zip(range(8, 12), jac, strict=True):
        torch.testing.assert_close(h[k], 2 * (jk**2).sum(0), rtol=1e-4, atol=1e-9)


def test_eta_schedule():
    expected = {
        1: 5e-4,
        2: 5e-4,
        3: 2e-4,
        5: 2e-4,
        6: 1e-4,
        8: 1e-4,
        9: 5e-5,
        12: 5e-5,
        13: 1e-5,
        20: 1e-5,
    }
    assert {p: eta_for_pass(p) for p in expected} == expected
    with pytest.raises(ValueError):
        eta_for_pass(0)
    # the recipes' η: the paper's, scaled down in the first two passes more than later
    scaled = {p: recipe_eta(p) / eta_for_pass(p) for p in expected}
    assert scaled == {p: pytest.approx(0.05 if p <= 2 else 0.3) for p in expected}


def test_init_bounds_are_2_4_over_fan_in():
    net = make_net()
    for module, fan in ((net.C1.conv, 25), (net.C5.conv, 400), (net.F6.fc, 120)):
        for p in (module.weight, module.bias):
            assert p.abs().max() <= 2.4 / fan and p.abs().max() > 0.9 * 2.4 / fan
    for sub in (net.S2, net.S4):
        assert sub.coef.abs().max() <= 0.6 and sub.bias.abs().max() <= 0.6
    c3 = net.C3.conv
    fans = c3_connections().sum(1).float() * 25  # 75, 100 or 150 per map
    assert (c3.kernels.abs().amax((1, 2)) <= 2.4 / fans[c3.out_idx]).all()
    assert (c3.bias.abs() <= 2.4 / fans).all()
    assert c3.kernels[c3.out_idx == 0].abs().max() > 0.9 * 2.4 / 75


def test_digit_bitmaps_are_7_by_12_and_distinct():
    for bitmap in DIGIT_BITMAPS:
        rows = bitmap.splitlines()
        assert len(rows) == 12 and all(len(r) == 7 and set(r) <= {"#", "."} for r in rows)
    centers = rbf_centers()
    assert centers.shape == (10, 84) and set(centers.unique().tolist()) == {-1.0, 1.0}
    assert closest_bitmaps() == (0, 6, 18)  # two-pixel strokes: even 0 and 6 differ in 18 bits
    toy = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, -1, -1]])  # 0-1: 2 bits, 1-2: 1, 0-2: 3
    assert closest_bitmaps(toy) == (1, 2, 1)
    assert RBFOutput().centers.requires_grad is False and not list(RBFOutput().parameters())


def test_fast_step_gradient_equals_autograd():
    net, x, t = make_net(2), torch.randn(1, 1, 32, 32), torch.tensor([3])
    params = paper_parameters(net)
    c3 = net.C3.conv
    for j in (None, 90.0):  # y ≈ 84 at init, so j = 90 makes the MAP term matter
        flat = torch.cat([p.detach().reshape(-1) for p in params])
        before, stats = flat.clone(), torch.zeros(2)
        recipes._sgd1_step(
            flat, -torch.ones_like(flat), x, t, net.OUTPUT.centers, stats, c3.out_idx, c3.in_idx, j
        )
        y = -net(x)
        loss = mle_loss(y, t) if j is None else map_loss(y, t, j)
        grads = torch.autograd.grad(loss, params)
        torch.testing.assert_close(
            flat - before, -torch.cat([g.reshape(-1) for g in grads]), rtol=1e-4, atol=1e-5
        )  # float32 cancellation in MAP
        assert stats[0].item() == pytest.approx(loss.item(), rel=1e-5)


@pytest.mark.parametrize("criterion", ["mle", "map"])
def test_one_pattern_pass_equals_a_plain_autograd_loop(monkeypatch, criterion):
    monkeypatch.setattr(recipes, "PAPER_LOSS", criterion)  # read when the recipe is built
    # float64: a large η saturates units within five updates, and float32 rounding, amplified
    # by steps that large, would hide whether the two loops take the same steps
    g = torch.Generator().manual_seed(0)
    images = torch.randn(5, 1, 32, 32, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 10, (5,), generator=g)
    fast, slow = make_net(3).double(), make_net(3).double()
    recipe = OnePatternRecipe(fast, PRESETS["paper"], len(targets))
    recipe.compile = False  # the eager step: same numbers, no compile wait
    recipe.set_lr(1e-3)  # a teacher's η holds from the next pass on
    data, _ = recipe.begin_epoch(1, images)  # η and the curvature on (all 5 of) the patterns
    assert data is images and recipe.lr == 1e-3
    order = torch.tensor([4, 1, 3, 0, 2])
    chunk = recipe.train(data, targets, order)
    slow_opt = SDLM(slow.parameters(), lr=1e-3)
    slow_opt.estimate_hessian(slow, images)
    losses, right = [], 0
    for i in order.tolist():
        y = -slow(images[i : i + 1])
        t = targets[i : i + 1]
        loss = mle_loss(y, t) if criterion == "mle" else map_loss(y, t, MAP_J)
        slow_opt.zero_grad()
        loss.backward()
        slow_opt.step()
        losses.append(loss.item())
        right += int(y.argmin(1) == t)  # judged before the pattern's own update
    for p, q in zip(paper_parameters(fast), paper_parameters(slow), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)
    assert (chunk.patterns, chunk.steps, chunk.correct) == (5, 5, right)
    assert chunk.loss_sum == pytest.approx(sum(losses), rel=1e-6)  # summed in float32


@pytest.mark.parametrize("recipe, first_step", [("paper", 100), ("paper-fast", 1)])
def test_a_stop_after_the_first_batch_event_ends_the_pass_there(monkeypatch, recipe, first_step):
    data = {"train": _synthetic_split(640, 0), "test": _synthetic_split(200, 1)}
    monkeypatch.setattr(loop_mod, "load_split", lambda split, normalization="mnist": data[split])
    monkeypatch.setenv("LENET_NO_COMPILE", "1")  # the compile takes tens of seconds
    control, seen = Control(), []

    def on_event(event: dict) -> None:
        seen.append(event)
        if event["type"] == "batch":
            control.stop()

    cfg = replace(PRESETS[recipe], epochs=2, batch_size=16, log_every=1, threads=1)
    result = train(cfg, control=control, on_event=on_event)
    batches = [e for e in seen if e["type"] == "batch"]
    assert result.status == "stopped" and seen[-1]["type"] == "stopped"
    # "paper" checks its control every 100 patterns, "paper-fast" after every mini-batch
    assert len(batches) == 1 and batches[0]["step"] == first_step == seen[-1]["step"]
    assert not any(e["type"] == "epoch" for e in seen)
    total = 2 * (640 if recipe == "paper" else 640 // 16)
    assert f"after {first_step:,} of {total:,} updates" in result.message


def test_distort_keeps_shape_and_background():
    gen = torch.Generator().manual_seed(0)
    blank = torch.full((4, 1, 32, 32), -0.1)
    torch.testing.assert_close(distort(blank, gen), blank)
    digit = blank.clone()
    digit[:, :, 10:22, 14:18] = 1.175
    same = distort(digit, gen, shift=0, scale=0, squeeze=0, shear=0)
    torch.testing.assert_close(same, digit, atol=1e-5, rtol=0)
    moved = distort(digit, gen)
    assert moved.shape == digit.shape and not torch.allclose(moved, digit)
    assert moved.min() >= -0.1 - 1e-5 and moved.max() <= 1.175 + 1e-5


def test_batched_sdlm_lowers_the_loss_on_real_mnist(real_raw, monkeypatch):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    monkeypatch.setattr(recipes, "PAPER_LOSS", "mle")  # train on eq. 8, the loss measured here
    raw = read_image_file(str(real_raw / "train-images-idx3-ubyte"))[:2000]
    targets = read_label_file(str(real_raw / "train-labels-idx1-ubyte"))[:2000]
    images = F.pad(raw.float() / 255, (2, 2, 2, 2))[:, None] * 1.275 - 0.1  # [-0.1, 1.175]
    net = make_net()
    with torch.no_grad():
        before = mle_loss(-net(images), targets).item()
    recipe = MiniBatchRecipe(net, replace(PRESETS["paper-fast"], batch_size=16), len(targets))
    for epoch in (1, 2):  # each pass re-estimates the curvature on 500 patterns
        data, order = recipe.begin_epoch(epoch, images)
        assert recipe.lr == recipe_eta(epoch)
        for start in range(0, len(order), 16):
            recipe.train(data, targets, order[start : start + 16])
    with torch.no_grad():
        y = net.OUTPUT(net.features(images))
        after, error = mle_loss(y, targets).item(), (y.argmin(1) != targets).float().mean()
    print(f"MLE loss {before:.1f} -> {after:.1f}, training error {error:.1%}")
    assert after < 0.5 * before and error < 0.5


# --- the 1998 recipes through the one training loop: its contract on real MNIST -------------
def _paper_cfg(**kw):
    return replace(
        PRESETS["paper-fast"], **{"train_subset": 2000, "batch_size": 16, "threads": 1, **kw}
    )


def test_train_paper_fast_events_store_and_learning(real_raw, tmp_path):
    seen = []
    result = train(_paper_cfg(epochs=2), store=RunStore(tmp_path), on_event=seen.append)
    types = [e["type"] for e in seen]
    assert result.status == "finished" and types[0] == "start" and types[-1] == "done"
    assert [e["epoch"] for e in seen if e["type"] == "epoch"] == [1, 2]
    first_epoch = types.index("epoch")
    assert "batch" in types[:first_epoch] and "batch" in types[first_epoch + 1 :]
    start = seen[0]
    assert start["train_images"] == 2000 and start["steps_per_epoch"] == 125
    assert start["lr"] == pytest.approx(0.05 * 5e-4)
    batches = [e for e in seen if e["type"] == "batch"]
    assert {"epoch", "step", "loss", "acc", "lr", "images_per_s", "train_seconds"} <= set(
        batches[0]
    )
    assert batches[-1]["loss"] < 0.5 * batches[0]["loss"]  # the MAP criterion (eq. 9)
    final = result.final
    assert final["step"] == 250 and final["test_acc"] > 70 and final["train_acc"] > 70
    assert {"train_loss", "test_loss", "test_top3", "lr", "images_per_s"} <= set(final)
    run = RunStore(tmp_path).get(result.run_id)
    assert run.epochs() == [0, 1, 2] and run.status()["state"] == "finished"
    assert [e["type"] for e in run.events()] == types
    assert run.load_model(2).variant == "paper"


def test_train_paper_control_sets_eta_and_stops(real_raw):
    control, seen = Control(), []

    def on_event(e: dict) -> None:
        seen.append(e)
        batches = sum(x["type"] == "batch" for x in seen)
        if e["type"] == "batch" and batches == 1:
            control.set_lr(1e-6)
        elif e["type"] == "batch" and batches == 3:
            control.stop()

    result = train(_paper_cfg(epochs=2), control=control, on_event=on_event)
    assert result.status == "stopped" and seen[-1]["type"] == "stopped"
    assert "Stopped by request" in seen[-1]["message"] and control.weights() is not None
    lr_events = [e for e in seen if e["type"] == "lr"]
    assert len(lr_events) == 1 and lr_events[0]["lr"] == 1e-6
    assert [e["lr"] for e in seen if e["type"] == "batch"][-1] == 1e-6
    assert not any(e["type"] == "epoch" for e in seen)


def test_train_paper_one_pattern_recipe_uncompiled(real_raw, monkeypatch):
    monkeypatch.setenv("LENET_NO_COMPILE", "1")  # the compile takes tens of seconds
    result = train(_paper_cfg(recipe="paper", epochs=1, train_subset=300, distort=True))
    assert result.status == "finished" and result.final["step"] == 300
    assert result.history[0]["steps_per_epoch"] == 300


def test_cli_trains_paper_fast(real_raw, tmp_path):
    import json
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lenet",
            "train",
            "--preset",
            "paper-fast",
            "--epochs",
            "1",
            "--train-subset",
            "2000",
            "--batch-size",
            "16",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LENET_RUNS_DIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["variant"] == "paper"
    assert summary["epochs"] == 1 and summary["test_accuracy"] > 60
    assert {"run_id", "test_top3_accuracy", "test_loss", "train_seconds"} <= set(summary)


def test_model_summary_of_the_paper_variant_matches_the_paper():
    rows = reproduction.compare_with_paper(summary(LeNet5("paper")))
    assert [r["match"] for r in rows] == ["✓"] * 6 + ["—"]
    assert rows[-1]["our connections"] == 840 and rows[-1]["paper parameters"] is None


def test_best_runs_picks_the_best_per_variant():
    infos = [
        RunInfo("a", "finished", "paper", best_test_acc=97.0),
        RunInfo("b", "finished", "paper", best_test_acc=98.5),
        RunInfo("c", "running", "classic"),
        RunInfo("d", "finished", "other", best_test_acc=99.0),
        RunInfo("e", "finished", "paper", config={"distort": True}, best_test_acc=99.3),
    ]
    best = reproduction.best_runs(infos)
    assert best["paper"].id == "b" and best["classic"] is None and best["modern"] is None
    distorted = reproduction.best_runs(infos, distorted=True)  # compared with 0.8 %, apart
    assert distorted["paper"].id == "e"
