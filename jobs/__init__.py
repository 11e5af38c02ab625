"""RQ jobs, one module per family; importing this package registers them all."""

from . import activities, activity_wizard, audience, groups, imports, runs  # noqa: F401  (registers)
from .mail import sender  # noqa: F401
from .runs import JobContext, enqueue, execute, job

__all__ = ["JobContext", "enqueue", "execute", "job"]
