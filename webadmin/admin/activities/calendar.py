"""The calendar page: one user's activities in a day or week grid, in the installation's time zone.

Rows are the hours of the working day (Settings: earliest start, latest end),
widened when an activity falls outside them so nothing is hidden; columns are
the days. Each activity sits in the cell of the day and hour it starts in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, request, url_for
from flask_admin import expose
from flask_login import current_user

from models import ActivityContact, Settings, User, db
from models.activities.listing import calendar_rows
from models.users import active_users

from ..base import SecureView

links = ActivityContact.__table__


@dataclass
class Entry:
    """One activity as the grid shows it (local times, the first linked contact)."""

    id: int
    number: str | None
    type: str
    subject: str
    status: str
    start: datetime
    end: datetime
    contact: str
    more_contacts: int


@dataclass
class Grid:
    """Days (columns) × hours (rows), each cell holding the entries that start in it."""

    days: list[date]
    hours: list[int]
    cells: dict[tuple[date, int], list[Entry]] = field(default_factory=dict)

    def at(self, day: date, hour: int) -> list[Entry]:
        """The entries starting on ``day`` within ``hour``."""
        return self.cells.get((day, hour), [])


def _contact_label(first: str | None, last: str | None, email: str | None) -> str:
    return f"{first or ''} {last or ''}".strip() or email or ""


def entries(owner_id: int, first: date, days: int, tz: ZoneInfo) -> list[Entry]:
    """The owner's activities starting on those local days, with their first contact.

    One statement: a range scan on (owner_id, start_at) and, per activity, the
    lowest linked contact and the number of links through activity_contacts'
    primary key, so a shared activity with thousands of contacts costs no more.
    """
    start = datetime.combine(first, time(0), tz)
    end = datetime.combine(first + timedelta(days=days), time(0), tz)
    rows = calendar_rows(owner_id, start, end)
    return [
        Entry(r.id, r.number, r.type, r.subject, r.status, r.start_at.astimezone(tz),
              r.end_at.astimezone(tz), _contact_label(r.first_name, r.last_name, r.email),
              max(r.linked - 1, 0))
        for r in rows
    ]


def _last_hour(moment: datetime, day: date) -> int:
    """The hour row an entry ending at ``moment`` still reaches (24 past midnight)."""
    if moment.date() > day:
        return 24
    return moment.hour + (1 if moment.minute or moment.second else 0)


def build_grid(items: list[Entry], days: list[date], settings: Settings) -> Grid:
    """Place entries by local start day and hour; hours widen to fit every entry."""
    begin = settings.activity_earliest_start.hour
    finish = _last_hour(datetime.combine(days[0], settings.activity_latest_end), days[0])
    for item in items:
        begin = min(begin, item.start.hour)
        finish = max(finish, _last_hour(item.end, item.start.date()))
    grid = Grid(days=days, hours=list(range(begin, max(finish, begin + 1))))
    for item in items:
        grid.cells.setdefault((item.start.date(), item.start.hour), []).append(item)
    return grid


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)  # the grid's ±weeks stay valid


def _day_arg(today: date) -> date:
    try:
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return today
    return day if FIRST_DAY <= day <= LAST_DAY else today


def _user_arg() -> User:
    user_id = request.args.get("user", type=int)
    if user_id is None:
        return current_user._get_current_object()
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        abort(404)
    return user


class CalendarView(SecureView):
    """/admin/calendar/: a user's day or week; anyone logged in may look at anyone's."""

    @expose("/")
    def index(self):
        """The grid for ``view`` (week or day) around ``day`` for ``user`` (default: me)."""
        settings = Settings.current()  # a bad stored value falls back (the banner says so)
        tz = settings.tz
        today = datetime.now(tz).date()
        mode = "day" if request.args.get("view") == "day" else "week"
        day = _day_arg(today)
        first = day if mode == "day" else day - timedelta(days=day.weekday())
        span = 1 if mode == "day" else 7
        user = _user_arg()
        days = [first + timedelta(days=n) for n in range(span)]
        grid = build_grid(entries(user.id, first, span, tz), days, settings)

        def link(**changes) -> str:
            args = {"view": mode, "day": first.isoformat(), "user": user.id, **changes}
            return url_for(".index", **{k: v for k, v in args.items() if v is not None})

        users = active_users()
        own = user.id == current_user.id
        return self.render(
            "kohde/activities/calendar/calendar.html",
            grid=grid, mode=mode, user=user, users=users, today=today, tz=settings.timezone,
            previous=link(day=(first - timedelta(days=span)).isoformat()),
            following=link(day=(first + timedelta(days=span)).isoformat()),
            this_period=link(day=None), link=link, return_url=request.full_path,
            feed_url=url_for("calendar_feed.feed", token=user.calendar_token, _external=True)
            if own else None,
        )
