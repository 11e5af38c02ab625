"""RQ jobs, one module per family; importing this package registers them all."""

from . import (  # noqa: F401  (registers)
    activities,
    activity_wizard,
    audience,
    groups,
    imports,
    runs,
    schedules,
)
from .mail import sender  # noqa: F401
from .runs import JobContext, enqueue, execute, job

__all__ = ["JobContext", "enqueue", "execute", "job"]
