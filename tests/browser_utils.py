"""Helpers for driving the dashboard in headless Chromium.

Plain functions and one small class, importable from any test (``from browser_utils import ...``)
and used by the fixtures in ``conftest.py``. The waits rely on two attributes the Streamlit
frontend (1.67) puts on its root element, so tests never sleep for a guessed duration:

* ``[data-testid="stApp"][data-test-connection-state="CONNECTED"]``: the websocket is up;
* ``[data-testid="stApp"][data-test-script-state="notRunning"]``: the last script run finished
  (other values: ``initial`` before the first run, ``running``, ``rerunRequested``,
  ``stopRequested``, ``compilationError``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.server import free_port, streamlit_command  # one way to start the dashboard

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = REPO_ROOT / "tests" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the test machines run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}

APP_CONNECTED = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION = '[data-testid="stException"]'


class StreamlitServer:
    """One ``streamlit run <script>`` subprocess on 127.0.0.1 and a free port.

    Output goes to ``log_path`` (a file, not a pipe: a pipe nobody reads fills up and blocks
    the server). ``LENET_RUNS_DIR`` points at ``runs_dir`` so the app never sees the user's runs.
    """

    def __init__(
        self, script: str | Path, runs_dir: Path, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.script = Path(script)
        self.runs_dir = Path(runs_dir)
        self.log_path = Path(log_path)
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 60.0, attempts: int = 3) -> StreamlitServer:
        """Start the server and wait for ``/_stcore/health``; raise RuntimeError with the log."""
        for attempt in range(attempts):
            self._spawn()
            try:
                self._wait_healthy(timeout)
                return self
            except RuntimeError:
                self.stop()
                # Only a lost race for the port is worth another try.
                if "already in use" not in self.logs() or attempt == attempts - 1:
                    raise
        return self  # unreachable; keeps type checkers content

    def _spawn(self) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "LENET_RUNS_DIR": str(self.runs_dir),
            "PYTHONUNBUFFERED": "1",
            "LENET_WARM_WORKER": "1",
            **self.extra_env,
        }  # the server as `make dashboard` runs it
        # The interpreter running the tests (.venv/bin/python under `make test`).
        cmd = streamlit_command(str(self.script), self.port)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        # cwd = repo root so .streamlit/config.toml applies, as under `make dashboard`.
        self.process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()  # the child holds its own descriptor

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        health = f"{self.url}/_stcore/health"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {self.process.returncode}:\n{self.logs()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if resp.status == 200 and resp.read().strip() == b"ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{health} did not answer 'ok' within {timeout:.0f} s:\n{self.logs()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)


def wait_for_streamlit_idle(page, timeout: float = 30_000, settle_ms: int = 150) -> None:
    """Wait until the app is connected and no script run is in progress.

    ``settle_ms`` first: after a click the frontend needs a moment to send the widget change,
    and until then the app still looks idle from the previous run.
    """
    if settle_ms:
        page.wait_for_timeout(settle_ms)
    page.wait_for_selector(APP_CONNECTED, state="attached", timeout=timeout)
    page.wait_for_selector(APP_IDLE, state="attached", timeout=timeout)


def open_app(page, url: str, timeout: float = 60_000, joined: bool = True) -> None:
    """Navigate to ``url`` (base URL or a page path) and wait for its first run to finish.

    ``joined``: also wait until the browser has told the server who is at it (the dashboard's
    router draws the page only then; the sidebar's "Your name" box appears with it)."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout)
    wait_for_streamlit_idle(page, timeout=timeout, settle_ms=0)
    if joined:
        page.locator(SIDEBAR).get_by_label("Your name").wait_for(state="attached", timeout=timeout)
        wait_for_streamlit_idle(page, timeout=timeout, settle_ms=0)


def assert_no_exception(page) -> None:
    """Fail if the app shows an exception box (text included, since details are hidden)."""
    boxes = page.locator(EXCEPTION)
    count = boxes.count()
    assert count == 0, f"{count} exception box(es) on the page: {boxes.all_inner_texts()!r}"


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save ``tests/screenshots/<name>.png`` (git-ignored) and return its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"
    path = SCREENSHOT_DIR / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --- waiting on the live pages, and who is at a browser ---------------------------------------

SIDEBAR = '[data-testid="stSidebar"]'
WORD_JOINER = "\u2060"  # what the dashboard puts after a colon in a name (identity.plain)


def wait_until(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    """Poll ``predicate`` (live pages redraw themselves every second or two) until it is true;
    fail after ``timeout`` seconds. An exception counts as "not yet": the element may be
    being replaced by the next redraw."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


_OUTLINE_JS = """() => {
  const out = [];
  const walk = (el, depth) => {
    for (const child of el.children) {
      const id = child.getAttribute("data-testid");
      if (!id) { walk(child, depth); continue; }
      const text = (child.innerText || "").replace(/\\s+/g, " ").slice(0, 60);
      const stale = child.getAttribute("data-stale") === "true" ? " (stale)" : "";
      out.push("  ".repeat(depth) + id + stale + ": " + text);
      if (["stVerticalBlock", "stLayoutWrapper"].includes(id) && depth < 4) walk(child, depth + 1);
    }
  };
  const main = document.querySelector('[data-testid="stMain"] [data-testid="stVerticalBlock"]');
  if (main) walk(main, 0);
  return out.join("\\n");
}"""


def outline(page) -> str:
    """The main column's blocks and elements, a line each (what a failed test's page held)."""
    return page.evaluate(_OUTLINE_JS)


def progress_text(page) -> str:
    """The Train page's progress line ("Running · epoch 1 of 2 · step 10 of 94 · ..."), or "".
    The last one drawn: on cores shared by several browsers and a training run, Streamlit can
    leave a stale copy of a live fragment above the one it keeps redrawing."""
    bars = page.locator('[data-testid="stProgress"]')
    return bars.last.inner_text() if bars.count() else ""


def progress_step(page) -> int:
    found = re.search(r"step ([\d,]+) of", progress_text(page))
    return int(found.group(1).replace(",", "")) if found else -1


def sidebar_text(page) -> str:
    """The sidebar's text as a person reads it (the invisible word joiners left out)."""
    return page.locator(SIDEBAR).inner_text().replace(WORD_JOINER, "")


def my_name(page) -> str:
    """The name this browser takes part under: the sidebar's "Your name" box (there once the
    browser has told the server who it is)."""
    box = page.locator(SIDEBAR).get_by_label("Your name")
    box.wait_for()
    return box.input_value()


def choose_name(page, name: str, timeout: float = 30.0) -> None:
    """Type ``name`` into the sidebar's box and wait until the sidebar says it."""
    wait_for_streamlit_idle(page)
    box = page.locator(SIDEBAR).get_by_label("Your name")
    box.fill(name)
    box.press("Enter")
    wait_until(
        lambda: f"You take part as {name}," in sidebar_text(page), timeout, f"the name {name!r}"
    )
