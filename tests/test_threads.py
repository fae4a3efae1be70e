"""The thread governor: torch trains on the cores other processes leave free."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from lenet.training import threads
from lenet.training.threads import ThreadGovernor, _Sample, others_cpu


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _governor(most=2, cores=2, threads_now=None):
    g = ThreadGovernor(most, interval=0.0, cores=cores)
    if threads_now is not None:
        g.threads = threads_now
    return g


@pytest.mark.parametrize(
    ("cores", "most", "now", "others", "expected"),
    [
        (2, 2, 2, 0.0, 2),  # a quiet machine: both threads
        (2, 2, 2, 0.5, 2),  # a browser drawing charts: two threads still train faster
        (2, 2, 2, 0.8, 1),  # most of a core taken: a second thread would wait for it
        (2, 2, 2, 1.9, 1),  # never below one thread
        (2, 2, 1, 0.5, 1),  # not back up until clearly free (hysteresis)
        (2, 2, 1, 0.3, 2),
        (8, 4, 4, 5.0, 3),  # 3 of 8 free
        (8, 4, 1, 0.0, 2),  # back up one thread at a time
        (8, 4, 4, 0.0, 4),  # never above the configured threads
    ],
)
def test_decide(cores, most, now, others, expected):
    assert _governor(most, cores, now).decide(others) == expected


def test_tick_sets_torchs_threads_from_the_measured_load(monkeypatch):
    busy = iter([0.0, 0.0, 3.0, 3.1])  # machine-wide CPU seconds: enabled?, start, two ticks
    monkeypatch.setattr(threads, "_machine_busy_s", lambda: next(busy))
    monkeypatch.setattr(threads.time, "process_time", lambda: 0.0)
    clock = iter(range(100))  # one second per call: each tick reads it twice, 2 s apart
    monkeypatch.setattr(threads.time, "monotonic", lambda: float(next(clock)))
    g = ThreadGovernor(2, interval=0.5, cores=2)
    torch.set_num_threads(2)
    assert g.tick() == 1 and torch.get_num_threads() == 1  # others used 1.5 cores
    assert g.tick() == 2 and torch.get_num_threads() == 2  # then 0.05: free again
    assert g.changes == 2


def test_tick_does_nothing_between_intervals_or_without_proc_stat(monkeypatch):
    g = ThreadGovernor(2, interval=3600, cores=2)
    monkeypatch.setattr(threads, "_machine_busy_s", lambda: pytest.fail("sampled early"))
    assert g.tick() == 2
    monkeypatch.setattr(threads, "_machine_busy_s", lambda: None)
    assert not ThreadGovernor(2, cores=2).enabled
    assert not ThreadGovernor(1, cores=2).enabled  # one thread: nothing to govern


def _measure(seconds: float, spin: bool = False) -> float:
    """Other processes' cores over about ``seconds``; ``spin``: keep this process busy too
    (for at least half a CPU-second, however loaded the machine is)."""
    before = _Sample()
    deadline = time.monotonic() + seconds
    if spin:
        while time.process_time() - before.own < 0.5 or time.monotonic() < deadline:
            pass
    else:
        time.sleep(seconds)
    after = _Sample()
    assert not spin or after.own - before.own >= 0.5
    return others_cpu(before, after)


LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")


@LINUX
def test_others_cpu_sees_a_busy_process_and_not_this_one():
    quiet = _measure(1.0)
    cores = os.cpu_count() or 1
    if quiet > cores - 1.2:  # no free core for the burner to show on: nothing to learn here
        pytest.skip(f"the machine is busy already: others use {quiet:.1f} of {cores} cores")
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # the burner is running
        busy = _measure(1.0, spin=True)  # this process busy too: it must not count
    finally:
        burner.kill()
        burner.wait()
    assert busy - quiet > 0.5  # the burner's core, and not this process's


@LINUX
def test_a_niced_process_does_not_count_it_gives_way():
    quiet = _measure(1.0)
    burner = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        niced = _measure(1.0)
    finally:
        burner.kill()
        burner.wait()
    assert niced - quiet < 0.5  # a whole core was busy, at nice 19
