"""The step builder in a real browser: the effect of a new step shown before it is added,
add, move up, remove with htmx (CSRF header)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models import clock

from .. import browser_support
from ..browser_support import ARTIFACTS, log_in
from .support import automation, contact, email_step, helsinki, switch_on, tick_at

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def test_build_steps_with_htmx(live_server, page, admin_user):
    helsinki()
    row = automation(email_step(0))
    contact("Anna")
    switch_on(row, clock.now())
    tick_at(clock.now())  # Anna is in it
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/automation/details/?id={row.id}")
    add = page.locator("form.kohde-add-step")
    add.locator("select[name=kind]").select_option("task", force=True)
    add.locator("input[name=subject]").fill("Call the lead")
    add.locator("input[name=delay_days]").fill("2")
    add.locator("button", has_text="Preview the effect").click()
    expect(page.locator(".kohde-effect-new")).to_contain_text(
        "Adding it gives this step to 1 contact in the automation now.")
    expect(page.locator("table.kohde-steps tbody tr")).to_have_count(1)  # not added yet
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
    expect(page.locator(".kohde-steps-note")).to_contain_text(
        "Step removed; 1 contact waiting for it will not get it.")
    expect(page.locator(".kohde-removed-steps summary")).to_contain_text("1 removed step")
    expect(steps.nth(0)).to_contain_text("template 'Welcome'")
