"""The 1998 recipe for the paper's network: sec. III.C's η per pass and its random distortions,
trained with SDLM one pattern per update ("paper") or per mini-batch ("paper-fast").

`lenet.training.loop.train` runs these recipes for ``TrainConfig(recipe="paper" | "paper-fast")``:
same events, store and control as the standard recipe. η comes from the schedule, not from
``cfg.lr``, until ``Control.set_lr`` overrides it for the rest of the run. "batch" and
"train_loss" losses are the PAPER_LOSS criterion (eq. 9: the right class's RBF penalty plus the
competitive term), not cross-entropy; "test_loss" is cross-entropy on -y, comparable across
variants. docs/paper-experiments.md has the measurements behind every choice below.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lenet.models.paper import BACKGROUND, paper_parameters
from lenet.training.backprop import explicit_backward, explicit_forward
from lenet.training.config import TrainConfig
from lenet.training.criteria import MAP_J, map_loss, mle_loss
from lenet.training.recipe import Chunk
from lenet.training.sdlm import MU, SDLM

__all__ = [
    "ETA_SCHEDULE", "ETA_AFTER", "PAPER_PASSES", "ETA_SCALES", "ETA_SCALE_AFTER", "PAPER_LOSS",
    "eta_for_pass", "recipe_eta", "distort", "OnePatternRecipe", "MiniBatchRecipe",
]  # fmt: skip

log = logging.getLogger(__name__)

# Sec. III.C: (last pass of a stage, η) for passes 1-2, 3-5, 6-8, 9-12; 1e-5 thereafter.
ETA_SCHEDULE: tuple[tuple[int, float], ...] = ((2, 5e-4), (5, 2e-4), (8, 1e-4), (12, 5e-5))
ETA_AFTER, PAPER_PASSES = 1e-5, 20
# With the paper's init and η, pass 1 saturates every unit within ~10 patterns: C5 and F6 start
# with h ≪ μ, so their steps are η/μ and each moves hundreds of coherent inputs at once. The
# recipes scale the paper's η per pass: (last pass, scale), then ETA_SCALE_AFTER.
ETA_SCALES: tuple[tuple[int, float], ...] = ((2, 0.05),)
ETA_SCALE_AFTER = 0.3
# The criterion the recipes train on: eq. 9's competitive term lowers the training error much
# faster than eq. 8 alone, with j = MAP_J.
PAPER_LOSS = "map"
MINI_BATCH_STEP_SCALE = 8.0  # "paper-fast": × the one-pattern step; ×16 and ×batch diverge
PATTERNS_PER_CHECK = 100  # "paper": updates between control checks and weight copies


def eta_for_pass(p: int) -> float:
    """The paper's global learning rate η for pass p (1-based)."""
    if p < 1:
        raise ValueError(f"passes are numbered from 1, got {p}")
    return next((eta for last, eta in ETA_SCHEDULE if p <= last), ETA_AFTER)


def recipe_eta(p: int) -> float:
    """The η the recipes use for pass p: the paper's, times this project's ETA_SCALES."""
    scale = next((k for last, k in ETA_SCALES if p <= last), ETA_SCALE_AFTER)
    return scale * eta_for_pass(p)


def distort(
    images: Tensor,
    generator: torch.Generator | None = None,
    shift: float = 2.0,
    scale: float = 0.1,
    squeeze: float = 0.1,
    shear: float = 0.15,
    background: float = BACKGROUND,
) -> Tensor:
    """Sec. III.C's random planar affine distortions of (N, 1, H, W), one per image:
    translation ±shift px, scaling 1±scale, squeezing (x by q, y by 1/q, q = 1±squeeze),
    horizontal shearing ±shear. Pixels pulled in from outside are `background`."""
    n, _, h, w = images.shape
    u = lambda r: (torch.rand(n, generator=generator) * 2 - 1) * r  # noqa: E731
    s, q, sh = 1 + u(scale), 1 + u(squeeze), u(shear)
    theta = torch.zeros(n, 2, 3)  # maps output to input coordinates, hence the inverses
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 1] = 1 / (s * q), sh, q / s
    theta[:, 0, 2], theta[:, 1, 2] = u(shift) * 2 / w, u(shift) * 2 / h  # 1 px = 2/size
    out = torch.empty_like(images)
    for i in range(0, n, 8192):  # in chunks: a grid for all 60,000 digits alone is 0.5 GB
        part = images[i : i + 8192]
        grid = F.affine_grid(theta[i : i + 8192].to(images), list(part.shape), align_corners=False)
        # grid_sample fills with 0: shift the background to 0 and back
        out[i : i + 8192] = F.grid_sample(part - background, grid, align_corners=False) + background
    return out


class _PaperRecipe:
    """What both 1998 recipes share: SDLM, η per pass, the curvature re-estimated on 500
    patterns before each pass, one fixed order of the patterns, optional distortions."""

    unit = "updates"
    diverged_above = float("inf")  # RBF penalties start large: only a non-finite loss blew up

    def __init__(self, model: nn.Module, cfg: TrainConfig, train_images: int) -> None:
        self.model, self.distort = model, cfg.distort
        self._gen = torch.Generator().manual_seed(cfg.seed)
        self.optimizer = SDLM(model.parameters(), mu=MU)
        self._order = torch.randperm(train_images, generator=self._gen)  # the same every pass
        self._override: float | None = None  # a teacher's η, once set
        self.first_lr = recipe_eta(1)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def set_lr(self, lr: float) -> None:
        self._override = self.optimizer.param_groups[0]["lr"] = lr

    def state_dict(self) -> dict:
        """What a resumed run needs besides the optimizer: the random stream (distortions and
        curvature samples) and a teacher's η."""
        return {"generator": self._gen.get_state(), "override": self._override}

    def load_state_dict(self, state: dict) -> None:
        self._gen.set_state(state["generator"])
        self._override = state["override"]

    def begin_epoch(self, epoch: int, images: Tensor) -> tuple[Tensor, Tensor]:
        data = distort(images, self._gen) if self.distort else images
        self.optimizer.param_groups[0]["lr"] = self._override or recipe_eta(epoch)
        sample = data[torch.randperm(len(data), generator=self._gen)[:500]]
        self.optimizer.estimate_hessian(self.model, sample)
        return data, self._order


class MiniBatchRecipe(_PaperRecipe):
    """ "paper-fast", an approximation of the one-pattern recipe: one SDLM step of
    MINI_BATCH_STEP_SCALE·η/(μ + h) per mini-batch, on the batch's mean criterion."""

    chunk_steps = 1

    def __init__(self, model: nn.Module, cfg: TrainConfig, train_images: int) -> None:
        super().__init__(model, cfg, train_images)
        self.patterns_per_step = cfg.batch_size

    def train(self, images: Tensor, labels: Tensor, idx: Tensor) -> Chunk:
        y = -self.model(images[idx])  # the model returns -y: back to RBF penalties (B, 10)
        targets = labels[idx]
        mean = mle_loss(y, targets) if PAPER_LOSS == "mle" else map_loss(y, targets, MAP_J)
        self.optimizer.zero_grad(set_to_none=True)
        (mean * MINI_BATCH_STEP_SCALE).backward()  # SDLM's step is linear in the gradient
        self.optimizer.step()
        right = int((y.argmin(1) == targets).sum())
        return Chunk(mean.item() * len(idx), right, len(idx), 1)


class OnePatternRecipe(_PaperRecipe):
    """ "paper": one update per pattern, as in 1998, with the step sizes η/(μ + h) frozen for
    the pass. The update is written out (`lenet.training.backprop`) and compiled: no autograd
    and no host sync within a chunk of PATTERNS_PER_CHECK patterns."""

    patterns_per_step = 1
    chunk_steps = PATTERNS_PER_CHECK
    compile = True  # False: the eager step (same numbers, slower; no compile wait)

    def __init__(self, model: nn.Module, cfg: TrainConfig, train_images: int) -> None:
        super().__init__(model, cfg, train_images)
        self._params = paper_parameters(model)
        c3 = model.C3.conv
        self._stats = torch.zeros(2)
        self._const = (model.OUTPUT.centers, self._stats, c3.out_idx, c3.in_idx)
        self._j = None if PAPER_LOSS == "mle" else MAP_J

    def set_lr(self, lr: float) -> None:
        if hasattr(self, "_steps"):  # within a pass: rescale the frozen steps in place
            self._steps.mul_(lr / self.lr)
        super().set_lr(lr)

    def begin_epoch(self, epoch: int, images: Tensor) -> tuple[Tensor, Tensor]:
        data, order = super().begin_epoch(epoch, images)
        sizes = self.optimizer.step_sizes()
        self._flat = torch.cat([p.detach().reshape(-1) for p in self._params])
        self._steps = -torch.cat([sizes[p].reshape(-1) for p in self._params])
        return data, order

    @torch.no_grad()
    def train(self, images: Tensor, labels: Tensor, idx: Tensor) -> Chunk:
        imgs, tgts = images[idx], labels[idx]
        example = (self._flat, self._steps, imgs[:1], tgts[:1], *self._const, self._j)
        threads = torch.get_num_threads()
        # One digit's kernels are too small to share between threads: the update takes
        # 0.22 ms on one thread and 0.26 (or twice that beside other work) on two.
        torch.set_num_threads(1)
        try:
            step = _step_fn(self.compile, example)  # compiled for one thread, too
            self._stats.zero_()
            for i in range(len(idx)):
                step(self._flat, self._steps, imgs[i : i + 1], tgts[i : i + 1], *self._const,
                     self._j)  # fmt: skip
        finally:
            torch.set_num_threads(threads)
        # the model (and any view of it) sees the current weights
        views = [v.view_as(p) for v, p in zip(self._flat.split(_SIZES), self._params, strict=True)]
        torch._foreach_copy_(self._params, views)
        loss_sum, errors = self._stats.tolist()
        return Chunk(loss_sum, len(idx) - int(errors), len(idx), len(idx))


_SHAPES = (
    (6, 1, 5, 5), (6,), (6,), (6,), (60, 5, 5), (16,), (16,), (16,),
    (120, 16, 5, 5), (120,), (84, 120), (84,),
)  # fmt: skip
_SIZES = [int(torch.Size(s).numel()) for s in _SHAPES]
_COMPILED: dict[str, Callable] = {}


def _sgd1_step(
    flat: Tensor,
    steps: Tensor,
    x: Tensor,
    target: Tensor,
    centers: Tensor,
    stats: Tensor,
    out_idx: Tensor,
    in_idx: Tensor,
    j: float | None,
) -> None:
    """One pattern, one update, in place on the flat parameter vector; stats += (E, error).
    No autograd and no host sync, so the compiler can fuse it into a few C++ kernels."""
    params = [v.view(s) for v, s in zip(flat.split(_SIZES), _SHAPES, strict=True)]
    cache, out = explicit_forward(params, x, (out_idx, in_idx))
    d = out[:, None, :] - centers  # (1, 10, 84)
    y = (d * d).sum(-1)  # (1, 10) RBF penalties
    w = F.one_hot(target, 10).to(y.dtype)  # dE/dy for MLE
    loss = (y * w).sum()
    if j is not None:  # MAP: dE/dy_i = δ_iD - softmax over (-y, -j)
        logits = torch.cat([-y, y.new_full((1, 1), -j)], 1)
        loss = loss + torch.logsumexp(logits, 1).sum()
        w = w - torch.softmax(logits, 1)[:, :10]
    grads = explicit_backward(cache, 2 * (d * w[:, :, None]).sum(1), False, (out_idx, in_idx))
    flat.addcmul_(torch.cat([g.reshape(-1) for g in grads]), steps)  # steps = -η/(μ+h)
    stats.add_(torch.stack([loss, (y.argmin(1) != target).sum().to(y.dtype)]))


def _step_fn(compile: bool, args: tuple) -> Callable:
    """The step compiled by inductor (tens of seconds once per process, cached on disk after
    that), or eager if compiling is off or fails (no C++ compiler): slower, same numbers."""
    if not compile or os.environ.get("LENET_NO_COMPILE") == "1":  # skips the compile wait
        return _sgd1_step
    if "sgd1" not in _COMPILED:
        try:  # realize_reads_threshold=1 stops inductor recomputing tanh inside im2col
            fn = torch.compile(
                _sgd1_step, fullgraph=True, dynamic=False, options={"realize_reads_threshold": 1}
            )
            fn(args[0].clone(), *args[1:5], args[5].clone(), *args[6:])  # compile on copies
            _COMPILED["sgd1"] = fn
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back
            log.warning("torch.compile failed (%r); using the eager step", err)
            _COMPILED["sgd1"] = _sgd1_step
    return _COMPILED["sgd1"]
