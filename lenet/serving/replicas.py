"""One class board for several dashboard servers: the job manager lives on the Ray cluster.

With a cluster, the ``JobManager`` (queue, permissions, settings, spotlight) runs inside one
detached, named actor (``lenet-board`` in the ``lenet`` namespace), made by the first server
to arrive and found by every other. Each server (a "replica") holds a ``ClusterJobManager``: the
same methods as ``JobManager``, each a call to that actor, so a run started on one replica is
watched, paused and stopped from another, and every permission is checked in one place, by
the core. The runs folder and the roster are files on the disk every node shares; a replica
reads the store and signs people in itself, then asks the board to act for them.

``manager_for(address, store)`` gives a replica its manager: the cluster's, or, when the
cluster can't be reached, ``Unreachable``: everything works but starting or resuming runs,
whose refusal names the address and the reason. Ray is imported only here and in
``lenet.serving.ray_runner``.
"""

from __future__ import annotations

import logging

from lenet.models import LeNet5
from lenet.runs import RunStore
from lenet.serving.cluster import NAMESPACE, ClusterUnavailable, connect
from lenet.serving.jobs import JobManager, default_max_jobs
from lenet.serving.people import Roster

__all__ = ["BOARD", "ClusterJobManager", "Unreachable", "manager_for"]

BOARD = "lenet-board"
log = logging.getLogger(__name__)

# What a replica may ask the board: JobManager's public commands and readings.
_CALLS = frozenset({
    "start", "pause", "resume", "stop", "set_lr", "cancel", "move", "resume_run", "delete_run",
    "set_settings", "spotlight", "set_spotlight", "has", "queue_times", "snapshot", "board",
    "jobs", "counts", "active", "wait",
})  # fmt: skip
_READINGS = frozenset({"version", "settings", "max_jobs"})


class BoardKeeper:
    """The actor's body: a ``JobManager`` training on the cluster, over the shared runs
    folder. Made remote (detached, named) by ``_board``."""

    def __init__(self, runs_dir: str, max_jobs: int | None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        self.jm = JobManager(RunStore(runs_dir), max_jobs=max_jobs or _cluster_slots(),
                             isolation="ray", warm=True)  # fmt: skip

    def runs_dir(self) -> str:
        return str(self.jm.store.root.resolve())

    def call(self, method: str, *args, **kwargs):
        if method not in _CALLS:
            raise AttributeError(f"the board has no command {method!r}")
        return getattr(self.jm, method)(*args, **kwargs)

    def read(self, name: str):
        if name not in _READINGS:
            raise AttributeError(f"the board has no reading {name!r}")
        return getattr(self.jm, name)

    def live_weights(self, job_id: str):
        """(variant, state_dict, epoch, step) of a training job's latest weights, or None."""
        job = self.jm._get(job_id)
        published = job.control.weights() if job.control is not None else None
        return None if published is None else (job.config.variant, *published)


def _cluster_slots() -> int:
    """The board's training slots: ``default_max_jobs`` over the cluster's CPUs."""
    import ray

    return default_max_jobs(int(ray.cluster_resources().get("CPU", 2)))


def _board(runs_dir: str, max_jobs: int | None):
    import ray

    # On the head: a cluster without its head is gone anyway, so the board outlives any
    # worker node that is lost, and with it every run's record of what happened.
    keeper = ray.remote(BoardKeeper).options(
        name=BOARD, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        num_cpus=0, max_concurrency=64, resources={"node:__internal_head__": 0.001},
    )  # fmt: skip
    return keeper.remote(runs_dir, max_jobs)


class ClusterJobManager:
    """A replica's handle on the class board: ``JobManager``'s methods, carried out by the
    board actor. Errors arrive as the board raised them (``PermissionError``, ``ValueError``,
    ``KeyError``, ``QueueFull``, ...); a board that doesn't answer raises ``ClusterUnavailable``."""

    isolation = "ray"
    unavailable = None  # the reason training is off; None: it is on

    def __init__(self, address: str, store: RunStore, max_jobs: int | None = None) -> None:
        import ray

        self._ray, self.address = ray, address
        self.store = store
        self.class_dir = store.root / ".class"
        self.roster = Roster(self.class_dir)
        runs_dir = str(store.root.resolve())
        self._board = _board(runs_dir, max_jobs)
        theirs = self._get(self._board.runs_dir.remote())
        if theirs != runs_dir:
            raise ClusterUnavailable(
                f"The class board on {address} keeps its runs in {theirs}, this server in "
                f"{runs_dir}: start every server with the same shared LENET_RUNS_DIR."
            )

    def _get(self, ref, timeout: float = 60.0):
        ray = self._ray
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None  # as the board raised it, without Ray's traceback text
            raise ClusterUnavailable(f"The class board failed: {type(e).__name__}.") from None
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as e:
            raise ClusterUnavailable(
                f"The class board on the Ray cluster at {self.address} isn't answering "
                f"({type(e).__name__})."
            ) from None

    def __getattr__(self, name: str):
        if name in _CALLS:
            return lambda *args, **kwargs: self._get(self._board.call.remote(name, *args,
                                                                             **kwargs))  # fmt: skip
        if name in _READINGS:
            return self._get(self._board.read.remote(name))
        raise AttributeError(name)

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        limit = None if timeout is None else timeout + 30
        return self._get(self._board.call.remote("wait", job_id, timeout), timeout=limit)

    def live_model(self, job_id: str):
        """(model, epoch, step) from the training job's latest weights, or None yet."""
        got = self._get(self._board.live_weights.remote(job_id))
        if got is None:
            return None
        variant, state, epoch, step = got
        model = LeNet5(variant)
        model.load_state_dict(state)
        return model.eval(), epoch, step

    def shutdown(self, timeout: float = 30.0) -> None:
        """Nothing to do: the board and its jobs outlive any one replica."""


class Unreachable(JobManager):
    """A replica's manager while its cluster can't be reached: runs can be browsed, opened and
    deleted, but starting or resuming one is refused with ``reason``."""

    def __init__(self, store: RunStore, reason: str) -> None:
        super().__init__(store, max_jobs=1, isolation="thread")
        self.unavailable = reason

    def _schedule(self) -> None:
        """Nothing trains here: queued runs wait in the store for the cluster."""

    def start(self, *args, **kwargs) -> str:
        raise ClusterUnavailable(self.unavailable)

    def resume_run(self, *args, **kwargs) -> str:
        raise ClusterUnavailable(self.unavailable)


def manager_for(address: str, store: RunStore) -> ClusterJobManager | Unreachable:
    """The job manager a replica uses with the cluster at ``address``."""
    try:
        connect(address)
        return ClusterJobManager(address, store)
    except ClusterUnavailable as e:
        log.warning("%s Training is off until the server restarts.", e)
        return Unreachable(store, f"{e} Training is off; everything else works.")
