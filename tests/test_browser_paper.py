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
