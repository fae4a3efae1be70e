"""The trainer's speed settings (``lenet.speed``) change the order of the arithmetic, not what
is learned: the same seed trains the same network with them and without (``LENET_BASELINE``)."""

from dataclasses import replace

import pytest
import torch

import lenet.training.loop as train_mod
from lenet import speed
from lenet.data import load_split, mnist
from lenet.models import build_model
from lenet.training import PRESETS, TrainConfig, train
from lenet.training.standard import make_optimizer


@pytest.fixture
def mnist_small(real_raw, monkeypatch):
    """3,000 real training digits and 1,000 test digits, so a test trains in seconds."""
    train_split, test_split = load_split("train"), load_split("test")
    small = {
        "train": replace(train_split, images=train_split.images[:3000],
                         labels=train_split.labels[:3000], raw=train_split.raw[:3000]),
        "test": replace(test_split, images=test_split.images[:1000],
                        labels=test_split.labels[:1000], raw=test_split.raw[:1000]),
    }  # fmt: skip
    monkeypatch.setattr(train_mod, "load_split", lambda split, normalization="mnist": small[split])
    return small


def _trained(monkeypatch, baseline: bool, cfg: TrainConfig):
    monkeypatch.setenv(speed.BASELINE_ENV, "1" if baseline else "0")
    result = train(cfg)
    return result, {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_fast_path_trains_the_same_network_as_the_baseline(mnist_small, monkeypatch, optimizer):
    cfg = replace(PRESETS["default"], epochs=2, batch_size=64, optimizer=optimizer, threads=1,
                  lr=0.01 if optimizer == "adam" else 0.05)  # fmt: skip
    slow, slow_weights = _trained(monkeypatch, True, cfg)
    fast, fast_weights = _trained(monkeypatch, False, cfg)
    assert slow.final["test_acc"] > 85  # it did learn, so the comparison means something
    for name, w in slow_weights.items():  # 94 steps of float32 in another order
        torch.testing.assert_close(fast_weights[name], w, rtol=1e-3, atol=2e-4, msg=name)
    assert fast.final["test_acc"] == pytest.approx(slow.final["test_acc"], abs=0.3)
    losses = [[e["loss"] for e in r.history if e["type"] == "batch"] for r in (slow, fast)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)


def test_the_baseline_switch_turns_every_setting_off(monkeypatch):
    cfg = PRESETS["default"]
    monkeypatch.setenv(speed.BASELINE_ENV, "1")
    model = speed.prepare_model(build_model("classic", seed=0))
    assert model.C3.conv.weight.is_contiguous()
    assert not make_optimizer(model, cfg).param_groups[0]["fused"]
    assert speed.describe() == {"channels_last": False, "fused_optimizer": False,
                                "idx_reader": "torchvision"}  # fmt: skip
    monkeypatch.setenv(speed.BASELINE_ENV, "")
    model = speed.prepare_model(build_model("classic", seed=0))
    assert model.C3.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.C3.conv.weight.is_contiguous()
    assert make_optimizer(model, cfg).param_groups[0]["fused"] is True
    assert speed.describe()["channels_last"] is True


def test_the_baseline_reads_mnist_through_torchvision_to_the_same_tensors(real_raw, monkeypatch):
    ours = mnist._load_split.__wrapped__("test", "mnist", real_raw.parent.parent)
    monkeypatch.setenv(speed.BASELINE_ENV, "1")
    theirs = mnist._load_split.__wrapped__("test", "mnist", real_raw.parent.parent)
    assert torch.equal(ours.raw, theirs.raw) and torch.equal(ours.labels, theirs.labels)
    assert torch.equal(ours.images, theirs.images)
