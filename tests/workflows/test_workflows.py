"""Workflows (seed 004): saving an activity with a campaign adds its contacts to the
campaign once and sends the campaign's email once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from jobs.email.sender import start_senders
from models import (
    Activity,
    Campaign,
    CampaignMember,
    Contact,
    EmailTemplate,
    OutboxMessage,
    Workflow,
    WorkflowRun,
    db,
)
from models.workflows import run_for


def _world():
    template = EmailTemplate(name="Invite", subject="Hi {{ contact.first_name }}",
                             body_text="Welcome")
    campaign = Campaign(name="Spring event", email_template=template, active=True)
    people = [Contact(first_name=n, last_name="X", email=f"{n.lower()}@example.com")
              for n in ("Anna", "Ben")]
    db.session.add_all([campaign, *people])
    db.session.add(Workflow(name="Calls join their campaign", activity_type="call"))
    db.session.commit()
    activity = Activity(type="call", subject="Call", campaign_id=campaign.id, contacts=people,
                        start_at=datetime(2026, 12, 7, 9, tzinfo=UTC),
                        end_at=datetime(2026, 12, 7, 10, tzinfo=UTC))
    db.session.add(activity)
    db.session.commit()
    return campaign, activity


def test_saving_an_activity_adds_its_contacts_once_and_sends_once(ctx, mailbox, run_jobs):
    campaign, activity = _world()
    first = run_for([activity.id])
    db.session.commit()
    assert [(r.added, r.queued) for r in first] == [(2, 2)]
    again = run_for([activity.id])  # saved a second time
    db.session.commit()
    assert [(r.added, r.queued) for r in again] == [(0, 0)]
    members = db.session.scalars(select(CampaignMember.source)
                                 .where(CampaignMember.campaign_id == campaign.id)).all()
    assert members == ["workflow", "workflow"]
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    start_senders()
    run_jobs()
    assert sorted(to[0] for to, _msg in mailbox.messages) == ["anna@example.com",
                                                              "ben@example.com"]
    assert db.session.scalar(select(func.count()).select_from(WorkflowRun)) == 2


def test_conditions_decide(ctx):
    _campaign, activity = _world()
    db.session.get(Workflow, 1).activity_type = "meeting"
    db.session.commit()
    assert run_for([activity.id]) == []
