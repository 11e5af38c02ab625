"""RQ jobs, one module per area, and the machinery that runs them (runs, queue, worker,
scheduler); importing this package registers every job."""

from . import (  # noqa: F401  (registers)
    activities,
    automations,
    bulk,
    bulk_areas,
    campaigns,
    groups,
    imports,
    runs,
    schedules,
)
from .email import sender  # noqa: F401
from .runs import JobContext, enqueue, execute, job

__all__ = ["JobContext", "enqueue", "execute", "job"]
