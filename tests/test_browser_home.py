"""The Home page, loaded in a real browser: what AppTest cannot see (JS errors, rendering)."""

import pytest

from browser_utils import assert_no_exception, open_app, screenshot

pytestmark = pytest.mark.browser


def test_home_renders_without_errors(page, streamlit_server):
    open_app(page, streamlit_server)

    heading = page.get_by_role("heading", name="LeNet-5").first
    heading.wait_for(state="visible")
    assert_no_exception(page)
    screenshot(page, "home")
    assert page.console_errors == []
