"""Chromium: a student draws a digit, adds it to the class's digits with its label, and finds
it in the collection on Our digits, read by the network."""

from __future__ import annotations

import pytest

from browser_utils import assert_no_exception, open_app, screenshot, wait_until
from lenet.data import ClassDigits
from test_browser_inspect import TALL, _feature_maps, _mode, _rerun, _stroke

pytestmark = pytest.mark.browser


def test_a_drawn_digit_added_with_its_label_is_in_the_collection(page, trained_app):
    page.set_viewport_size(TALL)
    _feature_maps(page, trained_app)
    _mode(page, "Draw")
    _stroke(page, [(140, 40), (145, 240)])  # a "1"
    add = page.get_by_role("button", name="Add to our digits")
    add.wait_for()
    assert add.is_disabled()  # no label chosen yet
    pills = page.get_by_label("Which digit did you draw?")
    _rerun(page, lambda: pills.get_by_text("1", exact=True).click())
    _rerun(page, add.click)
    store = ClassDigits.for_runs(trained_app.runs_dir)
    wait_until(lambda: len(store.list()) == 1, 20, "the digit to be kept")
    kept = store.list()[0]
    assert kept.label == 1 and kept.pixels().max() == 255
    screenshot(page, "our_digits_added")

    open_app(page, f"{trained_app.url}/Our_digits")
    page.get_by_text("The collection · 1 digit").wait_for()
    page.get_by_text("How well does it read us?").wait_for()
    assert_no_exception(page)
    page.wait_for_timeout(500)
    screenshot(page, "our_digits_page")
