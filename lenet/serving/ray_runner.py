"""Training jobs as Ray actors: ``JobManager(isolation="ray")`` and ``python -m lenet train
--ray``. Imported only when a cluster is in use.

One actor (``TrainWorker``) is to a job what a worker process is on one machine: it runs the
one training loop (``lenet.serving.worker``'s job runner) with its ``Control``, keeps the job's
events for the manager to collect, obeys pause / resume / stop / set_lr for its current run,
and hands out its latest published weights (CPU tensors) through Ray's object store. It writes
the run folder itself, so the runs folder must be a path every node sees. An actor that has
finished a job waits for the next one with torch imported and MNIST loaded (``warm``).

The manager's side follows each job in a thread: events every quarter second, a heartbeat in
the run folder (liveness on a shared disk can't be a local pid), and the end. An actor that
dies (its node lost, its process killed) leaves the run ``interrupted`` and resumable.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict

import ray

from lenet.data import data_dir
from lenet.runs import Run, RunStore
from lenet.serving.cluster import resources
from lenet.serving.protocol import RESULT, apply_command
from lenet.serving.runner import RemoteControl, end_lost
from lenet.serving.worker import preload_mnist, run_job
from lenet.training import Control, TrainConfig
from lenet.training import events as ev
from lenet.training.loop import Result

__all__ = ["TrainWorker", "RayRunner", "train_on_cluster", "BEAT_S"]

log = logging.getLogger(__name__)
BEAT_S = 5.0  # how often a followed run's heartbeat file is touched
_POLL_S = 0.25
UNAVAILABLE_S = 120.0  # an actor that can't be reached for this long is given up
_LOST = (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError, ray.exceptions.RayError)


class TrainWorker:
    """The actor that trains jobs (made remote by ``_actor``): one at a time, any number of
    calls to ``events``, ``command`` and ``weights`` meanwhile (a threaded actor)."""

    def __init__(self, data_folder: str, preload: bool = True) -> None:
        os.environ["LENET_DATA_DIR"] = data_folder
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        self._lock = threading.Lock()
        self._run_id: str | None = None
        self._events: list[dict] = []
        self._controls: dict[str, Control] = {}
        self._ended: set[str] = set()
        if preload:
            preload_mnist()

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def _control(self, run_id: str) -> Control | None:
        with self._lock:  # a command may arrive before its job: the job then starts with it
            if run_id in self._ended:
                return None
            return self._controls.setdefault(run_id, Control())

    def train(self, job: dict) -> dict:
        run_id = job["run_id"]
        control = self._control(run_id) or Control()
        with self._lock:
            self._run_id, self._events = run_id, []
        result: dict = {}

        def send(event: dict) -> None:
            if event.get("type") == RESULT:
                result.update(event)
            else:
                with self._lock:
                    self._events.append(event)

        run_job(job, control, send, self)
        return result or {"status": ev.FAILED, "message": "Training ended without a result."}

    def done(self, run_id: str) -> None:  # called by the job runner when the job has ended
        with self._lock:
            self._ended.add(run_id)
            self._controls.pop(run_id, None)

    def events(self, run_id: str, since: int) -> list[dict]:
        with self._lock:
            return self._events[since:] if run_id == self._run_id else []

    def command(self, run_id: str, message: dict) -> None:
        control = self._control(run_id)
        if control is not None:
            apply_command(control, message)

    def weights(self, run_id: str, seen_step: int | None):
        with self._lock:
            control = self._controls.get(run_id)
        published = control.weights() if control is not None else None
        return None if published is None or published[2] == seen_step else published


_REMOTE = None


def _actor(config: TrainConfig, preload: bool):
    """A new training actor with the resources ``config`` asks for."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(TrainWorker)
    folder = str(data_dir().resolve())
    return _REMOTE.options(max_concurrency=4, **resources(config)).remote(folder, preload)


def _job_message(config: TrainConfig, store: RunStore, run_id: str, resume: bool) -> dict:
    return {"config": asdict(config), "runs_dir": str(store.root.resolve()),
            "data_dir": str(data_dir().resolve()), "run_id": run_id, "resume": resume}  # fmt: skip


def _control_of(actor, run_id: str) -> RemoteControl:
    seen: list[int | None] = [None]

    def send(message: dict) -> None:
        try:
            actor.command.remote(run_id, message)
        except _LOST:  # the actor is gone: its end is being reported
            pass

    def fetch():
        try:
            published = ray.get(actor.weights.remote(run_id, seen[0]), timeout=5)
        except _LOST:
            return None
        if published is not None:
            seen[0] = published[2]
        return published

    return RemoteControl(send, fetch)


def follow(actor, ref, run: Run, on_event: Callable[[dict], None]) -> tuple[dict | None, str]:
    """Pass on ``actor``'s events for ``run`` until its ``train`` call ``ref`` ends: (its result,
    "") or (None, why the actor was lost). Touches the run's heartbeat meanwhile."""
    seen, beat, unavailable_since = 0, 0.0, None
    while True:
        finished, _ = ray.wait([ref], timeout=_POLL_S)
        try:
            events = ray.get(actor.events.remote(run.id, seen), timeout=30)
            unavailable_since = None
        except ray.exceptions.ActorUnavailableError as e:
            # Not yet known to be dead (a node that stops answering is declared dead only
            # after missed heartbeats): a job started again now could land on that node too.
            unavailable_since = unavailable_since or time.monotonic()
            if time.monotonic() - unavailable_since > UNAVAILABLE_S:
                return None, _why(e)
            time.sleep(1.0)
            continue
        except _LOST as e:
            return None, _why(e)
        for event in events:
            on_event(event)
        seen += len(events)
        if time.monotonic() - beat > BEAT_S:
            run.beat()
            beat = time.monotonic()
        if finished:
            try:
                return ray.get(ref), ""
            except _LOST as e:
                return None, _why(e)


def _record_node(actor, run: Run, closing: Callable[[], bool] = lambda: False) -> None:
    """Wait for the actor to have a place (a node with the CPUs it asks for may take a while to
    come), then write that node into the run's status before it trains (the trainer writes
    the status too). Gives up quietly when ``closing()``: ``follow`` then tells the end."""
    placed, beat = actor.node.remote(), time.monotonic()
    while not ray.wait([placed], timeout=1.0)[0]:
        if closing():
            return
        if time.monotonic() - beat > BEAT_S:  # waiting for a place is not being lost
            run.beat()
            beat = time.monotonic()
    try:
        run.set_state(ev.RUNNING, backend="ray", node=ray.get(placed))
    except _LOST:
        pass  # lost already: ``follow`` says so


def _why(error: Exception) -> str:
    log.warning("training actor lost: %s", error)
    if isinstance(error, ray.exceptions.GetTimeoutError):
        return "its trainer on the Ray cluster stopped answering"
    name = type(error).__name__
    return f"its trainer on the Ray cluster was lost ({name}: its node or process died)"


class RayRunner:
    """Trains a manager's jobs on the cluster ``connect`` joined; the same part as ``Runner``
    (``launch``, ``close``, ``where``) with the same ``on_event`` / ``on_end`` reports."""

    isolation = "ray"

    def __init__(self, store: RunStore, warm: bool, on_event, on_end) -> None:
        self.store, self.warm = store, warm
        self._on_event, self._on_end = on_event, on_end
        self._lock = threading.Lock()
        self._idle: list[tuple[tuple, object]] = []  # (resources, actor) waiting for a job
        self.closing = False
        if warm:
            default = TrainConfig()
            self._idle.append((_key(default), _actor(default, preload=True)))

    @property
    def idle(self) -> list:
        with self._lock:
            return [actor for _, actor in self._idle]

    def where(self) -> dict:
        return {"backend": "ray"}

    def launch(self, job, run: Run) -> None:
        key = _key(job.config)
        with self._lock:
            match = next((i for i, (k, _) in enumerate(self._idle) if k == key), None)
            actor = self._idle.pop(match)[1] if match is not None else None
            others, self._idle = self._idle, []
        for _, idle in others:  # an idle actor of another size holds cores this job may need
            ray.kill(idle)
        actor = actor or _actor(job.config, preload=False)
        run.beat()
        job.control = _control_of(actor, run.id)  # commands before the job begins wait for it
        job.thread = threading.Thread(target=self._follow, args=(job, run, actor, key),
                                      name=f"train-{job.id}", daemon=True)  # fmt: skip
        job.thread.start()

    def _follow(self, job, run: Run, actor, key: tuple) -> None:
        _record_node(actor, run, lambda: self.closing)
        ref = actor.train.remote(_job_message(job.config, self.store, run.id, job.resume))
        result, why = follow(actor, ref, run, lambda e: self._on_event(job, e))
        job.control.weights()  # keep the final weights here before the actor takes a new job
        if result is not None:
            state, message = result["status"], result["message"]
            self._keep_or_end(key, actor)
        else:
            state = ev.INTERRUPTED
            why = "the server shut down" if self.closing else why
            message = f"Training ended early: {why}; finished epochs are kept."
            end_lost(run, message)
            ray.kill(actor)
            if self.warm and not self.closing and not self.idle:
                with self._lock:
                    self._idle.append((key, _actor(job.config, preload=True)))
        run.release()
        self._on_end(job, state, message, lost=result is None and not self.closing)

    def _keep_or_end(self, key: tuple, actor) -> None:
        with self._lock:
            if self.warm and not self.closing and not self._idle:
                self._idle.append((key, actor))
                return
        ray.kill(actor)

    def close(self) -> None:
        self.closing = True
        with self._lock:
            idle, self._idle = self._idle, []
        for _, actor in idle:
            ray.kill(actor)


def _key(config: TrainConfig) -> tuple:
    return tuple(sorted(resources(config).items()))


def train_on_cluster(config: TrainConfig, run: Run, resume: bool, on_event) -> Result:
    """Train ``run`` on the cluster this process has joined and follow it with ``on_event``:
    the CLI's ``--ray``. Ctrl-C interrupts the run (finished epochs kept) as it would here.
    The result carries the events, not the model (it stays in the run folder)."""
    actor = _actor(config, preload=False)
    run.set_state(ev.RUNNING, backend="ray")
    run.beat()
    _record_node(actor, run)
    ref = actor.train.remote(_job_message(config, RunStore(run.path.parent), run.id, resume))
    history: list[dict] = []

    def collect(event: dict) -> None:
        history.append(event)
        on_event(event)

    try:
        try:
            result, why = follow(actor, ref, run, collect)
        except KeyboardInterrupt:
            actor.command.remote(run.id, {"cmd": "interrupt"})
            result, why = follow(actor, ref, run, collect)
    finally:
        ray.kill(actor)
    if result is None:
        message = f"Training ended early: {why}; finished epochs are kept."
        end_lost(run, message)
        result = {"status": ev.INTERRUPTED, "message": message}
    run.release()
    return Result(result["status"], model=None, history=history, run_id=run.id,
                  message=result["message"])  # fmt: skip
