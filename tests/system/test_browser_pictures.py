"""Issue 16 in a real browser: whole pictures (contact, company, activity, campaign), the
dashboard's charts, Undo appearing live, and the role matrix."""

import os
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from jobs.campaigns import start_audience_change
from models import Role, db
from models.campaigns.audience import Action
from tests import browser_support
from tests.browser_support import ARTIFACTS, log_in
from tests.conftest import make_user, process_env

from .pictures_support import world

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def test_from_a_contact_to_its_company_activity_and_campaign(live_server, page, admin_user):
    w = world(admin_user)
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/contact/details/?id={w['anna'].id}")
    expect(page.locator('[data-list="campaigns"]')).to_contain_text("Spring push")
    expect(page.locator('[data-list="emails"] [data-state="sent"]')).to_be_visible()
    expect(page.locator('[data-list="history"]')).to_contain_text("Vantaa")
    expect(page.locator("#contact-automations")).to_contain_text("In no automation.")
    page.screenshot(path=str(ARTIFACTS / "contact-picture.png"), full_page=True)

    page.locator('[data-field="company"] a').click()  # the company: its contacts
    expect(page.locator('[data-list="contacts"] tr[data-contact]')).to_have_count(2)
    page.get_by_role("link", name="A-1").first.click()  # an activity: whom to call
    expect(page.locator('[data-list="contacts"]')).to_contain_text("Anna Aalto")
    expect(page.locator('[data-list="contacts"]')).to_contain_text("Bo Berg")
    page.locator("td.col-campaign a, a[href*='/admin/campaign/details/']").first.click()
    funnel = page.locator("#chart-funnel")  # the campaign: its audience funnel
    expect(funnel.locator("svg g.kohde-series")).to_have_count(1)
    expect(funnel.locator("rect.kohde-bar")).to_have_count(4)
    expect(funnel.locator("rect.kohde-bar").first).to_have_attribute("data-value", "1")


def test_the_dashboard_draws_its_charts(live_server, page, admin_user):
    world(admin_user)
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/")
    expect(page.locator("figure.kohde-chart svg")).to_have_count(3)
    messages = page.locator("#chart-messages")
    expect(messages.locator("g.kohde-series")).to_have_count(3)
    expect(messages.locator('g[data-series="sent"] rect.kohde-bar')).to_have_count(30)
    expect(messages.locator(".kohde-legend text")).to_have_text(
        ["Sent", "Not sent (suppressed)", "Failed"])
    expect(page.locator('#chart-activities g.kohde-series[data-series="Admin"] rect')
           ).to_have_count(14)
    expect(page.locator("#chart-jobs rect.kohde-bar")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "dashboard-charts.png"), full_page=True)


def test_undo_appears_live_when_the_job_ends(live_server, page, admin_user, app):
    w = world(admin_user)
    run = start_audience_change(w["campaign"].id, Action.ADD_CONTACTS,
                                contact_ids=[w["bo"].id], started_by=admin_user.id)
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/jobrun/details/?id={run.id}")
    expect(page.locator("#job-progress")).to_have_attribute("data-status", "queued")
    expect(page.locator("#undo-job")).to_have_count(0)
    env = dict(os.environ, **process_env(app))
    subprocess.run([sys.executable, "-m", "webadmin.cli", "worker", "--burst", "--quiet"],
                   env=env, check=True, timeout=120)
    expect(page.locator("#undo-job button")).to_be_visible(timeout=10_000)  # no reload


def test_the_role_matrix_a_user_is_refused_an_admin_is_not(live_server, page, admin_user):
    w = world(admin_user)
    make_user("user@example.com", Role.USER)
    log_in(page, live_server, "user@example.com")
    expect(page.locator("table.model-list")).to_be_visible()
    expect(page.locator("form[action='/admin/contact/delete/']")).to_have_count(0)
    page.goto(f"{live_server}/admin/campaign/edit/?id={w['campaign'].id}")
    expect(page.locator("[name=email_template]")).to_have_count(0)
    page.goto(f"{live_server}/admin/emailtemplate/")
    expect(page.locator("[data-error-code='403']")).to_be_visible()
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page).to_have_url(f"{live_server}/admin/")

    admin = page.context.browser.new_context().new_page()
    log_in(admin, live_server, admin_user.email)
    expect(admin.locator("form[action='/admin/contact/delete/']").first).to_be_attached()
    admin.goto(f"{live_server}/admin/campaign/edit/?id={w['campaign'].id}")
    expect(admin.locator("[name=email_template]")).to_have_count(1)
    admin.goto(f"{live_server}/admin/emailtemplate/")
    expect(admin.locator("table.model-list")).to_be_visible()
    db.session.rollback()
