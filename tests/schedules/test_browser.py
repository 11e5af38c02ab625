"""Creating a scheduled action in a real browser and reading its live preview."""

from __future__ import annotations

from datetime import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import ScheduledAction, clock, db

from .. import browser_support
from ..browser_support import ARTIFACTS, log_in
from .support import group, local

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def choose(page, name: str, value: str) -> None:
    """Pick an option of a select (Flask-Admin hides some behind select2) and tell the page."""
    page.locator(f"select[name={name}]").select_option(value, force=True)


def test_create_an_action_and_read_its_preview(live_server, page, admin_user):
    g = group("Uutiskirje fi")
    with clock.frozen(local(2027, 3, 20, 12)):
        log_in(page, live_server, admin_user.email)
        page.goto(f"{live_server}/admin/scheduledaction/new/")
        page.fill("input[name=name]", "Night refresh")
        choose(page, "kind", "refresh_group")
        choose(page, "target_group", str(g.id))
        choose(page, "frequency", "daily")
        # Only the fields a daily refresh uses are shown.
        expect(page.locator("input[name=time_of_day]")).to_be_visible()
        expect(page.locator("input[name=cron]")).to_be_hidden()
        expect(page.locator("input[name=activity_subject]")).to_be_hidden()
        page.fill("input[name=time_of_day]", "03:30")
        page.locator("input[name=time_of_day]").dispatch_event("change")
        runs = page.locator("#schedule-preview li[data-utc]")
        expect(runs).to_have_count(10)
        expect(runs.first).to_contain_text("Sun 2027-03-21 03:30")
        moved = runs.nth(7)  # the 28th: 03:30 does not exist in Helsinki
        expect(moved).to_contain_text("Sun 2027-03-28 04:00")
        expect(moved).to_contain_text("does not exist that day")
        expect(moved.locator(".badge")).to_have_text("DST")
        page.screenshot(path=str(ARTIFACTS / "schedule-preview.png"), full_page=True)

        # A cron that does not parse: the preview says so while typing.
        choose(page, "frequency", "cron")
        page.fill("input[name=cron]", "61 * * *")  # typed: no change event, the input one
        expect(page.locator("#schedule-preview")).to_contain_text(
            "not a valid cron expression: '61 * * *'")
        page.fill("input[name=cron]", "30 3 * * 1-5")
        expect(runs.first).to_contain_text("Mon 2027-03-22 03:30")

        page.locator("form.admin-form [type=submit]").first.click()
        expect(page.locator(".alert-success, .alert-info").first).to_be_visible()
    db.session.rollback()
    (saved,) = db.session.scalars(select(ScheduledAction)).all()
    assert (saved.name, saved.frequency, saved.cron, saved.time_of_day) == \
        ("Night refresh", "cron", "30 3 * * 1-5", time(3, 30))
    assert saved.next_run_at == local(2027, 3, 22, 3, 30)
