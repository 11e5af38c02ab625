"""The numbers behind the charts: one function per chart, each a few aggregate queries.

Counts per day are made in SQL per UTC hour (``dialect.hour_bucket``) and summed into the
installation's local days here, so a day starts at local midnight on both databases.
Every function answers plain data (categories and one list of values per series); the
pages draw it (templates/kohde/charts/_macros.html).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func, or_, select

from .activities import Activity, ActivityStatus
from .base import db
from .campaigns import CampaignMember
from .contacts import Contact
from .dialect import as_hour, hour_bucket
from .email import OutboxMessage, OutboxState, SuppressedAddress
from .groups import TargetGroupRefresh
from .jobs import JobRun, JobStatus
from .users import User

OWNERS_SHOWN = 6  # more owners than this: the rest are one series, "others"


def local_days(first: date, count: int) -> list[date]:
    """``count`` consecutive days from ``first``."""
    return [first + timedelta(days=n) for n in range(count)]


def _per_local_day(rows, tz: ZoneInfo) -> dict[date, int]:
    totals: dict[date, int] = defaultdict(int)
    for hour, n in rows:
        totals[as_hour(hour).astimezone(tz).date()] += n
    return totals


def _start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=tz)


def messages_per_day(now: datetime, tz: ZoneInfo, days: int = 30) -> dict:
    """Messages sent, suppressed and failed on each of the last ``days`` local days (today
    included): sent by when they left, the others by when they were made."""
    today = now.astimezone(tz).date()
    categories = local_days(today - timedelta(days=days - 1), days)
    since = _start_of(categories[0], tz)
    series = {}
    for state, column in ((OutboxState.SENT, OutboxMessage.sent_at),
                          (OutboxState.SUPPRESSED, OutboxMessage.created_at),
                          (OutboxState.FAILED, OutboxMessage.created_at)):
        bucket = hour_bucket(column)
        rows = db.session.execute(
            select(bucket, func.count()).where(OutboxMessage.state == state, column >= since)
            .group_by(bucket)).all()
        totals = _per_local_day(rows, tz)
        series[str(state)] = [totals.get(day, 0) for day in categories]
    return {"categories": categories, "series": series}


def activities_per_owner(now: datetime, tz: ZoneInfo, days: int = 14) -> dict:
    """Planned activities per owner on each of the next ``days`` local days (today first);
    the owners with the most activities get a series each, the rest one together."""
    today = now.astimezone(tz).date()
    categories = local_days(today, days)
    start, end = _start_of(categories[0], tz), _start_of(categories[-1] + timedelta(days=1), tz)
    bucket = hour_bucket(Activity.start_at)
    rows = db.session.execute(
        select(Activity.owner_id, bucket, func.count())
        .where(Activity.status == ActivityStatus.PLANNED, Activity.start_at >= start,
               Activity.start_at < end)
        .group_by(Activity.owner_id, bucket)).all()
    per_owner: dict[int | None, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for owner_id, hour, n in rows:
        per_owner[owner_id][as_hour(hour).astimezone(tz).date()] += n
    ranked = sorted(per_owner, key=lambda o: (-sum(per_owner[o].values()), o or 0))
    shown, rest = ranked[:OWNERS_SHOWN], ranked[OWNERS_SHOWN:]
    names = dict(db.session.execute(
        select(User.id, func.coalesce(func.nullif(User.name, ""), User.email))
        .where(User.id.in_([o for o in shown if o is not None]))).all())
    series = {}
    for owner_id in shown:
        label = names.get(owner_id) or "—"
        series[label] = [per_owner[owner_id].get(day, 0) for day in categories]
    if rest:
        series["others"] = [sum(per_owner[o].get(day, 0) for o in rest) for day in categories]
    return {"categories": categories, "series": series}


def job_outcomes(now: datetime, days: int = 30) -> dict:
    """Job runs queued in the last ``days`` days, by how they ended (or where they are)."""
    rows = dict(db.session.execute(
        select(JobRun.status, func.count())
        .where(JobRun.enqueued_at >= now - timedelta(days=days)).group_by(JobRun.status)).all())
    categories = [str(s) for s in (JobStatus.DONE, JobStatus.FAILED, JobStatus.RUNNING,
                                   JobStatus.QUEUED)]
    return {"categories": categories, "series": {"runs": [rows.get(s, 0) for s in categories]}}


def campaign_funnel(campaign_id: int) -> dict:
    """A campaign's audience step by step: members, those with an email address, those a
    message was sent to, and those who since opted out or whose address bounced."""
    has_email = (Contact.email_key.is_not(None)) & (Contact.email_key != "")
    bounced = select(SuppressedAddress.email_key).where(
        SuppressedAddress.email_key == Contact.email_key).exists()
    members, with_email, lost = db.session.execute(
        select(func.count(), func.count().filter(has_email),
               func.count().filter(or_(Contact.email_opt_out.is_(True), bounced)))
        .select_from(CampaignMember).join(Contact, Contact.id == CampaignMember.contact_id)
        .where(CampaignMember.campaign_id == campaign_id)).one()
    sent = db.session.scalar(
        select(func.count(distinct(OutboxMessage.contact_id)))
        .where(OutboxMessage.campaign_id == campaign_id, OutboxMessage.state == OutboxState.SENT))
    categories = ["members", "with_email", "sent", "unsubscribed_or_bounced"]
    return {"categories": categories, "series": {"contacts": [members, with_email, sent, lost]}}


def group_member_history(group_id: int, limit: int = 30) -> dict:
    """A group's member count after each of its last ``limit`` refreshes, oldest first."""
    rows = db.session.execute(
        select(TargetGroupRefresh.refreshed_at, TargetGroupRefresh.member_count,
               TargetGroupRefresh.added, TargetGroupRefresh.removed)
        .where(TargetGroupRefresh.group_id == group_id)
        .order_by(TargetGroupRefresh.refreshed_at.desc(), TargetGroupRefresh.id.desc())
        .limit(limit)).all()[::-1]
    return {"categories": [r.refreshed_at for r in rows],
            "series": {"members": [r.member_count for r in rows]},
            "changes": [(r.added, r.removed) for r in rows]}

