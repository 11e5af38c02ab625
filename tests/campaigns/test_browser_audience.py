"""A refused dry run in a real browser: the 400 error partial is shown (htmx 2 alone would
drop it), and the status code stays 400."""

import pytest
from playwright.sync_api import expect

from models import Campaign, Contact, TargetGroup, db
from tests import browser_support
from tests.browser_support import log_in

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def test_a_refused_dry_run_shows_its_message(live_server, page, admin_user):
    campaign = Campaign(name="Kevät")
    group = TargetGroup(name="Turku", criteria={"all": []})
    db.session.add_all([campaign, group, Contact(first_name="Aino", email="aino@example.fi")])
    db.session.commit()
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/audience/{campaign.id}")

    # A contact that does not exist: the dry run answers 400 with its reason.
    add_one = page.locator("form:has(input[name=action][value=add_contacts])")
    add_one.locator("input[name=contact]").fill("nobody@example.fi")
    with page.expect_response(lambda r: r.url.endswith("/preview")) as answer:
        add_one.get_by_role("button", name="Preview").click()
    assert answer.value.status == 400
    error = add_one.locator("[data-preview=error]")
    expect(error).to_have_text("no contact 'nobody@example.fi'")

    # Someone made the campaign inactive after this page was loaded.
    copy_group = page.locator("form:has(input[name=action][value=copy_group])")
    copy_group.locator("select[name=source_id]").select_option(label="Turku")
    campaign.active = False
    db.session.commit()
    with page.expect_response(lambda r: r.url.endswith("/preview")) as answer:
        copy_group.get_by_role("button", name="Preview").click()
    assert answer.value.status == 400
    expect(copy_group.locator("[data-preview=error]")).to_contain_text(
        "campaign 'Kevät' is not active")
    expect(copy_group.locator("button", has_text="Confirm and run")).to_have_count(0)
