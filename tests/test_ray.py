"""The Ray tests (``tests/cluster``), run where a cluster can live: a private network namespace.

``ray start`` binds every interface and advertises this machine's external address, so the
cluster, and every client of it, runs inside ``unshare --net`` (with a PID namespace of its own,
so ``ray stop`` sees only its own processes and nothing outlives the namespace), where the only
address is 127.0.0.1. Without the rights to make one, the test is skipped and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--mount-proc"]


def _namespace_reason() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = subprocess.run([*UNSHARE, "sh", "-c", "ip link set lo up"], capture_output=True,
                           text=True, timeout=30)  # fmt: skip
    if probe.returncode != 0:
        return f"can't make a private network namespace here: {probe.stderr.strip()[:200]}"
    return None


def test_the_cluster_tests_pass_in_a_private_network(tmp_path):
    reason = _namespace_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("ray")
    env = {**os.environ, "LENET_RAY_NAMESPACE": "1"}
    env.pop("LENET_RAY_ADDRESS", None)
    inner = (f"ip link set lo up && exec {sys.executable} -m pytest tests/cluster -q -p "
             f"no:cacheprovider --basetemp={tmp_path / 'inner'} -x")  # fmt: skip
    done = subprocess.run([*UNSHARE, "sh", "-c", inner], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)  # fmt: skip
    print(done.stdout[-6000:])
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
