"""How the trainer runs fast on a CPU without changing what it learns.

Measured on two cores against the trainer without them (``python -m lenet bench --only
breakdown --baseline``; the README has the whole breakdown):

- **freed memory kept** (``keep_freed_memory``): glibc hands a freed block of more than
  128 KiB back to the kernel, and the next step's tensor of the same size comes back as fresh
  pages, each zeroed on its first touch: about 2,000 page faults and 3-4 ms of a 12 ms step.
  The trainer's process keeps what it frees instead.
- **channels_last**: the convolutions' weights and inputs in NHWC order, the layout oneDNN's
  convolution kernels work in. Forward and backward of a batch of 128 took 19.2 ms, now 16.9;
  the 10,000-image test pass 0.72 s, now 0.52.
- **faster twins of three layers** (``lenet.models.fast``): tanh through the sigmoid, 2×2
  average pooling as a depthwise convolution, and C5 as the matrix product its convolution
  is.
- **fused Adam** (and SGD): one kernel updates all ten weight tensors instead of a dozen
  small operations per tensor: 1.56 ms per step, now 0.96. Its methods are called without
  the decorators that keep ``torch.compile`` out of them, which import ``torch._dynamo``
  (1.1 s of a fresh process's start) the first time an optimizer is made or stepped.

All are arithmetic in another order, not other arithmetic: the same seed trains the same
network to within float32 rounding (a test checks it). ``LENET_BASELINE=1`` turns them off, and
MNIST is then read through torchvision as before, so a benchmark can time the trainer as it
was in the same run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from lenet.models.fast import FAST_TWINS

__all__ = ["BASELINE_ENV", "baseline", "keep_freed_memory", "prepare_model", "prepare_batch",
           "optimizer_class", "optimizer_options", "describe"]  # fmt: skip

BASELINE_ENV = "LENET_BASELINE"
# glibc's mallopt parameters, and what the trainer sets them to: blocks up to 64 MiB (a
# 1,000-image evaluation batch's C1 maps are 19 MB) come from the heap, and up to 512 MiB of
# freed heap stays with the process.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BELOW, _TRIM_ABOVE = 64 << 20, 512 << 20
_memory_kept = False


def baseline() -> bool:
    """True when ``LENET_BASELINE`` asks for the trainer without these settings."""
    return os.environ.get(BASELINE_ENV, "").strip() not in ("", "0")


def keep_freed_memory() -> bool:
    """Keep this process's freed tensors for its next ones (glibc's ``mallopt``); True when
    set. A no-op under the baseline and where the C library is not glibc."""
    global _memory_kept
    if _memory_kept or baseline():
        return _memory_kept
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _memory_kept = bool(
        mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW) and mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE)
    )
    return _memory_kept


def prepare_model(model: nn.Module) -> nn.Module:
    """``model`` (changed in place, and returned) with its 4-D weights in channels_last and,
    on the CPU, the faster twin of each layer that has one (``lenet.models.fast``)."""
    if baseline():
        return model
    model.to(memory_format=torch.channels_last)
    if next(model.parameters()).device.type == "cpu":
        for layer in model.modules():
            if type(layer) in FAST_TWINS:  # a subclass with no state of its own: a class swap
                layer.__class__ = FAST_TWINS[type(layer)]
    return model


def prepare_batch(images: Tensor) -> Tensor:
    """A batch (N, C, H, W) in the model's memory format (a no-op copy when C is 1)."""
    return images if baseline() else images.contiguous(memory_format=torch.channels_last)


def _compile_free(cls: type[Optimizer]) -> type[Optimizer]:
    """``cls`` with its methods called without torch's ``_disable_dynamo`` wrappers, which
    import ``torch._dynamo`` on first use. Each wrapper only keeps ``torch.compile`` from
    tracing the method; nothing here compiles. ``step`` runs under ``no_grad``, as torch's
    wrapper runs it for an optimizer that is not differentiable."""
    plain = {
        name: getattr(Optimizer, name).__wrapped__
        for name in ("add_param_group", "zero_grad", "state_dict", "load_state_dict")
    }
    step = cls.step.__wrapped__

    def step_without_grad(self, closure=None):
        with torch.no_grad():
            return step(self, closure)

    return type(cls.__name__, (cls,), {**plain, "step": step_without_grad,
                                       "__module__": __name__})  # fmt: skip


_OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
_FAST_OPTIMIZERS = {name: _compile_free(cls) for name, cls in _OPTIMIZERS.items()}


def optimizer_class(name: str) -> type[Optimizer]:
    """The optimizer class for ``name`` ("adam" or "sgd"): torch's own under the baseline."""
    return (_OPTIMIZERS if baseline() else _FAST_OPTIMIZERS)[name]


def optimizer_options() -> dict:
    """Keyword arguments for ``optimizer_class``: the fused implementation."""
    return {} if baseline() else {"fused": True}


def describe() -> dict:
    """What is on, for a benchmark's report."""
    on = not baseline()
    return {
        "freed_memory_kept": _memory_kept,
        "channels_last": on,
        "fast_layers": on,
        "fused_optimizer": on,
        "compile_free_optimizer": on,
        "idx_reader": "lenet" if on else "torchvision",
    }
