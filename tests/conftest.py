"""Shared test setup: an isolated runs folder for every test session, and browser fixtures.

Browser fixtures (see ``browser_utils`` for the helpers they use):

* ``streamlit_app``     module-scoped ``StreamlitServer`` running ``dashboard/Home.py``
                        (``.url``, ``.runs_dir``, ``.logs()``); ``streamlit_server`` is its URL.
* ``start_streamlit``   factory ``start_streamlit(script="dashboard/Home.py", runs_dir=None,
                        env=None) -> StreamlitServer`` for a test that needs its own server
                        (e.g. with runs prepared on disk); stopped at the end of the test.
* ``browser``           session-scoped headless Chromium (Playwright, Debian's binary).
* ``page``              fresh context and page per test, viewport 1400x900, with
                        ``page.console_errors``: console errors and uncaught page errors.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from browser_utils import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, VIEWPORT, StreamlitServer, screenshot

_RUNS_TMP: str | None = None
# The dashboard's helpers import each other by name, as Streamlit lets them (it puts the
# router's folder on sys.path); the tests of the pure-Python ones do the same.
sys.path.insert(0, str(REPO_ROOT / "dashboard"))


def pytest_configure(config: pytest.Config) -> None:
    # Set before any test module is imported, so even import-time reads of the variable see it:
    # tests must never write into (or depend on) the user's ./runs.
    global _RUNS_TMP
    _RUNS_TMP = tempfile.mkdtemp(prefix="lenet-test-runs-")
    os.environ["LENET_RUNS_DIR"] = _RUNS_TMP
    # MNIST stays the repo's data/ (fetched once by `make data`); an explicit setting wins.
    os.environ.setdefault("LENET_DATA_DIR", str(REPO_ROOT / "data"))
    # AppTests build a fresh job manager per test: a warm spare worker each would pile up.
    # tests/test_jobs.py covers the spare; servers started by browser tests keep the default.
    os.environ["LENET_WARM_WORKER"] = "0"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RUNS_TMP:
        shutil.rmtree(_RUNS_TMP, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Anything that drives Chromium is a browser test, marked or not, so `-m "not browser"`
    # reliably leaves them all out.
    for item in items:
        if {"browser", "page"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Keep each phase's report on the item so `page` can screenshot a failed test.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


# --- Streamlit server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def streamlit_app(tmp_path_factory: pytest.TempPathFactory):
    """``dashboard/Home.py`` served on 127.0.0.1:<free port>, shared by one test module."""
    tmp = tmp_path_factory.mktemp("streamlit")
    server = StreamlitServer(
        "dashboard/Home.py", runs_dir=tmp / "runs", log_path=tmp / "server.log"
    )
    try:
        server.start(timeout=60)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def trained_app(streamlit_app: StreamlitServer) -> StreamlitServer:
    """The module's server with one trained run (2,000 images, 1 epoch) in its runs folder."""
    from lenet.runs import RunStore
    from lenet.training import TrainConfig, train

    result = train(
        TrainConfig(train_subset=2000, epochs=1, log_every=5, threads=1),
        store=RunStore(streamlit_app.runs_dir),
    )
    assert result.status == "finished"
    return streamlit_app


@pytest.fixture(scope="module")
def streamlit_server(streamlit_app: StreamlitServer) -> str:
    """Base URL of the module's dashboard server, e.g. ``http://127.0.0.1:41234``."""
    return streamlit_app.url


@pytest.fixture
def start_streamlit(tmp_path: Path):
    """Factory for servers owned by one test; every server it started is stopped afterwards."""
    servers: list[StreamlitServer] = []

    def start(
        script: str | Path = "dashboard/Home.py",
        runs_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> StreamlitServer:
        n = len(servers)
        server = StreamlitServer(
            script,
            runs_dir=runs_dir or tmp_path / f"runs{n}",
            log_path=tmp_path / f"server{n}.log",
            env=env,
        )
        servers.append(server)
        try:
            return server.start(timeout=60)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)

    yield start
    for server in servers:
        server.stop()


# --- Browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (no `playwright install` download)."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing; `make chromium` installs it"
        if _in_ci():
            pytest.fail(message, pytrace=False)  # CI must run every browser test
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A new page in its own context; ``page.console_errors`` lists what the browser reported."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.console_errors = []

    def on_console(msg) -> None:
        if msg.type == "error":
            pg.console_errors.append(f"console.error: {msg.text} ({msg.location.get('url', '')})")

    pg.on("console", on_console)
    pg.on("pageerror", lambda err: pg.console_errors.append(f"uncaught: {err}"))
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        try:
            screenshot(pg, f"FAILED-{request.node.name}")
        except Exception:  # a dead page must not hide the real failure
            pass
    context.close()


@pytest.fixture
def use_runs(monkeypatch):
    """``use(path)`` points the dashboard at a runs folder for AppTest; caches are cleared so
    the cached job manager and loaded models are rebuilt for it."""
    import streamlit as st

    def use(path):
        monkeypatch.setenv("LENET_RUNS_DIR", str(path))
        st.cache_resource.clear()
        st.cache_data.clear()

    yield use
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="session")
def real_raw() -> Path:
    """The real MNIST IDX files (``make data`` puts them there); tests that need them skip
    without them and never download."""
    from lenet.data import MNIST_FILES

    raw = Path(os.environ.get("LENET_DATA_DIR", REPO_ROOT / "data")) / "MNIST" / "raw"
    if not all((raw / name).is_file() for name in MNIST_FILES):
        pytest.skip(f"MNIST files not in {raw} (run `make data`); these tests never download")
    return raw
