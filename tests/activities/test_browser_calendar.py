"""The week calendar in a real browser: an activity in its cell, clicked through to its page."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from models import Activity, Contact, Settings, db
from tests import browser_support
from tests.browser_support import ARTIFACTS, log_in

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name
HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
def this_week(ctx, admin_user):
    """Three of the admin's activities this week, one linked to a contact."""
    Settings.get().timezone = "Europe/Helsinki"
    today = datetime.now(HELSINKI).date()
    monday = today - timedelta(days=today.weekday())
    aino = Contact(first_name="Aino", last_name="Asiakas", email="aino@example.fi")
    rows = []
    for offset, hour, number, kind, subject in [
        (0, 9, "A-101", "call", "Renewal call"),
        (2, 13, "A-102", "meeting", "Product demo"),
        (4, 10, "A-103", "task", "Send the offer"),
    ]:
        start = datetime.combine(monday + timedelta(days=offset), time(hour), HELSINKI)
        rows.append(Activity(owner=admin_user, number=number, type=kind, subject=subject,
                             start_at=start, end_at=start + timedelta(minutes=30)))
    rows[0].contacts = [aino]
    db.session.add_all(rows)
    db.session.commit()
    return {"call": rows[0], "monday": monday}


def test_open_the_week_see_an_activity_and_click_through(live_server, page, admin_user,
                                                         this_week):
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/calendar/")
    call = this_week["call"]
    cell = page.locator(f'td[data-day="{this_week["monday"].isoformat()}"][data-hour="9"]')
    entry = cell.locator(f'a[data-activity="{call.id}"]')
    expect(entry).to_contain_text("A-101")
    expect(entry).to_contain_text("Renewal call")
    expect(entry).to_contain_text("Aino Asiakas")
    expect(page.locator("#cal-feed")).to_have_value(
        f"{live_server}/calendar/{admin_user.calendar_token}.ics"
    )
    page.screenshot(path=str(ARTIFACTS / "calendar-week.png"), full_page=True)

    entry.click()
    expect(page).to_have_url(f"{live_server}/admin/activity/details/?id={call.id}"
                             f"&url=/admin/calendar/?")
    # The details page: the heading names the activity; its contacts and fields are tables.
    expect(page.locator("[data-activity]")).to_contain_text("Renewal call")
    expect(page.locator("table.searchable")).to_contain_text("Renewal call")
    page.screenshot(path=str(ARTIFACTS / "calendar-activity-details.png"), full_page=True)
