"""One small CRM world for the record-page tests: a company, contacts, a campaign with an
email, a group, activities past and planned, and a change in the audit trail."""

from __future__ import annotations

from datetime import timedelta

from models import (
    Activity,
    ActivityStatus,
    Campaign,
    CampaignMember,
    Company,
    Contact,
    EmailTemplate,
    MemberSource,
    OutboxMessage,
    OutboxState,
    TargetGroup,
    TargetGroupMember,
    User,
    db,
    utcnow,
)


def world(owner: User) -> dict:
    """Commit the world and return its records by name."""
    now = utcnow()
    company = Company(name="Ääni Oy", city="Helsinki")
    anna = Contact(first_name="Anna", last_name="Aalto", email="anna@example.fi",
                   language="fi", city="Espoo", company=company, owner=owner, phone="+358401")
    bo = Contact(first_name="Bo", last_name="Berg", email="bo@example.se", company=company,
                 email_opt_out=True)
    template = EmailTemplate(name="Welcome", subject="Hi", body_html="{{ unsubscribe_url }}")
    campaign = Campaign(name="Spring push")
    group = TargetGroup(name="Finns", criteria={"all": [
        {"field": "language", "op": "eq", "value": "fi"}]})
    db.session.add_all([company, anna, bo, template, campaign, group])
    db.session.flush()
    db.session.add(CampaignMember(campaign_id=campaign.id, contact_id=anna.id,
                                  source=MemberSource.GROUP, source_ref=group.id,
                                  added_by_id=owner.id))
    db.session.add(TargetGroupMember(group_id=group.id, contact_id=anna.id))
    group.member_count, group.refreshed_at = 1, now
    planned = Activity(subject="Call Anna", start_at=now + timedelta(days=2),
                       end_at=now + timedelta(days=2, minutes=30), owner=owner,
                       campaign=campaign, company=company, contacts=[anna, bo])
    past = Activity(subject="Met Anna", type="meeting", start_at=now - timedelta(days=3),
                    end_at=now - timedelta(days=3, minutes=-30), status=ActivityStatus.DONE,
                    owner=owner, contacts=[anna])
    db.session.add_all([planned, past])
    db.session.add_all([
        OutboxMessage(template_id=template.id, contact_id=anna.id, campaign_id=campaign.id,
                      send_key=f"campaign:{campaign.id}", state=OutboxState.SENT,
                      to_email=anna.email, sent_at=now),
        OutboxMessage(template_id=template.id, contact_id=bo.id, campaign_id=campaign.id,
                      send_key=f"campaign:{campaign.id}", state=OutboxState.SUPPRESSED,
                      suppressed_reason="opted_out"),
    ])
    db.session.commit()
    anna.city = "Vantaa"  # a change for the history
    db.session.commit()
    return {"company": company, "anna": anna, "bo": bo, "template": template,
            "campaign": campaign, "group": group, "planned": planned, "past": past}
