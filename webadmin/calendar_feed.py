"""Each user's private iCalendar feed, for Outlook or Google Calendar to subscribe to.

The secret token in the URL is the only credential (calendar apps send no
cookies), so there is no login here; a wrong token is a plain 404.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, Response, abort, url_for
from icalendar import Calendar, Event

from models import Activity, ActivityStatus, User, utcnow
from models.activities.listing import contacts_named, owned_between
from models.users import user_by_calendar_token

bp = Blueprint("calendar_feed", __name__)

DAYS_BACK, DAYS_AHEAD = 30, 180
CONTACTS_LISTED = 20  # a shared activity may have thousands; the description names a few
STATUS = {
    ActivityStatus.PLANNED: "CONFIRMED",
    ActivityStatus.DONE: "CONFIRMED",
    ActivityStatus.CANCELLED: "CANCELLED",
}


def _activities(user: User) -> list[Activity]:
    now = utcnow()
    return owned_between(user.id, now - timedelta(days=DAYS_BACK), now + timedelta(days=DAYS_AHEAD))


def _contacts(activity_ids: list[int]) -> dict[int, tuple[list[str], int]]:
    """Per activity: the first few linked contacts as "Name <email>", and how many in all."""
    found: dict[int, tuple[list[str], int]] = {}
    for row in contacts_named(activity_ids, CONTACTS_LISTED):
        name = f"{row.first_name or ''} {row.last_name or ''}".strip()
        label = f"{name} <{row.email}>" if name and row.email else name or row.email or "?"
        found.setdefault(row.activity_id, ([], row.total))[0].append(label)
    return found


def _description(activity: Activity, contacts: tuple[list[str], int] | None) -> str:
    parts = [activity.notes.strip()] if activity.notes and activity.notes.strip() else []
    if contacts:
        names, total = contacts
        more = f"\n… and {total - len(names)} more" if total > len(names) else ""
        parts.append("Contacts:\n" + "\n".join(names) + more)
    if activity.campaign_id:
        parts.append(f"Campaign: {activity.campaign}")
    return "\n\n".join(parts)


def build_calendar(user: User, activities: list[Activity]) -> Calendar:
    """The VCALENDAR of these activities: UTC times, stable UIDs, statuses mapped."""
    cal = Calendar()
    cal.add("prodid", "-//Kohde//Activities//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Kohde: {user}")
    # Hints for subscribing clients; Outlook and Google poll on their own schedule anyway.
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    contacts = _contacts([a.id for a in activities])
    for activity in activities:
        event = Event()
        # The row id never changes, so a client updates the event instead of duplicating it.
        event.add("uid", f"activity-{activity.id}@kohde")
        event.add("dtstamp", activity.updated_at)  # no METHOD: DTSTAMP is the last revision
        event.add("last-modified", activity.updated_at)
        event.add("dtstart", activity.start_at)
        event.add("dtend", activity.end_at)
        summary = f"{activity.number} {activity.subject}" if activity.number else activity.subject
        event.add("summary", summary)
        event.add("description", _description(activity, contacts.get(activity.id)))
        event.add("status", STATUS.get(activity.status, "CONFIRMED"))
        event.add("categories", [activity.type])
        event.add("url", url_for("activity.details_view", id=activity.id, _external=True))
        cal.add_component(event)
    return cal


@bp.get("/calendar/<token>.ics")
def feed(token: str):
    """The user's activities from 30 days back to 180 days ahead as text/calendar."""
    user = user_by_calendar_token(token)
    if user is None:
        abort(404)
    body = build_calendar(user, _activities(user)).to_ical()
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": 'inline; filename="kohde.ics"',
                             "Cache-Control": "private, max-age=300"})


def init_app(app: Flask) -> None:
    """Register the public calendar feed route."""
    app.register_blueprint(bp)
