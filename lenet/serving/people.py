"""Who is who in a class: the teacher and the students, and what each may do.

A participant is known by a random id (``secrets.token_urlsafe``), never by the name: the id is
what permissions check, so a name can't be used to take someone's place. Names are for people
to read: trimmed, capped, made unique in the class, and shown as plain text by every view. The
teacher signs in with the class's token (``LENET_TEACHER_TOKEN``, or one made when the server
starts), compared in constant time.

The roster lives in the run store's folder (``<runs>/.class/people.json``), so a restarted
server still knows every name, and runs keep naming their owners.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lenet._atomic import write_json_atomic
from lenet.runs.store import LEGACY_OWNER

__all__ = [
    "TEACHER",
    "STUDENT",
    "MAX_NAME",
    "Participant",
    "LEGACY_OWNER",
    "Roster",
    "clean_name",
    "may_control",
    "teacher_token",
]

TEACHER, STUDENT = "teacher", "student"
MAX_NAME = 40  # characters: a name fits a table cell and a legend
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
DEFAULT_NAME = re.compile(r"^Student \d+$")


@dataclass(frozen=True)
class Participant:
    id: str
    name: str
    role: str = STUDENT

    @property
    def is_teacher(self) -> bool:
        return self.role == TEACHER

    def owner(self) -> dict:
        """How a run records who started it."""
        return {"id": self.id, "name": self.name}


def may_control(actor: Participant | None, owner: dict | None) -> bool:
    """Whether ``actor`` may pause, stop, resume or delete a run owned by ``owner``: the
    teacher may act on any run, a student on their own only."""
    if actor is None:
        return False
    if actor.is_teacher:
        return True
    return (owner or LEGACY_OWNER).get("id") == actor.id


def clean_name(text: object) -> str:
    """A display name: whitespace folded, control characters dropped, at most MAX_NAME
    characters; "" when nothing printable is left."""
    if not isinstance(text, str):
        return ""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    folded = " ".join(printable.split())
    return folded[:MAX_NAME].rstrip()


_generated_token: str | None = None


def teacher_token() -> tuple[str, bool]:
    """(the class's teacher token, whether it was made here): ``LENET_TEACHER_TOKEN`` when set,
    else a random one made once per process."""
    global _generated_token
    configured = os.environ.get("LENET_TEACHER_TOKEN", "").strip()
    if configured:
        return configured, False
    if _generated_token is None:
        _generated_token = secrets.token_urlsafe(18)
    return _generated_token, True


class Roster:
    """The participants of one class (one run store), thread-safe, saved on every change.
    Several servers may share one roster file (replicas on a cluster): each reads it again
    whenever another has changed it."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "people.json"
        self._lock = threading.Lock()
        self._people: dict[str, Participant] = {}
        self._seen: dict[str, float] = {}  # id -> last heartbeat (this process only)
        self._stamp: int | None = None  # the file's mtime when last read or written
        self._load()

    def _load(self) -> None:
        """Read the file again if it has changed (the caller holds the lock)."""
        try:
            stamp = self.path.stat().st_mtime_ns
            if stamp == self._stamp:
                return
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self._stamp = stamp
        for row in rows if isinstance(rows, list) else []:
            try:
                p = Participant(str(row["id"]), clean_name(row["name"]), str(row["role"]))
            except (KeyError, TypeError):
                continue
            if ID_PATTERN.match(p.id) and p.name and p.role in (TEACHER, STUDENT):
                self._people[p.id] = p

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, [asdict(p) for p in self._people.values()])
        self._stamp = self.path.stat().st_mtime_ns

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(16)

    def get(self, participant_id: str | None) -> Participant | None:
        with self._lock:
            self._load()
            return self._people.get(participant_id or "")

    def join(self, participant_id: str, name: str | None = None) -> Participant:
        """The participant with this id, made on first sight ("Student 7" until they give a
        name); ``name`` renames them. ValueError for an id that isn't one of ours."""
        if not isinstance(participant_id, str) or not ID_PATTERN.match(participant_id):
            raise ValueError("not a participant id")
        with self._lock:
            self._load()
            known = self._people.get(participant_id)
            wanted = clean_name(name) if name is not None else ""
            if known is not None and (not wanted or wanted == known.name):
                self._seen[participant_id] = time.time()
                return known
            role = known.role if known else STUDENT
            if not wanted:
                wanted = self._unique_default()
            person = Participant(participant_id, self._unique(wanted, participant_id), role)
            self._people[participant_id] = person
            self._seen[participant_id] = time.time()
            self._save()
            return person

    def _unique_default(self) -> str:
        taken = {p.name for p in self._people.values()}
        n = 1
        while f"Student {n}" in taken:
            n += 1
        return f"Student {n}"

    def _unique(self, name: str, participant_id: str) -> str:
        taken = {p.name.casefold() for p in self._people.values() if p.id != participant_id}
        candidate, n = name, 2
        while candidate.casefold() in taken:
            suffix = f" ({n})"
            candidate = name[: MAX_NAME - len(suffix)].rstrip() + suffix
            n += 1
        return candidate

    def sign_in(self, participant_id: str, token: object) -> Participant | None:
        """Make this participant the teacher if ``token`` is the class's; None (and no change)
        otherwise. The comparison takes the same time whatever the token."""
        expected, _ = teacher_token()
        offered = token.encode() if isinstance(token, str) else b""
        if not hmac.compare_digest(offered, expected.encode()):
            return None
        person = self.join(participant_id)
        with self._lock:
            name = person.name
            if DEFAULT_NAME.match(name):  # "Student 3" was only a placeholder
                name = self._unique("Teacher", person.id)
            teacher = Participant(person.id, name, TEACHER)
            self._people[person.id] = teacher
            self._save()
        return teacher

    def seen(self, participant_id: str) -> None:
        with self._lock:
            if participant_id in self._people:
                self._seen[participant_id] = time.time()

    def present(self, within_s: float = 90.0) -> list[Participant]:
        """Everyone whose page checked in during the last ``within_s`` seconds, by name."""
        now = time.time()
        with self._lock:
            here = [self._people[i] for i, t in self._seen.items() if now - t <= within_s]
        return sorted(here, key=lambda p: (not p.is_teacher, p.name.casefold()))

    def everyone(self) -> list[Participant]:
        with self._lock:
            self._load()
            return sorted(self._people.values(), key=lambda p: p.name.casefold())
