"""The dashboard as the benchmarks start it: ``streamlit run dashboard/Home.py`` on 127.0.0.1
and a free port, logging to a file, and headless Debian Chromium's flags."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["REPO", "CHROMIUM", "CHROMIUM_ARGS", "free_port", "streamlit_command", "Server"]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def streamlit_command(script: str, port: int) -> list[str]:
    """``streamlit run`` of ``script`` on 127.0.0.1:``port``, with the interpreter running this
    (so the server sees exactly the packages its caller sees)."""
    return [sys.executable, "-m", "streamlit", "run", script, "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.headless", "true"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``streamlit run dashboard/Home.py`` on 127.0.0.1 and a free port, logging to a file."""

    def __init__(self, runs_dir: Path, log: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = streamlit_command("dashboard/Home.py", self.port)
        env = dict(os.environ, LENET_RUNS_DIR=str(runs_dir), PYTHONUNBUFFERED="1", **(env or {}))
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"streamlit did not become healthy:\n{log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
