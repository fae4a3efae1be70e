"""What views draw from a run's events: curves split out of them, and the run's outcome.

Live jobs (``JobManager.snapshot``) and stored runs (``Run.events()``) describe the same
training in two shapes; both become one ``Curves`` so a single figure builder draws either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lenet.training import events as ev

__all__ = ["Curves", "curves_from_events", "curves_from_snapshot", "outcome"]


@dataclass
class Curves:
    """Everything the loss and accuracy figures need, from either source."""

    batches: list[dict] = field(default_factory=list)  # "batch" events: step, epoch, loss, acc
    epochs: list[dict] = field(default_factory=list)  # "epoch" events: test_loss, test_acc, ...
    lr_changes: list[dict] = field(default_factory=list)  # "lr" events: step, lr
    steps_per_epoch: int = 1
    planned_epochs: int = 1
    resumes: list[dict] = field(default_factory=list)  # "resume" events: step, epoch

    @property
    def marks(self) -> list[dict]:
        """What the curves mark with a vertical line: rate changes and resumptions, by step."""
        resumed = [{"step": r["step"], "label": "resumed"} for r in self.resumes]
        return sorted([*self.lr_changes, *resumed], key=lambda m: m["step"])


def curves_from_events(events: list[dict], planned_epochs: int | None = None) -> Curves:
    """Split a run's ``metrics.jsonl`` events by type; missing parts stay empty. A "resume"
    drops what the log holds beyond the step it goes on from (the epoch the interruption cut
    short) and is marked on the curves."""
    by = {"batch": [], "epoch": [], "lr": []}
    start: dict = {}
    resumes = []
    for e in events:
        kind = e.get("type")
        if kind in by:
            by[kind].append(e)
        elif kind == "start":
            start = e
        elif kind == "resume":
            for name in by:
                by[name] = [x for x in by[name] if x.get("step", 0) <= e["step"]]
            resumes.append(e)
    spe = (
        start.get("steps_per_epoch") or max((b.get("step", 0) for b in by["batch"]), default=1) or 1
    )
    planned = planned_epochs or (start.get("total_steps", spe) // spe if start else None)
    planned = planned or max((e.get("epoch", 1) for e in by["epoch"]), default=1)
    return Curves(by["batch"], by["epoch"], by["lr"], int(spe), int(max(planned, 1)), resumes)


def curves_from_snapshot(snap: dict) -> Curves:
    """The same ``Curves`` from a live job's snapshot (steps per epoch = total steps / epochs)."""
    epochs = max(int(snap.get("epochs") or 1), 1)
    spe = max(int(snap.get("total_steps") or 0) // epochs, 1)
    return Curves(
        snap.get("batches", []),
        snap.get("epoch_metrics", []),
        snap.get("lr_changes", []),
        spe,
        epochs,
        snap.get("resumes", []),
    )


def outcome(events: list[dict]) -> dict:
    """Final numbers of a run: last test metrics, training time, end state and its message."""
    epochs = [e for e in events if e.get("type") == "epoch"]
    end = ev.end_event(events) or {}
    last = epochs[-1] if epochs else {}
    return {
        "epochs_done": len(epochs),
        "test_acc": last.get("test_acc"),
        "test_top3": last.get("test_top3"),
        "test_loss": last.get("test_loss"),
        "best_test_acc": max((e["test_acc"] for e in epochs if "test_acc" in e), default=None),
        "train_seconds": end.get("train_seconds", last.get("train_seconds")),
        "images_per_s": last.get("images_per_s"),
        "state": ev.end_state(events),
        "message": end.get("message", ""),
    }
