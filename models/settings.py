"""Installation-wide settings: one row, typed columns, and the rules a value must follow.

The rules live here, once: the settings form refuses a value that breaks one (with
the field and what is allowed), and :meth:`Settings.current` reads the row with
every value that breaks one replaced by its default, so a bad value written
before the rules existed (or straight into the database) makes pages fall back
and say so (the layout's banner, webadmin.errors.settings_problems, and the
settings form at each field), never answer 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, Time
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .base import Base, Timestamped, db
from .recurrence import resolve

DEFAULT_TIMEZONE = "Europe/Helsinki"
MAX_DURATION_MINUTES = 24 * 60
MAX_WAITING_DAYS = 3650
MAX_MESSAGES_PER_SECOND = 10_000
LABELS = {
    "timezone": _l("Time zone"),
    "activity_duration_minutes": _l("Activity duration"),
    "activity_earliest_start": _l("Earliest start"),
    "activity_latest_end": _l("Latest end"),
    "working_days": _l("Working days"),
    "email_waiting_period_days": _l("Email waiting period"),
    "email_messages_per_second": _l("Email messages per second"),
}


@lru_cache(maxsize=256)
def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # noqa: BLE001 - ZoneInfo raises several kinds for a bad key
        return False
    return True


def timezone_problem(name) -> str | None:
    """Why ``name`` is not an IANA time zone (None when it is one), e.g. Europe/Helsinki."""
    if not isinstance(name, str) or not name.strip():
        return _("choose a time zone, e.g. Europe/Helsinki")
    if not _is_zone(name):
        return _("%(name)s is not an IANA time zone (e.g. Europe/Helsinki, UTC)",
                 name=repr(name[:64]))
    return None


def parse_working_days(text) -> list[int]:
    """ISO weekdays from "1,2,3,4,5" (sorted, each once); ValueError says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(_("list the working days as ISO weekdays, e.g. 1,2,3,4,5"))
    days = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not (part.isascii() and part.isdigit() and 1 <= int(part) <= 7):
            raise ValueError(_("%(part)s is not a weekday: use 1 (Monday) to 7 (Sunday), "
                               "separated by commas", part=repr(part[:20])))
        days.add(int(part))
    if not days:
        raise ValueError(_("at least one working day, e.g. 1,2,3,4,5 (1 = Monday … 7 = "
                           "Sunday)"))
    return sorted(days)


def _whole_number(value, low: int, high: int, unit) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return _("a whole number of %(unit)s from %(low)s to %(high)s", unit=unit, low=low,
                 high=f"{high:,}")
    return None


def window_problem(earliest, latest, duration) -> str | None:
    """Why the activity day cannot hold one activity (None when it can)."""
    if not isinstance(earliest, time) or not isinstance(latest, time):
        return _("give the earliest start and the latest end as HH:MM")
    if latest <= earliest:
        return _("the latest end (%(latest)s) must be after the earliest start (%(earliest)s)",
                 latest=f"{latest:%H:%M}", earliest=f"{earliest:%H:%M}")
    minutes = (latest.hour * 60 + latest.minute) - (earliest.hour * 60 + earliest.minute)
    if isinstance(duration, int) and 0 < duration and minutes < duration:
        return _("the day from %(earliest)s to %(latest)s is shorter than one activity "
                 "(%(duration)s minutes)", earliest=f"{earliest:%H:%M}",
                 latest=f"{latest:%H:%M}", duration=duration)
    return None


class StoredTime(TypeDecorator):
    """A time of day (TIME) that reads back as the stored text when that text is no time
    (SQLite keeps whatever was written into the row, e.g. ``'8'`` or ``'abc'``), so the
    settings still load and :meth:`Settings.values` reports it instead of every page that
    reads the settings failing."""

    impl = Time
    cache_ok = True

    def result_processor(self, dialect, coltype):  # noqa: D102
        parse = super().result_processor(dialect, coltype)
        if parse is None:
            return None

        def process(value):
            try:
                return parse(value)
            except (TypeError, ValueError):
                return value

        return process


@dataclass(frozen=True)
class SettingsValues:
    """The settings as the product uses them: every value valid (a bad stored value is
    replaced by its default), with ``problems`` saying which were replaced and why."""

    timezone: str
    activity_duration_minutes: int
    activity_earliest_start: time
    activity_latest_end: time
    working_days: str
    email_waiting_period_days: int
    email_messages_per_second: int
    automatic_email_campaigns: bool
    problems: list[str] = field(default_factory=list)
    # The same sentences by the form field whose stored value is not in use.
    field_problems: dict[str, str] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        """The installation's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def weekdays(self) -> set[int]:
        """The working days as ISO weekday numbers."""
        return set(parse_working_days(self.working_days))


class Settings(Timestamped, Base):
    """The single row of installation settings (id is always 1)."""

    __tablename__ = "settings"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    activity_duration_minutes: Mapped[int] = mapped_column(default=15)
    activity_earliest_start: Mapped[time] = mapped_column(StoredTime, default=time(8, 0))
    activity_latest_end: Mapped[time] = mapped_column(StoredTime, default=time(16, 0))
    # ISO weekdays 1 (Monday) … 7 (Sunday) that count as working days.
    working_days: Mapped[str] = mapped_column(String(20), default="1,2,3,4,5")
    email_waiting_period_days: Mapped[int] = mapped_column(default=30)
    email_messages_per_second: Mapped[int] = mapped_column(default=50)
    automatic_email_campaigns: Mapped[bool] = mapped_column(default=True)

    @classmethod
    def get(cls) -> Settings:
        """The settings row, created with defaults on first use."""
        row = db.session.get(cls, 1)
        if row is None:
            row = cls(id=1, timezone=_configured_timezone())
            db.session.add(row)
            db.session.flush()
        return row

    @classmethod
    def current(cls) -> SettingsValues:
        """The settings to work with: the row's values where valid, defaults where not."""
        return cls.get().values()

    def values(self) -> SettingsValues:
        """This row's values, each invalid one replaced by its default and named in
        ``problems``."""
        problems: list[str] = []
        field_problems: dict[str, str] = {}

        def keep(name: str, value, problem: str | None, default):
            if problem is None:
                return value
            said = _("%(setting)s: %(problem)s; using %(default)s", setting=LABELS[name],
                     problem=problem, default=default)
            problems.append(said)
            field_problems[name] = said
            return default

        timezone = keep("timezone", self.timezone, timezone_problem(self.timezone),
                        _configured_timezone())
        duration = keep("activity_duration_minutes", self.activity_duration_minutes,
                        _whole_number(self.activity_duration_minutes, 1, MAX_DURATION_MINUTES,
                                      _("minutes")), 15)
        earliest, latest = self.activity_earliest_start, self.activity_latest_end
        if problem := window_problem(earliest, latest, duration):
            keep("activity_latest_end", None, problem, "08:00–16:00")
            if not isinstance(earliest, time):  # unreadable: say so by that field too
                field_problems["activity_earliest_start"] = field_problems["activity_latest_end"]
            earliest, latest = time(8, 0), time(16, 0)
            if duration > 8 * 60:  # one activity must fit in the day now in effect
                duration = keep("activity_duration_minutes", None,
                                _("longer than the day from 08:00 to 16:00 now in effect"),
                                8 * 60)
        try:
            days = ",".join(map(str, parse_working_days(self.working_days)))
        except ValueError as exc:
            days = keep("working_days", None, str(exc), "1,2,3,4,5")
        waiting = keep("email_waiting_period_days", self.email_waiting_period_days,
                       _whole_number(self.email_waiting_period_days, 0, MAX_WAITING_DAYS,
                                     _("days")),
                       30)
        per_second = keep("email_messages_per_second", self.email_messages_per_second,
                          _whole_number(self.email_messages_per_second, 1,
                                        MAX_MESSAGES_PER_SECOND, _("messages")), 50)
        return SettingsValues(
            timezone=timezone, activity_duration_minutes=duration,
            activity_earliest_start=earliest, activity_latest_end=latest, working_days=days,
            email_waiting_period_days=waiting, email_messages_per_second=per_second,
            automatic_email_campaigns=bool(self.automatic_email_campaigns), problems=problems,
            field_problems=field_problems,
        )

    def __str__(self) -> str:
        return "Settings"


def installation_tz() -> ZoneInfo:
    """The time zone people schedule and read dates in (Admin → Settings; a bad stored
    value falls back to the default, see Settings.current). Only reads: before the settings
    row exists this is the zone it would be made with, so showing a page writes nothing
    (a write in a GET would hold SQLite's lock until the request ends)."""
    row = db.session.get(Settings, 1)
    return row.values().tz if row is not None else ZoneInfo(_configured_timezone())


def local_to_utc(moment: datetime) -> datetime:
    """A wall-clock time a person typed (naive, in the installation's zone) as the UTC
    instant it names, by the rule scheduled actions follow (models.recurrence.resolve): a
    time that happens twice when the clocks go back is the first one, and a time the
    clocks skip is the first minute after the gap (03:30 → 04:00 in Helsinki on the last
    Sunday of March). Forms, list filters and the command line's filters all read typed
    times here, so a filter finds the row a form saved with the same words."""
    try:
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        return resolve(moment, installation_tz())[0]
    except OverflowError:  # year 1 or 9999 moved past the calendar's end by the offset
        # gettext, not lazy: Flask-Admin shows a field's error only when it is a str.
        raise ValueError(_("This date and time is outside the range that can be stored.")
                         ) from None


def _configured_timezone() -> str:
    name = current_app.config.get("KOHDE_TIMEZONE") or DEFAULT_TIMEZONE
    return DEFAULT_TIMEZONE if timezone_problem(name) else name
