"""The Ray tests (``tests/cluster``), run where a cluster can live: a private network namespace
(``benchmarks.local_cluster``), where 127.0.0.1 is the only address. Without the rights to make
one, the test is skipped and says so."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.local_cluster import in_private_network, namespace_refused

ROOT = Path(__file__).resolve().parents[1]


def test_the_cluster_tests_pass_in_a_private_network(tmp_path):
    reason = namespace_refused()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("ray")
    inner = (f"{sys.executable} -m pytest tests/cluster -q -p no:cacheprovider -x "
             f"--basetemp={tmp_path / 'inner'}")  # fmt: skip
    done = in_private_network(inner, ROOT, timeout=1500)
    print(done.stdout[-6000:])
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
