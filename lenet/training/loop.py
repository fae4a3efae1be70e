"""``train``: the one training loop, whatever the recipe.

The loop owns what every run does: the data and its order, the epoch-0 checkpoint, the control
checks between steps, the live "batch" events (with the units' health every two seconds) and
the weights published about once a second, evaluation and checkpoints (each with its health
record) after each epoch, and the ending. A recipe (``standard``, or the 1998 ``paper`` and
``paper-fast``) supplies the steps. The loop knows nothing of the UI: it calls ``on_event(dict)``
and checks a ``Control``. The CLI prints a progress bar from those events; the dashboard's jobs
keep them for live charts; a ``Run`` writes them to disk.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from lenet import speed
from lenet.analysis.health import health, live_health, probe_batch
from lenet.analysis.metrics import evaluate_classification
from lenet.data import Split, load_split
from lenet.models import build_model, normalization_of
from lenet.training import events as ev
from lenet.training.config import ConfigError, TrainConfig
from lenet.training.control import Control
from lenet.training.paper_recipe import MiniBatchRecipe, OnePatternRecipe
from lenet.training.recipe import Chunk, Recipe
from lenet.training.standard import StandardRecipe
from lenet.training.threads import ThreadGovernor, configure_threads

__all__ = ["train", "Result", "configure_threads", "RECIPE_CLASSES"]

RECIPE_CLASSES: dict[str, type] = {
    "standard": StandardRecipe,
    "paper": OnePatternRecipe,
    "paper-fast": MiniBatchRecipe,
}
PUBLISH_EVERY_S = 1.0  # live weights for views of the running model
# A "batch" event carries the live saturated or dead shares this often, and the last one of
# every epoch always does, so a run shorter than this still ends on a measurement: one
# measurement (a forward pass of the 256 probe digits) costs about 1 % of the training time
# at this pace.
HEALTH_EVERY_S = 2.0


@dataclass
class Result:
    status: str  # one of lenet.training.events.ENDED: finished, stopped, diverged, interrupted
    model: nn.Module
    history: list[dict] = field(default_factory=list)
    run_id: str | None = None
    message: str = ""

    @property
    def final(self) -> dict:
        """The last epoch event (test metrics), or {} when no epoch finished."""
        return next((e for e in reversed(self.history) if e["type"] == "epoch"), {})


def _subset(split: Split, n: int, seed: int) -> tuple[Tensor, Tensor]:
    if not n or n >= len(split.labels):
        return split.images, split.labels
    g = torch.Generator().manual_seed(seed + 1)  # independent of the batch order's stream
    idx = torch.randperm(len(split.labels), generator=g)[:n]
    return split.images[idx].contiguous(), split.labels[idx]


def _mix_class_digits(X: Tensor, Y: Tensor, cfg: TrainConfig, runs_root) -> tuple:
    """MNIST's images with the class's own digits making ``cfg.class_share`` of the set: the
    three quarters training may use (``ClassDigits``: a quarter is held out), each repeated as
    often as it takes, in a seeded order. (X, Y, how many were added)."""
    if not cfg.class_share:
        return X, Y, 0
    from lenet.data.class_digits import ClassDigits

    if runs_root is None:
        raise ConfigError("class_share > 0 needs a run store: the class's digits are kept in it")
    digits = ClassDigits.for_runs(runs_root)
    extra, _ = digits.split("train", normalization_of(cfg.variant))
    if not len(extra.labels):
        raise ConfigError("class_share > 0, but the class has no digits to train on yet (add "
                          "drawn digits with their labels on the Feature maps page)")  # fmt: skip
    want = round(cfg.class_share * len(Y) / (1 - cfg.class_share))
    g = torch.Generator().manual_seed(cfg.seed + 2)
    idx = torch.randint(len(extra.labels), (want,), generator=g)
    idx[: min(want, len(extra.labels))] = torch.randperm(len(extra.labels), generator=g)[:want]
    X = torch.cat([X, extra.images[idx].to(X.dtype)]).contiguous()
    return X, torch.cat([Y, extra.labels[idx]]), want


def training_device(config: TrainConfig) -> torch.device:
    """Where ``config`` trains: ``cuda`` when asked for (``ConfigError`` without a CUDA GPU)
    or, for ``auto``, when there is one and the recipe is the standard one; else the CPU."""
    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise ConfigError("device = 'cuda': this machine has no CUDA GPU that torch can use "
                          "(choose auto or cpu)")  # fmt: skip
    wanted = config.device == "cuda" or (config.device == "auto" and config.recipe == "standard")
    return torch.device("cuda" if wanted and cuda else "cpu")


def _restore(run, model: nn.Module, recipe: Recipe) -> tuple[int, int, int, float]:
    """Load ``run``'s newest checkpoint into the model and the recipe; (the next epoch, steps,
    patterns seen, training seconds) so far. ValueError when it can't be resumed."""
    if run is None:
        raise ValueError("resuming needs the run to go on with")
    ckpt = run.load_checkpoint()
    training = ckpt.get("training")
    if not training or ckpt.get("optimizer") is None:
        raise ValueError(f"run {run.id}'s newest checkpoint (epoch {ckpt['epoch']}) has no "
                         "training state to go on from")  # fmt: skip
    model.load_state_dict(ckpt["model"])
    recipe.optimizer.load_state_dict(ckpt["optimizer"])
    recipe.load_state_dict(training["recipe"])
    return ckpt["epoch"] + 1, training["step"], training["seen"], training["train_seconds"]


def diverged_message(loss: float, lr: float) -> str:
    what = "became NaN" if math.isnan(loss) else f"exploded to {loss:.3g}"
    return (
        f"The loss {what} at learning rate {lr:g}: each step overshot so far that the "
        "weights blew up. Try a learning rate 10x smaller."
    )


class _Window:
    """Running sums of the steps since the last "batch" event (or the epoch's start)."""

    def __init__(self) -> None:
        self.loss = self.correct = self.patterns = 0
        self.seconds = 0.0

    def add(self, chunk: Chunk, seconds: float) -> None:
        self.loss += chunk.loss_sum
        self.correct += chunk.correct
        self.patterns += chunk.patterns
        self.seconds += seconds

    def event(self, epoch: int, step: int, lr: float, train_seconds: float) -> ev.BatchEvent:
        """The window's means as a "batch" event (images/s 0 for an untimed window)."""
        return ev.BatchEvent(
            type="batch",
            epoch=epoch,
            step=step,
            loss=self.loss / self.patterns,
            acc=100.0 * self.correct / self.patterns,
            lr=lr,
            images_per_s=self.patterns / self.seconds if self.seconds else 0.0,
            train_seconds=train_seconds,
        )


def train(
    config: TrainConfig,
    store=None,
    control: Control | None = None,
    on_event: Callable[[dict], None] | None = None,
    run=None,
    resume: bool = False,
    share_cores: bool = False,
) -> Result:
    """Train LeNet-5 as ``config`` says, reporting through ``on_event`` and a ``Run``.

    ``store`` (a ``RunStore``) creates a run folder, or pass an existing ``run``. Events are
    plain JSON-able dicts (``lenet.training.events``): start, batch, lr, epoch, then one of
    done | stopped | diverged | interrupted. ``resume`` goes on with ``run`` from its newest
    checkpoint (weights, optimizer, schedule and random streams as they were after that epoch):
    a "resume" event instead of "start", then the remaining epochs, as if never interrupted.
    ``share_cores``: train on the cores other processes leave free, up to ``config.threads``
    (``lenet.training.threads``; the dashboard's workers, beside a busy server).
    """
    cfg = config.validate()
    configure_threads(cfg.threads)
    speed.keep_freed_memory()
    governor = ThreadGovernor.shared(cfg.threads) if share_cores else None
    control = control or Control()
    if run is None and store is not None:
        run = store.create(asdict(cfg))
    history: list[dict] = []

    def emit(event: dict) -> None:
        history.append(event)
        if run is not None:
            run.append(event)
        if on_event is not None:
            on_event(event)

    device = training_device(cfg)
    norm = normalization_of(cfg.variant)
    X, Y = _subset(load_split("train", norm), cfg.train_subset, cfg.seed)
    X, Y, mixed = _mix_class_digits(X, Y, cfg, run.path.parent if run is not None else None)
    X, Y = X.to(device), Y.to(device)
    test = load_split("test", norm)
    test_data = (test.images.to(device), test.labels.to(device))
    probe = probe_batch(test).to(device)  # the digits every health record is measured on
    model = build_model(cfg.variant, cfg.init, seed=cfg.seed).to(device)
    recipe: Recipe = RECIPE_CLASSES[cfg.recipe](model, cfg, len(Y))
    n, per_step = len(Y), recipe.patterns_per_step
    steps_per_epoch = math.ceil(n / per_step)
    total_steps = steps_per_epoch * cfg.epochs
    log_every = cfg.log_every * recipe.chunk_steps  # steps between "batch" events
    chunk = recipe.chunk_steps * per_step  # patterns between control checks
    step, seen, active_s, published, first = 0, 0, 0.0, 0.0, 1
    measured = 0.0  # when the live health was last measured
    if resume:
        first, step, seen, active_s = _restore(run, model, recipe)
        emit(
            ev.ResumeEvent(
                type="resume", time=time.time(), epoch=first, step=step, total_steps=total_steps
            )
        )
    else:
        if run is not None:  # epoch 0: the untrained network
            run.save_epoch(0, model, recipe.optimizer, cfg, None, health=health(model, probe))
        emit(
            ev.StartEvent(
                type="start",
                time=time.time(),
                train_images=n,
                test_images=len(test.labels),
                steps_per_epoch=steps_per_epoch,
                total_steps=total_steps,
                lr=recipe.first_lr,
                **({"class_digits": mixed} if mixed else {}),
            )
        )

    status, message = ev.FINISHED, ""
    for epoch in range(first, cfg.epochs + 1):
        data, order = recipe.begin_epoch(epoch, X)
        totals, window = _Window(), _Window()
        clock = time.perf_counter()
        for start in range(0, n, chunk):
            clock += control.wait_while_paused()  # paused time is not training time
            if control.stopped:
                status = ev.INTERRUPTED if control.interrupted else ev.STOPPED
                break
            if governor is not None:
                governor.tick()
            if (lr := control.take_lr()) is not None:
                recipe.set_lr(lr)
                emit(ev.LrEvent(type="lr", step=step, epoch=epoch, lr=lr))
            done = recipe.train(data, Y, order[start : start + chunk])
            now = time.perf_counter()
            seconds, clock = now - clock, now
            active_s += seconds
            before, step = step, step + done.steps
            mean = done.loss_sum / max(done.patterns, 1)
            if not mean < recipe.diverged_above:  # also catches NaN and inf
                status, message = ev.DIVERGED, diverged_message(mean, recipe.lr)
                if math.isfinite(mean):  # the spike itself, so the curve shows the explosion
                    spike = _Window()
                    spike.add(done, 0.0)
                    event = spike.event(epoch, step, recipe.lr, active_s)
                    event["health"] = live_health(model, probe)  # the units as it blew up
                    emit(event)
                break
            totals.add(done, seconds)
            window.add(done, seconds)
            seen += done.patterns
            last_of_epoch = start + chunk >= n
            if step // log_every > before // log_every or last_of_epoch:
                event = window.event(epoch, step, recipe.lr, active_s)
                if now - measured > HEALTH_EVERY_S or last_of_epoch:
                    event["health"] = live_health(model, probe)
                    measured = now
                emit(event)
                window = _Window()
            if now - published > PUBLISH_EVERY_S:
                control.publish(model, epoch, step)
                published = now
        if status != ev.FINISHED:
            break
        metrics = evaluate_classification(
            model, test_data, topk=(1, 3), batch_size=cfg.eval_batch_size
        )
        event = ev.EpochEvent(
            type="epoch",
            epoch=epoch,
            step=step,
            train_loss=totals.loss / max(totals.patterns, 1),
            train_acc=100.0 * totals.correct / max(totals.patterns, 1),
            test_loss=metrics["loss"],
            test_acc=metrics["top1"],
            test_top3=metrics["top3"],
            lr=recipe.lr,
            train_seconds=active_s,
            images_per_s=seen / max(active_s, 1e-9),
        )
        control.publish(model, epoch, step)
        if run is not None:
            state = {"recipe": recipe.state_dict(), "step": step, "seen": seen,
                     "train_seconds": active_s}  # fmt: skip
            record = health(model, probe)
            run.save_epoch(
                epoch, model, recipe.optimizer, cfg, event, training=state, health=record
            )
        emit(event)

    if status == ev.STOPPED:
        message = f"Stopped by request after {step:,} of {total_steps:,} {recipe.unit}."
    elif status == ev.INTERRUPTED:
        message = "Training was interrupted (the server shut down); finished epochs are kept."
    kind = "done" if status == ev.FINISHED else status
    end = ev.EndEvent(type=kind, step=step, train_seconds=active_s)
    emit({**end, "message": message} if message else end)
    if run is not None:
        run.finish(status, message)
    return Result(status, model.cpu(), history, run.id if run is not None else None, message)
