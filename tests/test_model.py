"""The model (``lenet.models``) against the paper's shapes and the seed's parameter count, against
PyTorch, and against checkpoints written before its layers were renamed."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lenet.analysis.introspection import activations, kernels
from lenet.models import (
    LAYERS,
    VARIANTS,
    ConvAct,
    ConvTanh,
    LeNet5,
    LinearAct,
    SubsampleAvgPool,
    build_model,
    count_parameters,
    init_tanh_xavier,
    summary,
)

PAPER_SHAPES = {
    "C1": (6, 28, 28),
    "S2": (6, 14, 14),
    "C3": (16, 10, 10),
    "S4": (16, 5, 5),
    "C5": (120,),
    "F6": (84,),
    "OUTPUT": (10,),
}


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_shapes_and_parameter_count(variant):
    model = LeNet5(variant)
    assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 10)
    assert count_parameters(model) == 61_706  # the seed's network: 156+2416+48120+10164+850
    rows = summary(model)
    assert [r["layer"] for r in rows] == list(LAYERS)
    assert {r["layer"]: r["output_shape"] for r in rows} == PAPER_SHAPES
    assert sum(r["parameters"] for r in rows) == 61_706


def test_classic_c1_connections_match_paper():
    # The paper counts 122,304 connections into C1: 28*28*6*(25+1).
    row = summary(LeNet5("classic"))[0]
    assert row["connections"] == 122_304


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_activation_shapes(variant):
    acts = activations(LeNet5(variant), torch.randn(2, 1, 32, 32))
    assert list(acts) == list(LAYERS)
    assert {k: tuple(v.shape[1:]) for k, v in acts.items()} == PAPER_SHAPES


def test_blocks_match_pytorch_reference():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 14, 14)
    conv = ConvTanh(6, 16)
    assert torch.allclose(conv(x), torch.tanh(F.conv2d(x, conv.conv.weight, conv.conv.bias)))
    relu = ConvAct(nn.Conv2d(6, 16, 5), nn.ReLU())
    assert torch.equal(relu(x), F.relu(relu.conv(x)))
    fc = LinearAct(120, 84, nn.Tanh())
    v = torch.randn(3, 120)
    assert torch.allclose(fc(v), torch.tanh(F.linear(v, fc.fc.weight, fc.fc.bias)))
    pool = SubsampleAvgPool()
    manual = torch.tanh(
        (x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2]) / 4
    )
    assert torch.allclose(pool(x), manual, atol=1e-6)


def test_modern_uses_relu_and_max_pooling():
    model = LeNet5("modern")
    x = torch.randn(1, 1, 32, 32)
    acts = activations(model, x)
    assert (acts["C1"] >= 0).all() and (acts["F6"] >= 0).all()
    assert isinstance(model.S2, nn.MaxPool2d)


def test_init_tanh_xavier_bounds_and_zero_bias():
    torch.manual_seed(0)
    model = LeNet5("classic")
    model.apply(init_tanh_xavier)
    w = model.C5.conv.weight  # fan_in 400, fan_out 3000
    bound = (5 / 3) * (6 / (400 + 3000)) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    assert torch.count_nonzero(model.C5.conv.bias) == 0


def test_build_model_is_seeded_and_checks_names():
    a, b = build_model("classic", "xavier", seed=3), build_model("classic", "xavier", seed=3)
    assert torch.equal(a.C1.conv.weight, b.C1.conv.weight)
    with pytest.raises(ValueError, match="variant"):
        LeNet5("lenet7")
    with pytest.raises(ValueError, match="init"):
        build_model("classic", "orthogonal")


def test_kernels():
    model = LeNet5("classic")
    assert kernels(model, "C1").shape == (6, 1, 5, 5)
    assert kernels(model, "C3").shape == (16, 6, 5, 5)
    with pytest.raises(ValueError):
        kernels(model, "S2")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_names_its_layers_op_then_act(variant):
    keys = set(LeNet5(variant).state_dict())
    assert {"C1.conv.weight", "C3.conv.bias", "C5.conv.weight", "F6.fc.weight"} <= keys
    assert not any(k.split(".")[1] == "0" for k in keys)  # no positional (Sequential) names


# The paper variant's keys before its layers were ConvAct / LinearAct (nn.Sequential's numbers).
OLD_PAPER_KEYS = {"C1.conv.": "C1.0.", "C3.conv.": "C3.0.", "C5.conv.": "C5.0.", "F6.fc.": "F6.0."}


def _old_keys(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        for new, old in OLD_PAPER_KEYS.items():
            if key.startswith(new):
                key = old + key[len(new) :]
        out[key] = value
    return out


def test_a_paper_checkpoint_with_the_old_layer_keys_loads_and_gives_the_same_outputs():
    trained = build_model("paper", "paper", seed=4).eval()
    old = _old_keys(trained.state_dict())
    assert {"C1.0.weight", "C3.0.kernels", "C5.0.bias", "F6.0.weight"} <= set(old)
    assert not any(".conv." in k or ".fc." in k for k in old)
    model = LeNet5("paper")
    model.load_state_dict(old, strict=True)  # renamed by LeNet5's load_state_dict pre-hook
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), trained(x))
    assert "C1.0.weight" in old  # the caller's dict is read, not renamed in place


def test_zero_init_makes_every_unit_of_a_layer_alike_and_only_the_output_bias_learns():
    from lenet.models import build_model

    model = build_model("classic", "zero")
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())
    paper = build_model("paper", "zero")
    assert torch.count_nonzero(paper.C1.conv.weight) == 0
    assert torch.count_nonzero(paper.OUTPUT.state_dict()["centers"]) > 0  # fixed codes stay
    x, y = torch.randn(16, 1, 32, 32), torch.arange(16) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    moved = {n for n, p in model.named_parameters() if torch.count_nonzero(p)}
    assert moved == {"OUTPUT.bias"}  # no gradient reaches a weight: nothing breaks the tie
