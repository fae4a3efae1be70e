"""Two dashboard servers on one cluster, in real browsers: a run the teacher starts on replica A
is watched, paused, resumed and stopped from replica B; a student on B gets no controls."""

from __future__ import annotations

import re

import pytest

from browser_utils import (
    SIDEBAR,
    VIEWPORT,
    assert_no_exception,
    open_app,
    progress_step,
    progress_text,
    screenshot,
    sidebar_text,
    wait_for_streamlit_idle,
    wait_until,
)

pytestmark = pytest.mark.browser
TOKEN = "a-token-for-the-two-replicas-7d2e"
TALL = {"width": VIEWPORT["width"], "height": 1300}


def _sign_in(page, url: str) -> None:
    """Sign in with the link. (Not by its toast: a server's first page joins the cluster, and
    the toast may be gone by the time the page is idle.)"""
    open_app(page, f"{url}/?teacher={TOKEN}")
    wait_until(lambda: ", the teacher." in sidebar_text(page), 60, "the teacher, signed in")
    wait_until(lambda: "teacher=" not in page.url, 10, "the token out of the address")


def test_a_run_started_on_one_replica_is_controlled_from_the_other(
    cluster, runs, browser, start_streamlit
):
    env = {"LENET_RAY_ADDRESS": cluster.address, "LENET_TEACHER_TOKEN": TOKEN}
    a = start_streamlit(runs_dir=runs.root, env=env)
    b = start_streamlit(runs_dir=runs.root, env=env)
    assert a.port != b.port
    contexts = [browser.new_context(viewport=TALL) for _ in range(3)]
    on_a, on_b, student = (c.new_page() for c in contexts)
    for page in (on_a, on_b, student):
        page.set_default_timeout(60_000)
    try:
        _sign_in(on_a, a.url)
        _sign_in(on_b, b.url)  # both servers have joined the cluster before anything trains
        on_a.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train").click()
        on_a.get_by_role("heading", name="Train LeNet-5").wait_for()
        sidebar = on_a.locator(SIDEBAR)
        sidebar.get_by_label("Training images (0 = all 60,000)").fill("0")
        sidebar.get_by_label("Epochs").fill("20")  # minutes: it can't end before B stops it
        sidebar.get_by_role("button", name="Start training").click()
        wait_for_streamlit_idle(on_a)
        wait_until(lambda: "run=" in on_a.url, 60, "the run in A's address")
        run_id = re.search(r"run=([\w-]+)", on_a.url).group(1)
        wait_until(lambda: progress_step(on_a) > 0, 180, "the run to train on the cluster")
        assert "Training is off" not in sidebar_text(on_a)

        open_app(on_b, f"{b.url}/Train?run={run_id}")
        on_b.get_by_role("heading", name=re.compile(f"Run {run_id}")).wait_for()
        wait_until(lambda: progress_step(on_b) > 0, 60, "B to see the run train")
        first = progress_step(on_b)
        wait_until(lambda: progress_step(on_b) > first, 60, "B's progress line to move")
        screenshot(on_b, "replicas_b_watches_a_run_from_a")

        open_app(student, f"{b.url}/Train?run={run_id}")
        student.get_by_role("heading", name=re.compile(f"Run {run_id}")).wait_for()
        student.get_by_text("only they and the teacher").wait_for()
        assert student.get_by_role("button", name="Stop").count() == 0

        on_b.get_by_role("button", name="Pause").click()
        wait_until(lambda: progress_text(on_a).startswith("Paused"), 30, "A to show it paused")
        on_b.get_by_role("button", name="Resume").click()
        wait_until(lambda: progress_text(on_a).startswith("Running"), 30, "A: running again")
        on_b.get_by_role("button", name="Stop").click()
        on_a.get_by_text("Stopped by request").wait_for(timeout=60_000)
        on_b.get_by_text("Stopped by request").wait_for(timeout=30_000)
        assert runs.get(run_id).status()["backend"] == "ray"
        screenshot(on_a, "replicas_a_sees_b_stop_it")
        for page in (on_a, on_b, student):
            assert_no_exception(page)

        # The board goes away (its head would be gone too, in life): a page says so plainly.
        import ray

        from lenet.serving.cluster import connect

        connect(cluster.address)
        ray.kill(ray.get_actor("lenet-board", namespace="lenet"))
        open_app(student, f"{b.url}/Runs")
        student.get_by_text("isn't answering").first.wait_for(timeout=60_000)
        student.get_by_text("reload this page to try again").wait_for()
        assert_no_exception(student)
        screenshot(student, "replicas_the_board_is_gone")
    finally:
        for context in contexts:
            context.close()
