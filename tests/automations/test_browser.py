"""The step builder in a real browser: add, move up, remove with htmx (CSRF header)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .. import browser_support
from ..browser_support import ARTIFACTS, log_in
from .support import automation, email_step, helsinki

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def test_build_steps_with_htmx(live_server, page, admin_user):
    helsinki()
    row = automation(email_step(0))
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/automation/details/?id={row.id}")
    add = page.locator("form.kohde-add-step")
    add.locator("select[name=kind]").select_option("task", force=True)
    add.locator("input[name=subject]").fill("Call the lead")
    add.locator("input[name=delay_days]").fill("2")
    add.locator("[type=submit]").click()
    steps = page.locator("table.kohde-steps tbody tr")
    expect(steps).to_have_count(2)
    expect(steps.nth(1)).to_contain_text("task 'Call the lead'")
    expect(steps.nth(1)).to_contain_text("2 days after entry, Mon–Fri at 09:00")
    steps.nth(1).locator("button", has_text="↑").click()
    expect(steps.nth(0)).to_contain_text("task 'Call the lead'")
    page.screenshot(path=str(ARTIFACTS / "automation-steps.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    steps.nth(0).locator("button", has_text="Remove").click()
    expect(steps).to_have_count(1)
    expect(steps.nth(0)).to_contain_text("template 'Welcome'")
