"""``explain_unit``: the arithmetic of one unit, written out, gives the forward pass's value."""

from __future__ import annotations

import pytest
import torch

from lenet import explain_unit, receptive_field
from lenet.analysis.introspection import activations
from lenet.models import LAYERS, build_model
from lenet.models.paper import C3_TABLE

UNITS = {  # corners and the middle of every layer
    "C1": [(0, 0, 0), (5, 27, 27), (2, 13, 9)],
    "S2": [(0, 0, 0), (5, 13, 13), (3, 6, 8)],
    "C3": [(0, 0, 0), (15, 9, 9), (7, 4, 2)],
    "S4": [(0, 0, 0), (15, 4, 4), (9, 2, 3)],
    "C5": [0, 119, (60, 0, 0)],
    "F6": [0, 83, 41],
    "OUTPUT": [0, 9, 4],
}


@pytest.fixture(scope="module")
def digit():
    return torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(3))


def _model(variant: str):
    return build_model(variant, "paper" if variant == "paper" else "xavier", seed=5).eval()


@pytest.mark.parametrize("variant", ["classic", "modern", "paper"])
@pytest.mark.parametrize("layer", LAYERS)
def test_the_arithmetic_written_out_gives_the_forward_value(variant, layer, digit):
    model = _model(variant)
    acts = activations(model, digit)
    for unit in UNITS[layer]:
        got = explain_unit(model, digit, layer, unit)
        out = acts[layer][0]
        idx = got["index"]
        expected = float(out[idx[0]] if layer == "C5" else out[idx])
        assert got["activation"] == pytest.approx(expected, abs=1e-6)
        assert got["from_arithmetic"] == pytest.approx(expected, abs=1e-5, rel=1e-5)
        assert got["terms"] == (got["products"].numel() if "products" in got else 4)


@pytest.mark.parametrize("variant", ["classic", "paper"])
def test_a_c3_unit_reads_the_s2_maps_its_table_connects(variant, digit):
    model = _model(variant)
    for m in range(16):
        got = explain_unit(model, digit, "C3", (m, 3, 3))
        maps = list(C3_TABLE[m]) if variant == "paper" else list(range(6))
        assert got["maps"] == maps
        assert got["patch"].shape == got["kernel"].shape == (len(maps), 5, 5)
        s2 = activations(model, digit)["S2"][0]
        assert torch.equal(got["patch"], s2[maps, 3:8, 3:8])


def test_a_c1_units_patch_is_its_receptive_field_on_the_digit(digit):
    got = explain_unit(_model("classic"), digit, "C1", (4, 12, 20))
    top, left, size = got["receptive_field"]
    assert (top, left, size) == (12, 20, 5)
    assert torch.equal(got["patch"][0], digit[0, 0, top : top + size, left : left + size])
    assert torch.equal(got["products"], got["patch"] * got["kernel"])


def test_receptive_fields_grow_through_the_layers():
    sizes = {layer: receptive_field(layer, 0, 0)[2] for layer in ("C1", "S2", "C3", "S4", "C5")}
    assert sizes == {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
    assert receptive_field("S4", 4, 4) == (16, 16, 16)  # the last S4 unit ends at pixel 31


def test_the_paper_subsampling_and_output_show_their_own_parameters(digit):
    model = _model("paper")
    s2 = explain_unit(model, digit, "S2", (1, 2, 3))
    assert s2["pool"] == "sum" and s2["coefficient"] is not None and s2["bias"] is not None
    assert s2["pre_activation"] == pytest.approx(s2["pooled"] * s2["coefficient"] + s2["bias"])
    out = explain_unit(model, digit, "OUTPUT", 7)
    assert out["distances"].shape == (10,) and out["center"].shape == (84,)
    assert out["pre_activation"] == pytest.approx(float(out["distances"][7]))
    assert out["activation"] == pytest.approx(-out["pre_activation"], rel=1e-6)  # the logit
    f6 = explain_unit(_model("classic"), digit, "F6", 10)
    top = [abs(p) for _, p in f6["top"]]
    assert top == sorted(top, reverse=True) and len(top) == 8
    assert explain_unit(_model("modern"), digit, "S2", (0, 0, 0))["pool"] == "max"


@pytest.mark.parametrize(
    "layer,unit,match",
    [("C7", 0, "unknown layer"), ("C1", (6, 0, 0), "outside C1"), ("C1", (0, 28, 0), "outside"),
     ("C1", 3, r"\(map, row, col\)"), ("F6", (1, 2), "one number"), ("F6", 84, "outside"),
     ("C3", (0, 0, True), r"\(map, row, col\)")],
)  # fmt: skip
def test_a_unit_that_is_not_there_is_refused_by_name(layer, unit, match, digit):
    with pytest.raises(ValueError, match=match):
        explain_unit(_model("classic"), digit, layer, unit)


def test_one_digit_at_a_time_and_the_model_is_left_as_it_was(digit):
    model = _model("classic")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="one digit at a time"):
        explain_unit(model, digit.repeat(2, 1, 1, 1), "C1", (0, 0, 0))
    explain_unit(model, digit[0], "C3", (1, 1, 1))  # (1, 32, 32) works too
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
