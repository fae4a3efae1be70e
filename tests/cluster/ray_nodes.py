"""Starting, taking away and stopping the nodes of a local Ray cluster, with a token."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head (no CPUs: it keeps the class board) and worker nodes of 2 CPUs each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Ray's sockets live in its temp folder, whose path must stay short
        self.temp = tempfile.mkdtemp(prefix="lray-", dir="/tmp")
        self.token = secrets.token_hex(32)
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                    "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
        self.nodes: list[int] = []  # the worker nodes' node-manager ports

    def _ray(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run([RAY, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)  # this process's
        self._ray("start", "--head", f"--port={self.port}", "--num-cpus=0",
                  "--include-dashboard=false", "--disable-usage-stats",
                  f"--temp-dir={self.temp}")  # fmt: skip
        self.add_node()

    def add_node(self) -> int:
        port = free_port()
        self._ray("start", f"--address={self.address}", "--num-cpus=2",
                  f"--node-manager-port={port}", "--disable-usage-stats")  # fmt: skip
        self.nodes.append(port)
        return port

    def kill_node(self, port: int) -> int:
        """SIGKILL the worker node's raylet and every process it started: the node is lost as
        a machine would be. Returns how many processes were killed."""
        raylet = next(pid for pid, cmd in _processes() if "raylet" in cmd[:1][0]
                      and f"--node_manager_port={port}" in cmd)  # fmt: skip
        victims = [raylet, *_descendants(raylet)]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.nodes.remove(port)
        return len(victims)

    def wait_nodes(self, alive: int, timeout: float = 90) -> None:
        """Until the head counts ``alive`` living nodes (itself included)."""
        import ray

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(n["Alive"] for n in ray.nodes()) == alive:
                return
            time.sleep(0.5)
        raise AssertionError(f"the cluster did not come to {alive} living nodes")

    def stop(self) -> None:
        try:
            self._ray("stop", "--force", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass


def _processes():
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                yield int(entry.name), raw.decode(errors="replace").split("\0")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
