"""A class on one server: N students, each in a browser context of its own, start the quick
lesson at about the same time, and the queue trains them one slot at a time.

``python -m lenet bench --classroom N`` starts the dashboard on 127.0.0.1, measures one quick
run alone through the same server (``solo_s``), opens N students' Train pages, has each press
Start on "A quick look", and follows the runs in the store until all have finished. Meanwhile a
new visitor opens the Train page again and again (``page_load_*``: from the request to a page
whose Start button can be pressed). Waits are each run's time from queued to training. Every
student is a real headless Chromium page: a classroom's browsers are thirty machines, so what
counts here is the server's side, and Chromium on the same two cores only makes it harder.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.server import CHROMIUM, CHROMIUM_ARGS, Server

__all__ = ["bench_classroom"]

ENDED = ("finished", "failed", "interrupted", "stopped", "diverged")
LESSON = "A quick look"  # the quick preset's title on the Train page
VIEWPORT = {"width": 1280, "height": 900}


def _open_train(browser, url: str):
    """A new visitor's Train page, ready to start (identity known): (page, seconds it took)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(120_000)
    t0 = time.perf_counter()
    page.goto(f"{url}/Train", wait_until="domcontentloaded")
    start = page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Start training")
    start.wait_for()
    page.wait_for_function(
        "() => { const b = [...document.querySelectorAll('[data-testid=\"stSidebar\"] button')]"
        ".find(b => b.innerText.includes('Start training')); return b && !b.disabled; }"
    )
    return page, time.perf_counter() - t0


def _start_quick(page) -> float:
    """Choose the quick lesson and press Start; the moment Start was pressed."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label("Lesson").click()
    page.get_by_role("option", name=LESSON, exact=True).click()
    page.wait_for_timeout(300)  # the lesson fills the form in a rerun
    pressed = time.time()
    sidebar.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"run="), timeout=120_000)
    return pressed


def _runs(runs_dir: Path) -> list[dict]:
    out = []
    for status in runs_dir.glob("*/status.json"):
        try:
            out.append(json.loads(status.read_text()))
        except (OSError, ValueError):
            continue  # being replaced this instant
    return out


def _wait_finished(runs_dir: Path, count: int, deadline: float) -> list[dict]:
    while time.monotonic() < deadline:
        runs = _runs(runs_dir)
        if sum(r.get("state") in ENDED for r in runs) >= count:
            return runs
        time.sleep(0.5)
    return _runs(runs_dir)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def bench_classroom(students: int = 30, timeout_s: float = 2400) -> dict:
    """The numbers above as one dict; ``skipped`` when Chromium is missing."""
    if not Path(CHROMIUM).exists():
        return {"skipped": f"{CHROMIUM} is missing (make chromium)"}
    from playwright.sync_api import sync_playwright  # a test tool: only this benchmark needs it

    with tempfile.TemporaryDirectory(prefix="lenet-bench-classroom-") as tmp:
        tmp = Path(tmp)
        solo_dir, class_dir = tmp / "solo-runs", tmp / "class-runs"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)  # fmt: skip
            server = Server(solo_dir, tmp / "solo.log")
            try:
                page, _ = _open_train(browser, server.url)
                pressed = _start_quick(page)
                runs = _wait_finished(solo_dir, 1, time.monotonic() + timeout_s)
                solo_s = max(r.get("ended", pressed) for r in runs) - pressed
                page.context.close()
            finally:
                server.stop()

            server = Server(class_dir, tmp / "class.log")
            try:
                pages, loads = [], []
                for _ in range(students):
                    page, seconds = _open_train(browser, server.url)
                    pages.append(page)
                    loads.append(seconds)
                presses = [_start_quick(p) for p in pages]
                deadline = time.monotonic() + timeout_s
                under_load = []
                while time.monotonic() < deadline:  # a new visitor, again and again
                    visitor, seconds = _open_train(browser, server.url)
                    under_load.append(seconds)
                    visitor.context.close()
                    done = [r for r in _runs(class_dir) if r.get("state") == "finished"]
                    if len(done) >= students:
                        break
                    time.sleep(2.0)
                runs = _wait_finished(class_dir, students, deadline)
            finally:
                server.stop()
            browser.close()
    finished = [r for r in runs if r.get("state") == "finished"]
    waits = [r["started"] - r["queued_at"] for r in runs if "started" in r and "queued_at" in r]
    ended = [r["ended"] for r in finished if "ended" in r]
    all_done = max(ended) - min(presses) if ended else None
    return {
        "students": students,
        "finished": len(finished),
        "solo_s": round(solo_s, 2),
        "all_done_s": round(all_done, 1) if all_done else None,
        "all_done_over_students_solo": round(all_done / (students * solo_s), 3)
        if all_done
        else None,
        "wait_p50_s": round(statistics.median(waits), 1) if waits else None,
        "wait_p95_s": _pct(waits, 0.95),
        "page_load_p95_s": _pct(under_load, 0.95),
        "page_load_p50_s": _pct(under_load, 0.5),
        "page_loads_measured": len(under_load),
        "join_p95_s": _pct(loads, 0.95),
    }
