"""Consequences before acting (issue 16): a dry run says how many emails it queues and who
gets none and why; adding an opted-out contact warns."""

from __future__ import annotations

import pytest

from jobs.groups import refresh
from models import (
    Campaign,
    Contact,
    EmailTemplate,
    OutboxMessage,
    OutboxState,
    Settings,
    TargetGroup,
    db,
    utcnow,
)
from models.campaigns.audience import Action
from tests.conftest import csrf_token


@pytest.fixture
def campaign_and_group(ctx):
    template = EmailTemplate(name="Welcome", subject="Hi", body_html="{{ unsubscribe_url }}")
    campaign = Campaign(name="Spring", email_template=template)
    group = TargetGroup(name="Everyone", criteria={"all": []})
    people = [Contact(email=f"p{i}@example.fi") for i in range(5)]
    people += [Contact(email=f"out{i}@example.fi", email_opt_out=True) for i in range(3)]
    recent = [Contact(email=f"recent{i}@example.fi") for i in range(2)]
    db.session.add_all([template, campaign, group, *people, *recent])
    Settings.get().email_waiting_period_days = 30
    db.session.flush()
    # Two got this template from another send within the waiting period.
    db.session.add_all(OutboxMessage(template_id=template.id, contact_id=c.id, send_key="other",
                                     state=OutboxState.SENT, sent_at=utcnow()) for c in recent)
    db.session.commit()
    refresh(group)
    return campaign, group


def test_the_dry_run_says_how_many_emails_it_queues_and_why_not(admin_client,
                                                                campaign_and_group):
    campaign, group = campaign_and_group
    url = f"/admin/audience/{campaign.id}"
    token = csrf_token(admin_client, url)
    preview = admin_client.post(f"{url}/preview", data={
        "action": Action.COPY_GROUP, "source_id": group.id, "csrf_token": token},
        headers={"HX-Request": "true"}).text
    assert 'data-count="would_add">10<' in preview
    assert "This queues" in preview and 'data-count="queues">5<' in preview
    assert 'data-suppressed="opted_out">3<' in preview and "opted out of email" in preview
    assert 'data-suppressed="waiting_period">2<' in preview
    assert "within the waiting period" in preview
    assert 'data-warning="opted_out"' in preview


def test_without_a_template_the_dry_run_says_nobody_gets_email(admin_client,
                                                               campaign_and_group):
    campaign, group = campaign_and_group
    campaign.email_template = None
    db.session.commit()
    url = f"/admin/audience/{campaign.id}"
    token = csrf_token(admin_client, url)
    preview = admin_client.post(f"{url}/preview", data={
        "action": Action.COPY_GROUP, "source_id": group.id, "csrf_token": token},
        headers={"HX-Request": "true"}).text
    assert 'data-email-effect="none"' in preview and "nobody gets an email" in preview


def test_adding_an_opted_out_member_warns(admin_client, campaign_and_group):
    campaign, _ = campaign_and_group
    out = db.session.query(Contact).filter_by(email="out0@example.fi").one()
    token = csrf_token(admin_client, "/admin/campaignmember/new/")
    saved = admin_client.post("/admin/campaignmember/new/", data={
        "campaign": campaign.id, "contact": out.id, "source": "manual", "csrf_token": token},
        follow_redirects=True).text
    assert "opted out of email: added to" in saved and "gets no marketing email" in saved


def test_the_cli_dry_run_says_it_too(app, campaign_and_group):
    campaign, group = campaign_and_group
    result = app.test_cli_runner().invoke(args=["campaigns", "copy-group", campaign.number,
                                                str(group.id), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would add 10" in result.output and "queues 5 emails" in result.output
    assert "3 opted out of email" in result.output
    assert "2 within the waiting period" in result.output
