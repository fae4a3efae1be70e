"""The Paper page in headless Chromium, with one small paper-fast run: renders, no errors."""

from dataclasses import replace

import pytest

from browser_utils import VIEWPORT, assert_no_exception, open_app, screenshot
from lenet.runs import RunStore
from lenet.training import PRESETS, train

pytestmark = pytest.mark.browser
TALL = {"width": VIEWPORT["width"], "height": 3400}  # the whole page in one screenshot


def test_paper_page_renders(page, streamlit_app):
    cfg = replace(PRESETS["paper-fast"], epochs=1, train_subset=2000, batch_size=16, threads=1)
    assert train(cfg, store=RunStore(streamlit_app.runs_dir)).status == "finished"
    page.set_viewport_size(TALL)
    open_app(page, f"{streamlit_app.url}/Paper")
    page.get_by_role("heading", name="The 1998 paper, side by side").wait_for(state="visible")
    page.get_by_role("heading", name="What changed since 1998").wait_for(state="visible")
    page.locator(".js-plotly-plot").nth(3).wait_for(state="visible")  # table, kernels, RBF, error
    assert_no_exception(page)
    screenshot(page, "paper")
    # the health probe of a page path 404s before the app redirects it: not the page's doing
    assert [e for e in page.console_errors if not ("404" in e and "/_stcore/" in e)] == []


def test_a_ladder_bar_opens_its_run(page, streamlit_app):
    """The waterfall's bars are the ladder's runs: clicking one offers that run, and the link
    opens it on the Runs page."""
    from lenet.runs.ladder import climb

    record = climb(quick=True, only=["tanh", "inputs"], store=RunStore(streamlit_app.runs_dir),
                   train_subset=300, threads=1)  # fmt: skip
    run_id = record["steps"][1]["runs"][0]
    page.set_viewport_size(TALL)
    open_app(page, f"{streamlit_app.url}/Paper")
    page.get_by_role(
        "heading", name="1998 → today, one change at a time"
    ).scroll_into_view_if_needed()
    chart = page.locator(".js-plotly-plot").last
    chart.wait_for(state="visible")
    bars = chart.locator("g.trace.bars g.point path")
    assert bars.count() == 2  # the two steps measured
    bars.nth(1).click(force=True)
    link = page.get_by_role("link", name=f"Open run {run_id}")
    link.wait_for(state="visible", timeout=30_000)
    assert page.get_by_text("Step 6: pixels −0.1…1.175 → mean 0, std 1").is_visible()
    screenshot(page, "paper-ladder")
    link.click()
    page.wait_for_url(f"**/Runs?run={run_id}", timeout=30_000)
    page.get_by_text(run_id).first.wait_for(state="visible", timeout=60_000)
    assert_no_exception(page)
