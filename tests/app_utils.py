"""Opening one dashboard page in AppTest the way a browser does: through the router.

``dashboard/Home.py`` is an ``st.navigation`` router, so a page is reached by running the
entry point with that page chosen (``AppTest.switch_page``), never by running the page's file
on its own: links between pages only resolve inside the router.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
HOME = str(ROOT / "dashboard" / "Home.py")


STUDENT_ID = "a-student-of-the-tests-0001"  # as the browser would keep it in local storage


def open_page(
    name: str,
    query: dict | None = None,
    default_timeout: float = 60,
    participant: str | None = STUDENT_ID,
) -> AppTest:
    """An AppTest on ``dashboard/views/<name>.py`` with ``query`` in its address; not run yet.

    ``participant`` is the id the browser's local storage would hand over (AppTest runs no
    JavaScript); None for a visitor whose browser has not said yet."""
    at = AppTest.from_file(HOME, default_timeout=default_timeout)
    if participant is not None:
        at.session_state["participant_id"] = participant
    if name != "home":
        at.run()  # the router registers its pages in a first run; then they can be chosen
        at.switch_page(f"views/{name}.py")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at


def links(at: AppTest) -> list[str]:
    """Every page link the last run drew, as "<url path>?<query>" ("Train", "Feature_maps?…")."""
    out = []
    for link in at.get("page_link"):
        query = link.proto.query_string
        out.append(f"{link.proto.page}?{query}" if query else link.proto.page)
    return out


# --- a class: the teacher, students, runs of theirs --------------------------------------------

TEACHER_ID = "the-teacher-of-the-tests-01"
TOKEN = "a-teacher-token-only-the-tests-know"  # LENET_TEACHER_TOKEN in the tests that sign in


def person(participant_id: str, name: str | None = None, teacher: bool = False):
    """The ``Participant`` with this id in the class of the current job manager (made on first
    sight); ``teacher`` signs them in with ``LENET_TEACHER_TOKEN``."""
    import os

    import services

    roster = services.job_manager().roster
    someone = roster.join(participant_id, name)
    if teacher:
        someone = roster.sign_in(participant_id, os.environ["LENET_TEACHER_TOKEN"])
        assert someone is not None, "LENET_TEACHER_TOKEN is not set as the test expects"
    return someone


def stored_run(store, owner, accuracies: list[float], status: str = "finished", **config) -> str:
    """A run folder as training leaves it, without training: ``owner``'s run of the default
    preset (changed by ``config``) whose epochs reached ``accuracies`` (test %)."""
    import time
    from dataclasses import asdict, replace

    from lenet.training import PRESETS

    cfg = asdict(replace(PRESETS["default"], **config))
    run = store.create(cfg, owner=owner.owner())
    steps = 10
    run.append({"type": "start", "time": time.time(), "train_images": 1000,
                "test_images": 10000, "steps_per_epoch": steps,
                "total_steps": steps * cfg["epochs"], "lr": cfg["lr"]})  # fmt: skip
    for epoch, acc in enumerate(accuracies, start=1):
        run.append({"type": "batch", "epoch": epoch, "step": epoch * steps, "loss": 0.5,
                    "acc": acc, "lr": cfg["lr"], "images_per_s": 1000.0,
                    "train_seconds": float(epoch)})  # fmt: skip
        run.append({"type": "epoch", "epoch": epoch, "step": epoch * steps, "train_loss": 0.5,
                    "train_acc": acc, "test_loss": 0.4, "test_acc": acc, "test_top3": 99.0,
                    "lr": cfg["lr"], "train_seconds": float(epoch),
                    "images_per_s": 1000.0})  # fmt: skip
    end = {"finished": "done"}.get(status, status)
    run.append({"type": end, "step": steps * len(accuracies), "train_seconds": 1.0})
    run.finish(status, "" if status == "finished" else f"The run was {status}.")
    return run.id


def element_texts(at: AppTest) -> str:
    """Every element the last run drew (main, sidebar, toasts, widgets), as its protobuf text:
    what a browser could show or hold anywhere in the page."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return "\n".join(out)


def poll(at: AppTest, until, timeout: float = 120.0, what: str = "the expected state") -> AppTest:
    """Run ``at`` again (as the browser's timer would) until ``until(at)``; fail after
    ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if until(at):
            return at
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
