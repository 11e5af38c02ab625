"""List filters on stored UTC moments (``UTCDateTime`` columns), read in local time.

Every page shows a moment in the installation's zone, so a person filtering "created
after 2026-10-25 09:00" means 09:00 on that clock, not in UTC. Flask-Admin's datetime
filters compare the typed text as it stands; these read it as the installation's
wall-clock time (models.settings.local_to_utc, the rule the edit forms follow) and compare the UTC
instant it names. The typed text itself is what the list's filter box shows again
(Flask-Admin keeps the raw argument for that and hands only the cleaned value to the
query), and "select all that match" (bulk/selection.py) stores the same UTC instants.
"""

from __future__ import annotations

from datetime import datetime

from flask_admin.contrib.sqla import filters as sqla

from models.settings import local_to_utc

# What a person may type: the filter's picker writes seconds; the pages show minutes, so a
# time copied from a page (or typed by hand) is read too.
FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


def parse_local(text: str) -> datetime:
    """A typed moment (``2026-10-25 03:30[:00]``), naive; ValueError when it is not one."""
    text = text.strip() if isinstance(text, str) else ""
    for pattern in FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(text)


class _LocalMoment:
    """One typed moment, read as local time and compared as UTC."""

    def clean(self, value: str) -> datetime:  # noqa: D102 (typed local → aware UTC)
        return local_to_utc(parse_local(value))


class _LocalRange:
    """``start to end``, both typed in local time, compared as UTC; the end not before the
    start (SQL's BETWEEN finds nothing otherwise)."""

    def clean(self, value: str) -> list[datetime]:  # noqa: D102
        parts = value.split(" to ") if isinstance(value, str) else []
        if len(parts) != 2:
            raise ValueError(value)
        start, end = (parse_local(part) for part in parts)
        if end < start:
            raise ValueError(value)
        return [local_to_utc(start), local_to_utc(end)]

    def validate(self, value: str) -> bool:  # noqa: D102
        try:
            self.clean(value)
        except ValueError:
            return False
        return True


class LocalDateTimeEqualFilter(_LocalMoment, sqla.DateTimeEqualFilter):
    """Equals a moment typed in local time."""


class LocalDateTimeNotEqualFilter(_LocalMoment, sqla.DateTimeNotEqualFilter):
    """Is not a moment typed in local time."""


class LocalDateTimeGreaterFilter(_LocalMoment, sqla.DateTimeGreaterFilter):
    """After a moment typed in local time."""


class LocalDateTimeSmallerFilter(_LocalMoment, sqla.DateTimeSmallerFilter):
    """Before a moment typed in local time."""


class LocalDateTimeBetweenFilter(_LocalRange, sqla.DateTimeBetweenFilter):
    """From one moment to another, both typed in local time (both ends included)."""


class LocalDateTimeNotBetweenFilter(_LocalRange, sqla.DateTimeNotBetweenFilter):
    """Outside a range typed in local time."""


# The filters a UTCDateTime column offers, in Flask-Admin's order for datetimes.
LOCAL_DATETIME_FILTERS = (
    LocalDateTimeEqualFilter,
    LocalDateTimeNotEqualFilter,
    LocalDateTimeGreaterFilter,
    LocalDateTimeSmallerFilter,
    LocalDateTimeBetweenFilter,
    LocalDateTimeNotBetweenFilter,
    sqla.FilterEmpty,
)
