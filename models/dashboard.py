"""The dashboard's figures, counted at most once a minute per web process when big.

At a million contacts the figures take ~280 ms to count (a scan of contacts for the
contact, lead and opt-out totals, a count of companies and activities), and the
dashboard is every user's home page. So figures over ``CACHE_FROM`` contacts are kept
in the app for ``MAX_AGE`` seconds; when they are older, one request counts them again
while the others keep showing the previous figures (a person cannot tell a minute-old
total from a fresh one, and the lists behind each figure are always current). Smaller
installations count on every request: it costs a few milliseconds there, and a figure
that lags a change someone just made would look like a bug.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import current_app
from sqlalchemy import func, select

from .activities import Activity, ActivityStatus
from .base import db, utcnow
from .campaigns import Campaign
from .companies import Company
from .contacts import Contact, ContactKind
from .groups import TargetGroup
from .jobs import ACTIVE_STATUSES, JobRun

MAX_AGE = 60.0  # seconds a figure may be old
CACHE_FROM = 20_000  # contacts and leads: below this the figures are counted every time


class Cached:
    """A value computed by ``compute()`` at most every ``max_age`` seconds per process;
    while one caller computes a fresh value, the others get the previous one."""

    def __init__(self, compute: Callable[[], object], keep: Callable[[object], bool],
                 max_age: float = MAX_AGE):
        self.compute, self.keep, self.max_age = compute, keep, max_age
        self.value, self.at = None, float("-inf")
        self.lock = threading.Lock()

    def get(self):
        """The value, computed now if it is too old and nobody else is computing it (or
        if there is none yet: then the caller waits for it)."""
        if time.monotonic() - self.at < self.max_age:
            return self.value
        if self.at == float("-inf"):
            with self.lock:  # the first caller computes it; the others wait for it
                if self.at == float("-inf"):
                    self._refresh()
            return self.value
        if self.lock.acquire(blocking=False):
            try:
                self._refresh()
            finally:
                self.lock.release()
        return self.value

    def _refresh(self) -> None:
        self.value = self.compute()
        # A value not worth keeping (keep() says so) is computed again next time.
        self.at = time.monotonic() if self.keep(self.value) else float("-inf")

    def clear(self) -> None:
        """Forget the value (tests; a database switched under the process)."""
        self.value, self.at = None, float("-inf")


def count_figures() -> dict[str, int]:
    """The dashboard's numbers, one aggregate query per table (uncached)."""
    contacts = db.session.execute(
        select(
            func.count(),
            func.count().filter(Contact.kind == ContactKind.LEAD),
            func.count().filter(Contact.email_opt_out.is_(True)),
        ).select_from(Contact)
    ).one()
    return {
        "contacts": contacts[0] - contacts[1],
        "leads": contacts[1],
        "opted_out": contacts[2],
        "companies": db.session.scalar(select(func.count()).select_from(Company)),
        "active_campaigns": db.session.scalar(
            select(func.count()).select_from(Campaign).where(Campaign.active.is_(True))
        ),
        "target_groups": db.session.scalar(select(func.count()).select_from(TargetGroup)),
        "planned_activities": db.session.scalar(
            select(func.count())
            .select_from(Activity)
            .where(Activity.status == ActivityStatus.PLANNED, Activity.start_at >= utcnow())
        ),
    }


def _big(figures: dict[str, int]) -> bool:
    return figures["contacts"] + figures["leads"] >= CACHE_FROM


def _cached_figures() -> Cached:
    # One cache per app (per database): tests and `kohde dev` may run several.
    return current_app.extensions.setdefault("kohde_dashboard_figures",
                                             Cached(count_figures, _big))


def dashboard_counts() -> dict[str, int]:
    """The dashboard's numbers: the big totals at most a minute old (``Cached``), the
    running and queued jobs (a handful of rows, what someone watching the page waits for)
    counted now."""
    active_jobs = db.session.scalar(
        select(func.count()).select_from(JobRun).where(JobRun.status.in_(ACTIVE_STATUSES))
    )
    return {**_cached_figures().get(), "active_jobs": active_jobs}
