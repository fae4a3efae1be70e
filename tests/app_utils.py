"""Opening one dashboard page in AppTest the way a browser does: through the router.

``dashboard/Home.py`` is an ``st.navigation`` router, so a page is reached by running the
entry point with that page chosen (``AppTest.switch_page``), never by running the page's file
on its own: links between pages only resolve inside the router.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
HOME = str(ROOT / "dashboard" / "Home.py")


def open_page(name: str, query: dict | None = None, default_timeout: float = 60) -> AppTest:
    """An AppTest on ``dashboard/views/<name>.py`` with ``query`` in its address; not run yet."""
    at = AppTest.from_file(HOME, default_timeout=default_timeout)
    if name != "home":
        at.run()  # the router registers its pages in a first run; then they can be chosen
        at.switch_page(f"views/{name}.py")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at


def links(at: AppTest) -> list[str]:
    """Every page link the last run drew, as "<url path>?<query>" ("Train", "Feature_maps?…")."""
    out = []
    for link in at.get("page_link"):
        query = link.proto.query_string
        out.append(f"{link.proto.page}?{query}" if query else link.proto.page)
    return out
