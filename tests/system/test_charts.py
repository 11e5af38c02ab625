"""Charts (issue 16): server-drawn SVG with a title, axis labels, a legend and a table of
the same numbers, on the dashboard, a campaign's page and a group's page."""

from __future__ import annotations

import re
from datetime import timedelta

from models import (
    Activity,
    Campaign,
    CampaignMember,
    Contact,
    EmailTemplate,
    OutboxMessage,
    OutboxState,
    SuppressedAddress,
    TargetGroup,
    db,
    utcnow,
)
from models.groups.refresh import refresh


def figure(page: str, chart_id: str) -> str:
    """The chart's <figure> in a page."""
    match = re.search(rf'<figure class="kohde-chart[^"]*" id="{chart_id}".*?</figure>', page,
                      re.S)
    assert match, f"no chart {chart_id}"
    return match.group(0)


def bars(fig: str, series: str) -> list[int]:
    group = re.search(rf'<g class="kohde-series" data-series="{series}".*?</g>', fig, re.S)
    return [int(v) for v in re.findall(r'data-value="(\d+)"', group.group(0))]


def test_the_dashboard_draws_three_charts_with_their_numbers(ctx, admin_client, admin_user):
    now = utcnow()
    template = EmailTemplate(name="T", subject="S", body_html="{{ unsubscribe_url }}")
    people = [Contact(email=f"p{i}@example.fi") for i in range(3)]
    db.session.add_all([template, *people])
    db.session.flush()
    for i, (state, reason) in enumerate([(OutboxState.SENT, None),
                                         (OutboxState.SUPPRESSED, "opted_out"),
                                         (OutboxState.FAILED, None)]):
        db.session.add(OutboxMessage(template_id=template.id, contact_id=people[i].id,
                                     send_key="k", state=state, suppressed_reason=reason,
                                     sent_at=now if state == OutboxState.SENT else None))
    db.session.add(Activity(subject="Call", owner=admin_user, start_at=now + timedelta(days=1),
                            end_at=now + timedelta(days=1, minutes=30)))
    db.session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    messages = figure(page, "chart-messages")
    assert 'data-series-count="3"' in messages and 'data-categories="30"' in messages
    assert bars(messages, "sent")[-1] == 1 and bars(messages, "suppressed")[-1] == 1
    assert bars(messages, "failed")[-1] == 1 and sum(bars(messages, "sent")) == 1
    for part in ("<title>Email messages per day, last 30 days</title>", 'class="kohde-legend"',
                 'class="kohde-axis-label"', '<table class="table table-sm kohde-chart-table">'):
        assert part in messages
    activities = figure(page, "chart-activities")
    assert 'data-categories="14"' in activities and 'data-series="Admin"' in activities
    assert bars(activities, "Admin")[1] == 1 or bars(activities, "Admin")[0] == 1
    jobs = figure(page, "chart-jobs")
    assert 'data-series-count="1"' in jobs and 'data-categories="4"' in jobs


def test_a_campaign_page_draws_its_audience_funnel(ctx, admin_client):
    campaign = Campaign(name="Spring")
    template = EmailTemplate(name="T", subject="S", body_html="{{ unsubscribe_url }}")
    people = [Contact(email="a@example.fi"), Contact(email="b@example.fi", email_opt_out=True),
              Contact(email="c@example.fi"), Contact(email=None)]
    db.session.add_all([campaign, template, *people, SuppressedAddress(email_key="c@example.fi")])
    db.session.flush()
    db.session.add_all(CampaignMember(campaign_id=campaign.id, contact_id=p.id) for p in people)
    db.session.add(OutboxMessage(template_id=template.id, contact_id=people[0].id,
                                 campaign_id=campaign.id, send_key="k", state=OutboxState.SENT))
    db.session.commit()
    page = admin_client.get(f"/admin/campaign/details/?id={campaign.id}").get_data(as_text=True)
    funnel = figure(page, "chart-funnel")
    assert bars(funnel, "contacts") == [4, 3, 1, 2]
    assert "With an email address" in funnel and "Opted out or bounced" in funnel


def test_a_group_page_draws_its_members_over_refreshes(ctx, admin_client):
    group = TargetGroup(name="Finns", criteria={"all": [
        {"field": "language", "op": "eq", "value": "fi"}]})
    db.session.add_all([group, Contact(email="a@example.fi", language="fi")])
    db.session.commit()
    refresh(group)
    db.session.add(Contact(email="b@example.fi", language="fi"))
    db.session.commit()
    refresh(group)
    page = admin_client.get(f"/admin/targetgroup/details/?id={group.id}").get_data(as_text=True)
    assert bars(figure(page, "chart-group-members"), "members") == [1, 2]
