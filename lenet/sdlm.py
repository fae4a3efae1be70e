"""The 1998 training recipe for `lenet.paper`'s network: appendix C's Gauss-Newton curvature,
stochastic diagonal Levenberg-Marquardt (SDLM), sec. III.C's η schedule and distortions, the
training loops (one pattern per update, or batched), and `train_paper`, the recipe behind
`lenet.train.train` for `TrainConfig(recipe="paper" | "paper-fast")`."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from lenet.paper import (
    BACKGROUND,
    MAP_J,
    explicit_backward,
    explicit_forward,
    map_loss,
    mle_loss,
    paper_parameters,
)


@torch.no_grad()
def gauss_newton_diagonal(model: nn.Module, images: Tensor) -> list[Tensor]:
    """Appendix C's estimate of the diagonal d²E/dθ_k², averaged over `images` in one
    vectorised pass, in `paper_parameters` order. The recursion starts from the MLE
    criterion's exact d²E/dx_j² = 2 at F6's output (whatever the class); with `map_loss` the
    curvature of its second term is left out. Drops f'' and off-diagonal terms, as the paper."""
    params = [p.detach() for p in paper_parameters(model)]
    c3_idx = (model.C3[0].out_idx, model.C3[0].in_idx)
    cache, out = explicit_forward(params, images, c3_idx)
    h = explicit_backward(cache, torch.full_like(out, 2.0), square=True, c3_idx=c3_idx)
    return [hk.reshape(p.shape) / len(images) for hk, p in zip(h, params)]


MU = 0.02  # appendix C / sec. III.C: keeps η/(μ + h) bounded where h is tiny


class SDLM(torch.optim.Optimizer):
    """Stochastic diagonal Levenberg-Marquardt (appendix C): θ_k -= η/(μ + h_kk) · g_k.
    `estimate_hessian` stores h_kk (state "hessian"); before it is called h = 0."""

    def __init__(self, params, lr: float = 5e-4, mu: float = MU) -> None:
        super().__init__(params, {"lr": lr, "mu": mu})

    def step_sizes(self) -> dict[Tensor, Tensor]:
        """η/(μ + h) per parameter; the fast loops compute it once per pass."""
        return {
            p: g["lr"] / (g["mu"] + self.state[p].get("hessian", torch.zeros_like(p)))
            for g in self.param_groups
            for p in g["params"]
        }

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for p, eps in self.step_sizes().items():
            if p.grad is not None:
                p.addcmul_(p.grad, eps, value=-1.0)
        return loss

    def estimate_hessian(self, model: nn.Module, images: Tensor) -> None:
        """Re-estimate h_kk on `images` (the paper: 500 patterns before each pass)."""
        for p, h in zip(paper_parameters(model), gauss_newton_diagonal(model, images)):
            self.state[p]["hessian"] = h


# Sec. III.C: (last pass of a stage, η) for passes 1-2, 3-5, 6-8, 9-12; 1e-5 thereafter.
ETA_SCHEDULE: tuple[tuple[int, float], ...] = ((2, 5e-4), (5, 2e-4), (8, 1e-4), (12, 5e-5))
ETA_AFTER, PAPER_PASSES = 1e-5, 20
# Measured here, not in the paper (with the earlier one-pixel RBF bitmaps; see lenet.paper for
# the two-pixel ones): with its init and η, pass 1 saturates every unit within ~10 patterns
# (C5 and F6 have h ≪ μ at init, so their steps are η/μ = 0.025 and each moves 400 or 120
# coherent inputs at once). The recipes scale the paper's η by ETA_SCALES per pass.
# Test error after passes 1 and 2 on 60,000 patterns, one pattern per update, by scale: 0.2
# diverges; 0.1: 4.5 %, 2.5 %; 0.05: 2.7 %, 1.7 %; 0.02: 2.4 %, 1.6 %. From that pass-2 state,
# test error after pass 20 by the scale of passes 3-20 (MLE criterion): 0.05: 1.15 %;
# 0.12: 1.11 % (pass 16); 0.3: 1.06 %; 0.3, then 1.0 from pass 13: 1.07 %; 0.3, then 0.6 from
# pass 9: 1.19 % at pass 12; 1.0: 5.8 % at pass 5. Scale 0.3 already in pass 2: 4.4 % after it.
ETA_SCALES: tuple[tuple[int, float], ...] = ((2, 0.05),)  # (last pass, scale), then:
ETA_SCALE_AFTER = 0.3
# The criterion the recipes train on. Eq. 9's competitive term lowers the training error
# much faster than eq. 8 alone (MAP: 0.37 % after pass 10 vs MLE: 0.63 %, same η); its
# j = MAP_J. With j = 30 test error got worse (1.3 % after pass 10).
PAPER_LOSS = "map"


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


_SHAPES = (
    (6, 1, 5, 5),
    (6,),
    (6,),
    (6,),
    (60, 5, 5),
    (16,),
    (16,),
    (16,),
    (120, 16, 5, 5),
    (120,),
    (84, 120),
    (84,),
)
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
    params = [v.view(s) for v, s in zip(flat.split(_SIZES), _SHAPES)]
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
            warnings.warn(f"torch.compile failed ({err!r}); using the eager step")
            _COMPILED["sgd1"] = _sgd1_step
    return _COMPILED["sgd1"]


def _summary(stats: Tensor, done: int, started: float, stopped: bool) -> dict:
    loss, error = (stats / max(done, 1)).tolist()
    seconds = time.perf_counter() - started
    return {
        "patterns": done,
        "loss": loss,
        "train_error": error,
        "seconds": seconds,
        "ms_per_pattern": 1e3 * seconds / max(done, 1),
        "stopped": stopped,
    }


def train_pass_sgd1(
    model: nn.Module,
    opt: SDLM,
    images: Tensor,
    targets: Tensor,
    order: Tensor,
    *,
    loss: str = "mle",
    j: float = MAP_J,
    check_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[dict], None] | None = None,
    every: int = 100,
    compile: bool = True,
) -> dict:
    """One pass of the paper's recipe: one update per pattern of `images[order]`, steps
    η/(μ + h) frozen for the pass (call `opt.estimate_hessian` first). Every `every` updates
    the weights are copied into `model`, `on_progress` gets the running summary and
    `check_stop()` may end the pass; a new η set in `opt` meanwhile applies from there on.
    Returns the pass summary (running loss and error)."""
    params = paper_parameters(model)
    sizes = opt.step_sizes()
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    steps = -torch.cat([sizes[p].reshape(-1) for p in params])
    eta = opt.param_groups[0]["lr"]
    imgs, tgts = images[order].contiguous(), targets[order].contiguous()
    c3, stats = model.C3[0], torch.zeros(2)
    const = (model.OUTPUT.centers, stats, c3.out_idx, c3.in_idx, None if loss == "mle" else j)
    step = _step_fn(compile, (flat, steps, imgs[:1], tgts[:1], *const))
    started, done, stopped = time.perf_counter(), 0, False
    with torch.no_grad():
        for i in range(len(order)):
            step(flat, steps, imgs[i : i + 1], tgts[i : i + 1], *const)
            done = i + 1
            if done % every == 0 or done == len(order):
                # the model (and any view of it) sees the current weights
                torch._foreach_copy_(
                    params, [v.view_as(p) for v, p in zip(flat.split(_SIZES), params)]
                )
                if on_progress:
                    on_progress(_summary(stats, done, started, False))
                if check_stop and check_stop():
                    stopped = True
                    break
                if opt.param_groups[0]["lr"] != eta:  # changed by check_stop: rescale in place
                    steps.mul_(opt.param_groups[0]["lr"] / eta)
                    eta = opt.param_groups[0]["lr"]
    return _summary(stats, done, started, stopped)


def train_pass_batched(
    model: nn.Module,
    opt: SDLM,
    images: Tensor,
    targets: Tensor,
    order: Tensor,
    *,
    batch_size: int = 64,
    step_scale: float = 8.0,
    loss: str = "mle",
    j: float = MAP_J,
    check_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[dict], None] | None = None,
    every: int = 100,
) -> dict:
    """An approximation of `train_pass_sgd1` ("paper-fast"): one SDLM step of
    `step_scale`·η/(μ + h) per mini-batch on the mean loss. Scaling by batch_size (the sum of
    per-pattern steps from one point) diverges, so does ×16. Measured, one pass of 60,000 at
    η = 0.05·η_paper: 64 with ×8, 3.5 % test error, 0.27 ms/pattern; 16 with ×8, 2.3 %,
    0.56 ms/pattern; one pattern per update, 2.7 %. The model's forward must return -y."""
    started, done, stopped, stats = time.perf_counter(), 0, False, torch.zeros(2)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        y = -model(images[idx])
        mean = mle_loss(y, targets[idx]) if loss == "mle" else map_loss(y, targets[idx], j)
        opt.zero_grad(set_to_none=True)
        (mean * step_scale).backward()  # SDLM's step is linear in the gradient
        opt.step()
        with torch.no_grad():
            stats += torch.stack([mean * len(idx), (y.argmin(1) != targets[idx]).sum()])
        previous, done = done, done + len(idx)
        if on_progress and done // every > previous // every:
            on_progress(_summary(stats, done, started, False))
        if check_stop and check_stop():
            stopped = True
            break
    return _summary(stats, done, started, stopped)


def train_paper(
    cfg, store=None, control=None, on_event: Callable[[dict], None] | None = None, run=None
):
    """`lenet.train.train` for the paper recipes: same events, store and control. "paper": one
    compiled update per pattern (cfg.batch_size ignored); "paper-fast": `train_pass_batched`.
    cfg.epochs passes at η = `recipe_eta` (cfg.lr is ignored: the paper fixes η per pass) until
    `Control.set_lr` overrides it for the rest of the run. "batch" and "train_loss" losses are
    the PAPER_LOSS criterion (eq. 9: the correct class's RBF penalty plus the competitive
    term), not cross-entropy; "test_loss" is cross-entropy on -y, comparable across variants."""
    from lenet.data import load_split
    from lenet.metrics import evaluate_classification
    from lenet.model import build_model
    from lenet.train import Control, Result, _subset, configure_threads, reporter

    configure_threads(cfg.threads)
    control = control or Control()
    run, history, emit = reporter(cfg, store, run, on_event)

    X, Y = _subset(load_split("train", "paper"), cfg.train_subset, cfg.seed)
    test = load_split("test", "paper")
    model = build_model("paper", cfg.init, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt, order, n = SDLM(model.parameters(), mu=MU), torch.randperm(len(Y), generator=gen), len(Y)
    batch = 1 if cfg.recipe == "paper" else cfg.batch_size
    steps_per_epoch = math.ceil(n / batch)
    every = 1000 if batch == 1 else cfg.log_every * batch  # patterns between "batch" events
    eta_override: float | None = None  # a teacher's η, once set
    if run is not None:
        run.save_epoch(0, model, opt, cfg, None)
    emit(
        {
            "type": "start",
            "time": time.time(),
            "train_images": n,
            "test_images": len(test.labels),
            "steps_per_epoch": steps_per_epoch,
            "total_steps": steps_per_epoch * cfg.epochs,
            "lr": recipe_eta(1),
        }
    )
    state = {"active": 0.0, "step": 0, "seen": 0, "paused": 0.0, "published": 0.0}
    status, message = "finished", ""
    for epoch in range(1, cfg.epochs + 1):
        data = distort(X, gen) if cfg.distort else X
        opt.param_groups[0]["lr"] = eta_override or recipe_eta(epoch)
        opt.estimate_hessian(model, data[torch.randperm(n, generator=gen)[:500]])
        base_step, window = state["step"], {"done": 0, "loss": 0.0, "err": 0.0, "t": 0.0}
        state["paused"], diverged = 0.0, []

        def check_stop() -> bool:
            nonlocal eta_override
            state["paused"] += control.wait_while_paused()  # not training time
            if (lr := control.take_lr()) is not None:
                eta_override = opt.param_groups[0]["lr"] = lr  # holds for the rest of the run
                emit({"type": "lr", "step": state["step"], "epoch": epoch, "lr": lr})
            return control.stopped or bool(diverged)

        def on_progress(s: dict) -> None:
            done, t = s["patterns"], s["seconds"] - state["paused"]
            k = done - window["done"]
            loss = (s["loss"] * done - window["loss"]) / max(k, 1)
            err = (s["train_error"] * done - window["err"]) / max(k, 1)
            state["step"] = base_step + math.ceil(done / batch)
            if not math.isfinite(loss):
                diverged.append(loss)
                return
            if k and (done // every > window["done"] // every or done == n):
                emit(
                    {
                        "type": "batch",
                        "epoch": epoch,
                        "step": state["step"],
                        "loss": loss,
                        "acc": 100.0 * (1 - err),
                        "lr": opt.param_groups[0]["lr"],
                        "images_per_s": k / max(t - window["t"], 1e-9),
                        "train_seconds": state["active"] + t,
                    }
                )
                window.update(done=done, loss=s["loss"] * done, err=s["train_error"] * done, t=t)
            if time.perf_counter() - state["published"] > 1.0:  # live weights, about 1/s
                control.publish(model, epoch, state["step"])
                state["published"] = time.perf_counter()

        kw = {"check_stop": check_stop, "on_progress": on_progress, "loss": PAPER_LOSS}
        s = (
            train_pass_sgd1(model, opt, data, Y, order, every=100, **kw)
            if batch == 1
            else train_pass_batched(model, opt, data, Y, order, batch_size=batch, every=every, **kw)
        )
        state["active"] += s["seconds"] - state["paused"]
        state["seen"] += s["patterns"]
        state["step"] = base_step + math.ceil(s["patterns"] / batch)
        if diverged or not math.isfinite(s["loss"]):
            status, message = (
                "diverged",
                (
                    f"The loss became NaN at η = {opt.param_groups[0]['lr']:g}: "
                    "the weights blew up. Try a smaller learning rate."
                ),
            )
        status = "stopped" if status == "finished" and s["stopped"] else status
        if status != "finished":
            break
        metrics = evaluate_classification(
            model, (test.images, test.labels), topk=(1, 3), batch_size=cfg.eval_batch_size
        )
        event = {
            "type": "epoch",
            "epoch": epoch,
            "step": state["step"],
            "train_loss": s["loss"],
            "train_acc": 100.0 * (1 - s["train_error"]),
            "test_loss": metrics["loss"],
            "test_acc": metrics["top1"],
            "test_top3": metrics["top3"],
            "lr": opt.param_groups[0]["lr"],
            "train_seconds": state["active"],
            "images_per_s": state["seen"] / max(state["active"], 1e-9),
        }
        control.publish(model, epoch, state["step"])
        if run is not None:
            run.save_epoch(epoch, model, opt, cfg, event)
        emit(event)

    if status == "stopped":
        message = (
            f"Stopped by request after {state['step']} of {steps_per_epoch * cfg.epochs} updates."
        )
    end = {"step": state["step"], "train_seconds": state["active"]}
    emit(
        {"type": "done", **end}
        if status == "finished"
        else {"type": status, **end, "message": message}
    )
    if run is not None:
        run.finish(status, message)
    return Result(
        status=status,
        model=model,
        history=history,
        run_id=run.id if run is not None else None,
        message=message,
    )
