"""The class's training jobs: a queue, who may do what to which run, and a board every page
polls to learn of starts, ends and moves.

A job belongs to the manager (one per server), not to a page or a browser, so it survives
reruns, page switches and reloads; any number of viewers poll ``snapshot()`` and ``board()``.
Start never answers "busy": the run is stored as ``queued`` and starts when one of the
``max_jobs`` slots is free (the teacher's first, then first come first served). A restarted
manager finds the queued runs in the store and queues them again. Every command takes the
acting ``Participant`` and raises ``PermissionError`` when a student acts on someone else's run.
How a job trains (worker process or thread) is ``lenet.serving.runner``'s part.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from dataclasses import asdict

from torch import nn

from lenet.models import LeNet5
from lenet.runs import LEGACY_OWNER, RunStore, curves_from_events
from lenet.serving.board import Job, job_row, queue_times
from lenet.serving.people import Participant, Roster, may_control
from lenet.serving.policy import ClassSettings, QueueFull, check_start, queue_order
from lenet.serving.runner import ISOLATIONS, Runner
from lenet.training import Control, TrainConfig
from lenet.training import events as ev

__all__ = ["JobManager", "QueueFull", "ISOLATIONS", "default_max_jobs"]

log = logging.getLogger(__name__)


def _runner(store: RunStore, isolation: str, warm: bool, on_event, on_end):
    """The runner for ``isolation``: this machine's (``Runner``) or the Ray cluster's, which
    this process must have joined (``lenet.serving.cluster.connect``)."""
    if isolation == "ray":
        from lenet.serving.ray_runner import RayRunner  # Ray is imported only for a cluster

        return RayRunner(store, warm, on_event, on_end)
    return Runner(store, isolation, warm, on_event, on_end)


def default_max_jobs(cores: int | None = None) -> int:
    """``LENET_MAX_JOBS``, else one job per two of ``cores`` (this machine's by default, a
    cluster's CPUs for its board): each trains on two threads."""
    configured = os.environ.get("LENET_MAX_JOBS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return max(1, (cores or os.cpu_count() or 2) // 2)


class JobManager:
    """Queues, starts, controls and reports training jobs; every method is thread-safe."""

    unavailable: str | None = None  # why starting runs is off (a cluster out of reach), if it is

    def __init__(
        self,
        store: RunStore | None = None,
        max_jobs: int | None = None,
        isolation: str = "process",
        warm: bool = False,
    ):
        """``warm`` (process isolation): keep one worker started, with torch imported and MNIST
        loaded, so Start begins training in well under a second instead of ≈3 s."""
        self.store = store or RunStore()
        self.max_jobs = max_jobs or default_max_jobs()
        self.class_dir = self.store.root / ".class"
        self.roster = Roster(self.class_dir)
        self.settings = ClassSettings.load(self.class_dir / "settings.json")
        self.version = 0  # goes up whenever the board changes; pages poll it
        self._spotlight: str | None = None
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._closed = False
        self._runner = _runner(self.store, isolation, warm, self._on_event, self._on_end)
        self.isolation = isolation
        atexit.register(self.shutdown)  # a thread still inside torch at exit aborts the process
        self._speeds: list[dict] = []  # recent finished runs' speeds, for queue estimates
        self._teacher_latest: str | None = None
        self._read_store()

    # -- the queue -------------------------------------------------------------------------
    def _read_store(self) -> None:
        """Once, at start: queued runs of an earlier server are queued again, in order; finished
        runs tell how fast jobs train here; the teacher's latest run is the spotlight."""
        infos = self.store.list()  # newest first
        for info in infos:
            if info.status == ev.FINISHED and len(self._speeds) < 50:
                self._speeds.append(self._speed(info.variant, info.config, info.images_per_s))
            if self._teacher_latest is None and self._teachers(info.owner):
                self._teacher_latest = info.id
            if info.status == ev.QUEUED and info.id not in self._jobs:
                try:
                    config = TrainConfig.from_dict(info.config).validate()
                except (ValueError, TypeError):
                    continue
                status = self.store.get(info.id).status()
                self._jobs[info.id] = Job(
                    info.id, config, info.owner, info.queued_at or time.time(),
                    teacher=bool(status.get("teacher")), resume=bool(status.get("resume")),
                    rank=status.get("rank"), requeued=int(status.get("requeued") or 0),
                )  # fmt: skip
        self._changed()
        self._schedule()

    def start(self, config: TrainConfig, actor: Participant, lesson: str | None = None) -> str:
        """Queue a run of ``config`` for ``actor``; it trains as soon as a slot is free. Returns
        the run id. ``PermissionError`` or ``QueueFull`` (with a message) when refused."""
        config.validate()
        with self._lock:
            mine = [j for j in self._unfinished() if j.owner.get("id") == actor.id]
            queued = sum(j.state == ev.QUEUED for j in self._jobs.values())
            check_start(actor, config, self.settings, len(mine), queued, lesson)
            run = self.store.create(asdict(config), owner=actor.owner(), queued=True)
            run.set_state(ev.QUEUED, teacher=actor.is_teacher)
            job = Job(run.id, config, actor.owner(), run.status()["queued_at"],
                       teacher=actor.is_teacher)  # fmt: skip
            self._jobs[job.id] = job
            if actor.is_teacher:
                self._teacher_latest = job.id  # students follow the teacher's latest run
            self._changed()
            self._schedule()
        return job.id

    def _unfinished(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.state in ev.UNFINISHED]

    def queue(self) -> list[Job]:
        """Queued jobs in the order they will start."""
        with self._lock:
            waiting = [j for j in self._jobs.values() if j.state == ev.QUEUED]
            rows = [{"job": j, "teacher": j.teacher, "queued_at": j.queued_at, "rank": j.rank}
                    for j in waiting]  # fmt: skip
            return [r["job"] for r in queue_order(rows)]

    def _schedule(self) -> None:
        """Start queued jobs while slots are free."""
        with self._lock:
            if self._closed:
                return
            running = sum(j.state in ev.ACTIVE for j in self._jobs.values())
            for job in self.queue()[: max(self.max_jobs - running, 0)]:
                self._launch(job)

    def _launch(self, job: Job) -> None:
        run = self.store.get(job.id)
        if job.resume:  # the curves go on from the stored history
            events = run.events()
            curves = curves_from_events(events)
            job.batches, job.epochs = list(curves.batches), list(curves.epochs)
            job.lr_changes, job.resumes = list(curves.lr_changes), list(curves.resumes)
            job.info = next((e for e in events if e.get("type") == "start"), {})
        run.set_state(ev.RUNNING, pid=os.getpid(), started=time.time(), **self._runner.where())
        job.state, job.started = ev.STARTING, time.time()
        self._runner.launch(job, run)
        self._changed()

    def _on_event(self, job: Job, event: dict) -> None:
        with self._lock:
            kind = event["type"]
            if kind == "batch":
                job.batches.append(event)
            elif kind == "epoch":
                job.epochs.append(event)
            elif kind == "lr":
                job.lr_changes.append(event)
            elif kind in ("start", "resume"):
                job.info = job.info or event
                job.state = ev.RUNNING
                if kind == "resume":  # as curves_from_events: the cut-short epoch's steps go
                    step = event["step"]
                    job.batches = [b for b in job.batches if b["step"] <= step]
                    job.epochs = [e for e in job.epochs if e["step"] <= step]
                    job.lr_changes = [c for c in job.lr_changes if c["step"] <= step]
                    job.resumes.append(event)
                self._changed()

    def _on_end(self, job: Job, state: str, message: str, lost: bool = False) -> None:
        """A job has ended. ``lost``: its worker died (not a shutdown, not a request); with the
        teacher's ``requeue_interrupted`` its run is queued again, once, to go on."""
        with self._lock:
            job.state, job.message = state, message
            if state == ev.FINISHED and job.epochs:
                speed = job.epochs[-1].get("images_per_s")
                self._speeds.insert(0, self._speed(job.config.variant, asdict(job.config), speed))
                del self._speeds[50:]
            self._changed()
            if lost and self.settings.requeue_interrupted and not job.requeued and not self._closed:
                run = self.store.get(job.id)
                if run.info().resumable:
                    self._requeue(run, job.config, job.owner, job.teacher, again=1)
                    return
        self._schedule()

    @staticmethod
    def _speed(variant: str, config: dict, images_per_s: float | None) -> dict:
        return {"variant": variant, "recipe": config.get("recipe", "standard"),
                "images_per_s": images_per_s}  # fmt: skip

    def _changed(self) -> None:
        self.version += 1

    # -- commands, each checked against who asks -------------------------------------------
    def _owned(self, run_id: str, actor: Participant) -> Job:
        job = self._get(run_id)
        if not may_control(actor, job.owner):
            raise PermissionError(f"Run {run_id} belongs to {job.owner.get('name', 'someone')}: "
                                  "only they or the teacher can change it.")  # fmt: skip
        return job

    def _training(self, run_id: str, actor: Participant) -> Control:
        job = self._owned(run_id, actor)
        if job.state not in ev.ACTIVE:
            what = "waits in the queue: cancel it instead" if job.state == ev.QUEUED else (
                f"has ended ({job.state})")  # fmt: skip
            raise ValueError(f"Run {run_id} {what}.")
        return job.control

    def pause(self, run_id: str, actor: Participant) -> None:
        self._training(run_id, actor).pause()

    def resume(self, run_id: str, actor: Participant) -> None:
        self._training(run_id, actor).resume()

    def stop(self, run_id: str, actor: Participant) -> None:
        self._training(run_id, actor).stop()

    def set_lr(self, run_id: str, actor: Participant, lr: float) -> None:
        self._training(run_id, actor).set_lr(lr)

    def cancel(self, run_id: str, actor: Participant) -> None:
        """Take a queued run out of the queue; it had not trained, so its folder goes too."""
        with self._lock:
            job = self._owned(run_id, actor)
            if job.state != ev.QUEUED:
                raise ValueError(f"Run {run_id} is not waiting in the queue (it is {job.state}).")
            del self._jobs[run_id]
            if job.resume:  # an interrupted run keeps what it trained
                self.store.get(run_id).set_state(ev.INTERRUPTED, message="Resume cancelled.")
            else:
                self.store.delete(run_id)
            self._changed()

    def move(self, run_id: str, actor: Participant, places: int) -> None:
        """The teacher moves a queued run ``places`` up (negative) or down its part of the queue
        (the teacher's runs stay ahead of the students')."""
        if not actor.is_teacher:
            raise PermissionError("Only the teacher can reorder the queue.")
        with self._lock:
            job = self._get(run_id)
            order = [j for j in self.queue() if j.teacher == job.teacher]
            if job not in order:
                raise ValueError(f"Run {run_id} is not waiting in the queue.")
            at = min(max(order.index(job) + places, 0), len(order) - 1)
            order.remove(job)
            order.insert(at, job)
            for rank, j in enumerate(order):  # an explicit order from now on
                j.rank = float(rank)
                self.store.get(j.id).set_state(ev.QUEUED, rank=j.rank)
            self._changed()

    def resume_run(self, run_id: str, actor: Participant) -> str:
        """Queue an interrupted run again, to go on from its newest checkpoint (same run id,
        same metrics log). ``ValueError`` when it can't be resumed."""
        run = self.store.get(run_id)
        info = run.info()
        if not may_control(actor, info.owner):
            raise PermissionError(f"Run {run_id} belongs to {info.owner.get('name')}: only they "
                                  "or the teacher can resume it.")  # fmt: skip
        with self._lock:
            if run_id in self._jobs and self._jobs[run_id].state in ev.UNFINISHED:
                raise ValueError(f"Run {run_id} is already waiting or training.")
            if not info.resumable:
                raise ValueError(f"Run {run_id} can't be resumed: it is {info.status} with "
                                 f"{info.epochs_done} finished epoch(s).")  # fmt: skip
            config = TrainConfig.from_dict(info.config).validate()
            mine = [j for j in self._unfinished() if j.owner.get("id") == actor.id]
            queued = sum(j.state == ev.QUEUED for j in self._jobs.values())
            check_start(actor, config, self.settings, len(mine), queued, resuming=True)
            self._requeue(run, config, info.owner, teacher=actor.is_teacher)
        return run_id

    def _requeue(self, run, config: TrainConfig, owner: dict, teacher: bool, again: int = 0):
        run.set_state(ev.QUEUED, queued_at=time.time(), resume=True, teacher=teacher,
                      message="", requeued=again)  # fmt: skip
        self._jobs[run.id] = Job(run.id, config, owner, time.time(), teacher=teacher,
                                  resume=True, requeued=again)  # fmt: skip
        self._changed()
        self._schedule()

    def delete_run(self, run_id: str, actor: Participant) -> None:
        """Delete a stored run that is not training (a queued one: ``cancel``)."""
        info = self.store.get(run_id).info()
        if not may_control(actor, info.owner):
            raise PermissionError(f"Run {run_id} belongs to {info.owner.get('name')}: only they "
                                  "or the teacher can delete it.")  # fmt: skip
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job.state in ev.UNFINISHED:
                raise RuntimeError("This run is still queued or training; stop or cancel it "
                                   "before deleting it.")  # fmt: skip
            self.store.delete(run_id)
            self._jobs.pop(run_id, None)
            if self._spotlight == run_id:
                self._spotlight = None
            self._changed()

    # -- the teacher's controls --------------------------------------------------------------
    def set_settings(self, settings: ClassSettings, actor: Participant) -> None:
        if not actor.is_teacher:
            raise PermissionError("Only the teacher can change the class's settings.")
        settings.save(self.class_dir / "settings.json")
        with self._lock:
            self.settings = settings
            self._changed()

    def spotlight(self) -> str | None:
        """The run every following student watches: the teacher's choice, else their latest."""
        with self._lock:
            return self._spotlight or self._teacher_latest

    def set_spotlight(self, run_id: str | None, actor: Participant) -> None:
        if not actor.is_teacher:
            raise PermissionError("Only the teacher can choose the run the class follows.")
        if run_id is not None:
            self.store.get(run_id)  # KeyError for an unknown run
        with self._lock:
            self._spotlight = run_id
            self._changed()

    def _teachers(self, owner: dict) -> bool:
        person = self.roster.get(owner.get("id"))
        return owner.get("id") == LEGACY_OWNER["id"] or (person is not None and person.is_teacher)

    # -- reading ---------------------------------------------------------------------------
    def _get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"no job {job_id!r} in this server")
        return job

    def has(self, job_id: str) -> bool:
        return job_id in self._jobs

    def queue_times(self) -> dict[str, tuple[int, float]]:
        """For each queued run: (its place, 1 = next; seconds until it should start)."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.state in ev.ACTIVE]
            return queue_times(self.queue(), running, self.max_jobs, self._speeds)

    def snapshot(self, job_id: str) -> dict:
        """A consistent copy of a job's progress and history, safe to read from any thread."""
        with self._lock:
            job = self._get(job_id)
            place, wait = self.queue_times().get(job.id, (0, 0.0))
            return {
                **job_row(job, place, wait),
                "batches": list(job.batches),
                "epoch_metrics": list(job.epochs),
                "lr_changes": list(job.lr_changes),
                "resumes": list(job.resumes),
            }

    def board(self) -> dict:
        """What every page polls: the version, the spotlight, and a row per job this server
        knows (queued, training, or ended here), newest first, without their curves."""
        with self._lock:
            newest = sorted(self._jobs.values(), key=lambda j: j.queued_at, reverse=True)
            times = self.queue_times()
            rows = [job_row(j, *times.get(j.id, (0, 0.0))) for j in newest]
            return {"version": self.version, "spotlight": self.spotlight(), "jobs": rows,
                    "max_jobs": self.max_jobs, "settings": asdict(self.settings)}  # fmt: skip

    def jobs(self) -> list[dict]:
        """Short rows for every job this process knows, newest first."""
        return self.board()["jobs"]

    def counts(self) -> dict[str, int]:
        """How many jobs wait, train (paused ones included) and are paused: cheap, for polls."""
        with self._lock:
            jobs = list(self._jobs.values())
        states = [j.state for j in jobs]
        paused = sum(j.state in ev.ACTIVE and j.control is not None and j.control.paused
                     for j in jobs)  # fmt: skip
        return {ev.QUEUED: states.count(ev.QUEUED),
                ev.RUNNING: sum(s in ev.ACTIVE for s in states), ev.PAUSED: paused}  # fmt: skip

    def active(self) -> list[str]:
        with self._lock:
            return [j.id for j in self._jobs.values() if j.state in ev.ACTIVE]

    def live_model(self, job_id: str) -> tuple[nn.Module, int, int] | None:
        """A copy of the job's latest published weights as (model, epoch, step), or None yet."""
        job = self._get(job_id)
        published = job.control.weights()
        if published is None:
            return None
        state, epoch, step = published
        model = LeNet5(job.config.variant)
        model.load_state_dict(state)
        return model.eval(), epoch, step

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        """Block until the job ends or ``timeout`` passes (scripts, tests); return its state.
        A queued job is waited for too."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self._get(job_id)
            if job.state not in (ev.QUEUED, ev.STARTING) or job.thread is not None:
                break
            if deadline is not None and time.monotonic() > deadline:
                return self.snapshot(job_id)["state"]
            time.sleep(0.05)
        if job.thread is not None:
            job.thread.join(None if deadline is None else max(deadline - time.monotonic(), 0))
        return self.snapshot(job_id)["state"]

    def shutdown(self, timeout: float = 30.0) -> None:
        """Interrupt every training job and wait for it (called at interpreter exit): its run
        ends ``interrupted``, finished epochs kept. Queued runs stay queued in the store, for
        the next server. A worker that doesn't end in time is killed (its run: interrupted)."""
        with self._lock:
            self._closed = True
            jobs = [j for j in self._jobs.values() if j.state in ev.ACTIVE]
        self._runner.close()
        for job in jobs:
            job.control.interrupt()
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None and job.thread.is_alive():
                job.thread.join(max(deadline - time.monotonic(), 0.1))
            if job.process is not None and job.process.poll() is None:
                job.process.kill()
                if job.thread is not None:
                    job.thread.join(5)
