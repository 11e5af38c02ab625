"""In a real browser: a failed htmx request says so in place, with a retry, instead of an
endless "Counting…"; error pages keep the layout."""

import pytest
from playwright.sync_api import expect

from models import Contact, db
from tests import browser_support
from tests.browser_support import log_in
from webadmin.admin.criteria import builder as criteria_builder

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def test_a_failing_live_count_shows_an_error_and_retries(app, live_server, page, admin_user,
                                                         monkeypatch):
    db.session.add(Contact(first_name="Aino", last_name="A", email="aino@example.fi"))
    db.session.commit()
    app.config["PROPAGATE_EXCEPTIONS"] = False
    real = criteria_builder.count_matches

    def broken(tree):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(criteria_builder, "count_matches", broken)
    try:
        log_in(page, live_server, admin_user.email)
        page.goto(f"{live_server}/admin/targetgroup/new/")
        error = page.locator(".kohde-htmx-error").first
        expect(error).to_contain_text("could not be loaded (error 500)")
        monkeypatch.setattr(criteria_builder, "count_matches", real)
        error.get_by_role("button", name="Retry").click()
        expect(page.locator(".cb-count [data-count]")).to_have_attribute("data-count", "1")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None


def test_a_404_page_has_the_menu_and_a_way_back(live_server, page, admin_user):
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/campaignmember/details/?id=1")
    expect(page.locator("[data-error-code='404']")).to_be_visible()
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page).to_have_url(f"{live_server}/admin/")
