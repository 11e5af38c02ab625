"""RQ jobs, one module per area, and the machinery that runs them (runs, queue, worker,
scheduler); importing this package registers every job."""

from . import activities, campaigns, groups, imports, runs  # noqa: F401  (registers)
from .email import sender  # noqa: F401
from .runs import JobContext, enqueue, execute, job

__all__ = ["JobContext", "enqueue", "execute", "job"]
