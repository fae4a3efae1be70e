"""Training jobs behind a UI: the job manager, the worker process that trains one job, and the
line protocol between them."""

from lenet.serving.jobs import ISOLATIONS, Busy, JobManager

__all__ = ["ISOLATIONS", "Busy", "JobManager"]
