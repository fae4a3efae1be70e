"""What watching costs: training speed behind the dashboard's Train page vs the CLI alone.

The dashboard trains in a worker process of the Streamlit server while the page polls a snapshot
once a second and redraws two charts, all on the same cores. This runs the same configuration twice:
``python -m lenet train --json`` on its own, then from the Train page of a real server driven by
headless Chromium, which keeps the page open (polling) until the run ends. Both speeds are the
trainer's own ``images_per_s`` (paused and evaluation time excluded), the dashboard's read from
the run's ``metrics.jsonl``. ``python -m lenet bench --dashboard --only dashboard`` prints it
as JSON.

Run it on a quiet machine: other work on the same cores moves both numbers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.server import CHROMIUM, CHROMIUM_ARGS, REPO, Server

__all__ = ["bench_dashboard"]


def _cli(variant: str, epochs: int, subset: int, runs_dir: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "lenet",
        "train",
        "--variant",
        variant,
        "--epochs",
        str(epochs),
        "--train-subset",
        str(subset),
        "--json",
    ]
    out = subprocess.run(
        cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, LENET_RUNS_DIR=str(runs_dir)),
    ).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    return {
        "images_per_s": summary["images_per_second"],
        "train_s": summary["train_seconds"],
        "test_accuracy": summary["test_accuracy"],
    }


def _dashboard(
    variant: str, epochs: int, subset: int, runs_dir: Path, log: Path, timeout_s: float
) -> dict:
    from playwright.sync_api import sync_playwright

    server = Server(runs_dir, log)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{server.url}/Train", wait_until="domcontentloaded")
            sidebar = page.locator('[data-testid="stSidebar"]')
            sidebar.get_by_role("button", name="Start training").wait_for()
            sidebar.get_by_label("Variant").click()
            page.get_by_role("option", name=variant, exact=True).click()
            sidebar.get_by_label("Epochs").fill(str(epochs))
            sidebar.get_by_label("Training images (0 = all 60,000)").fill(str(subset))
            sidebar.get_by_role("button", name="Start training").click()
            page.wait_for_url(re.compile(r"run="), timeout=60_000)
            run_id = re.search(r"run=([\w-]+)", page.url).group(1)
            watch_cpu = _watching_cost(page, server.proc.pid)
            # The page stays open and polling until the still summary replaces the live view.
            page.get_by_text(re.compile(r"^Finished \d+ epoch")).wait_for(timeout=timeout_s * 1000)
            browser.close()
    finally:
        server.stop()
    events = [
        json.loads(line) for line in (runs_dir / run_id / "metrics.jsonl").read_text().splitlines()
    ]
    last = [e for e in events if e["type"] == "epoch"][-1]
    return {
        "images_per_s": round(last["images_per_s"], 1),
        "train_s": round(last["train_seconds"], 3),
        "test_accuracy": last["test_acc"],
        "run_id": run_id,
        "server_cpu_per_s_watching": watch_cpu,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _watching_cost(page, pid: int, seconds: float = 15.0) -> float | None:
    """Server CPU seconds per second spent on one open Train page while the job is paused.

    Paused, the trainer uses no CPU, so what the server burns is the page's polling alone (a
    snapshot, two figures, the websocket): a number other work on the machine doesn't move,
    unlike images/s. Paused time is excluded from the trainer's images/s.
    """
    if not Path(f"/proc/{pid}/stat").exists():
        return None
    page.get_by_text(re.compile(r"step [1-9][\d,]* of")).wait_for(timeout=300_000)
    page.get_by_role("button", name="Pause").click()
    page.get_by_text(re.compile(r"^Paused")).wait_for()
    time.sleep(2.0)  # the batch in flight finishes
    c0, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cost = (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)
    page.get_by_role("button", name="Resume").click()
    return round(cost, 4)


def bench_dashboard(
    variant: str = "classic", epochs: int = 1, subset: int = 0, timeout_s: float = 1200
) -> dict:
    """Images/s of one configuration trained from the Train page (watched) and by the CLI alone.

    ``ratio`` = dashboard / CLI; the goal is at least 0.8. ``subset`` 0 means all 60,000 images.
    """
    if not os.path.exists(CHROMIUM):
        return {"skipped": f"{CHROMIUM} is missing (make chromium)"}
    with tempfile.TemporaryDirectory(prefix="lenet-bench-dashboard-") as tmp:
        tmp = Path(tmp)
        cli = _cli(variant, epochs, subset, tmp / "cli-runs")
        dash = _dashboard(
            variant, epochs, subset, tmp / "dashboard-runs", tmp / "server.log", timeout_s
        )
    ratio = dash["images_per_s"] / cli["images_per_s"] if cli["images_per_s"] else None
    return {
        "config": {"variant": variant, "epochs": epochs, "train_images": subset or 60000},
        "cli_images_per_s": cli["images_per_s"],
        "dashboard_images_per_s": dash["images_per_s"],
        "ratio": round(ratio, 3) if ratio else None,
        "goal_ratio": 0.8,
        "meets_goal": bool(ratio and ratio >= 0.8),
        "server_cpu_s_per_s_watching_paused": dash["server_cpu_per_s_watching"],
        "cli_test_accuracy": cli["test_accuracy"],
        "dashboard_test_accuracy": dash["test_accuracy"],
    }
