"""A Ray cluster on this machine for the tests and the benchmark: started, its nodes taken away,
stopped, with a token; and the private network namespace it must live in.

``ray start`` binds every interface and advertises the machine's external address, so the
cluster and every client of it run inside ``unshare --net`` (with a PID namespace of its own,
so ``ray stop`` sees only its own processes and nothing outlives the namespace), where the only
address is 127.0.0.1.
"""

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
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--mount-proc"]
# No usage reports, and no log monitor: it copies every worker's log to the head for drivers
# to print, which the project's clients don't (a few % of a core per node, polling files).
QUIET = ("--disable-usage-stats", "--include-log-monitor=false")
INSIDE_ENV = "LENET_RAY_NAMESPACE"  # set to "1" for the processes inside the namespace


def namespace_refused() -> str | None:
    """Why a private network namespace can't be made here, or None when it can."""
    import shutil

    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = subprocess.run([*UNSHARE, "sh", "-c", "ip link set lo up"], capture_output=True,
                           text=True, timeout=30)  # fmt: skip
    if probe.returncode != 0:
        return f"can't make a private network namespace here: {probe.stderr.strip()[:200]}"
    return None


def in_private_network(command: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run the shell ``command`` inside a new network (and PID) namespace with only loopback."""
    env = {**os.environ, INSIDE_ENV: "1"}
    env.pop("LENET_RAY_ADDRESS", None)
    return subprocess.run([*UNSHARE, "sh", "-c", f"ip link set lo up && exec {command}"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)  # fmt: skip


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
        # Ray starts its workers at nice 15, under everything else on the node; these nodes
        # share the cores with the servers and browsers of a test, so the trainer competes as
        # a local worker process does.
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                    "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}  # fmt: skip
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
                  "--include-dashboard=false", *QUIET, f"--temp-dir={self.temp}")  # fmt: skip
        self.add_node()

    def add_node(self) -> int:
        port = free_port()
        self._ray("start", f"--address={self.address}", "--num-cpus=2",
                  f"--node-manager-port={port}", *QUIET)  # fmt: skip
        self.nodes.append(port)
        return port

    def kill_node(self, port: int) -> int:
        """SIGKILL the worker node's raylet and every process it started: the node is lost as
        a machine would be. Returns how many processes were killed."""
        raylet = next(pid for pid, cmd in _processes() if "raylet" in cmd[0]
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
        import shutil

        try:
            self._ray("stop", "--force", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.temp, ignore_errors=True)


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
