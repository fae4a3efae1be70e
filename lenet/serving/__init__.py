"""Training jobs for a class: the queue and board with who may do what (``jobs``, ``people``,
``policy``), how one job trains (``runner``, ``worker``) and the line protocol between them."""

from lenet.serving.jobs import ISOLATIONS, JobManager, default_max_jobs
from lenet.serving.people import STUDENT, TEACHER, Participant, Roster, may_control
from lenet.serving.policy import ClassSettings, QueueFull

__all__ = [
    "ISOLATIONS",
    "JobManager",
    "default_max_jobs",
    "STUDENT",
    "TEACHER",
    "Participant",
    "Roster",
    "may_control",
    "ClassSettings",
    "QueueFull",
]
