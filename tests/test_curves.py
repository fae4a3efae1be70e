"""What views draw from a run's events (lenet.runs.curves), a resumed run's included, and the one
vocabulary of run states those events end in (lenet.training.events)."""

from lenet.runs import Curves, curves_from_events, curves_from_snapshot, outcome
from lenet.training import events as ev

EVENTS = [
    {"type": "start", "steps_per_epoch": 10, "total_steps": 20, "train_images": 1280},
    {"type": "batch", "epoch": 1, "step": 5, "loss": 2.0, "acc": 30.0, "lr": 0.01},
    {"type": "lr", "epoch": 1, "step": 7, "lr": 0.1},
    {"type": "batch", "epoch": 1, "step": 10, "loss": 1.0, "acc": 60.0, "lr": 0.1},
    {
        "type": "epoch",
        "epoch": 1,
        "step": 10,
        "test_loss": 0.8,
        "test_acc": 80.0,
        "test_top3": 95.0,
        "train_seconds": 2.0,
        "images_per_s": 640.0,
    },
    {"type": "batch", "epoch": 2, "step": 15, "loss": 0.5, "acc": 85.0, "lr": 0.1},
    {
        "type": "stopped",
        "step": 15,
        "train_seconds": 3.0,
        "message": "Stopped by request after 15 of 20 batches.",
    },
]


def test_curves_from_events_split_by_type():
    c = curves_from_events(EVENTS)
    assert [b["step"] for b in c.batches] == [5, 10, 15]
    assert [e["epoch"] for e in c.epochs] == [1]
    assert c.lr_changes == [EVENTS[2]]
    assert c.steps_per_epoch == 10 and c.planned_epochs == 2
    assert curves_from_events([]).batches == [] and curves_from_events([]).steps_per_epoch >= 1
    assert curves_from_events([]) == Curves()  # nothing logged yet: empty curves, one epoch


def test_snapshot_and_events_give_the_same_curves():
    snap = {
        "epochs": 2,
        "total_steps": 20,
        "batches": [e for e in EVENTS if e["type"] == "batch"],
        "epoch_metrics": [EVENTS[4]],
        "lr_changes": [EVENTS[2]],
    }
    assert curves_from_snapshot(snap) == curves_from_events(EVENTS)


RESUME = {"type": "resume", "time": 2.0, "epoch": 2, "step": 10, "total_steps": 20}
RESUMED = [
    *EVENTS[:6],  # start, epoch 1, and the first steps of epoch 2...
    {"type": "lr", "epoch": 2, "step": 12, "lr": 0.5},
    {"type": "interrupted", "step": 15, "train_seconds": 3.0, "message": "shut down"},
    RESUME,  # ...cut short: the run goes on from epoch 1's checkpoint, at step 10
    {"type": "batch", "epoch": 2, "step": 15, "loss": 0.4, "acc": 88.0, "lr": 0.1},
    {"type": "batch", "epoch": 2, "step": 20, "loss": 0.3, "acc": 90.0, "lr": 0.1},
    {**EVENTS[4], "epoch": 2, "step": 20, "test_acc": 85.0},
    {"type": "done", "step": 20, "train_seconds": 4.0},
]


def test_a_resume_drops_what_the_log_holds_beyond_its_step_and_is_marked():
    c = curves_from_events(RESUMED)
    assert [b["step"] for b in c.batches] == [5, 10, 15, 20]
    assert c.batches[2]["loss"] == 0.4  # the resumed step, not the cut-short one
    assert c.lr_changes == [EVENTS[2]]  # the rate set in the cut-short part is gone too
    assert [e["epoch"] for e in c.epochs] == [1, 2] and c.resumes == [RESUME]
    assert c.marks == [EVENTS[2], {"step": 10, "label": "resumed"}]
    assert (c.steps_per_epoch, c.planned_epochs) == (10, 2)
    assert (
        curves_from_events(EVENTS).marks == [EVENTS[2]] and curves_from_events(EVENTS).resumes == []
    )
    out = outcome(RESUMED)
    assert out["state"] == "finished" and out["epochs_done"] == 2 and out["test_acc"] == 85.0


def test_a_live_snapshot_of_a_resumed_run_gives_the_same_curves():
    c = curves_from_events(RESUMED)
    snap = {"epochs": 2, "total_steps": 20, "batches": c.batches, "epoch_metrics": c.epochs,
            "lr_changes": c.lr_changes, "resumes": [RESUME]}  # fmt: skip
    assert curves_from_snapshot(snap) == c
    assert curves_from_snapshot({**snap, "resumes": []}).marks == [EVENTS[2]]


def test_outcome_is_the_last_test_metrics_and_how_the_run_ended():
    out = outcome(EVENTS)
    assert out["state"] == "stopped" and out["message"].startswith("Stopped by request")
    assert out["test_acc"] == 80.0 and out["test_top3"] == 95.0 and out["train_seconds"] == 3.0
    assert out["epochs_done"] == 1 and out["best_test_acc"] == 80.0
    assert outcome([])["state"] is None and outcome([])["test_top3"] is None
    finished = outcome([*EVENTS[:5], {"type": "done", "step": 10, "train_seconds": 2.0}])
    assert finished["state"] == "finished" and finished["message"] == ""


def test_every_end_event_names_an_ended_state():
    assert set(ev.ACTIVE).isdisjoint(ev.ENDED) and ev.STATES == (ev.QUEUED, *ev.ACTIVE, *ev.ENDED)
    assert set(ev.END_EVENTS.values()) <= set(ev.ENDED) and ev.END_EVENTS["done"] == ev.FINISHED
    assert ev.INTERRUPTED in ev.ENDED and ev.PAUSED in ev.ACTIVE
    assert ev.end_event(EVENTS) is EVENTS[-1] and ev.end_state(EVENTS) == ev.STOPPED
    assert ev.end_state(EVENTS[:-1]) is None  # still running, or its log was cut
