"""The outbox: one row per message, created set-based with suppression decided in SQL.

A row is unique per (template, contact, send key), so repeating the statement
that creates messages can never create a second message. Rows that must not
be sent are still written, as ``suppressed`` with the reason, so a campaign
can show how many were held back and why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, exists, func, literal, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from models import (
    Campaign,
    CampaignMember,
    Contact,
    JobRun,
    JobStatus,
    OutboxMessage,
    OutboxState,
    Settings,
    SuppressedAddress,
    db,
    utcnow,
)

from ..dialect import insert_ignoring_duplicates

outbox = OutboxMessage.__table__
contacts = Contact.__table__
PENDING_OR_SENT = (OutboxState.QUEUED, OutboxState.SENDING, OutboxState.DEFERRED, OutboxState.SENT)


class Suppression:
    """Why a message to a contact must not go out (NULL: it may)."""

    OPTED_OUT = "opted_out"
    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    BOUNCED = "bounced"
    WAITING_PERIOD = "waiting_period"


def waiting_period_clause(template_id, contact_id, since: datetime, older_than_id=None,
                          per_row: bool = False):
    """An earlier message of the same template to the same contact within the waiting period
    (any campaign, any group). ``older_than_id``: at send time a message already sent
    counts whatever its age, one not sent yet only when it is older, so of two waiting
    messages the first one goes and a message overtaken by a send does not go.

    ``per_row``: a probe of the (template, contact) index per row, never a hash of the
    template's whole history. For statements over a batch of a few thousand rows, run
    again and again while the outbox grows: PostgreSQL may hash an EXISTS, reading every
    earlier message of the template once per batch (more with each batch, and most when
    its statistics still say the outbox is empty); a scalar subquery is never hashed."""
    earlier = outbox.alias("earlier")
    conditions = [
        earlier.c.template_id == template_id,
        earlier.c.contact_id == contact_id,
        earlier.c.state.in_(PENDING_OR_SENT),
        func.coalesce(earlier.c.sent_at, earlier.c.created_at) >= since,
    ]
    if older_than_id is not None:
        conditions.append(or_(earlier.c.state == OutboxState.SENT, earlier.c.id < older_than_id))
    if per_row:
        return select(literal(1)).where(*conditions).limit(1).scalar_subquery().is_not(None)
    return exists().where(*conditions)


def suppression_reason(template_id, now: datetime, waiting_days: int,
                       older_than_id=None, per_row: bool = False) -> ColumnElement:
    """A CASE over ``contacts``: the first reason not to send, or NULL (``per_row``: see
    :func:`waiting_period_clause`)."""
    email = contacts.c.email_key
    return case(
        (contacts.c.email_opt_out.is_(True), Suppression.OPTED_OUT),
        (or_(email.is_(None), email == ""), Suppression.NO_EMAIL),
        (or_(~email.like("%_@_%._%"), email.like("% %")), Suppression.INVALID_EMAIL),
        (exists().where(SuppressedAddress.__table__.c.email_key == email), Suppression.BOUNCED),
        (waiting_period_clause(template_id, contacts.c.id, now - timedelta(days=waiting_days),
                               older_than_id, per_row), Suppression.WAITING_PERIOD),
        else_=None,
    )


def sends_join_email(campaign_id: int) -> bool:
    """Does joining this campaign mean an email (it has a template)? Without one there is
    nothing to queue, in one statement or in ranges."""
    return db.session.scalar(
        select(Campaign.email_template_id).where(Campaign.id == campaign_id)) is not None


def queue_campaign_join(campaign_id: int, job_id: str | None = None,
                        contact_ids: list[int] | None = None,
                        contact_range: tuple[int, int] | None = None) -> dict:
    """Messages for members who just joined a campaign that has a template.

    ``job_id``: the members one audience job added (``contact_range``: only those with a
    contact id from … to, inclusive: one chunk of a split queue); ``contact_ids``: single
    joins. Members who joined before the template was attached get nothing.
    """
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.email_template_id is None:
        return {"queued": 0, "suppressed": 0}
    members = CampaignMember.__table__
    now = utcnow()
    which = members.c.job_id == job_id if job_id else members.c.contact_id.in_(contact_ids or [])
    if contact_range is not None:
        which = and_(which, members.c.contact_id.between(*contact_range))
    reason = suppression_reason(
        campaign.email_template_id, now, Settings.current().email_waiting_period_days
    )
    rows = (
        select(
            literal(campaign.email_template_id),
            contacts.c.id,
            literal(campaign.id),
            literal(f"campaign:{campaign.id}"),
            literal("campaign_join"),
            case((reason.is_(None), OutboxState.QUEUED), else_=OutboxState.SUPPRESSED),
            reason,
            contacts.c.email,
            literal(now, outbox.c.created_at.type),
        )
        .select_from(members.join(contacts, contacts.c.id == members.c.contact_id))
        .where(
            members.c.campaign_id == campaign.id,
            which,
            members.c.added_at >= (campaign.email_template_set_at or campaign.created_at),
            true(),
        )
    )
    made = db.session.execute(
        insert_ignoring_duplicates(outbox).from_select(
            ["template_id", "contact_id", "campaign_id", "send_key", "reason", "state",
             "suppressed_reason", "to_email", "created_at"],
            rows,
        ).execution_options(preserve_rowcount=True)
    ).rowcount
    # The rows just made carry this call's timestamp, and no one else sees them before the
    # commit: counting them, not the campaign's whole outbox before and after (twice the
    # reads, and wrong when a sender moves messages on in between).
    suppressed = db.session.scalar(
        select(func.count()).where(outbox.c.campaign_id == campaign.id,
                                   outbox.c.created_at == literal(now, outbox.c.created_at.type),
                                   outbox.c.state == OutboxState.SUPPRESSED)
    )
    return {"queued": made - suppressed, "suppressed": suppressed}


ALREADY_HAD = "already_had"  # a preview's reason only: the contact got this campaign's email


def join_email_preview(campaign_id: int, joining: Select) -> dict | None:
    """What joining the campaign would mean for email, for a dry run: how many of the
    contacts ``joining`` selects (a ``SELECT id``) would get a message now, and how many
    would not and why (the same CASE the join uses). None when the campaign has no
    template (no one gets anything)."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.email_template_id is None:
        return None
    # A contact that left and joins again already has this campaign's message: the unique
    # key lets no second one in.
    had_it = exists().where(outbox.c.template_id == campaign.email_template_id,
                            outbox.c.contact_id == contacts.c.id,
                            outbox.c.send_key == f"campaign:{campaign.id}")
    reason = case((had_it, ALREADY_HAD), else_=suppression_reason(
        campaign.email_template_id, utcnow(), Settings.current().email_waiting_period_days
    )).label("reason")
    chosen = joining.subquery("joining")
    rows = db.session.execute(
        select(reason, func.count()).select_from(contacts)
        .where(contacts.c.id.in_(select(chosen.c.id))).group_by(reason)
    ).all()
    suppressed = {why: n for why, n in rows if why is not None}
    return {"template": campaign.email_template.name,
            "queues": sum(n for why, n in rows if why is None),
            "suppressed": suppressed, "suppressed_total": sum(suppressed.values())}


def campaign_email_counts(campaign_id: int) -> dict[str, int]:
    """Messages of a campaign by state, and the suppressed ones by reason."""
    rows = db.session.execute(
        select(outbox.c.state, outbox.c.suppressed_reason, func.count())
        .where(outbox.c.campaign_id == campaign_id)
        .group_by(outbox.c.state, outbox.c.suppressed_reason)
    ).all()
    counts: dict[str, int] = {}
    for state, reason, n in rows:
        key = f"suppressed_{reason}" if state == OutboxState.SUPPRESSED else state
        counts[key] = counts.get(key, 0) + n
    return counts


def requeue_stuck(older_than: timedelta | None = None) -> int:
    """Put messages left in ``sending`` by a crashed worker back in the queue: those claimed
    longer ago than ``older_than`` (default: the KOHDE_OUTBOX_STUCK_SECONDS config)."""
    if older_than is None:
        # Far longer than a batch takes (200 messages at the slowest pace of 1/s), so a live
        # sender's batch is never taken from under it.
        older_than = timedelta(seconds=current_app.config["KOHDE_OUTBOX_STUCK_SECONDS"])
    cutoff = utcnow() - older_than
    result = db.session.execute(
        outbox.update()
        .where(outbox.c.state == OutboxState.SENDING,
               or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at < cutoff))
        .values(state=OutboxState.QUEUED, claimed_by=None)
    )
    db.session.commit()
    return result.rowcount


def release_dead_claims() -> int:
    """Put messages claimed by a sender run that is no longer alive (ended, or running with
    an expired lease) back in the queue at once; those claimed without a run (`kohde outbox
    send`) wait for ``requeue_stuck``. Answers how many."""
    runs = JobRun.__table__
    alive = exists().where(runs.c.id == outbox.c.claimed_by,
                           runs.c.status == JobStatus.RUNNING,
                           runs.c.lease_expires_at >= utcnow())
    result = db.session.execute(
        outbox.update()
        .where(outbox.c.state == OutboxState.SENDING, outbox.c.claimed_by.is_not(None), ~alive)
        .values(state=OutboxState.QUEUED, claimed_by=None)
    )
    db.session.commit()
    return result.rowcount


def cancel_unsent_to_added(campaign_id: int, job_id: str, note: str) -> int:
    """Cancel (suppress as "cancelled") the campaign's messages not sent yet to the members
    that job ``job_id`` added: the first half of undoing that job. Not committed; answers
    how many."""
    members = CampaignMember.__table__
    added = select(members.c.contact_id).where(members.c.campaign_id == campaign_id,
                                               members.c.job_id == job_id)
    return db.session.execute(
        outbox.update()
        .where(outbox.c.campaign_id == campaign_id,
               outbox.c.state.in_((OutboxState.QUEUED, OutboxState.DEFERRED)),
               outbox.c.contact_id.in_(added))
        .values(state=OutboxState.SUPPRESSED, suppressed_reason="cancelled", last_error=note)
    ).rowcount


def due(now: datetime, states=(OutboxState.QUEUED, OutboxState.DEFERRED)) -> ColumnElement:
    """Messages waiting to go now: queued, or deferred and due again (``states``)."""
    return and_(outbox.c.state.in_(states),
                or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))


def messages_due(now: datetime) -> bool:
    """Whether some message waits to be sent now."""
    return bool(db.session.scalar(select(exists().where(due(now)))))


def oldest_due(now: datetime) -> datetime | None:
    """Since when the longest-waiting due message (claimed ones too) has waited."""
    oldest = db.session.scalar(
        select(func.min(func.coalesce(outbox.c.next_attempt_at, outbox.c.created_at)))
        .where(due(now, (OutboxState.QUEUED, OutboxState.DEFERRED, OutboxState.SENDING))))
    if isinstance(oldest, str):  # SQLite's min() over a coalesce answers text
        oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
    return oldest


def counts_by_state() -> dict[str, int]:
    """Every message by state, the suppressed ones by reason ("suppressed (bounced)")."""
    rows = db.session.execute(
        select(outbox.c.state, outbox.c.suppressed_reason, func.count())
        .group_by(outbox.c.state, outbox.c.suppressed_reason).order_by(outbox.c.state)
    ).all()
    return {(f"{s} ({r})" if r else s): n for s, r, n in rows}
