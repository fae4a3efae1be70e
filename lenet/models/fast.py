"""torch's layers as LeNet-5 uses them, computed faster on a CPU: the same functions, each a
subclass of the layer it replaces, with the same state, so nothing else can tell them apart.

`lenet.speed.prepare_model` puts them in the network a CPU trainer trains. Each one is the
layer's own arithmetic in another order (float32 rounding apart, the same numbers), and falls
back to the layer it replaces for any input it was not written for. On the two cores the
README's numbers come from, with a batch of 128 (``128 × 6 × 28 × 28`` maps after C1):

- ``Tanh``: torch's tanh is several times slower than its sigmoid on these CPUs, and
  tanh(x) = 2·sigmoid(2x) − 1 (within 2e-7). Forward over C1's maps: 0.8 ms, now 0.2.
- ``AvgPool2d``: a 2×2 mean is a depthwise convolution with weights ¼, which oneDNN runs
  four times faster than torch's own pooling of these shapes (0.57 ms, now 0.14), bit for bit.
- ``Conv2d``: C5's 5×5 kernels cover its whole 5×5 input, so the convolution is one matrix
  product, computed as one.
- ``LeNet5``: the modern network max-pools before its ReLU (the same maps and gradients), so
  the ReLU and its gradient pass over a quarter of the values: a step 8-10 % shorter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lenet.models import lenet5
from lenet.models.blocks import ConvAct

__all__ = ["Tanh", "AvgPool2d", "Conv2d", "LeNet5", "FAST_TWINS"]

# Below this many elements one torch kernel beats the few that the faster form takes.
_SMALL = 4096


class _TanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = (x * 2).sigmoid_().mul_(2).sub_(1)  # tanh(x) = 2·sigmoid(2x) − 1
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)  # grad · (1 − y²), torch.tanh's own


class Tanh(nn.Tanh):
    """``nn.Tanh`` through the sigmoid (see the module docstring)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.numel() < _SMALL or x.device.type != "cpu":
            return torch.tanh(x)
        return _TanhFunction.apply(x)


def _is_2x2(pool: nn.AvgPool2d) -> bool:
    """A 2×2 window with stride 2 and nothing else set: the only pooling LeNet-5 does."""
    two = lambda v: v in (2, (2, 2))  # noqa: E731
    return (
        two(pool.kernel_size)
        and two(pool.stride)
        and pool.padding in (0, (0, 0))
        and not pool.ceil_mode
        and pool.divisor_override is None
    )


def _even_maps(x: Tensor) -> bool:
    return x.dim() == 4 and x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0 and x.device.type == "cpu"


class AvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d(2)`` as a depthwise convolution with a ¼ kernel."""

    def forward(self, x: Tensor) -> Tensor:
        if not (_is_2x2(self) and _even_maps(x)):
            return super().forward(x)
        channels = x.shape[1]
        quarter = torch.full((channels, 1, 2, 2), 0.25, dtype=x.dtype)  # (C, 1, 2, 2)
        if x.is_contiguous(memory_format=torch.channels_last):
            quarter = quarter.contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, quarter, stride=2, groups=channels)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes a kernel covering its whole input as a matrix product."""

    def forward(self, x: Tensor) -> Tensor:
        whole = (
            x.dim() == 4
            and tuple(x.shape[-2:]) == tuple(self.kernel_size)
            and self.padding in (0, (0, 0))
            and self.groups == 1
            and x.device.type == "cpu"
        )  # stride and dilation can't matter: there is one position
        if not whole:
            return super().forward(x)
        out = F.linear(x.flatten(1), self.weight.flatten(1), self.bias)  # (N, out_channels)
        return out[:, :, None, None]  # (N, out_channels, 1, 1)


def _pools_before_relu(conv_act: nn.Module, pool: nn.Module) -> bool:
    """A convolution and its ReLU followed by 2×2 max-pooling (the modern network's C1 then S2,
    C3 then S4): ReLU keeps every order, so max(relu(a), relu(b), ...) = relu(max(a, b, ...)),
    and the ReLU can come after the pooling, on a quarter of the values."""
    return (
        type(conv_act) is ConvAct
        and type(getattr(conv_act, "act", None)) is nn.ReLU
        and type(pool) is nn.MaxPool2d
        and pool.kernel_size in (2, (2, 2))
        and pool.stride in (2, (2, 2))
        and pool.padding in (0, (0, 0))
        and pool.dilation in (1, (1, 1))
        and not pool.ceil_mode
        and not pool.return_indices
    )


class LeNet5(lenet5.LeNet5):
    """``LeNet5`` whose forward pass max-pools before the ReLU where that gives the same maps
    (``_pools_before_relu``). The ReLU then reads and writes a quarter of the values, and so
    does its gradient: C1's maps for a batch of 128 are 2.4 MB, more than these cores keep
    in cache, and each pass over them costs a few tenths of a millisecond. The gradients are
    the same too: each window's maximum is the same value at the same place, and where it is
    not positive no gradient passes either way. The layers themselves are unchanged, so
    calling them one by one (as ``lenet.analysis`` does) still shows C1's own maps."""

    def convolve_and_subsample(self, conv: nn.Module, subsample: nn.Module, x: Tensor) -> Tensor:
        if _pools_before_relu(conv, subsample):
            return torch.relu(subsample(conv.conv(x)))
        return subsample(conv(x))


# Each layer torch builds, and its faster twin (exact types: a subclass is left alone).
FAST_TWINS: dict[type, type] = {
    nn.Tanh: Tanh,
    nn.AvgPool2d: AvgPool2d,
    nn.Conv2d: Conv2d,
    lenet5.LeNet5: LeNet5,
}
