"""Reaching a Ray cluster: its address, its token, and a clear message when it can't be reached.

Nothing here imports Ray until ``connect`` is called, so a server without a cluster address
never loads it. ``LENET_RAY_ADDRESS=host:port`` (the head's GCS port, as ``ray start --head``
prints it) or the CLI's ``--ray HOST:PORT`` turns the cluster on. Ray 2.59+ clusters require a
token: the client reads it from ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or Ray's token file
(``~/.ray/auth_token``), and ``RAY_AUTH_MODE=token`` is set for it when a token is there.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["ADDRESS_ENV", "NAMESPACE", "ClusterUnavailable", "address", "connect", "resources"]

ADDRESS_ENV = "LENET_RAY_ADDRESS"
NAMESPACE = "lenet"  # the board's name is looked up in this Ray namespace
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class ClusterUnavailable(RuntimeError):
    """The Ray cluster can't be reached or used; the message says which address and why."""


def address() -> str | None:
    """The cluster's address from ``LENET_RAY_ADDRESS``, or None: train on this machine."""
    value = os.environ.get(ADDRESS_ENV, "").strip()
    return value or None


def _host_port(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterUnavailable(
            f"{addr!r} is not a Ray address: give the head as HOST:PORT, e.g. 10.0.0.5:6379."
        )
    return host, int(port)


def _token_available() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


def connect(addr: str, timeout: float = 5.0) -> None:
    """Connect this process to the cluster at ``addr`` (once; later calls do nothing).
    ``ClusterUnavailable`` with the address and the reason when Ray is missing, the head
    doesn't answer, or the token is missing or refused."""
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable(
            f"Training on the Ray cluster at {addr} needs Ray: pip install ray==2.60.0."
        ) from None
    if ray.is_initialized():
        return
    host, port = _host_port(addr)
    try:  # Ray itself retries for a minute; a closed port should be told at once
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ClusterUnavailable(
            f"No Ray cluster answers at {addr} ({e.strerror or e}). Start its head with "
            f"`ray start --head --port={port}`, or unset {ADDRESS_ENV} to train here."
        ) from None
    if _token_available():
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    env = {"PYTHONPATH": os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))
                                         if p)}  # fmt: skip
    try:
        ray.init(address=addr, namespace=NAMESPACE, log_to_driver=False,
                 runtime_env={"env_vars": env}, configure_logging=False)  # fmt: skip
    except Exception as e:  # noqa: BLE001 - Ray raises several types for a refused client
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "token" in reason.lower() or "auth" in type(e).__name__.lower():
            reason = ("the cluster wants its token: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) "
                      "to the token the head was started with")  # fmt: skip
        raise ClusterUnavailable(f"Could not join the Ray cluster at {addr}: {reason}.") from None


def resources(config) -> dict:
    """What one job of ``config`` asks the cluster for: a CPU per training thread, and a
    quarter of a GPU when it trains on CUDA."""
    wants_gpu = getattr(config, "device", "cpu") == "cuda"
    return {"num_cpus": config.threads, "num_gpus": 0.25 if wants_gpu else 0}
