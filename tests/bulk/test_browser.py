"""Each list's bulk action in a real browser: tick rows or "select all N that match", choose
the action from the "With selected" menu, see the confirmation's count and consequence,
run it, watch the job's progress end in its result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert

from jobs.bulk import start_set_owner
from models import (
    Activity,
    CampaignMember,
    OutboxMessage,
    OutboxState,
    TargetGroup,
    db,
)
from models.email.outbox import queue_campaign_join
from models.selections import Selection
from tests import browser_support
from tests.browser_support import log_in

from .support import world

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def choose(page, label: str, *, select_all: bool = False, row: int | None = None) -> None:
    """Tick a row (or "select all that match") and choose ``label`` from the menu."""
    if select_all:
        page.locator("#kohde-select-all").click()
        expect(page.locator("#kohde-select-all-on")).to_be_visible()
    else:
        page.locator(f"input.action-checkbox[value='{row}']").check()
    page.get_by_text("With selected").click()
    page.locator("a[onclick*='modelActions.execute']", has_text=label).click()


def confirm_and_run(page, run_jobs, sentence: str, fields=None) -> None:
    """Fill the fields, preview, check the sentence, run, and see the job end done."""
    for name, value in (fields or {}).items():
        field = page.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(label=value) if not value.isdigit() else field.select_option(value)
        else:
            field.fill(value)
    if fields:
        page.locator("#bulk-preview-button").click()
    expect(page.locator("[data-sentence]")).to_contain_text(sentence)
    page.locator("#bulk-run").click()
    expect(page.locator("#job-progress")).to_be_visible()
    run_jobs()
    expect(page.locator("#job-progress")).to_have_attribute("data-status", "done")
    expect(page.locator("[data-summary]")).to_be_visible()


def test_contacts_select_all_that_match_change_owner(live_server, page, admin_user, run_jobs):
    world(60)
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/contact/?search=berg&page_size=20")
    expect(page.locator("#kohde-select-all")).to_contain_text("Select all 40 that match")
    choose(page, "Change owner", select_all=True)
    expect(page.locator("[data-total]")).to_have_text("40")
    # Half of the 40 are Bob's already: the consequence counts the rows that change.
    confirm_and_run(page, run_jobs, "This gives 20 contacts to Bob", {"owner_id": "Bob"})


def test_companies_change_owner(live_server, page, admin_user, run_jobs):
    data = world(4)
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/company/")
    choose(page, "Change owner", row=data["acme"])
    confirm_and_run(page, run_jobs, "This gives 1 companies to Alice", {"owner_id": "Alice"})


def test_activities_shift(live_server, page, admin_user, run_jobs):
    data = world(2)
    start = datetime(2027, 3, 1, 8, tzinfo=UTC)
    db.session.execute(insert(Activity), [{"subject": "Call", "owner_id": data["alice"],
                                           "start_at": start, "end_at": start + timedelta(1)}])
    db.session.commit()
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/activity/")
    choose(page, "Shift by days or hours", row=1)
    confirm_and_run(page, run_jobs, "This moves 1 activities 3 days later",
                    {"amount": "3", "unit": "days"})


def test_campaigns_deactivate(live_server, page, admin_user, run_jobs):
    data = world(2)
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/campaign/")
    choose(page, "Deactivate", row=data["campaign"])
    confirm_and_run(page, run_jobs, "This deactivates 1 campaigns")


def test_groups_refresh(live_server, page, admin_user, run_jobs):
    world(6)
    group = TargetGroup(name="Turku", criteria={"all": [{"field": "city", "op": "eq",
                                                         "value": "Turku"}]})
    db.session.add(group)
    db.session.commit()
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/targetgroup/")
    choose(page, "Refresh", row=group.id)
    confirm_and_run(page, run_jobs, "This refreshes 1 target groups")


def test_outbox_cancel_queued(live_server, page, admin_user, run_jobs):
    data = world(3)
    db.session.execute(insert(CampaignMember), [{"campaign_id": data["campaign"],
                                                 "contact_id": i} for i in (2, 3)])
    db.session.commit()
    queue_campaign_join(data["campaign"], contact_ids=[2, 3])
    db.session.commit()
    queued = db.session.query(OutboxMessage).filter_by(state=OutboxState.QUEUED).count()
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/outboxmessage/")
    choose(page, "Cancel the queued", select_all=True)
    confirm_and_run(page, run_jobs, f"This cancels {queued} queued messages")


def test_jobs_undo(live_server, page, admin_user, run_jobs):
    data = world(4)
    run = start_set_owner(Selection("contacts", (1, 2)), data["alice"], started_by=admin_user.id)
    run_jobs()
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/jobrun/")
    choose(page, "Undo", row=run.id)
    confirm_and_run(page, run_jobs, "This undoes 1 jobs")
