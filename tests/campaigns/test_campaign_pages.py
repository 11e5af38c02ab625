"""Campaign list and details show the member count, linked to exactly those members; the CLI
takes a campaign's number as well as its id or name."""

from __future__ import annotations

import json

from models import Campaign, CampaignMember, Contact, MemberSource, db


def _campaigns_with_members():
    spring = Campaign(name="Spring")
    autumn = Campaign(name="Autumn")
    people = [Contact(first_name=f"Member{i}", last_name="Zed", email=f"p{i}@example.fi")
              for i in range(5)]
    db.session.add_all([spring, autumn, *people])
    db.session.flush()
    for person in people[:3]:
        db.session.add(CampaignMember(campaign_id=spring.id, contact_id=person.id,
                                      source=MemberSource.MANUAL))
    db.session.add(CampaignMember(campaign_id=autumn.id, contact_id=people[4].id,
                                  source=MemberSource.MANUAL))
    db.session.commit()
    return spring, autumn


def test_the_campaign_list_and_details_show_member_counts_linked_to_the_members(
        ctx, admin_client):
    spring, autumn = _campaigns_with_members()
    listing = admin_client.get("/admin/campaign/").get_data(as_text=True)
    assert f'href="/admin/campaignmember/?campaign_id={spring.id}">3</a>' in listing
    assert f'href="/admin/campaignmember/?campaign_id={autumn.id}">1</a>' in listing
    details = admin_client.get(f"/admin/campaign/details/?id={spring.id}")
    assert f'campaign_id={spring.id}">3</a>' in details.get_data(as_text=True)
    members = admin_client.get(f"/admin/campaignmember/?campaign_id={spring.id}")
    page = members.get_data(as_text=True)
    assert all(f"Member{i} Zed" in page for i in range(3))
    assert "Member4 Zed" not in page


def test_the_cli_finds_a_campaign_by_its_number(ctx, app):
    spring, _ = _campaigns_with_members()
    assert spring.number  # generated on save, e.g. 2026-00001
    result = app.test_cli_runner().invoke(args=["campaigns", "summary", spring.number, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["members"] == 3


def test_every_campaign_argument_takes_the_number(ctx, app):
    """copy-campaign (both CAMPAIGN and OTHER), add and set-template find a campaign by its
    number; an all-digit typed number that is no id is found as a number too."""
    spring, autumn = _campaigns_with_members()
    autumn.number = "777"
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["campaigns", "copy-campaign", spring.number, "777",
                                 "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["would_add"] == 1
    result = runner.invoke(args=["campaigns", "members", "777"])
    assert result.exit_code == 0 and "p4@example.fi" in result.output
    result = runner.invoke(args=["campaigns", "summary", "2099-99999"])
    assert result.exit_code != 0 and "no campaign '2099-99999'" in result.output
