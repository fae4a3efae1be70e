"""Feature maps and Kernels in headless Chromium: drawing with mouse and touch, every bad upload,
the animated kernel evolution, and screenshots of every input mode.

The time from lifting the pen to the finished page update is printed (run with -s to see it),
not asserted: it depends on the machine and on whatever else shares it.
"""

from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from browser_utils import (
    APP_IDLE,
    SCREENSHOT_DIR,
    VIEWPORT,
    assert_no_exception,
    open_app,
    screenshot,
)
from lenet.runs import RunStore

pytestmark = pytest.mark.browser
TALL = {
    "width": VIEWPORT["width"],
    "height": 1800,
}  # Streamlit scrolls inside the page: only a tall
# viewport puts the whole page in a screenshot


@pytest.fixture(scope="module")
def app(trained_app):
    return trained_app


def _png(image: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **options)
    return buf.getvalue()


def _seven(mode="L", ink=0, paper=255, size=(200, 200)) -> Image.Image:
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).line([(60, 40), (140, 40), (90, 170)], fill=ink, width=14)
    return image


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _rgba_clear_background() -> bytes:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # dark strokes on a transparent layer
    ImageDraw.Draw(image).line([(110, 30), (80, 170)], fill=(20, 20, 20, 255), width=14)
    return _png(image)


def _sixteen_bit() -> bytes:
    pixels = np.zeros((200, 200), np.uint16)
    pixels[40:160, 90:110] = 60000  # a bright "1" in 16-bit grey
    return _png(Image.fromarray(pixels))


def _palette() -> bytes:
    image = Image.new("RGB", (200, 200), "white")
    ImageDraw.Draw(image).ellipse([50, 40, 150, 160], outline="navy", width=14)  # a "0"
    return _png(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=4))


def _bomb() -> bytes:
    return _png(Image.new("1", (30000, 30000), 0), optimize=True)  # ~100 kB, 900 megapixels


# (file name, bytes, what the page must say: a message, or None for "a prediction appears")
UPLOADS = {
    "empty": ("empty.png", lambda: b"", "0 bytes"),
    "blank": (
        "blank.png",
        lambda: _png(Image.new("RGB", (120, 120), (120, 130, 140))),
        "No digit found",
    ),
    "not_an_image": (
        "notes.png",
        lambda: b"shopping list: milk, eggs\n" * 40,
        "not a readable picture",
    ),
    "truncated": ("cut.png", lambda: _png(_seven())[:300], "incomplete or damaged"),
    "huge": ("huge.png", _bomb, "too large"),
    "rgba_transparent": ("clear.png", _rgba_clear_background, None),
    "light_on_dark": ("light.jpg", lambda: _jpeg(_seven(ink=255, paper=0)), None),
    "dark_on_light": ("dark.png", lambda: _png(_seven()), None),
    "sixteen_bit": ("deep.png", _sixteen_bit, None),
    "palette": ("palette.png", _palette, None),
}


def _feature_maps(page, app, query: str = "") -> None:
    open_app(page, f"{app.url}/Feature_maps{query}")
    page.locator('[data-testid="stMetric"]').or_(
        page.locator('[data-testid="stAlert"]')
    ).first.wait_for()
    assert_no_exception(page)


RUNNING = '[data-testid="stApp"][data-test-script-state="running"]'


def _rerun(page, action) -> float:
    """Do ``action`` (a click, a stroke), wait for the script run it causes to end; seconds."""
    action()
    started = time.perf_counter()
    try:  # a fast run can start and end between two polls; then the idle state below is enough
        page.wait_for_selector(RUNNING, state="attached", timeout=5_000)
    except Exception:
        pass
    page.wait_for_selector(APP_IDLE, state="attached", timeout=60_000)
    return time.perf_counter() - started


def _click(page, name: str) -> None:
    _rerun(page, lambda: page.get_by_role("button", name=name).click())


def _mode(page, name: str) -> None:
    _rerun(
        page,
        lambda: (
            page.locator('[data-testid="stButtonGroup"]')
            .first.get_by_text(name, exact=True)
            .click()
        ),
    )


def _prediction(page) -> str:
    return (
        page.locator('[data-testid="stMetric"]')
        .filter(has_text="The network says")
        .locator('[data-testid="stMetricValue"]')
        .inner_text()
        .strip()
    )


def _charts(page, at_least: int) -> int:
    """Number of drawn Plotly charts, once at least ``at_least`` are (Plotly loads lazily)."""
    charts = page.locator('[data-testid="stMain"] .js-plotly-plot')
    charts.nth(at_least - 1).wait_for(state="attached")  # a chart in a closed tab is hidden
    return charts.count()


def _alerts(page) -> str:
    return " ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())


def _stroke(page, points: list[tuple[float, float]]) -> float:
    """Draw one stroke through canvas-relative points; return seconds from lifting the pen until
    the page finished updating (the canvas itself waits up to 0.2 s before it sends)."""
    box = page.locator('[data-testid="stMain"] canvas').first.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=8)
    return _rerun(page, page.mouse.up)


def _shot(page, name: str) -> None:
    """A screenshot once every picture on the page has arrived (they load after the run ends)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, name)


def _errors(page) -> list[str]:
    """Console errors, less the 404s of Streamlit probing `<page path>/_stcore/...` when a page URL
    is opened directly (it then finds the server at the root; nothing is broken)."""
    return [e for e in page.console_errors if not ("404" in e and "/_stcore/" in e)]


def _report(name: str, value) -> None:
    print(f"\n{name}: {value}")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / "inspect_timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = value
    path.write_text(json.dumps(data, indent=1))


# ------------------------------------------------------------------------------ test images
def test_test_image_mode_and_sample_links(page, app):
    page.set_viewport_size(TALL)
    _feature_maps(page, app, "?sample=42")
    assert page.get_by_label("Test image #", exact=False).input_value() == "42"
    assert _prediction(page) in "0123456789"
    assert _charts(page, 3) >= 3  # input, top-3, C1
    screenshot(page, "inspect_test_image")
    _rerun(page, page.get_by_role("tab", name="Why this class?").click)
    page.get_by_text("occlusion: hiding a patch costs").wait_for()
    screenshot(page, "inspect_why")
    _rerun(page, page.get_by_role("tab", name="C3 · 16×10×10").click)
    screenshot(page, "inspect_c3")
    _feature_maps(page, app, "?sample=ten")
    assert "does not exist" in _alerts(page)
    assert _errors(page) == []


def test_a_clicked_unit_has_its_arithmetic_written_out_with_the_maps_value(page, app):
    import re

    from lenet.analysis.introspection import activations
    from lenet.data import load_split

    page.set_viewport_size(TALL)
    _feature_maps(page, app, "?sample=42")
    c1 = page.locator(".st-key-fm_C1 .js-plotly-plot .nsewdrag").first
    c1.wait_for()
    box = c1.bounding_box()
    # map 0 is the first of six 28-wide tiles with 4-wide gutters: 188 columns, 28 rows
    x, y = box["x"] + box["width"] * 10.5 / 188, box["y"] + box["height"] * 14.5 / 28
    _rerun(page, lambda: page.mouse.click(x, y))
    unit = [int(page.get_by_label(label, exact=True).input_value())
            for label in ("C1 map", "row", "col")]  # fmt: skip
    assert unit[0] == 0, unit  # a unit of the first map, whichever pixel the click hit
    written = (
        page.locator('[data-testid="stMarkdownContainer"]')
        .filter(has_text="products (1 input map")
        .first.inner_text()
    )
    value = float(re.search(r"= (-?[0-9.]+), the value in the map", written).group(1))
    run = RunStore(app.runs_dir).list()[0]
    model = RunStore(app.runs_dir).get(run.id).load_model()
    digit = load_split("test").images[42:43]
    assert value == pytest.approx(float(activations(model, digit)["C1"][0][tuple(unit)]), abs=1e-3)
    page.get_by_text("How did this unit get its value?").scroll_into_view_if_needed()
    screenshot(page, "inspect_unit_arithmetic")
    assert _errors(page) == []


# ------------------------------------------------------------------------------ drawing
def test_draw_a_one_with_the_mouse(page, app):
    page.set_viewport_size(TALL)
    _feature_maps(page, app)
    _mode(page, "Draw")
    assert "Draw a digit first" in _alerts(page)
    screenshot(page, "inspect_draw_empty")
    seconds = _stroke(page, [(140, 40), (145, 240)])  # a vertical "1"
    page.locator('[data-testid="stMetric"]').first.wait_for()
    assert_no_exception(page)
    _report("page update after a stroke (s)", round(seconds, 3))
    _report(
        "server part of that update", page.get_by_text("Server time for this update").inner_text()
    )
    _report("predicted class of a drawn vertical stroke", _prediction(page))
    assert _prediction(page) in "0123456789"
    assert page.get_by_text("How your digit was prepared").is_visible()
    assert page.locator('[data-testid="stImage"]').count() >= 6  # the preprocessing steps
    assert _charts(page, 3) >= 3  # input, top-3, C1 maps
    # The unit panel, hidden while the canvas was empty, shows the unit it explains: a layer
    # chosen, and the drawn digit's strongest C1 unit (not the corner the inputs start at).
    page.get_by_text("How did this unit get its value?").wait_for()
    c1 = page.locator('[class*="st-key-fm_unit"] button').filter(has_text=re.compile("^C1$")).first
    assert "true" in (c1.get_attribute("aria-checked"), c1.get_attribute("aria-pressed"))
    unit = [int(page.get_by_label(label, exact=True).input_value())
            for label in ("C1 map", "row", "col")]  # fmt: skip
    assert unit[1:] != [0, 0], unit
    _shot(page, "inspect_draw_one")

    # One set of undo controls, the canvas's own: no page buttons beside them.
    assert page.get_by_role("button", name="Undo stroke").count() == 0
    assert page.get_by_role("button", name="Clear", exact=True).count() == 0
    # A second stroke, then the canvas's undo: back to the "1"; its redo brings the stroke back.
    _stroke(page, [(90, 80), (190, 80)])
    crossed = _step_picture(page)
    _canvas_tool(page, "Undo")
    _wait_step_picture_not(page, crossed)
    one = _step_picture(page)
    _canvas_tool(page, "Redo")
    _wait_step_picture_not(page, one)
    again = _step_picture(page)
    _canvas_tool(page, "Undo")
    _wait_step_picture_not(page, again)
    page.locator('[data-testid="stMetric"]').first.wait_for()

    # The drawing survives a look at a test image.
    _mode(page, "Test image")
    _mode(page, "Draw")
    page.locator('[data-testid="stMetric"]').first.wait_for()
    assert page.get_by_text("How your digit was prepared").is_visible()

    # A canvas that brought the drawing back offers a fresh one; its reset empties it again.
    _click(page, "Start a new drawing")
    page.locator('[data-testid="stAlert"]').filter(has_text="Draw a digit first").wait_for()
    _stroke(page, [(140, 40), (145, 240)])
    page.locator('[data-testid="stMetric"]').first.wait_for()
    _canvas_tool(page, "Reset canvas & history")
    page.locator('[data-testid="stAlert"]').filter(has_text="Draw a digit first").wait_for()
    assert _errors(page) == []


def _step_picture(page) -> str | None:
    """The "cropped to the ink" step's picture: it changes with every change of the drawing."""
    return page.locator('[data-testid="stImage"] img').nth(2).get_attribute("src")


def _wait_step_picture_not(page, src: str | None) -> None:
    page.wait_for_function(
        "old => document.querySelectorAll('[data-testid=\"stImage\"] img')[2]?.src != old", arg=src
    )


def _canvas_tool(page, label: str) -> None:
    """Click a button of the canvas's toolbar, which shows while the pointer is over it."""
    page.locator('[data-testid="stMain"] .dc-root').first.hover()
    page.get_by_role("button", name=label, exact=True).click()


def test_draw_with_a_finger(browser, app):
    context = browser.new_context(
        viewport={"width": 430, "height": 1400}, has_touch=True, is_mobile=True
    )  # a phone
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        _feature_maps(page, app)
        _mode(page, "Draw")
        canvas = page.locator('[data-testid="stMain"] canvas').first
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        cdp = context.new_cdp_session(page)
        x, y = box["x"] + 140, box["y"] + 40
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}
        )
        for k in range(1, 25):
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": "touchMove", "touchPoints": [{"x": x, "y": y + 8 * k}]},
            )
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        try:
            page.locator('[data-testid="stMetric"]').first.wait_for()
        finally:
            screenshot(page, "inspect_draw_touch")
        assert_no_exception(page)
    finally:
        context.close()


# ------------------------------------------------------------------------------ uploads
def test_every_upload_gets_a_prediction_or_a_clear_message(page, app):
    page.set_viewport_size(TALL)
    _feature_maps(page, app)
    _mode(page, "Upload")
    assert "Upload a picture" in _alerts(page)
    dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    for case, (name, make, message) in UPLOADS.items():
        mime = "image/jpeg" if name.endswith(".jpg") else "image/png"
        upload = {"name": name, "mimeType": mime, "buffer": make()}
        _rerun(page, lambda upload=upload: dropzone.set_input_files(files=[upload]))
        assert_no_exception(page)
        if message is None:
            page.get_by_text(f"Read {name}").wait_for()  # this file's result, not the last one's
            page.wait_for_selector(APP_IDLE, state="attached")
            page.locator('[data-testid="stMetric"]').first.wait_for()
            assert _prediction(page) in "0123456789", case
            assert page.get_by_text("How your digit was prepared").is_visible(), case
        else:
            page.locator('[data-testid="stAlert"]').filter(has_text=message).first.wait_for(
                timeout=30_000
            )
            assert page.locator('[data-testid="stMetric"]').count() == 0, case
        _shot(page, f"inspect_upload_{case}")
    assert _errors(page) == []


# ------------------------------------------------------------------------------ kernels
def test_kernels_page_and_its_animation(page, app):
    page.set_viewport_size(TALL)
    open_app(page, f"{app.url}/Kernels")
    page.get_by_text("C1 · six 5×5 kernels on the input").wait_for()
    assert_no_exception(page)
    assert _charts(page, 5) >= 5  # C1, C3, table, two evolutions
    # Plotly's slider: the "epoch N" read-out is the slider group's own label, the steps below.
    current = "() => document.querySelector('.slider-group > .slider-label').textContent.trim()"
    assert page.evaluate(current) == "epoch 1"  # the latest epoch is shown first
    screenshot(page, "inspect_kernels")
    page.locator(".slider-label-group .slider-label").filter(has_text="untrained").first.click(
        force=True
    )  # the rail lies on top
    page.wait_for_function(f"() => ({current})() === 'epoch 0 · untrained'")
    page.get_by_text("▶ play").first.click()
    page.wait_for_function(f"() => ({current})() === 'epoch 1'", timeout=15_000)
    page.get_by_role("tab", name="C3 kernels and maps").click()
    page.locator(".slider-group").nth(1).wait_for()
    screenshot(page, "inspect_kernels_c3_evolution")
    assert _errors(page) == []
