"""The Predictions page in headless Chromium: clicks on the confusion matrix and on digits (what
AppTest cannot do: Plotly selections happen in the browser), paging, and screenshots.
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
from lenet.analysis.metrics import confusion_matrix, most_confused_pairs
from lenet.analysis.predictions import predict
from lenet.data import load_split
from lenet.runs import RunStore
from lenet.training import TrainConfig, train

pytestmark = pytest.mark.browser
TALL = {
    "width": VIEWPORT["width"],
    "height": 1800,
}  # Streamlit scrolls inside the page: only a tall
# viewport puts the whole page in a screenshot
CHARTS = '[data-testid="stPlotlyChart"] .js-plotly-plot'
# The order of the Plotly charts on the page: matrix, per class, confidence, digits learned per
# epoch, grid.
CONFUSION, GRID = 0, 4


@pytest.fixture(scope="module")
def app(streamlit_app):
    """(server, run id, predictions table) for one 2,000-image, 1-epoch run on the server."""
    store = RunStore(streamlit_app.runs_dir)
    result = train(TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1), store=store)
    assert result.status == "finished"
    table = predict(store.get(result.run_id).load_model(1), load_split("test"))
    return streamlit_app, result.run_id, table


def _errors(page) -> list[str]:
    """Console errors, less the 404s of Streamlit probing `<page path>/_stcore/...` when a page URL
    is opened directly (it then finds the server at the root; nothing is broken)."""
    return [e for e in page.console_errors if not ("404" in e and "/_stcore/" in e)]


def _click(page, chart: int, x: float, y: float) -> float:
    """Click data point (x, y) of the n-th Plotly chart; seconds until the rerun has finished."""
    plot = page.locator(CHARTS).nth(chart)
    plot.scroll_into_view_if_needed()
    px, py = plot.evaluate(
        "(gd, xy) => { const L = gd._fullLayout, r = gd.getBoundingClientRect();"
        " return [r.left + L._size.l + L.xaxis.l2p(xy[0]),"
        "         r.top + L._size.t + L.yaxis.l2p(xy[1])]; }",
        [x, y],
    )
    page.mouse.move(
        px, py
    )  # Plotly picks the point under the pointer on hover, then the click selects it
    page.wait_for_timeout(200)
    started = time.perf_counter()
    page.mouse.click(px, py)
    wait_for_streamlit_idle(page, timeout=60_000, settle_ms=300)
    return time.perf_counter() - started


def _grid_captions(page) -> list[str]:
    return page.locator(CHARTS).nth(GRID).evaluate("gd => gd.layout.annotations.map(a => a.text)")


def _caption(page) -> str:
    return page.get_by_text(re.compile(r"^Digits \d")).first.inner_text()


def test_clicking_a_confusion_cell_shows_only_that_pair(page, app):
    server, run_id, table = app
    t, p, n = most_confused_pairs(
        confusion_matrix(table["label"].to_numpy(), table["prediction"].to_numpy()), 1
    )[0]
    page.set_viewport_size(TALL)
    open_app(page, f"{server.url}/Predictions?run={run_id}&show=all")
    page.locator(CHARTS).nth(GRID).wait_for()
    assert len(_grid_captions(page)) == 50
    screenshot(page, "predictions")

    seconds = _click(page, CONFUSION, p, t)  # x = predicted, y = true
    print(f"\nconfusion click -> filtered grid: {seconds:.2f} s")
    assert f"cell={t}-{p}" in page.url
    captions = _grid_captions(page)
    assert len(captions) == min(n, 50) and all(c.startswith(f"{t} → {p} · ") for c in captions)
    assert _caption(page).startswith(f"Digits 1–{min(n, 50)} of {n}")
    assert page.get_by_text(f"Confusion cell: true {t} read as {p}").is_visible()
    selected = page.locator(CHARTS).nth(CONFUSION).evaluate("gd => gd.data[0].selectedpoints")
    assert list(selected) == [t * 10 + p]  # the chosen cell is drawn selected (blue)
    assert_no_exception(page)
    screenshot(page, "predictions_cell")

    page.get_by_role("button", name="Clear cell filter").click()
    wait_for_streamlit_idle(page, timeout=60_000, settle_ms=300)
    assert "cell=" not in page.url and len(_grid_captions(page)) == 50
    assert _errors(page) == []


def test_next_page_and_a_closer_look_at_one_digit(page, app):
    server, run_id, table = app
    page.set_viewport_size(TALL)
    open_app(page, f"{server.url}/Predictions?run={run_id}&show=correct&sort=confidence")
    correct = table[table["correct"]].sort_values("confidence", kind="stable")
    assert _caption(page).startswith(f"Digits 1–50 of {len(correct):,}")

    nav = page.locator('[data-testid="stPagination"]')
    nav.get_by_role("button", name=re.compile("next", re.I)).click()
    wait_for_streamlit_idle(page, timeout=60_000, settle_ms=300)
    assert _caption(page).startswith(f"Digits 51–100 of {len(correct):,}")
    assert "page=2" in page.url
    first = _grid_captions(page)[0]
    row = correct.iloc[50]
    assert first == f"{row.label} → {row.prediction} · {100 * row.confidence:.0f}%"

    # the first digit of page 2: its tile centre in the grid's own pixel coordinates
    ids = (
        page.locator(CHARTS)
        .nth(GRID)
        .evaluate("gd => [gd.data[1].x[0], gd.data[1].y[0], gd.data[1].customdata[0]]")
    )
    seconds = _click(page, GRID, ids[0], ids[1])
    print(f"\ndigit click -> closer look: {seconds:.2f} s")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert ids[2] == row["index"] and f"Test digit #{row['index']}" in dialog.inner_text()
    assert f"sample={row['index']}" in page.url
    assert dialog.locator(CHARTS).count() == 3  # top-3, C1, C3
    link = dialog.get_by_role("link", name="Follow it through every layer")
    assert f"sample={row['index']}" in link.get_attribute("href") and run_id in link.get_attribute(
        "href"
    )
    assert_no_exception(page)
    screenshot(page, "predictions_digit")

    page.keyboard.press("Escape")
    wait_for_streamlit_idle(page, timeout=60_000, settle_ms=300)
    assert page.get_by_role("dialog").count() == 0 and "sample=" not in page.url
    assert _errors(page) == []
