"""The class's rules for training jobs: the teacher's settings, who may start what, the order
of the queue, and how long a job is expected to take. Pure functions over plain data, so the
job manager enforces them and the tests check them without training anything."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from lenet._atomic import write_json_atomic
from lenet.serving.people import Participant
from lenet.training.config import PRESETS, TYPICAL_SECONDS, ConfigError, TrainConfig, lesson_of

__all__ = ["ClassSettings", "QueueFull", "check_start", "queue_order", "expected_seconds"]


class QueueFull(RuntimeError):
    """Start refused: the queue is full, or this student already has a job waiting or running."""


@dataclass
class ClassSettings:
    """What the teacher allows students. Defaults: students may start any lesson."""

    watch_only: bool = False  # students watch; only the teacher starts runs
    lessons: list[str] = field(default_factory=list)  # presets students may start; [] = any
    max_student_epochs: int = 0  # 0 = no cap; keeps the queue short
    max_student_images: int = 0  # training images per student run; 0 = no cap
    max_queue: int = 60  # queued jobs, all participants together
    per_student: int = 1  # active (queued or training) jobs per student
    requeue_interrupted: bool = False  # a run cut off by a lost worker is queued again, once

    def validate(self) -> ClassSettings:
        unknown = [name for name in self.lessons if name not in PRESETS]
        if unknown:
            raise ConfigError(f"lessons: unknown preset(s) {', '.join(unknown)}")
        for name in ("max_student_epochs", "max_student_images", "max_queue", "per_student"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} = {value!r}: must be a whole number, 0 or more")
        if self.per_student < 1:
            raise ConfigError("per_student must be 1 or more")
        return self

    @classmethod
    def load(cls, path: Path) -> ClassSettings:
        """The saved settings, or the defaults when there are none (or they can't be read)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known}).validate()
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(path), asdict(self.validate()))


def check_start(
    actor: Participant,
    config: TrainConfig,
    settings: ClassSettings,
    active_of_actor: int,
    queued: int,
    lesson: str | None = None,
    resuming: bool = False,
) -> None:
    """Raise ``PermissionError`` (not allowed) or ``QueueFull`` (not now) with a message for
    the person pressing Start (or Resume: ``resuming`` skips the lesson and size rules, which
    the run passed when it was started). The teacher is never refused."""
    if actor.is_teacher:
        return
    if settings.watch_only:
        raise PermissionError(
            "The teacher has set the class to watch only: runs are started by the teacher for now."
        )
    if not resuming:
        _check_lesson_and_size(config, settings, lesson)
    if active_of_actor >= settings.per_student:
        raise QueueFull(
            f"You already have {active_of_actor} {'run' if active_of_actor == 1 else 'runs'} "
            "waiting or training (at most "
            f"{settings.per_student} each): cancel one, or wait for it."
        )
    if queued >= settings.max_queue:
        raise QueueFull(f"The queue is full ({queued} runs waiting): try again when it moves.")


def _check_lesson_and_size(config: TrainConfig, settings: ClassSettings, lesson: str | None):
    name = lesson or lesson_of(config)
    if settings.lessons and name not in settings.lessons:
        raise PermissionError(
            "This lesson is not open to students right now; open ones: "
            f"{', '.join(settings.lessons)}."
        )
    if settings.max_student_epochs and config.epochs > settings.max_student_epochs:
        raise PermissionError(
            f"Students may train at most {settings.max_student_epochs} "
            f"{'epoch' if settings.max_student_epochs == 1 else 'epochs'}; this run asks "
            f"for {config.epochs}."
        )
    images = config.train_subset or 60_000
    if settings.max_student_images and images > settings.max_student_images:
        raise PermissionError(
            f"Students may train on at most {settings.max_student_images:,} images; this run "
            f"asks for {images:,}."
        )


def queue_order(entries: list[dict]) -> list[dict]:
    """Queued jobs in the order they will start: the teacher's first, then the students'; in
    each group, the teacher's reordering (``rank``, when set), then first come first served.
    Each entry has ``teacher`` (bool), ``queued_at`` (seconds) and ``rank`` (float or None)."""

    def key(e: dict) -> tuple:
        rank = e.get("rank")
        return (not e["teacher"], float("inf") if rank is None else rank, e["queued_at"])

    return sorted(entries, key=key)


def expected_seconds(config: TrainConfig, finished: list[dict]) -> float:
    """How long a job of ``config`` should train here: its images times epochs over the
    median speed (images/s) of finished runs with the same variant and recipe, else the
    preset's measured time scaled to its size, else the default preset's speed."""
    work = (config.train_subset or 60_000) * config.epochs
    speeds = [r["images_per_s"] for r in finished
              if r.get("variant") == config.variant and r.get("recipe") == config.recipe
              and r.get("images_per_s")]  # fmt: skip
    if speeds:
        return work / statistics.median(speeds)
    name = lesson_of(config)
    reference = PRESETS[name if name in TYPICAL_SECONDS else "default"]
    reference_work = (reference.train_subset or 60_000) * reference.epochs
    seconds = TYPICAL_SECONDS[name if name in TYPICAL_SECONDS else "default"]
    return seconds * work / reference_work
