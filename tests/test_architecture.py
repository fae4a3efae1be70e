"""LeNet-5 as options (``lenet.models.architecture``): every combination builds and names itself,
the three variants are three combinations that build exactly what they built before, and a
variant string that is wrong says which part and why."""

import itertools
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from lenet.analysis.explain import explain_unit
from lenet.analysis.health import activation_kind
from lenet.models import (
    OPTIONS,
    Architecture,
    LeNet5,
    architecture_of,
    build_model,
    get_variant,
    normalization_of,
    summary,
    variant_name,
)
from lenet.training import ConfigError, TrainConfig

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "variants_before_options.json").read_text()
)
ALL = [Architecture(*values) for values in itertools.product(*OPTIONS.values())]


def test_there_are_72_combinations_and_each_builds_runs_and_names_itself_back():
    assert len(ALL) == 3 * 3 * 2 * 2 * 2
    names = set()
    for arch in ALL:
        name = variant_name(arch)
        names.add(name)
        model = LeNet5(name)
        assert model.variant == name and model.spec.architecture == arch
        assert architecture_of(name) == arch
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
        assert normalization_of(name) == arch.inputs
        assert model.spec.distance_output == (arch.output == "rbf")
    assert len(names) == len(ALL)


def test_the_three_variants_are_named_combinations():
    assert variant_name(Architecture()) == "classic"
    assert variant_name(Architecture(activation="relu", subsampling="max")) == "modern"
    paper = Architecture("scaled-tanh", "trainable", "table-i", "rbf", "paper")
    assert variant_name(paper) == "paper"
    # the same network, however it is written, is one variant with one name
    assert get_variant("classic,activation=relu,subsampling=max").name == "modern"
    written = (
        "classic,activation=scaled-tanh,subsampling=trainable,c3=table-i,output=rbf,inputs=paper"
    )
    assert get_variant(written).name == "paper"
    assert LeNet5("classic", activation="relu", subsampling="max").variant == "modern"


def test_a_combination_is_named_by_the_closest_variant_and_its_changes_in_option_order():
    assert LeNet5("paper", output="linear").variant == "paper,output=linear"
    assert get_variant("paper,output=linear,c3=dense").name == "paper,c3=dense,output=linear"
    assert LeNet5(subsampling="max").variant == "classic,subsampling=max"
    assert LeNet5(activation="relu").variant == "classic,activation=relu"
    kinds = [row["kind"] for row in summary(LeNet5("paper,output=linear"))]
    assert kinds[2] == "sparse conv 5x5 (Table I) + squash" and kinds[-1] == "linear"


@pytest.mark.parametrize("variant", ["classic", "modern", "paper"])
def test_the_variants_have_the_state_dict_they_had_so_old_checkpoints_load(variant):
    before = FIXTURE["state_dict"][variant]
    now = {k: list(t.shape) for k, t in LeNet5(variant).state_dict().items()}
    assert now == before
    weights = {k: torch.randn(shape) for k, shape in before.items()}
    LeNet5(variant).load_state_dict(weights, strict=True)


@pytest.mark.parametrize("key", sorted(FIXTURE["logits"]))
def test_same_seed_same_network_as_before_the_options(key):
    """Same seed → the same initial weights and the same outputs as the variants' own layer
    lists gave (the fixture was written by them), so earlier runs stay reproducible."""
    variant, init = key.split("/")
    x = torch.linspace(-1, 1, 2048).reshape(2, 1, 32, 32).sin()
    with torch.no_grad():
        y = build_model(variant, init, seed=0).eval()(x)
    assert torch.allclose(y, torch.tensor(FIXTURE["logits"][key]), atol=1e-5)


@pytest.mark.parametrize(
    "name, words",
    [
        ("lenet", "unknown variant 'lenet'; choose one of classic, modern, paper"),
        ("paper,colour=red", "unknown option 'colour'"),
        ("paper,output=softmax", "output='softmax' is not an option; choose one of rbf, linear"),
        ("paper,output", "'output' is not option=choice"),
        ("paper,c3=dense,c3=table-i", "option 'c3' is given twice"),
        ("", "unknown variant ''"),
    ],
)
def test_a_wrong_variant_says_which_part_is_wrong(name, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        get_variant(name)
    with pytest.raises(ConfigError, match="^variant = "):
        TrainConfig(variant=name).validate()


def test_training_configs_take_combinations_and_the_paper_recipe_only_the_paper_network():
    TrainConfig(variant="paper,output=linear").validate()
    TrainConfig(variant="classic,inputs=paper", init="paper").validate()
    with pytest.raises(ConfigError, match="the paper recipes train the paper variant only"):
        TrainConfig(variant="paper,output=linear", recipe="paper-fast").validate()
    written = (
        "classic,activation=scaled-tanh,subsampling=trainable,c3=table-i,output=rbf,inputs=paper"
    )
    TrainConfig(variant=written, recipe="paper-fast").validate()


def test_each_layer_gets_the_chosen_activation_and_the_unit_arithmetic_follows_it():
    model = LeNet5("paper,activation=relu")  # trainable subsampling followed by ReLU
    assert all(isinstance(getattr(model, n).act, nn.ReLU) for n in ("C1", "S2", "C3", "F6"))
    assert activation_kind(model)["S2"] == ("dead", None)
    torch.manual_seed(1)
    x = torch.randn(1, 1, 32, 32)
    for layer, index in [("C1", (0, 3, 4)), ("S2", (2, 5, 6)), ("C3", (7, 1, 2)), ("F6", 11)]:
        unit = explain_unit(model, x, layer, index)
        assert unit["activation_name"] == "relu"
        assert unit["from_arithmetic"] == pytest.approx(unit["activation"], abs=1e-5)
