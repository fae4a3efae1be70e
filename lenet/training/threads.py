"""Torch's thread pools, and a trainer that shares its cores politely.

Two OpenMP threads on two cores are the fastest way to train LeNet-5, as long as nothing else
wants those cores. On a classroom's server something always does: the server drawing pages for
thirty browsers. Then each parallel region waits for whichever of its threads was pushed off a
core, and training crawls (measured on 2 cores beside one busy process: 2 threads 2,100
images/s, 1 thread 3,800; beside two, 950 and 2,800). ``ThreadGovernor`` watches how much of
the machine the *other* processes use and trains on the cores they leave free, going back up
when they quieten down.
"""

from __future__ import annotations

import logging
import math
import os
import time

import torch

__all__ = ["configure_threads", "ThreadGovernor", "others_cpu"]

log = logging.getLogger(__name__)
# Measured on 2 cores: beside a browser drawing live charts (about 0.3-0.5 of a core) two
# threads still train fastest; beside a whole busy core, one thread is 1.8x faster. So a thread
# goes when the others take more than 0.75 of its core, and one comes back when the cores free
# exceed the threads in use by 0.6 (on 2 cores: 2 threads below 0.75 busy, back above 0.4).
DOWN_MARGIN = 0.75
UP_MARGIN = 0.6
_threads_set = False


def configure_threads(n: int) -> None:
    """Set torch's thread pools once per process (the interop pool can't be resized later)."""
    global _threads_set
    torch.set_num_threads(n)
    if not _threads_set:
        try:
            torch.set_num_interop_threads(1)  # no inter-op parallelism in a chain of small ops
        except RuntimeError:
            pass  # already fixed by earlier parallel work in this process
        _threads_set = True


def _machine_busy_s() -> float | None:
    """CPU seconds all processes but niced ones have used since boot (Linux), or None where
    unknown."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None
    # user nice system idle iowait irq softirq steal. Busy is all but idle and iowait, and
    # but nice: a process that lowered its priority gives way to training, so it takes only
    # what training leaves (a niced backup, or a benchmark's browsers standing in for others')
    user, _nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    busy = user + system + irq + softirq + steal
    return busy / os.sysconf("SC_CLK_TCK")


class _Sample:
    def __init__(self) -> None:
        self.wall = time.monotonic()
        self.machine = _machine_busy_s()
        self.own = time.process_time()


def others_cpu(before: _Sample, after: _Sample) -> float | None:
    """Cores the other processes kept busy between two samples, on average."""
    wall = after.wall - before.wall
    if before.machine is None or after.machine is None or wall <= 0:
        return None
    others = (after.machine - before.machine) - (after.own - before.own)
    return max(others / wall, 0.0)


class ThreadGovernor:
    """Call ``tick()`` between training steps: about once per ``interval`` seconds it measures
    the other processes' load and sets torch's thread count to the cores they leave free
    (between 1 and ``most``). Hysteresis keeps it from flapping: it steps down when the others
    take more than 0.75 of a thread's core, and back up one thread when the free cores exceed
    its threads by 0.6."""

    def __init__(self, most: int, interval: float = 1.0, cores: int | None = None) -> None:
        self.most, self.interval = most, interval
        self.cores = cores or os.cpu_count() or 1
        self.threads = most
        self.enabled = most > 1 and _machine_busy_s() is not None
        self._last = _Sample()
        self.changes = 0

    _shared: dict[int, ThreadGovernor] = {}

    @classmethod
    def shared(cls, most: int) -> ThreadGovernor:
        """This process's governor for ``most`` threads, kept from one job to the next: a worker
        that trained beside a busy server starts its next job on the threads it had found,
        and its first measurement covers the wait in between."""
        if most not in cls._shared:
            cls._shared[most] = cls(most)
        governor = cls._shared[most]
        torch.set_num_threads(governor.threads)
        return governor

    def decide(self, others: float) -> int:
        """The thread count for a machine whose other processes use ``others`` cores."""
        free = self.cores - others
        if self.threads > 1 and (fit := max(1, math.floor(free + DOWN_MARGIN))) < self.threads:
            return min(self.most, fit)
        if self.threads < self.most and free >= self.threads + UP_MARGIN:
            return self.threads + 1
        return self.threads

    def tick(self) -> int:
        if not self.enabled or time.monotonic() - self._last.wall < self.interval:
            return self.threads
        now = _Sample()
        others = others_cpu(self._last, now)
        self._last = now
        if others is not None and (threads := self.decide(others)) != self.threads:
            log.info("other processes use %.1f cores: training on %d thread(s)", others, threads)
            self.threads = threads
            self.changes += 1
            torch.set_num_threads(threads)
        return self.threads
