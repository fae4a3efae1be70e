"""Training jobs for a class: the queue and board with who may do what (``jobs``, ``people``,
``policy``), how one job trains (``runner``, ``worker``) and the line protocol between them,
and the same on a Ray cluster (``cluster``, ``ray_runner``, ``replicas``; Ray is imported
only with a cluster address)."""

from lenet.serving.cluster import ClusterUnavailable
from lenet.serving.jobs import ISOLATIONS, JobManager, default_max_jobs
from lenet.serving.people import STUDENT, TEACHER, Participant, Roster, may_control
from lenet.serving.policy import ClassSettings, QueueFull

__all__ = [
    "ClusterUnavailable",
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
