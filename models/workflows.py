"""Workflows (seed 004, "Työnkulku"): when an activity is saved and matches a rule's
conditions, its linked contacts join the activity's campaign (source = workflow).

Joining goes through ``models.campaigns.membership.add_members``, the one place contacts
join a campaign, so the campaign's email goes to the newly joined by the existing rule
(and only to them: members already in get nothing again). Every path that saves
activities calls :func:`run_for`: the admin form and the CLI with one activity, the
wizard and mass create with the job's activities in one statement per campaign.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import ForeignKey, Index, String, and_, func, select
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from .base import Base, Timestamped, UTCDateTime, db, utcnow

__all__ = ["Workflow", "WorkflowRun", "run_for"]


class Workflow(Timestamped, Base):
    """A rule: conditions on a saved activity → add its contacts to its campaign."""

    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Conditions (empty: any). The activity must have a campaign to add its contacts to.
    activity_type: Mapped[str | None] = mapped_column(String(10))
    activity_status: Mapped[str | None] = mapped_column(String(10))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Only activities of this campaign (empty: any campaign).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))

    owner = relationship("User")
    campaign = relationship("Campaign")

    def __str__(self) -> str:
        return self.name

    @property
    def conditions_words(self) -> str:
        """"type = call, status = done, owner = x, has a campaign"."""
        from .activities import ActivityStatus, ActivityType
        from .labels import label

        words = []
        if self.activity_type:
            words.append(_("type = %(type)s", type=label(self.activity_type, ActivityType)))
        if self.activity_status:
            words.append(_("status = %(status)s",
                           status=label(self.activity_status, ActivityStatus)))
        if self.owner_id:
            words.append(_("owner = %(owner)s",
                           owner=self.owner.email if self.owner else self.owner_id))
        words.append(_("campaign = '%(name)s'", name=self.campaign.name) if self.campaign
                     else _("has a campaign"))
        return ", ".join(words)

    def where(self, activities):
        """The conditions as SQL over the activities table."""
        from .activities import Activity

        table = Activity.__table__ if activities is None else activities
        conditions = [table.c.campaign_id.is_not(None)]
        if self.activity_type:
            conditions.append(table.c.type == self.activity_type)
        if self.activity_status:
            conditions.append(table.c.status == self.activity_status)
        if self.owner_id:
            conditions.append(table.c.owner_id == self.owner_id)
        if self.campaign_id:
            conditions.append(table.c.campaign_id == self.campaign_id)
        return and_(*conditions)


class WorkflowRun(Base):
    """One workflow applied to one save (one activity, or a job's activities)."""

    __tablename__ = "workflow_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL")
    )
    # The mass-create / wizard job whose activities it ran over.
    source_job_id: Mapped[str | None] = mapped_column(String(80))
    # The campaign members it added carry this id (models/campaigns: CampaignMember.job_id).
    member_job_id: Mapped[str] = mapped_column(String(80))
    trigger: Mapped[str] = mapped_column(String(10), default="form")
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activities: Mapped[int] = mapped_column(default=0)
    added: Mapped[int] = mapped_column(default=0)
    queued: Mapped[int] = mapped_column(default=0)
    suppressed: Mapped[int] = mapped_column(default=0)

    workflow = relationship(
        "Workflow",
        backref=backref("runs", cascade="save-update, merge, delete", passive_deletes=True,
                        order_by="WorkflowRun.ran_at.desc()"),
    )
    campaign = relationship("Campaign")

    __table_args__ = (Index("ix_workflow_runs_workflow_id_ran_at", "workflow_id", "ran_at"),)


def run_for(activity_ids=None, *, job_id: str | None = None, trigger: str = "form",
            user_id: int | None = None) -> list[WorkflowRun]:
    """Apply every active workflow to the saved activities: ``activity_ids`` (a list), or
    every activity of the job ``job_id`` (mass create, wizard). Per workflow and campaign,
    one INSERT … SELECT of members and one of their messages (add_members). Not committed.
    """
    from .activities import Activity, ActivityContact
    from .campaigns import MemberSource
    from .campaigns.audience import Action
    from .campaigns.membership import add_members

    activities, links = Activity.__table__, ActivityContact.__table__
    if job_id is not None:
        chosen = activities.c.job_id == job_id
    else:
        chosen = activities.c.id.in_(list(activity_ids or []))
    workflows = db.session.scalars(select(Workflow).where(Workflow.active.is_(True))
                                   .order_by(Workflow.id)).all()
    made = []
    for workflow in workflows:
        matched = select(activities.c.campaign_id, func.count(), func.min(activities.c.id)) \
            .where(chosen, workflow.where(activities)).group_by(activities.c.campaign_id)
        for campaign_id, n, first_id in db.session.execute(matched).all():
            contacts = (select(links.c.contact_id)
                        .join(activities, activities.c.id == links.c.activity_id)
                        .where(chosen, workflow.where(activities),
                               activities.c.campaign_id == campaign_id))
            member_job = f"workflow:{workflow.id}:{uuid.uuid4().hex[:16]}"
            result = add_members(campaign_id, Action.ADD_CONTACTS, contact_ids=contacts,
                                 job_id=member_job, added_by=user_id,
                                 source=MemberSource.WORKFLOW.value)
            run = WorkflowRun(workflow_id=workflow.id, campaign_id=campaign_id,
                              activity_id=first_id if n == 1 else None, source_job_id=job_id,
                              member_job_id=member_job, trigger=trigger, activities=n,
                              added=result["added"], queued=result["email"]["queued"],
                              suppressed=result["email"]["suppressed"])
            db.session.add(run)
            made.append(run)
    if made:
        db.session.flush()
    return made
