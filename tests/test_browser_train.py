"""Training from the dashboard in a real browser: live curves, pause / resume, a new learning
rate mid-run, a reload that re-attaches through ``?run=``, stop, a second browser whose Start
waits in the queue and who watches the first one's run, the lessons (the diverged one
explained, not an error), and two runs compared on the Runs page.

Runs are long enough to act on (20,000 images, 2 epochs) and are stopped early.
"""

from __future__ import annotations

import re
import time

import pytest

from browser_utils import (
    VIEWPORT,
    assert_no_exception,
    open_app,
    screenshot,
    wait_for_streamlit_idle,
)
from lenet.runs import RunStore

pytestmark = pytest.mark.browser

TALL = {"width": VIEWPORT["width"], "height": 1400}  # Streamlit scrolls inside the page: a tall
# viewport is the only way a screenshot shows everything


def _real_errors(page) -> list[str]:
    """Console errors, less the frontend's probe of ``<page>/_stcore/health`` and
    ``host-config`` when a page URL other than the root is opened directly: it 404s, then
    falls back to the root (streamlit/streamlit#7074), and says nothing about this app."""
    probe = re.compile(r"404 .*/[A-Za-z_]+/_stcore/(health|host-config)\)$")
    return [e for e in page.console_errors if not probe.search(e)]


def _metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _progress(page) -> str:
    return page.locator('[data-testid="stProgress"]').first.inner_text()


def _step(page) -> int:
    found = re.search(r"step ([\d,]+) of", _progress(page))
    return int(found.group(1).replace(",", "")) if found else -1


def _epoch(page) -> int:
    found = re.search(r"epoch (\d+) of", _progress(page))
    return int(found.group(1)) if found else -1


def _wait(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    """Poll ``predicate`` (the page updates itself once a second) until true or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # the element is being replaced by the next poll
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _my_name(page) -> str:
    """The name this browser takes part under, as its sidebar shows it."""
    box = page.locator('[data-testid="stSidebar"]').get_by_label("Your name")
    box.wait_for()
    return box.input_value()


def _configure_and_start(page, subset: int = 20000, epochs: int = 30) -> str:
    """Start a run from the sidebar and return its id. The default is long (600,000 images, a
    minute or more at the dashboard's speed) so that it cannot end before a test stops it."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label("Training images (0 = all 60,000)").fill(str(subset))
    sidebar.get_by_label("Epochs").fill(str(epochs))
    sidebar.get_by_role("button", name="Start training").click()
    wait_for_streamlit_idle(page)
    _wait(lambda: "run=" in page.url, 30, "the run id in the address")
    return re.search(r"run=([\w-]+)", page.url).group(1)


def _train_page(page, url: str, shot: str | None = None) -> None:
    open_app(page, url)
    if shot:
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        assert_no_exception(page)
        screenshot(page, shot)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train").click()
    page.get_by_role("heading", name="Train LeNet-5").wait_for()
    wait_for_streamlit_idle(page)


def test_train_pause_resume_reload_stop(page, start_streamlit):
    server = start_streamlit()
    page.set_viewport_size(TALL)
    _train_page(page, server.url, shot="home_architecture")
    run_id = _configure_and_start(page)

    # Live: the smoothed loss changes while the rest of the page stays put.
    _wait(lambda: _metric(page, "Loss (smoothed)") not in ("–", ""), 120, "the first loss value")
    first = _metric(page, "Loss (smoothed)")
    _wait(lambda: _metric(page, "Loss (smoothed)") != first, 60, "a second, different loss value")
    assert float(_metric(page, "Loss (smoothed)")) != float(first)
    screenshot(page, "train_running")

    # Pause: the batch counter stops moving.
    page.get_by_role("button", name="Pause").click()
    _wait(lambda: _progress(page).startswith("Paused"), 30, "the paused state")
    page.wait_for_timeout(1500)  # the batch in flight when Pause was pressed may still land
    paused_at = _step(page)
    page.wait_for_timeout(3000)
    assert _step(page) == paused_at, "training went on while paused"

    # Resume: it moves again.
    page.get_by_role("button", name="Resume").click()
    _wait(lambda: _step(page) > paused_at, 60, "progress after resuming")

    # A new learning rate mid-run: the slider's next step up, applied and marked on the curves.
    slider = page.locator('[data-testid="stMain"]').get_by_role("slider").first
    slider.focus()
    slider.press("ArrowRight")
    wait_for_streamlit_idle(page)
    page.get_by_role("button", name="Set rate").click()
    _wait(lambda: "learning rate 0.02" in _progress(page), 60, "the new rate in the progress line")
    _wait(
        lambda: page.locator("text=lr → 0.02").count() > 0,
        30,
        "the rate change marked on the curves",
    )

    # Reload: the address carries ?run=, so the new page attaches to the same job.
    page.reload(wait_until="domcontentloaded")
    wait_for_streamlit_idle(page, timeout=60_000, settle_ms=0)
    page.get_by_role("heading", name=re.compile(f"Run {run_id}")).wait_for()
    _wait(lambda: _step(page) > 0, 30, "live progress after the reload")

    page.get_by_role("button", name="Stop").click()
    _wait(lambda: page.get_by_text("Stopped by request").count() > 0, 60, "the stopped summary")
    assert_no_exception(page)

    open_app(page, f"{server.url}/Runs?run={run_id}")
    page.get_by_text(f"{run_id} · stopped").wait_for()
    assert_no_exception(page)
    assert _real_errors(page) == []


def test_second_browser_is_queued_and_watches(browser, start_streamlit):
    """Two students: the second one's Start waits in the queue (with its place) while the
    first one's run holds the only slot; Watch shows that run without its controls."""
    server = start_streamlit(env={"LENET_MAX_JOBS": "1"})
    first = browser.new_context(viewport=TALL)
    second = browser.new_context(viewport=TALL)
    try:
        a, b = first.new_page(), second.new_page()
        _train_page(a, server.url)
        run_id = _configure_and_start(a)
        _wait(lambda: _step(a) > 0, 120, "the first browser's job to run")
        owner = _my_name(a)

        _train_page(b, server.url)
        assert _my_name(b) != owner  # another browser, another participant
        b.get_by_text(f"Training now: {owner}.").wait_for()
        b.locator('[data-testid="stSidebar"]').get_by_role("button", name="Start training").click()
        wait_for_streamlit_idle(b)
        b.get_by_text("Waiting in the queue, next in line").wait_for()
        assert "run=" in b.url  # the queued run is the page's now
        screenshot(b, "train_queued_second_browser")
        b.get_by_role("button", name="Cancel this run").click()
        _wait(
            lambda: b.get_by_text("Waiting in the queue").count() == 0,
            30,
            "the cancelled run to leave the page",
        )
        b.get_by_role("button", name="Watch").click()
        _wait(lambda: _step(b) > 0 and f"run={run_id}" in b.url, 30, "the second browser watching")
        b.get_by_text(f"Watching {owner}'s run: only they and the teacher").wait_for()
        assert b.get_by_role("button", name="Stop").count() == 0
        assert_no_exception(a)
        assert_no_exception(b)
        a.get_by_role("button", name="Stop").click()
        _wait(
            lambda: b.get_by_text("Stopped by request").count() > 0,
            60,
            "the watcher to see the stop",
        )
    finally:
        first.close()
        second.close()


def _lesson(page, title: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_label("Lesson").click()
    page.get_by_role("option", name=title).click()
    wait_for_streamlit_idle(page)


def _start_small(page, subset: int, epochs: int | None = None) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label("Training images (0 = all 60,000)").fill(str(subset))
    if epochs is not None:
        sidebar.get_by_label("Epochs").fill(str(epochs))
    sidebar.get_by_role("button", name="Start training").click()


def test_lessons_diverged_and_runs_compared(page, start_streamlit):
    server = start_streamlit()
    page.set_viewport_size(TALL)
    _train_page(page, server.url)

    # Two quick runs to compare: good defaults, and a learning rate far too low.
    _start_small(page, 3000, 2)
    _wait(lambda: page.get_by_text("Finished 2 epochs").count() > 0, 180, "the good run to finish")
    wait_for_streamlit_idle(page)
    page.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()
    screenshot(page, "train_done")
    _lesson(page, "Learning rate too low")
    _start_small(page, 3000)
    _wait(
        lambda: page.get_by_text("Finished 1 epoch").count() > 0,
        180,
        "the slow-learning run to finish",
    )

    # The diverged lesson: a friendly explanation, not an error box.
    _lesson(page, "Learning rate too high")
    page.locator('[data-testid="stSidebar"]').get_by_text("Steps are so large").wait_for()
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Start training").click()
    _wait(lambda: page.get_by_text("The loss blew up").count() > 0, 120, "the diverged explanation")
    wait_for_streamlit_idle(page)
    assert_no_exception(page)
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    screenshot(page, "train_diverged")

    # Runs: newest first (diverged, too low, good); the newest is ticked by default. Rows are
    # drawn on a canvas, so tick boxes by position: 35 px per row below a 35 px header.
    open_app(page, f"{server.url}/Runs")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    box = grid.bounding_box()
    for row in (0, 1, 2):  # untick the diverged run, tick the other two
        page.mouse.click(box["x"] + 18, box["y"] + 35 * (row + 1) + 17)
        wait_for_streamlit_idle(page)
    _wait(lambda: page.get_by_text("· finished").count() == 2, 30, "the two finished runs selected")
    assert page.get_by_text("· diverged").count() == 0
    page.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()
    assert_no_exception(page)
    screenshot(page, "runs_compared")
    assert _real_errors(page) == []


def test_stopping_the_server_mid_run_leaves_it_interrupted(page, start_streamlit):
    server = start_streamlit()
    page.set_viewport_size(TALL)
    _train_page(page, server.url)
    run_id = _configure_and_start(page, subset=6000, epochs=30)
    _wait(lambda: _epoch(page) >= 2, 180, "the first finished epoch")  # an epoch takes a second
    proc = server.process
    server.stop(grace=60)  # SIGTERM, as a service manager or `kill` sends it
    assert proc.returncode is not None
    info = RunStore(server.runs_dir).get(run_id).info()
    assert info.status == "interrupted", (info.status, info.message, server.logs()[-2000:])
    assert "exit code" not in info.message and info.epochs_done >= 1
    run = RunStore(server.runs_dir).get(run_id)
    assert run.load_model(info.epochs_done).variant == "classic"  # finished epochs are kept


def test_a_page_broken_by_streamlits_delta_path_race_reloads_once(page, start_streamlit):
    """The error a stray fragment update throws in the browser (it leaves the page blank) makes
    the page reload itself, once: a second one within 30 s is left alone, so it can't loop."""
    server = start_streamlit()
    open_app(page, f"{server.url}/Train")
    page.get_by_text("Choose a lesson (or set the knobs)").wait_for()
    throw = "() => setTimeout(() => { throw new Error('Bad delta path index 4 (should be "
    throw += "between [0, 3])'); }, 0)"
    with page.expect_navigation(timeout=30_000):
        page.evaluate(throw)
    wait_for_streamlit_idle(page, timeout=60_000, settle_ms=0)
    page.get_by_text("Choose a lesson (or set the knobs)").wait_for()
    page.evaluate("() => { window.reloads = 'not yet'; }")
    page.evaluate(throw)
    page.wait_for_timeout(3_000)
    assert page.evaluate("() => window.reloads") == "not yet"  # the same page: no second reload
    page.evaluate("() => setTimeout(() => { throw new Error('something else'); }, 0)")
    page.wait_for_timeout(1_000)
    assert page.evaluate("() => window.reloads") == "not yet"  # only that error reloads
