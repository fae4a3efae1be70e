"""A real Ray cluster for the tests in this folder: a head and a worker node on 127.0.0.1.

These tests run only inside a private network namespace (``tests/test_ray.py`` makes one with
``unshare`` and runs them there), where 127.0.0.1 is the only address: ``ray start`` binds every
interface and advertises the machine's external address otherwise. Collected anywhere else, they
are skipped. The head offers no CPUs, so every training actor runs on the worker node, and a
test can take that node away. ``ray stop`` ends it all, and the namespace's own process tree
ends with the outer test in any case.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.local_cluster import INSIDE_ENV, Cluster
from lenet.runs import RunStore

INSIDE = os.environ.get(INSIDE_ENV) == "1"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if INSIDE:
        return
    skip = pytest.mark.skip(reason="runs inside a private network namespace: tests/test_ray.py")
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    if not INSIDE:
        pytest.skip("runs inside a private network namespace: tests/test_ray.py")
    nodes = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> RunStore:
    """The runs folder every node and replica shares (the board keeps one for its life)."""
    return RunStore(tmp_path_factory.mktemp("shared-runs"))
