"""When an automation step is due: weekdays and an hour in the installation's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

WEEKDAY_NAMES = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))


def parse_weekdays(text: str) -> tuple[int, ...]:
    """ISO weekdays from "1-5", "1,3,5" or "" (every day)."""
    days: set[int] = set()
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            days.update(range(low, high + 1))
        else:
            days.add(int(part))
    if any(d < 1 or d > 7 for d in days):
        raise ValueError(_("weekdays are 1 (Monday) … 7 (Sunday)"))
    return tuple(sorted(days)) or (1, 2, 3, 4, 5, 6, 7)


def weekdays_words(text: str) -> str:
    """"Mon–Fri", "Mon, Wed" or "every day"."""
    try:
        days = parse_weekdays(text)
    except ValueError:
        return text
    if len(days) == 7:
        return _("every day")
    if len(days) > 2 and days == tuple(range(days[0], days[-1] + 1)):
        return f"{WEEKDAY_NAMES[days[0] - 1]}–{WEEKDAY_NAMES[days[-1] - 1]}"
    return ", ".join(str(WEEKDAY_NAMES[d - 1]) for d in days)


def step_due(entered_at: datetime, delay_days: int, weekdays: tuple[int, ...],
             at: time | None, tz: ZoneInfo) -> datetime:
    """When a step is due for a contact who entered at ``entered_at`` (UTC): the first
    moment at ``at`` (local wall clock in ``tz``) on an allowed weekday that is not before
    entry + ``delay_days`` days (local calendar days: DST changes keep the hour)."""
    local = entered_at.astimezone(tz)
    earliest = datetime.combine(local.date() + timedelta(days=delay_days), local.timetz())
    earliest = earliest.replace(tzinfo=tz)
    if at is None and earliest.isoweekday() in weekdays:
        return earliest.astimezone(UTC)
    day: date = earliest.date()
    for _day in range(15):
        moment = datetime.combine(day, at or time(0), tzinfo=tz)
        if day.isoweekday() in weekdays and (moment >= earliest or at is None):
            return moment.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError("no allowed weekday")  # parse_weekdays never gives an empty set
