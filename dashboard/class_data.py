"""The Class page's tables, without Streamlit: what each participant is doing, the leaderboard,
and the class's runs as one hyperparameter sweep. Pure functions of the board, the stored runs'
``RunInfo`` and the roster, so the tests check them directly."""

from __future__ import annotations

from formatting import format_duration
from lenet.runs import LEGACY_OWNER
from lenet.training import LESSONS, lesson_of
from lenet.training import events as ev

__all__ = ["doing", "class_rows", "leaderboard", "sweep_rows", "is_teachers"]


def is_teachers(owner: dict, teacher_ids: set[str]) -> bool:
    return owner.get("id") in teacher_ids or owner.get("id") == LEGACY_OWNER["id"]


def doing(job: dict | None, info) -> str:
    """A run's state in a few words: "waiting, #3 in line (about 2 min)", "running" (how far
    is the progress column's), "finished, 98.90 %"."""
    if job is not None and job["state"] == ev.QUEUED:
        return (
            f"waiting, #{job['queue_position']} in line "
            f"(about {format_duration(job['queue_wait_s'])})"
        )
    if job is not None and job["state"] in ev.ACTIVE:
        return job["state"]
    if info is None:
        return "—"
    best = f", {info.best_test_acc:.2f} %" if info.best_test_acc is not None else ""
    return f"{info.status}{best}"


def _lesson(config: dict) -> str:
    name = lesson_of(config) if config else None
    return LESSONS[name][0] if name else "own settings"


def class_rows(people: list, jobs: list[dict], infos: list, here: set[str]) -> list[dict]:
    """One row per participant who is here or has a run: their newest run (one still queued
    or training first), what it is doing, and their best test accuracy so far."""
    by_owner: dict[str, list] = {}
    for info in infos:  # newest first
        by_owner.setdefault(info.owner.get("id"), []).append(info)
    live = {j["id"]: j for j in jobs if j["state"] in ev.UNFINISHED}
    rows = []
    for person in people:
        runs = by_owner.get(person.id, [])
        if person.id not in here and not runs:
            continue
        current = next((i for i in runs if i.id in live), runs[0] if runs else None)
        best = max((i.best_test_acc for i in runs if i.best_test_acc is not None), default=None)
        rows.append(
            {
                "name": person.name,
                "role": person.role,
                "here": person.id in here,
                "run": current.id if current else "",
                "lesson": _lesson(current.config) if current else "",
                "doing": doing(live.get(current.id) if current else None, current),
                "progress": 100 * live[current.id]["progress"]  # %, as the column says it
                if current and current.id in live and live[current.id]["state"] in ev.ACTIVE
                else None,  # nothing for a run still waiting
                "best test %": best,
                "runs": len(runs),
            }
        )
    return sorted(rows, key=lambda r: (r["role"] != "teacher", r["name"].casefold()))


def leaderboard(infos: list, n: int = 10, names: dict[str, str] | None = None) -> list[dict]:
    """The ``n`` best finished runs by test accuracy, with who trained them and how
    (``names``: participant id -> name now, over the name stored with the run)."""
    names = names or {}
    done = [i for i in infos if i.status == ev.FINISHED and i.best_test_acc is not None]
    done.sort(key=lambda i: i.best_test_acc, reverse=True)
    return [
        {
            "place": k,
            "name": names.get(i.owner.get("id"), i.owner.get("name", "?")),
            "test %": i.best_test_acc,
            "lesson": _lesson(i.config),
            "variant": i.variant,
            "run": i.id,
        }
        for k, i in enumerate(done[:n], start=1)
    ]


def sweep_rows(infos: list) -> list[dict]:
    """The finished runs' hyperparameters and best test accuracy, for ``plots.sweep_figure``."""
    rows = []
    for i in infos:
        c = i.config or {}
        if i.status != ev.FINISHED or i.best_test_acc is None or not c.get("lr"):
            continue
        rows.append(
            {
                "lr": c["lr"],
                "batch_size": c.get("batch_size", 0),
                "epochs": c.get("epochs", 0),
                "train_images": c.get("train_subset") or 60_000,
                "optimizer": c.get("optimizer", "?"),
                "variant": i.variant,
                "best_test_acc": i.best_test_acc,
            }
        )
    return rows
