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
    User,
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


def test_the_admin_form_runs_the_workflows(admin_client, mailbox, run_jobs):
    from ..conftest import csrf_token

    campaign, _activity = _world()
    people = db.session.scalars(select(Contact).order_by(Contact.id)).all()
    token = csrf_token(admin_client, "/admin/activity/new/")
    data = {"csrf_token": token, "type": "call", "subject": "Form call", "number": "",
            "start_at": "2026-12-07 09:00:00", "end_at": "2026-12-07 09:30:00",
            "status": "planned", "notes": "", "campaign": str(campaign.id),
            "contacts": ",".join(str(p.id) for p in people)}
    assert admin_client.post("/admin/activity/new/", data=data).status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CampaignMember)) == 2
    run_jobs()
    assert len(mailbox.messages) == 2
    made = db.session.scalar(select(Activity).where(Activity.subject == "Form call"))
    token = csrf_token(admin_client, f"/admin/activity/edit/?id={made.id}")
    admin_client.post(f"/admin/activity/edit/?id={made.id}",
                      data={**data, "csrf_token": token, "status": "done"})
    run_jobs()
    assert len(mailbox.messages) == 2  # saved again: nobody new, no second email
    runs = db.session.scalars(select(WorkflowRun.trigger)).all()
    assert runs == ["form", "form"]


def test_mass_create_runs_the_workflows_set_based(ctx, mailbox, run_jobs):
    from jobs.activities import start_group_activities
    from jobs.groups import refresh
    from models import TargetGroup

    campaign, _activity = _world()
    group = TargetGroup(name="Everyone", criteria={"all": []})
    db.session.add(group)
    db.session.commit()
    refresh(group)
    caller = User(email="caller@example.com", name="Caller", role="user")
    db.session.add(caller)
    db.session.commit()
    start_group_activities(group.id, "2026-12-07", subject="Mass call", user_id=caller.id,
                           campaign_id=campaign.id)
    run_jobs()
    members = db.session.scalar(select(func.count()).select_from(CampaignMember))
    assert members == 2
    run = db.session.scalar(select(WorkflowRun))
    assert (run.trigger, run.activities, run.added) == ("mass", 2, 2)
    run_jobs()
    assert len(mailbox.messages) == 2
