"""The coach: rules over a run's events that name what is happening, with the numbers that show it.

``coach(events)`` reads what a run logged (``lenet.training.events``: its "batch" events with
their live health, "epoch", "lr" and the end) and returns ``Note``s: the loss diverged, it
reads the test digits no better than a guess, it learns too slowly, it started to overfit, a
layer's units are saturated or dead, a learning rate changed by hand helped or hurt. Each note
quotes the events' own numbers and names the lesson preset (a key of ``PRESETS`` and
``LESSONS``) that shows the same effect.

Pure functions over the events: no training, no files. A live view calls it about once a second
on the whole history, so every rule is a pass or two over the lists (about a millisecond for
5,000 batch events).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from dataclasses import dataclass
from statistics import fmean

from lenet.runs.curves import Curves, curves_from_events
from lenet.training import events as ev
from lenet.training.config import TrainConfig

__all__ = [
    "Note",
    "SEVERITIES",
    "RULES",
    "CHANCE_LOSS",
    "EXPLODING_LOSS",
    "GUESS_ACC",
    "SLOW_WINDOW",
    "SLOW_ENDS",
    "SLOW_DROP",
    "FAR_FROM_GOOD_ACC",
    "OVERFIT_EPOCHS",
    "OVERFIT_GAP",
    "OVERFIT_STALL",
    "SATURATED_SHARE",
    "DEAD_SHARE",
    "LR_WINDOW",
    "LR_MIN_BATCHES",
    "LR_EFFECT",
    "LR_NOTES",
    "coach",
]

SEVERITIES = ("error", "warning", "info")  # the run is broken · going wrong · worth knowing
RULES = ("diverged", "guessing", "too-slow", "overfitting", "saturated", "dead", "lr-hurt",
         "lr-helped")  # fmt: skip

# --- divergence --------------------------------------------------------------------------------
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over ten digits: where runs start
# Four times chance: the right digit's mean probability below e^-9.2 = 1e-4, a network that is
# confidently wrong. The trainer itself stops a run at 100; between the two a run is lost but
# still going, and a good run never logs more than its first batches' ~2.
EXPLODING_LOSS = 4 * CHANCE_LOSS

# --- no better than a guess -----------------------------------------------------------------------
# Test accuracy after an epoch, %: a guess among ten digits gets 10 %, and the zero-init lesson,
# which learns nothing, 11.35 %; a run that learned anything passes 50 % within its first epoch
# (the quick lesson's 47 steps on 6,000 digits reach about 92 %).
GUESS_ACC = 20.0

# --- learning too slowly -----------------------------------------------------------------------
# The loss is judged over the last SLOW_WINDOW logged batches since the rate last changed, or
# over the last third of them when that is more, so a long run is judged over a long stretch
# (200 steps at the presets' log_every of 10 are enough to see a steady fall through the noise).
SLOW_WINDOW = 20
SLOW_ENDS = 0.25  # of the window, averaged at each end: one noisy batch doesn't decide
SLOW_DROP = 0.15  # it fell by less than this share: a learning run halves it; lr 1e-4 gets 7-10 %
FAR_FROM_GOOD_ACC = 90.0  # train accuracy, %: a flat loss above it is a run that has learned

# --- overfitting -------------------------------------------------------------------------------
OVERFIT_EPOCHS = 2  # epochs in a row of train improving while test worsens: one can be noise
# Train minus test accuracy, points: a run without overfitting ends within a point either side
# (the epoch's train accuracy is measured while it still learns, so it lags the test one).
OVERFIT_GAP = 2.0
OVERFIT_STALL = 1.0  # test accuracy points gained over those epochs: less is a stall, not learning

# --- health (shares of ``lenet.analysis.health``) ----------------------------------------------
# Tanh outputs near ±1 are what a confident layer gives: a good run's F6 settles near 70 %. A
# rate far too high pins 95-99 % of every layer within a few steps.
SATURATED_SHARE = 0.9
# ReLU units zero for every probe digit: the fast99 lesson (ReLU) keeps up to a quarter of a
# layer dead while it passes 99 %, so half is well past what a good run loses.
DEAD_SHARE = 0.5

# --- a learning rate set by hand ---------------------------------------------------------------
LR_WINDOW = 10  # logged batches on each side of the change (100 steps at log_every 10)
LR_MIN_BATCHES = 5  # on each side: it is judged once this many are logged after it
# The mean loss moved by a quarter: two windows in a row of a run left alone differ by up to a
# sixth. "Helped" must also beat where the loss was heading before the change.
LR_EFFECT = 0.25
LR_NOTES = 3  # the latest changes only: a class that slides the rate a lot gets a short list


@dataclass(frozen=True)
class Note:
    """One thing the coach sees: what (``title``), the numbers (``evidence``), where."""

    rule: str  # one of RULES
    severity: str  # one of SEVERITIES
    title: str  # one line: what is happening
    evidence: str  # the events' own numbers that show it
    lesson: str | None  # the preset that shows the same effect, or None
    step: int | None = None  # the step it refers to
    epoch: int | None = None  # the epoch it refers to


def coach(
    events: list[dict] | Curves,
    config: TrainConfig | dict | None = None,
    health: dict[int, dict] | None = None,
) -> list[Note]:
    """What the run's events show, most serious first; [] when nothing is wrong.

    ``events``: a run's ``metrics.jsonl`` events, or the ``Curves`` made of them (a live job's
    snapshot: it has no end yet). ``config``: the run's ``TrainConfig`` or its dict, for the
    recipe (the 1998 recipes' loss is not a cross-entropy) and the learning rate when none was
    logged. ``health``: ``Run.health()``'s records by epoch, used when newer than the live
    measurements in the events.
    """
    if isinstance(events, Curves):
        curves, end = events, None
    else:
        curves, end = curves_from_events(events), ev.end_event(events)
    notes = [
        *_diverged(curves, end, config),
        *_guessing(curves),
        *_too_slow(curves),
        *_overfitting(curves),
        *_unhealthy(curves, health),
        *_lr_changes(curves, end),
    ]
    return sorted(notes, key=lambda n: (SEVERITIES.index(n.severity), RULES.index(n.rule)))


# --- the rules ---------------------------------------------------------------------------------


def _diverged(curves: Curves, end: dict | None, config: TrainConfig | dict | None) -> list[Note]:
    """The trainer ended the run as diverged, or the loss is exploding (not finite, or far
    above chance for a cross-entropy)."""
    last = curves.batches[-1] if curves.batches else None
    if end is not None and end.get("type") == ev.DIVERGED:
        step = end.get("step")
        if last is not None and last.get("step") == step:  # the spike the trainer logged
            loss, lr, epoch = last["loss"], last["lr"], last.get("epoch")
        else:  # a loss that became NaN is not logged: the last rate known
            loss, lr, epoch = math.nan, _rate(curves, config), last.get("epoch") if last else None
        where = f"at step {step:,}" if step is not None else "at its end"
        return [
            Note(
                "diverged",
                "error",
                "The loss diverged: training stopped",
                f"Loss {_num(loss)} {where} with learning rate {_num(lr)}.",
                "lr-too-high",
                step,
                epoch,
            )
        ]
    if last is None:
        return []
    cross_entropy = _field(config, "recipe", "standard") == "standard"
    loss = last["loss"]
    if math.isfinite(loss) and not (cross_entropy and loss > EXPLODING_LOSS):
        return []
    lowest = min((b["loss"] for b in curves.batches if math.isfinite(b["loss"])), default=None)
    was = f", from {_num(lowest)} at best" if lowest is not None and lowest < loss else ""
    return [
        Note(
            "diverged",
            "error",
            "The loss is exploding",
            f"Loss {_num(loss)} at step {last['step']:,} with learning rate {_num(last['lr'])}"
            f"{was} (a guess is {_num(CHANCE_LOSS)}).",
            "lr-too-high",
            last["step"],
            last.get("epoch"),
        )
    ]


def _guessing(curves: Curves) -> list[Note]:
    """The newest epoch's test accuracy is no better than a guess among the ten digits."""
    done = [e for e in curves.epochs if _has(e, "test_acc")]
    if not done or done[-1]["test_acc"] > GUESS_ACC:
        return []
    last = done[-1]
    return [
        Note(
            "guessing",
            "error",
            "The network reads the test digits no better than a guess",
            f"Test accuracy {last['test_acc']:.2f} % after epoch {last['epoch']}; a guess among "
            "ten digits gets 10 %. Nothing it learned carries to new digits: too few training "
            "images, a learning rate far too low, or units that all start alike.",
            "zero-init",
            last.get("step"),
            last["epoch"],
        )
    ]


def _too_slow(curves: Curves) -> list[Note]:
    """The loss barely fell over the last logged batches while train accuracy is still low."""
    since = curves.lr_changes[-1]["step"] if curves.lr_changes else -1
    batches = [b for b in curves.batches if b["step"] > since]
    size = max(SLOW_WINDOW, len(batches) // 3)
    if len(batches) < size:
        return []
    window, ends = batches[-size:], int(size * SLOW_ENDS)
    first = fmean(b["loss"] for b in window[:ends])
    now = fmean(b["loss"] for b in window[-ends:])
    acc = fmean(b["acc"] for b in window[-ends:])
    if not (math.isfinite(first) and math.isfinite(now)) or first <= 0:
        return []
    drop = (first - now) / first
    if drop >= SLOW_DROP or acc >= FAR_FROM_GOOD_ACC:
        return []
    lr = window[-1]["lr"]
    return [
        Note(
            "too-slow",
            "warning",
            "Learning too slowly: the loss barely moves",
            f"Loss {_num(first)} → {_num(now)} ({-100 * drop:+.1f} %) over the last {size} "
            f"logged batches (steps {window[0]['step']:,}–{window[-1]['step']:,}) at learning "
            f"rate {_num(lr)}; train accuracy {acc:.0f} %.",
            "lr-too-low",
            window[-1]["step"],
            window[-1].get("epoch"),
        )
    ]


def _overfitting(curves: Curves) -> list[Note]:
    """The first OVERFIT_EPOCHS epochs in a row where the train loss fell while the test loss
    rose at every epoch, or the train-test accuracy gap grew past OVERFIT_GAP at every epoch
    while test accuracy stalled."""
    names = ("train_loss", "test_loss", "train_acc", "test_acc")
    epochs = [e for e in curves.epochs if _has(e, *names)]
    for i in range(len(epochs) - OVERFIT_EPOCHS):
        run = epochs[i : i + OVERFIT_EPOCHS + 1]
        a, b = run[0], run[-1]
        if not b["train_loss"] < a["train_loss"]:
            continue
        pairs = list(itertools.pairwise(run))
        gaps = [e["train_acc"] - e["test_acc"] for e in run]
        test_worse = all(y["test_loss"] > x["test_loss"] for x, y in pairs)
        gap_grows = (
            all(y > x for x, y in itertools.pairwise(gaps))
            and gaps[-1] >= OVERFIT_GAP
            and b["test_acc"] - a["test_acc"] < OVERFIT_STALL
        )
        if test_worse:
            what = f"test loss rose {_num(a['test_loss'])} → {_num(b['test_loss'])}"
        elif gap_grows:
            what = (
                f"test accuracy moved {a['test_acc']:.1f} → {b['test_acc']:.1f} % and the gap "
                f"grew {gaps[0]:.1f} → {gaps[-1]:.1f} points"
            )
        else:
            continue
        return [
            Note(
                "overfitting",
                "warning",
                "Overfitting: train improves, test does not",
                f"Epochs {a['epoch']}–{b['epoch']}: train loss fell {_num(a['train_loss'])} → "
                f"{_num(b['train_loss'])} while {what}; at epoch {b['epoch']} train accuracy "
                f"{b['train_acc']:.1f} %, test {b['test_acc']:.1f} %.",
                "overfit-500",
                a.get("step"),
                a["epoch"],
            )
        ]
    return []


def _unhealthy(curves: Curves, records: dict | None) -> list[Note]:
    """The newest health measurement's layers with too many saturated or dead units."""
    step, epoch, shares = _latest_health(curves, records)
    rules = {
        "saturated": (SATURATED_SHARE, "Tanh units saturated: their gradient vanishes",
                      "of tanh outputs saturated", "lr-too-high"),
        "dead": (DEAD_SHARE, "ReLU units dead: no gradient reaches them",
                 "of ReLU units dead", None),
    }  # fmt: skip
    notes = []
    for measure, (limit, title, what, lesson) in rules.items():
        over = sorted(
            ((layer, s) for layer, s in shares.get(measure, {}).items() if s > limit),
            key=lambda kv: kv[1],
            reverse=True,
        )
        if over:
            layers = ", ".join(f"{layer} {100 * s:.0f} %" for layer, s in over)
            when = f" at step {step:,}" if step is not None else ""
            notes.append(
                Note(measure, "warning", title, f"{layers} {what}{when}.", lesson, step, epoch)
            )
    return notes


def _lr_changes(curves: Curves, end: dict | None) -> list[Note]:
    """For the latest LR_NOTES rates set by hand: did the loss do better after than before?"""
    batches = curves.batches
    steps = [b["step"] for b in batches]
    changes = curves.lr_changes
    notes = []
    for k in range(max(len(changes) - LR_NOTES, 0), len(changes)):
        change = changes[k]
        at = change["step"]
        previous = changes[k - 1]["step"] if k else -1
        following = changes[k + 1]["step"] if k + 1 < len(changes) else math.inf
        cut = bisect_right(steps, at)  # batches[:cut] were logged at the old rate
        before = [b for b in batches[max(cut - LR_WINDOW, 0) : cut] if b["step"] > previous]
        after = [b for b in batches[cut : cut + LR_WINDOW] if b["step"] <= following]
        blew_up = (
            end is not None
            and end.get("type") == ev.DIVERGED
            and at <= end.get("step", -1) <= following
        )
        if len(before) < LR_MIN_BATCHES or (len(after) < LR_MIN_BATCHES and not blew_up):
            continue
        note = _judge_change(change, before, after, blew_up)
        if note is not None:
            notes.append(note)
    return notes


def _judge_change(
    change: dict, before: list[dict], after: list[dict], blew_up: bool
) -> Note | None:
    """Helped: the loss after is a quarter below both its level before and where its trend
    was heading. Hurt: a quarter above its level before, or the run diverged."""
    old, new = before[-1]["lr"], change["lr"]
    if new == old:  # set to the rate it had: nothing changed to judge
        return None
    level = fmean(b["loss"] for b in before)
    losses = [b["loss"] for b in after]
    mean_after = fmean(losses) if losses and all(map(math.isfinite, losses)) else math.inf
    # Where the loss was heading: the before window's trend (its halves' means, half a window
    # apart) carried on to the middle of the after window.
    half = len(before) // 2
    rise = fmean(b["loss"] for b in before[half:]) - fmean(b["loss"] for b in before[:half])
    slope = rise / (len(before) / 2)  # per logged batch
    heading = level + slope * (len(before) + max(len(after), 1)) / 2
    if blew_up or mean_after > level * (1 + LR_EFFECT):
        verdict = "hurt"
    elif mean_after < min(level, heading) * (1 - LR_EFFECT):
        verdict = "helped"
    else:
        return None
    raised = new > old
    lesson = "lr-too-high" if raised == (verdict == "hurt") else "lr-too-low"
    after_words = f"{_num(mean_after)} over the {len(after)} after" if after else ""
    if blew_up:
        after_words += ", then the run diverged" if after_words else "then the run diverged"
    return Note(
        f"lr-{verdict}",
        "warning" if verdict == "hurt" else "info",
        f"{'Raising' if raised else 'Lowering'} the learning rate {verdict}",
        f"Learning rate {_num(old)} → {_num(new)} at step {change['step']:,}: mean loss "
        f"{_num(level)} over the {len(before)} logged batches before, {after_words}.",
        lesson,
        change["step"],
        change.get("epoch"),
    )


# --- helpers -----------------------------------------------------------------------------------


def _latest_health(curves: Curves, records: dict | None) -> tuple[int | None, int | None, dict]:
    """(step, epoch, {measure: {layer: share}}) of the newest measurement: a "batch" event's
    live health, or an epoch's record when that is as new or newer."""
    live = next((b for b in reversed(curves.batches) if b.get("health")), None)
    best = (live["step"], live.get("epoch"), live["health"]) if live else (None, None, {})
    if records:
        at = {e["epoch"]: e.get("step") for e in curves.epochs}
        at[0] = 0
        epoch = max(records)
        step = at.get(epoch)
        shares = records[epoch].get("shares") or {}
        if shares and step is not None and (best[0] is None or step >= best[0]):
            best = (step, epoch, shares)
    return best


def _rate(curves: Curves, config: TrainConfig | dict | None) -> float:
    """The learning rate in force at the end: the last logged one, else the configured one."""
    if curves.batches:
        return curves.batches[-1]["lr"]
    if curves.lr_changes:
        return curves.lr_changes[-1]["lr"]
    return _field(config, "lr", math.nan)


def _field(config: TrainConfig | dict | None, name: str, default):
    """A field of a ``TrainConfig`` or of its dict, or ``default``."""
    if isinstance(config, dict):
        return config.get(name, default)
    return getattr(config, name, default)


def _has(event: dict, *names: str) -> bool:
    return all(isinstance(event.get(n), int | float) and math.isfinite(event[n]) for n in names)


def _num(x: float) -> str:
    """A number as people write it: 147, 2.301, 0.025, 3.2e4, 1e-4, NaN."""
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("∞" if x > 0 else "-∞")
    if x != 0 and (abs(x) >= 1e4 or abs(x) < 1e-3):
        mantissa, exponent = f"{x:.1e}".split("e")
        return f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.3f}".rstrip("0").rstrip(".")
