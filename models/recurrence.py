"""When a scheduled action is due: local wall-clock rules turned into UTC instants.

A recurrence is computed in the action's IANA time zone (zoneinfo; croniter for
cron expressions, run over naive local times) and every due time comes out as an
aware UTC instant, which is what the database stores. Daylight saving:

- a local time that does not exist (the spring gap, e.g. 03:30 in Helsinki on the
  last Sunday of March) runs at the first valid minute after it (04:00);
- a local time that exists twice (the autumn repeat) runs once, at its first
  occurrence.

"Every N hours" counts elapsed time from its first run, so it is not moved by
daylight saving at all.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

MAX_STEPS = 200_000  # candidates looked at before deciding a rule never comes due


class Frequency(StrEnum):
    """How often a scheduled action is due."""

    ONCE = "once"
    HOURLY = "hourly"  # every N hours
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


WEEKDAY_NAMES = [_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun")]


@lru_cache(maxsize=1)
def time_zones() -> list[str]:
    """Every IANA zone name this machine knows, sorted."""
    return sorted(available_timezones())


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The zone called ``name``, or None when there is no such zone."""
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_weekdays(text: str | None) -> tuple[int, ...]:
    """"1,3,5" → (1, 3, 5); ISO weekdays, 1 = Monday. Raises ValueError on anything else."""
    days = sorted({int(part) for part in (text or "").replace(" ", "").split(",") if part})
    if any(d < 1 or d > 7 for d in days):
        raise ValueError("weekdays are 1 (Monday) … 7 (Sunday)")
    return tuple(days)


@dataclass(frozen=True)
class Occurrence:
    """One due time: the UTC instant, its local wall-clock time, and what DST did to it."""

    at: datetime  # aware UTC
    local: datetime  # aware, in the action's zone
    note: str | None = None  # e.g. "03:30 does not exist that day: runs at 04:00"


def resolve(local: datetime, zone: ZoneInfo) -> tuple[datetime, str | None]:
    """A naive local wall-clock time as a UTC instant, with the daylight-saving rule applied.

    Returns the instant and a note when daylight saving moved it (a gap) or when the
    time exists twice that day (it runs at the first one).
    """
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if second != first:
            return first, _("%(time)s happens twice that day: runs once, at the first",
                            time=f"{local:%H:%M}")
        return first, None
    # In the gap: the first whole minute after it that exists.
    probe = local.replace(second=0, microsecond=0)
    for _minute in range(24 * 60):
        probe += timedelta(minutes=1)
        instant = probe.replace(tzinfo=zone).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == probe:
            return instant, _("%(time)s does not exist that day: runs at %(moved)s",
                              time=f"{local:%H:%M}", moved=f"{probe:%H:%M}")
    raise ValueError(f"no valid local time after {local} in {zone.key}")


@dataclass(frozen=True)
class Recurrence:
    """The schedule part of a scheduled action, as plain values."""

    frequency: str
    timezone: str
    start_at: datetime | None = None  # naive local: "once", and the first of "every N hours"
    interval_hours: int | None = None
    time_of_day: time | None = None
    weekdays: tuple[int, ...] = ()
    day_of_month: int | None = None
    cron: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The action's time zone."""
        return ZoneInfo(self.timezone)

    def problems(self) -> dict[str, str]:
        """What is missing or wrong, by field name (empty: the rule is complete)."""
        found: dict[str, str] = {}
        if zone_or_none(self.timezone) is None:
            found["timezone"] = _("not a time zone: %(zone)s (e.g. Europe/Helsinki)",
                                  zone=repr(self.timezone))
        freq = self.frequency
        if freq not in set(Frequency):
            found["frequency"] = _("choose a frequency (%(values)s)", values=", ".join(Frequency))
        if freq in (Frequency.ONCE, Frequency.HOURLY) and self.start_at is None:
            found["start_at"] = (_("choose the date and time to run at") if freq == Frequency.ONCE
                                 else _("choose the first run"))
        if freq == Frequency.HOURLY and not (self.interval_hours and 1 <= self.interval_hours
                                             <= 24 * 7):
            found["interval_hours"] = _("every how many hours: 1 … 168")
        if freq in (Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY) \
                and self.time_of_day is None:
            found["time_of_day"] = _("choose the time of day (HH:MM)")
        if freq == Frequency.WEEKLY and not self.weekdays:
            found["weekdays"] = _("choose at least one weekday")
        if freq == Frequency.MONTHLY and not (self.day_of_month and 1 <= self.day_of_month <= 31):
            found["day_of_month"] = _("choose the day of the month: 1 … 31 (31: the last day)")
        if freq == Frequency.CRON and not croniter.is_valid(self.cron or ""):
            found["cron"] = _("not a valid cron expression: %(cron)s (e.g. 0 7 * * 1-5)",
                              cron=repr(self.cron or ""))
        return found

    # --- local candidates -------------------------------------------------------------------

    def _candidates(self, start: datetime) -> Iterator[datetime]:
        """Naive local wall-clock times the rule names, from ``start`` (inclusive) on."""
        freq = self.frequency
        if freq == Frequency.ONCE:
            if self.start_at is not None and self.start_at >= start:
                yield self.start_at
            return
        if freq == Frequency.CRON:
            it = croniter(self.cron, start - timedelta(seconds=1))
            while True:
                yield it.get_next(datetime)
        if freq == Frequency.MONTHLY:
            year, month = start.year, start.month
            while True:
                last = calendar.monthrange(year, month)[1]
                when = datetime.combine(date(year, month, min(self.day_of_month, last)),
                                        self.time_of_day)
                if when >= start:
                    yield when
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day = start.date()
        while True:  # daily and weekly
            if freq == Frequency.DAILY or day.isoweekday() in self.weekdays:
                when = datetime.combine(day, self.time_of_day)
                if when >= start:
                    yield when
            day += timedelta(days=1)

    # --- due times ----------------------------------------------------------------------------

    def next_after(self, after: datetime) -> datetime | None:
        """The first due time strictly after ``after`` (aware), as UTC; None: never again."""
        found = next(self.occurrences(after), None)
        return found.at if found else None

    def occurrences(self, after: datetime) -> Iterator[Occurrence]:
        """Due times strictly after ``after``, in order, each once (DST rules applied)."""
        after = after.astimezone(UTC)
        zone = self.zone
        if self.frequency == Frequency.HOURLY:
            first, note = resolve(self.start_at, zone)
            step = timedelta(hours=self.interval_hours)
            n = 0 if after < first else (after - first) // step + 1
            while True:
                at = first + n * step
                yield Occurrence(at, at.astimezone(zone), note if n == 0 else None)
                n += 1
        # A few hours' slack: ``after`` may lie in a repeated hour's second occurrence.
        start = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
        last = after
        for steps, local in enumerate(self._candidates(start)):
            if steps > MAX_STEPS:
                return
            at, note = resolve(local, zone)
            if at > last:
                last = at
                yield Occurrence(at, at.astimezone(zone), note)

    def preview(self, after: datetime, count: int = 10) -> list[Occurrence]:
        """The next ``count`` due times after ``after`` (what the form shows)."""
        found = []
        for occurrence in self.occurrences(after):
            found.append(occurrence)
            if len(found) == count:
                break
        return found

    def latest_due(self, first_due: datetime, now: datetime) -> tuple[datetime, int]:
        """Of the due times from ``first_due`` up to ``now``: the latest, and how many there
        were (``first_due`` must not be after ``now``)."""
        latest, count = first_due, 1
        for occurrence in self.occurrences(first_due):
            if occurrence.at > now:
                break
            latest, count = occurrence.at, count + 1
        return latest, count

    def describe(self) -> str:
        """The rule in words, e.g. "weekly on Mon, Thu at 09:00 (Europe/Helsinki)"."""
        at = self.time_of_day.strftime("%H:%M") if self.time_of_day else "?"
        start = f"{self.start_at:%Y-%m-%d %H:%M}" if self.start_at else None
        freq = self.frequency
        if freq == Frequency.ONCE:
            words = _("once at %(when)s", when=start) if start else _("once")
        elif freq == Frequency.HOURLY:
            words = (_("every %(hours)s h from %(when)s", hours=self.interval_hours, when=start)
                     if start else _("every %(hours)s h", hours=self.interval_hours))
        elif freq == Frequency.DAILY:
            words = _("daily at %(time)s", time=at)
        elif freq == Frequency.WEEKLY:
            days = ", ".join(str(WEEKDAY_NAMES[d - 1]) for d in self.weekdays)
            words = _("weekly on %(days)s at %(time)s", days=days, time=at)
        elif freq == Frequency.MONTHLY:
            words = _("monthly on day %(day)s at %(time)s", day=self.day_of_month, time=at)
        else:
            words = _("cron %(cron)s", cron=self.cron)
        return f"{words} ({self.timezone})"
