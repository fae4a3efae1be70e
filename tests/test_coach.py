"""The coach (lenet.runs.coach): each rule on synthetic event streams made with the trainer's own
event types, at and just past its threshold; nothing on a real good-defaults run, at any point
of it; and the Train page showing a diverged run's note with a button to its lesson."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest

import app_utils
from lenet.runs import RunStore, curves_from_events
from lenet.runs import coach as c
from lenet.runs.coach import coach
from lenet.training import LESSONS, PRESETS
from lenet.training import events as ev

# `python -m lenet train --preset default --json`, its metrics.jsonl as the trainer wrote it
DEFAULT_RUN = Path(__file__).parent / "fixtures" / "default_run.jsonl"

# The lr-too-high preset's whole log (`--preset lr-too-high`): six steps, then the trainer stops.
LR_TOO_HIGH = [
    {"type": "start", "time": 1796158338.152137, "train_images": 60000, "test_images": 10000,
     "steps_per_epoch": 469, "total_steps": 469, "lr": 5.0},
    {"type": "batch", "epoch": 1, "step": 6, "loss": 147.21676635742188, "acc": 12.5, "lr": 5.0,
     "images_per_s": 0.0, "train_seconds": 0.34927522899670294,
     "health": {"saturated": {"C1": 0.991476, "S2": 0.0, "C3": 0.974414, "S4": 0.0,
                              "C5": 0.963411, "F6": 0.955776}}},
    {"type": "diverged", "step": 6, "train_seconds": 0.34927522899670294,
     "message": "The loss exploded to 147 at learning rate 5: each step overshot so far that "
                "the weights blew up. Try a learning rate 10x smaller."},
]  # fmt: skip


def start(steps_per_epoch: int = 100, epochs: int = 1, lr: float = 0.01) -> ev.StartEvent:
    return ev.StartEvent(type="start", time=0.0, train_images=128 * steps_per_epoch,
                         test_images=10000, steps_per_epoch=steps_per_epoch,
                         total_steps=steps_per_epoch * epochs, lr=lr)  # fmt: skip


def batch(step: int, loss: float, acc: float = 50.0, lr: float = 0.01, epoch: int = 1,
          health: dict | None = None) -> ev.BatchEvent:  # fmt: skip
    event = ev.BatchEvent(type="batch", epoch=epoch, step=step, loss=loss, acc=acc, lr=lr,
                          images_per_s=5000.0, train_seconds=step / 50)  # fmt: skip
    if health is not None:
        event["health"] = health
    return event


def epoch_end(epoch: int, train_loss: float, train_acc: float, test_loss: float,
              test_acc: float, steps: int = 10) -> ev.EpochEvent:  # fmt: skip
    return ev.EpochEvent(type="epoch", epoch=epoch, step=epoch * steps, train_loss=train_loss,
                         train_acc=train_acc, test_loss=test_loss, test_acc=test_acc,
                         test_top3=99.0, lr=0.003, train_seconds=float(epoch),
                         images_per_s=500.0)  # fmt: skip


def ramp(first: float, last: float, n: int = 20, step0: int = 10, every: int = 10, **kw):
    """``n`` batch events whose first and last quarters sit at ``first`` and ``last`` (what the
    too-slow rule averages), the middle in a straight line between."""
    q = n // 4
    losses = [first] * q + [first + (last - first) * (i + 1) / (n - 2 * q + 1)
                            for i in range(n - 2 * q)] + [last] * q  # fmt: skip
    return [batch(step0 + every * i, loss, **kw) for i, loss in enumerate(losses)]


def rules(notes) -> list[str]:
    return [n.rule for n in notes]


# --- the good-defaults run ---------------------------------------------------------------------


def test_the_real_good_defaults_run_gets_no_note_at_any_point_of_it():
    events = [json.loads(line) for line in DEFAULT_RUN.read_text().splitlines()]
    finals = [e for e in events if e["type"] == "epoch"]
    assert len(finals) == 3 and finals[-1]["test_acc"] > 98.5 and events[-1]["type"] == "done"
    config = asdict(PRESETS["default"])
    # What the live view sees, batch by batch (its snapshot's curves), and the ended run.
    for n in range(1, len(events) + 1):
        assert coach(curves_from_events(events[:n]), config) == [], f"after event {n}"
    assert coach(events, config) == coach(events) == []


def test_every_note_links_a_lesson_that_exists():
    notes = coach(LR_TOO_HIGH) + coach([start(), *ramp(2.3, 2.25, acc=20.0, lr=1e-4)])
    assert {n.lesson for n in notes} == {"lr-too-high", "lr-too-low"} <= set(LESSONS)


# --- divergence --------------------------------------------------------------------------------


def test_the_real_lr_too_high_run_diverged_with_its_loss_rate_and_saturated_layers():
    notes = coach(LR_TOO_HIGH, PRESETS["lr-too-high"])
    assert rules(notes) == ["diverged", "saturated"]  # the most serious first
    diverged, saturated = notes
    assert diverged.severity == "error" and diverged.lesson == "lr-too-high"
    assert diverged.evidence == "Loss 147 at step 6 with learning rate 5."
    assert (diverged.step, diverged.epoch) == (6, 1)
    assert saturated.evidence == (
        "C1 99 %, C3 97 %, C5 96 %, F6 96 % of tanh outputs saturated at step 6."
    )


def test_a_loss_that_became_nan_quotes_the_last_rate_known():
    events = [start(lr=2.0), batch(10, 1.5, lr=2.0), batch(20, 4.0, lr=2.0),
              ev.EndEvent(type="diverged", step=23, train_seconds=1.0)]  # fmt: skip
    (note,) = coach(events)
    assert note.rule == "diverged"
    assert note.evidence == "Loss NaN at step 23 with learning rate 2."


def test_a_live_loss_far_above_chance_is_exploding_before_the_trainer_stops_it():
    rising = [batch(10, 2.1, lr=5.0), batch(20, 0.9, lr=5.0), batch(30, 31234.0, lr=5.0)]
    (note,) = coach([start(lr=5.0), *rising])
    assert note.title == "The loss is exploding" and note.lesson == "lr-too-high"
    assert (
        note.evidence
        == "Loss 3.1e4 at step 30 with learning rate 5, from 0.9 at best (a guess is 2.303)."
    )
    below = [*rising[:2], batch(30, c.EXPLODING_LOSS - 0.01, lr=5.0)]
    assert coach([start(lr=5.0), *below]) == []
    # The 1998 recipes' loss is an RBF penalty, not a cross-entropy: large is not exploding.
    assert coach([start(), batch(10, 50.0, acc=95.0)], {"recipe": "paper"}) == []


def test_a_spike_the_run_resumed_from_before_is_forgotten():
    events = [start(), batch(10, 0.5, acc=92.0), batch(20, 40.0),
              ev.EndEvent(type="interrupted", step=20, train_seconds=1.0),
              ev.ResumeEvent(type="resume", time=1.0, epoch=1, step=10, total_steps=100),
              batch(20, 0.4, acc=93.0)]  # fmt: skip
    assert coach(events[:3]) != [] and coach(events) == []


# --- no better than a guess ---------------------------------------------------------------------


def test_a_run_at_chance_after_an_epoch_is_guessing_with_its_accuracy():
    # the zero-init lesson's end: every digit read as a 1, 11.35 % of the test digits
    events = [start(), batch(10, 2.30, acc=11.0), epoch_end(1, 2.30, 11.2, 2.30, 11.35)]
    (note,) = coach(events)
    assert (note.rule, note.severity, note.lesson, note.epoch) == (
        "guessing", "error", "zero-init", 1)  # fmt: skip
    assert note.evidence.startswith("Test accuracy 11.35 % after epoch 1; a guess among ten")
    assert "zero-init" in LESSONS


@pytest.mark.parametrize("test_acc, guessing", [(c.GUESS_ACC, True), (c.GUESS_ACC + 0.01, False)])
def test_guessing_at_its_edge_and_only_once_an_epoch_has_ended(test_acc, guessing):
    epochs = [epoch_end(1, 2.0, 30.0, 2.1, 40.0), epoch_end(2, 1.9, 25.0, 2.2, test_acc)]
    assert ("guessing" in rules(coach([start(epochs=2), *epochs]))) is guessing  # the newest
    assert "guessing" not in rules(coach([start(), batch(10, 2.30, acc=9.0)]))


# --- learning too slowly -----------------------------------------------------------------------


def test_a_flat_loss_far_from_good_is_too_slow_with_its_numbers():
    events = [start(lr=1e-4), *ramp(2.3, 2.07, acc=20.0, lr=1e-4)]
    (note,) = coach(events)
    assert note.rule == "too-slow" and note.lesson == "lr-too-low"
    assert note.evidence == (
        "Loss 2.3 → 2.07 (-10.0 %) over the last 20 logged batches (steps 10–200) at learning "
        "rate 1e-4; train accuracy 20 %."
    )
    assert (note.step, note.epoch) == (200, 1)
    just_inside = ramp(2.3, 2.3 * (1 - c.SLOW_DROP) + 0.001, acc=20.0)
    assert rules(coach([start(), *just_inside])) == ["too-slow"]


@pytest.mark.parametrize(
    "first, last, acc, n",
    [
        (2.3, 2.3 * (1 - c.SLOW_DROP) - 0.001, 20.0, 20),  # it fell just past the threshold
        (0.3, 0.29, c.FAR_FROM_GOOD_ACC, 20),  # flat, but at an accuracy that is good
        (2.3, 2.25, 20.0, c.SLOW_WINDOW - 1),  # too few batches logged to judge
    ],
)
def test_no_too_slow_note_just_past_its_edges(first, last, acc, n):
    assert coach([start(), *ramp(first, last, n=n, acc=acc)]) == []


def test_a_new_rate_gets_a_fresh_window_before_it_is_called_too_slow():
    flat = ramp(2.3, 2.25, acc=20.0, lr=1e-4)
    change = ev.LrEvent(type="lr", step=205, epoch=1, lr=1e-3)
    after = ramp(2.25, 2.2, n=10, step0=210, acc=21.0, lr=1e-3)
    assert "too-slow" not in rules(coach([start(), *flat, change, *after]))


# --- overfitting -------------------------------------------------------------------------------


def test_test_loss_rising_two_epochs_while_train_falls_is_overfitting():
    epochs = [epoch_end(1, 0.5, 85.0, 0.30, 88.0), epoch_end(2, 0.3, 92.0, 0.28, 90.0),
              epoch_end(3, 0.2, 96.0, 0.30, 90.2), epoch_end(4, 0.1, 98.0, 0.33, 90.1)]  # fmt: skip
    (note,) = coach([start(10, 4), *epochs])
    assert note.rule == "overfitting" and note.lesson == "overfit-500"
    assert note.evidence == (
        "Epochs 2–4: train loss fell 0.3 → 0.1 while test loss rose 0.28 → 0.33; at epoch 4 "
        "train accuracy 98.0 %, test 90.1 %."
    )
    assert note.epoch == 2
    assert coach([start(10, 4), *epochs[:3]]) == []  # one epoch of it is not yet a trend


def test_a_growing_gap_while_test_accuracy_stalls_is_overfitting():
    # The overfit-500 lesson's epochs 4-7 (a real run, rounded): test loss still falls a little.
    epochs = [
        epoch_end(4, 0.2344, 94.2, 0.3793, 88.69),
        epoch_end(5, 0.1601, 95.8, 0.3622, 89.27),
        epoch_end(6, 0.1062, 98.0, 0.3439, 89.75),
        epoch_end(7, 0.0735, 99.2, 0.344, 90.04),
    ]
    (note,) = coach([start(10, 20), *epochs])
    assert note.evidence.startswith("Epochs 5–7: train loss fell 0.16 → 0.0735 while test "
                                    "accuracy moved 89.3 → 90.0 % and the gap grew 6.5 → 9.2 "
                                    "points")  # fmt: skip
    # Test accuracy gaining a point or more is still learning; a gap under 2 points is no gap.
    learning = [epoch_end(5, 0.16, 95.8, 0.36, 89.0), epoch_end(6, 0.11, 98.0, 0.34, 89.5),
                epoch_end(7, 0.07, 99.2, 0.34, 90.0)]  # fmt: skip
    assert coach([start(10, 20), *learning]) == []
    small = [epoch_end(1, 0.2, 96.0, 0.15, 96.5), epoch_end(2, 0.1, 97.5, 0.12, 96.8),
             epoch_end(3, 0.05, 98.9, 0.11, 96.91)]  # fmt: skip
    assert 98.9 - 96.91 < c.OVERFIT_GAP and coach([start(10, 3), *small]) == []


# --- saturated and dead units ------------------------------------------------------------------


def test_saturated_and_dead_layers_in_the_newest_health_measurement():
    sat = {"saturated": {"C1": 0.12, "C5": 0.93, "F6": 0.97}}
    (note,) = coach([start(), batch(10, 0.4, acc=91.0, health=sat)])
    assert note.rule == "saturated" and note.lesson == "lr-too-high"
    assert note.evidence == "F6 97 %, C5 93 % of tanh outputs saturated at step 10."
    edge = {"saturated": {"F6": c.SATURATED_SHARE}}
    assert coach([start(), batch(10, 0.4, acc=91.0, health=edge)]) == []
    dead = {"dead": {"C3": 0.2, "C5": 0.62}}
    (note,) = coach([start(), batch(10, 0.4, acc=91.0, health=dead)])
    assert note.evidence == "C5 62 % of ReLU units dead at step 10." and note.lesson is None
    assert coach([start(), batch(10, 0.4, acc=91.0, health={"dead": {"C5": c.DEAD_SHARE}})]) == []


def test_only_the_newest_measurement_counts_and_an_epoch_record_can_be_newer():
    healed = [batch(10, 0.4, acc=91.0, health={"saturated": {"F6": 0.99}}),
              batch(20, 0.3, acc=92.0, health={"saturated": {"F6": 0.5}})]  # fmt: skip
    assert coach([start(10), *healed]) == []
    events = [start(20), *healed, epoch_end(1, 0.3, 92.0, 0.3, 92.0, steps=20)]
    record = {1: {"shares": {"saturated": {"F6": 0.95}}}}
    (note,) = coach(events, health=record)
    assert note.evidence == "F6 95 % of tanh outputs saturated at step 20." and note.epoch == 1


# --- a learning rate set by hand ---------------------------------------------------------------


def flat(level: float, n: int, step0: int, lr: float) -> list[dict]:
    return [batch(step0 + 10 * i, level, acc=30.0, lr=lr) for i in range(n)]


@pytest.mark.parametrize(
    "old, new, after, rule, title, lesson",
    [
        (1e-4, 1e-2, 1.2, "lr-helped", "Raising the learning rate helped", "lr-too-low"),
        (1.0, 0.1, 1.2, "lr-helped", "Lowering the learning rate helped", "lr-too-high"),
        (1e-2, 1.0, 3.2, "lr-hurt", "Raising the learning rate hurt", "lr-too-high"),
        (1e-2, 1e-4, 3.2, "lr-hurt", "Lowering the learning rate hurt", "lr-too-low"),
    ],
)
def test_a_rate_change_that_helped_or_hurt_quotes_the_loss_before_and_after(
    old, new, after, rule, title, lesson
):
    change = ev.LrEvent(type="lr", step=100, epoch=1, lr=new)
    events = [start(lr=old), *flat(2.3, 10, 10, old), change, *flat(after, 10, 110, new)]
    notes = [n for n in coach(events) if n.rule.startswith("lr-")]
    assert [(n.rule, n.title, n.lesson, n.step) for n in notes] == [(rule, title, lesson, 100)]
    assert notes[0].evidence == (
        f"Learning rate {c._num(old)} → {c._num(new)} at step 100: mean loss 2.3 over the 10 "
        f"logged batches before, {after} over the 10 after."
    )


def test_no_rate_note_within_its_margins():
    change = ev.LrEvent(type="lr", step=100, epoch=1, lr=0.1)
    before = flat(1.0, 10, 10, 0.01)
    for level in (1 + c.LR_EFFECT, 1 - c.LR_EFFECT):  # exactly a quarter: not judged
        assert coach([start(), *before, change, *flat(level, 10, 110, 0.1)]) == []
    assert coach([start(), *before, change, *flat(2.0, c.LR_MIN_BATCHES - 1, 110, 0.1)]) == []
    same = ev.LrEvent(type="lr", step=100, epoch=1, lr=0.01)  # set to the rate it had
    assert coach([start(), *before, same, *flat(2.0, 10, 110, 0.01)]) == []
    # A change in the middle of a steady fall, which goes on as before, is not credited.
    falling = [batch(10 * (i + 1), 2.0 - 0.1 * i, acc=80.0) for i in range(20)]
    steady = [*falling[:10], ev.LrEvent(type="lr", step=100, epoch=1, lr=0.02), *falling[10:]]
    assert "lr-helped" not in rules(coach([start(), *steady]))


def test_a_rate_raised_just_before_the_run_diverged_hurt():
    change = ev.LrEvent(type="lr", step=100, epoch=1, lr=5.0)
    spike, end = (
        batch(104, 180.0, lr=5.0),
        ev.EndEvent(type="diverged", step=104, train_seconds=2.0),
    )
    events = [start(), *flat(0.3, 10, 10, 0.01), change, spike, end]
    notes = coach(events)
    assert rules(notes) == ["diverged", "lr-hurt"]
    assert notes[1].evidence == (
        "Learning rate 0.01 → 5 at step 100: mean loss 0.3 over the 10 logged batches before, "
        "180 over the 1 after, then the run diverged."
    )


# --- the Train page ----------------------------------------------------------------------------


def test_the_train_page_shows_a_diverged_runs_note_and_picks_its_lesson(tmp_path, use_runs):
    use_runs(tmp_path)
    owner = app_utils.person(app_utils.STUDENT_ID).owner()
    store = RunStore(tmp_path)
    blew = store.create(asdict(PRESETS["lr-too-high"]), owner=owner)
    for event in LR_TOO_HIGH:
        blew.append(event)
    blew.finish(ev.DIVERGED, LR_TOO_HIGH[-1]["message"])
    good = store.create(asdict(PRESETS["default"]), owner=owner)
    for line in DEFAULT_RUN.read_text().splitlines():
        good.append(json.loads(line))
    good.finish(ev.FINISHED)

    at = app_utils.open_page("train", {"run": blew.id}, default_timeout=90).run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert (
        "**The loss diverged: training stopped.** Loss 147 at step 6 with learning rate 5." in shown
    )
    assert "C1 99 %, C3 97 %, C5 96 %, F6 96 % of tanh outputs saturated" in shown
    lesson = LESSONS["lr-too-high"][0]
    buttons = [b for b in at.button if b.label == lesson]
    assert len(buttons) == 1 and at.selectbox(key="lesson").value == "default"  # one a lesson
    buttons[0].click().run()
    assert not at.exception
    assert at.selectbox(key="lesson").value == "lr-too-high"
    assert at.select_slider(key="cfg_lr").value == PRESETS["lr-too-high"].lr
    assert at.selectbox(key="cfg_optimizer").value == "sgd"
    assert any(lesson in t.value for t in at.toast)

    at = app_utils.open_page("train", {"run": good.id}, default_timeout=90).run()
    assert not at.exception
    assert "The coach sees nothing wrong in this run." in " ".join(x.value for x in at.caption)
    assert not [b for b in at.button if b.key and b.key.startswith("coach_")]
