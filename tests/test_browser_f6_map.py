"""Chromium on the F6 map (Feature maps' last tab): 10,000 dots drawn in the browser, a
digit's picture on hover, a click that makes it the page's digit, and the star of a drawn
digit that moves when a stroke changes it."""

from __future__ import annotations

import pytest

from browser_utils import assert_no_exception, screenshot, wait_until
from lenet.data import load_split
from test_browser_inspect import TALL, _feature_maps, _mode, _rerun, _stroke

pytestmark = pytest.mark.browser
MAP = ".f6-root"  # inside the component's shadow root; Playwright's CSS looks through it


def _open_map(page) -> None:
    _rerun(page, page.get_by_role("tab", name="F6 map").click)
    page.locator(f'{MAP}[data-painted="10000"]').wait_for(state="attached", timeout=30_000)
    assert_no_exception(page)


def _marker(page) -> tuple[float, float]:
    root = page.locator(MAP)
    return float(root.get_attribute("data-marker-x")), float(root.get_attribute("data-marker-y"))


def _hover_a_dot(page) -> tuple[int, float, float]:
    """Sweep the pointer over the map until it is on a dot; (its index, x, y)."""
    canvas = page.locator(f"{MAP} > canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    for dy in range(-60, 61, 20):
        for dx in range(-200, 201, 5):
            x, y = box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy
            page.mouse.move(x, y)
            if page.locator(".f6-tip").is_visible():
                return int(page.locator(MAP).get_attribute("data-hovered")), x, y
    raise AssertionError("no dot under the pointer anywhere near the middle of the map")


def test_hover_shows_the_digit_and_a_click_makes_it_the_pages(page, trained_app):
    page.set_viewport_size(TALL)
    _feature_maps(page, trained_app, "?sample=42")
    _open_map(page)
    index, x, y = _hover_a_dot(page)
    labels = load_split("test").labels
    tip = page.locator(".f6-tip-text").inner_text()
    assert tip.startswith(f"test image #{index} · class {int(labels[index])} · read as "), tip
    screenshot(page, "f6_map_hover")
    _rerun(page, lambda: page.mouse.click(x, y))
    wait_until(
        lambda: page.get_by_label("Test image # (0–9999)").input_value() == str(index),
        30,
        f"test image #{index} to become the page's digit",
    )
    assert_no_exception(page)
    assert page.console_errors == [] or all("404" in e for e in page.console_errors)


def test_a_drawn_digits_star_moves_when_a_stroke_changes_it(page, trained_app):
    page.set_viewport_size(TALL)
    _feature_maps(page, trained_app)
    _mode(page, "Draw")
    _stroke(page, [(140, 40), (145, 240)])  # a "1"
    _open_map(page)
    one = _marker(page)
    _stroke(page, [(60, 60), (220, 60), (120, 240)])  # a stroke that makes it a "7"-ish shape
    wait_until(lambda: _marker(page) != one, 30, "the star to move after the stroke")
    seven = _marker(page)
    assert max(abs(seven[0] - one[0]), abs(seven[1] - one[1])) > 0.01, (one, seven)
    page.locator(f"{MAP} > canvas").scroll_into_view_if_needed()
    page.wait_for_timeout(600)  # the star glides to its new place
    screenshot(page, "f6_map_drawn_digit")
