"""The trainer's speed settings (``lenet.speed``) change the order of the arithmetic, not what
is learned: the same seed trains the same network with them and without (``LENET_BASELINE``).
Each faster layer (``lenet.models.fast``) is checked against torch's own layer."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lenet.training.loop as train_mod
from lenet import speed
from lenet.data import load_split, mnist
from lenet.models import build_model, fast
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


@pytest.mark.parametrize(
    "variant, optimizer", [("classic", "adam"), ("classic", "sgd"), ("modern", "adam")]
)
def test_the_fast_path_trains_the_same_network_as_the_baseline(
    mnist_small, monkeypatch, variant, optimizer
):
    cfg = replace(PRESETS["default"], variant=variant, epochs=2, batch_size=64, threads=1,
                  optimizer=optimizer, lr=0.01 if optimizer == "adam" else 0.05)  # fmt: skip
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
    assert type(model.C1.act) is nn.Tanh and type(model.C5.conv) is nn.Conv2d
    assert type(make_optimizer(model, cfg)) is torch.optim.Adam
    described = speed.describe()
    del described["freed_memory_kept"]  # the process's state: once set, it stays
    assert described == {"channels_last": False, "fast_layers": False, "fused_optimizer": False,
                         "compile_free_optimizer": False, "idx_reader": "torchvision"}  # fmt: skip
    monkeypatch.setenv(speed.BASELINE_ENV, "")
    model = speed.prepare_model(build_model("classic", seed=0))
    assert model.C3.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.C3.conv.weight.is_contiguous()
    assert type(model.C1.act) is fast.Tanh and type(model.S2.pool) is fast.AvgPool2d
    assert make_optimizer(model, cfg).param_groups[0]["fused"] is True
    assert speed.describe()["channels_last"] is True


def test_the_baseline_reads_mnist_through_torchvision_to_the_same_tensors(real_raw, monkeypatch):
    ours = mnist._load_split.__wrapped__("test", "mnist", real_raw.parent.parent)
    monkeypatch.setenv(speed.BASELINE_ENV, "1")
    theirs = mnist._load_split.__wrapped__("test", "mnist", real_raw.parent.parent)
    assert torch.equal(ours.raw, theirs.raw) and torch.equal(ours.labels, theirs.labels)
    assert torch.equal(ours.images, theirs.images)


@pytest.fixture(scope="module")
def c1_maps(real_raw):
    """C1's pre-activations of 64 real test digits: MNIST's flat background makes neighbouring
    values tie, as they do in training."""
    torch.manual_seed(0)
    with torch.no_grad():
        return nn.Conv2d(1, 6, 5)(load_split("test").images[:64])  # (64, 6, 28, 28)


def _forward_backward(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor | None = None):
    x = x.detach().clone().requires_grad_()
    out = layer(x)
    out.backward(grad if grad is not None else torch.linspace(-1, 1, out.numel()).view_as(out))
    return out.detach(), x.grad


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_each_faster_layer_computes_torchs_own(c1_maps, memory_format):
    x = c1_maps.contiguous(memory_format=memory_format)
    # the 2×2 mean as a depthwise convolution: the same bits, forward and backward
    maps = torch.tanh(x)
    out, grad = _forward_backward(fast.AvgPool2d(2), maps)
    ref, ref_grad = _forward_backward(nn.AvgPool2d(2), maps)
    assert torch.equal(out, ref) and torch.equal(grad, ref_grad)
    assert out.is_contiguous(memory_format=memory_format)
    # tanh through the sigmoid: float32 rounding apart
    out, grad = _forward_backward(fast.Tanh(), x)
    ref, ref_grad = _forward_backward(nn.Tanh(), x)
    torch.testing.assert_close(out, ref, rtol=0, atol=3e-7)
    torch.testing.assert_close(grad, ref_grad, rtol=0, atol=2e-6)
    assert -1 <= out.min() and out.max() <= 1
    # a kernel as large as its input: one matrix product
    torch.manual_seed(1)
    theirs = nn.Conv2d(16, 120, 5)
    ours = fast.Conv2d(16, 120, 5)
    ours.load_state_dict(theirs.state_dict())
    s4 = torch.tanh(torch.randn(64, 16, 5, 5)).contiguous(memory_format=memory_format)
    out, grad = _forward_backward(ours, s4)
    ref, ref_grad = _forward_backward(theirs, s4)
    assert out.shape == ref.shape == (64, 120, 1, 1)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)


def test_the_faster_layers_leave_other_inputs_to_torch():
    x = torch.randn(2, 6, 7, 9)  # odd maps: no 2×2 tiling
    assert torch.equal(fast.AvgPool2d(2)(x), F.avg_pool2d(x, 2))
    assert torch.equal(fast.AvgPool2d(3, padding=1)(x), F.avg_pool2d(x, 3, padding=1))
    assert torch.equal(fast.AvgPool2d(2, ceil_mode=True)(x), F.avg_pool2d(x, 2, ceil_mode=True))
    small = torch.randn(3, 7)
    assert torch.equal(fast.Tanh()(small), torch.tanh(small))  # a few values: torch's own kernel
    conv, twin = nn.Conv2d(6, 16, 5), fast.Conv2d(6, 16, 5)
    twin.load_state_dict(conv.state_dict())
    x = torch.randn(2, 6, 14, 14)  # the kernel slides: a real convolution
    assert torch.equal(twin(x), conv(x))


def test_the_modern_network_pools_before_its_relu_to_the_same_maps_and_gradients():
    plain = build_model("modern", seed=3)
    twin = build_model("modern", seed=3)
    twin.__class__ = fast.LeNet5
    assert fast._pools_before_relu(twin.C1, twin.S2) and fast._pools_before_relu(twin.C3, twin.S4)
    x = torch.randn(16, 1, 32, 32)
    x[:, :, :8] = -5.0  # whole windows with nothing positive: no gradient passes either way
    labels = torch.randint(0, 10, (16,))
    out_plain, out_twin = plain(x), twin(x)
    assert torch.equal(out_twin, out_plain)
    F.cross_entropy(out_plain, labels).backward()
    F.cross_entropy(out_twin, labels).backward()
    for (name, a), b in zip(plain.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad), name
    # tanh, or average pooling, does not commute with the pooling: computed layer by layer
    assert not fast._pools_before_relu(twin.C1, nn.AvgPool2d(2))
    relu_avg = build_model("classic", seed=0)
    relu_avg.C1.act = nn.ReLU()
    assert not fast._pools_before_relu(relu_avg.C1, relu_avg.S2)
    assert not fast._pools_before_relu(twin.C1, nn.MaxPool2d(3, stride=2))


@pytest.mark.parametrize("variant", ["classic", "modern", "paper"])
def test_prepare_model_swaps_layers_and_keeps_weights_and_outputs(variant, monkeypatch):
    monkeypatch.setenv(speed.BASELINE_ENV, "")
    plain = build_model(variant, seed=0)
    model = speed.prepare_model(build_model(variant, seed=0))
    names = [type(m).__name__ for m in model.modules()]
    assert names == [type(m).__name__ for m in plain.modules()]  # it prints as it did
    swapped = [type(m) for m in model.modules() if type(m) in fast.FAST_TWINS.values()]
    assert swapped, "the CPU network got no faster layer"
    assert not [m for m in model.modules() if type(m) in fast.FAST_TWINS]  # none left behind
    state, before = model.state_dict(), plain.state_dict()
    assert state.keys() == before.keys()
    assert all(torch.equal(state[k], before[k]) for k in state)
    x = torch.randn(8, 1, 32, 32)
    torch.testing.assert_close(model(speed.prepare_batch(x)), plain(x), rtol=1e-4, atol=1e-5)


def test_the_compile_free_optimizer_steps_and_saves_as_torchs(monkeypatch):
    monkeypatch.setenv(speed.BASELINE_ENV, "")
    ours_model, torch_model = build_model("classic", seed=0), build_model("classic", seed=0)
    ours = speed.optimizer_class("adam")(ours_model.parameters(), lr=0.01, fused=True)
    theirs = torch.optim.Adam(torch_model.parameters(), lr=0.01, fused=True)
    x, y = torch.randn(16, 1, 32, 32), torch.arange(16) % 10
    for _ in range(3):
        for model, opt in ((ours_model, ours), (torch_model, theirs)):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    for a, b in zip(ours_model.parameters(), torch_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not any(p.grad_fn for p in ours_model.parameters())  # stepped without autograd
    restored = torch.optim.Adam(build_model("classic", seed=0).parameters(), lr=0.01, fused=True)
    restored.load_state_dict(ours.state_dict())  # a checkpoint reads back as torch's Adam's
    assert restored.state_dict()["state"][0]["step"] == 3


def _report_of(code: str, baseline: bool) -> dict:
    """The JSON line a fresh Python process running ``code`` prints last."""
    env = {**os.environ, speed.BASELINE_ENV: "1" if baseline else "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_FRESH_PROCESS = """
import json, sys
from lenet.training import TrainConfig, train
result = train(TrainConfig(epochs=1, train_subset=1536, batch_size=128, threads=1))
print(json.dumps({"dynamo": "torch._dynamo" in sys.modules, "acc": result.final["test_acc"]}))
"""


@pytest.mark.parametrize("baseline", [False, True])
def test_a_training_process_never_imports_the_compiler(real_raw, baseline):
    """``import torch._dynamo`` costs a fresh process a second; the baseline shows it is the
    optimizer that imports it, so this test checks the thing that was fixed."""
    report = _report_of(_FRESH_PROCESS, baseline)
    assert report["acc"] > 50
    assert report["dynamo"] is baseline


_PAGE_FAULTS = """
import json, resource, sys, torch
import torch.nn.functional as F
from lenet import speed
from lenet.models import build_model
kept = speed.keep_freed_memory()
torch.set_num_threads(1)
model = speed.prepare_model(build_model("classic", seed=0))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = speed.prepare_batch(torch.randn(128, 1, 32, 32)), torch.arange(128) % 10
def step():
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(20):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50
print(json.dumps({"kept": kept, "faults_per_step": faults}))
"""


def test_kept_memory_means_a_training_step_takes_no_fresh_pages():
    report = _report_of(_PAGE_FAULTS, baseline=False)
    if not report["kept"]:
        pytest.skip("this C library has no mallopt (not glibc)")
    # Without it, each step's 2.4 MB tensors came back as 1,500-2,100 freshly zeroed pages;
    # with it, a few dozen at most (the heap still grows now and then, beside other work).
    assert report["faults_per_step"] < 300


@pytest.mark.parametrize("variant", ["classic", "modern"])
def test_health_reads_the_faster_network_as_the_plain_one(variant, monkeypatch):
    from lenet.analysis.health import activation_kind, live_health

    monkeypatch.setenv(speed.BASELINE_ENV, "")
    plain = build_model(variant, seed=0)
    model = speed.prepare_model(build_model(variant, seed=0))
    assert activation_kind(model) == activation_kind(plain)
    probe = torch.randn(16, 1, 32, 32)
    shares, plain_shares = live_health(model, probe), live_health(plain, probe)
    assert shares and shares.keys() == plain_shares.keys()
