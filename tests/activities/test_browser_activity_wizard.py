"""The group-activity wizard in a real browser, through all seven steps."""

import csv
import io
import re
from collections import Counter

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Activity, Contact, Role, db
from tests import browser_support
from tests.activities.wizard_support import first_day, hourly_slots, made
from tests.browser_support import ARTIFACTS, log_in
from tests.conftest import make_user

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


@pytest.fixture
def people(ctx, admin_user):
    """Seven contacts in Turku, two elsewhere; three users to share the calls."""
    hourly_slots()
    users = [make_user(f"{n}@example.fi", Role.USER) for n in ("anna", "bert", "cecil")]
    for n in range(9):
        city = "Turku" if n < 7 else "Oulu"
        db.session.add(Contact(first_name="Test", last_name=f"P{n}", email=f"p{n}@example.fi",
                               city=city, phone=f"+358 50 {n}"))
    db.session.commit()
    return users


def test_the_whole_wizard_in_a_browser(live_server, page, admin_user, people, run_jobs):
    base, day = live_server, first_day()
    log_in(page, base, admin_user.email)
    page.goto(f"{base}/admin/activity/")
    page.locator("a.dropdown-toggle", has_text="CRM").click()
    page.get_by_role("link", name="Group activity wizard").click()
    expect(page).to_have_url(f"{base}/admin/activity_wizard/")
    page.click("#wizard-start")

    # 1: one activity per contact
    expect(page).to_have_url(re.compile(r"/admin/activity_wizard/\d+/1$"))
    page.check("#mode-per-contact")
    page.click("#wizard-next")

    # 2: the conditions builder, reused: city is Turku
    expect(page).to_have_url(re.compile(r"/2$"))
    count = page.locator(".cb-count [data-count]")
    expect(count).to_have_attribute("data-count", "9")
    page.get_by_role("button", name="+ Condition").click()
    row = page.locator(".cb-row").nth(0)
    expect(row).to_have_attribute("data-path", "all[0]")
    row.locator("select[name=cb_field]").select_option("city")
    expect(row).to_have_attribute("data-widget", "text")
    expect(row).to_have_attribute("data-path", "all[0]")
    row.locator("input[name=cb_v]").fill("Turku")
    expect(count).to_have_attribute("data-count", "7")
    page.screenshot(path=str(ARTIFACTS / "wizard-contacts.png"), full_page=True)
    page.click("#wizard-next")

    # 3: leave one contact out (saved at once by htmx), then on
    expect(page).to_have_url(re.compile(r"/3$"))
    page.wait_for_load_state()  # htmx binds the checkboxes on load: a click before is lost
    expect(page.locator("#wizard-exclusions tbody tr")).to_have_count(7)
    first = db.session.scalar(select(Contact.id).where(Contact.last_name == "P0"))
    page.check(f'input[name=exclude][value="{first}"]')
    expect(page.locator("#wizard-counts")).to_have_attribute("data-included", "6")
    page.screenshot(path=str(ARTIFACTS / "wizard-exclusions.png"), full_page=True)
    page.click("#wizard-next")

    # 4: shared out evenly among three users, with the details
    expect(page).to_have_url(re.compile(r"/4$"))
    page.check("#as-even")
    for user in people:
        page.check(f'input[name=user_ids][value="{user.id}"]')
    page.select_option("#wz-type", "call")
    page.fill("#wz-subject", "Spring calls")
    page.fill("#wz-day", day.isoformat())
    page.fill("#wz-notes", "Ask about the renewal")
    page.screenshot(path=str(ARTIFACTS / "wizard-users.png"), full_page=True)
    page.click("#wizard-next")

    # 5: the report, printable, and its CSV
    expect(page).to_have_url(re.compile(r"/5$"))
    expect(page.locator("#wizard-report tbody tr")).to_have_count(6)
    csv_text = page.request.get(base + page.locator("#wizard-csv").get_attribute("href")).text()
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0][-2:] == ["assigned user", "planned start"] and len(rows) == 7
    page.emulate_media(media="print")
    expect(page.locator("nav.navbar")).to_be_hidden()
    expect(page.locator("#wizard-next")).to_be_hidden()
    expect(page.locator("#wizard-report")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "wizard-report-print.png"), full_page=True)
    page.emulate_media(media="screen")
    # Back keeps what step 4 chose
    page.click("#wizard-back")
    expect(page.locator("#wz-subject")).to_have_value("Spring calls")
    expect(page.locator("#as-even")).to_be_checked()
    page.click("#wizard-next")

    # 6: create (a job), then the numbers
    page.click("#wizard-next")
    expect(page).to_have_url(re.compile(r"/6$"))
    page.click("#wizard-finish")
    expect(page.locator("#job-progress")).to_be_visible()
    run_jobs()
    made_rows = page.locator("#wizard-made tbody tr")
    expect(made_rows).to_have_count(6)
    expect(page.locator("#wizard-per-user tbody tr")).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "wizard-created.png"), full_page=True)
    job_id = db.session.scalar(select(Activity.job_id).where(Activity.subject == "Spring calls"))
    created = made(job_id)
    assert Counter(a.owner_id for a in created) == {u.id: 2 for u in people}
    expect(made_rows.first).to_contain_text(created[0].number)

    # 7: edit them all once
    page.click("#wizard-edit")
    expect(page).to_have_url(re.compile(r"/7$"))
    page.fill("#ed-subject", "Spring calls (moved)")
    page.fill("#ed-minutes", "30")
    page.select_option("#ed-status", "cancelled")
    asked = []  # "apply to all" asks first (issue 16)
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("#wizard-apply")
    expect(page.locator(".alert")).to_contain_text("Changed 6 activities")
    assert asked == ["Change all 6 activities this run created? Only the fields you filled in "
                     "change."]
    db.session.rollback()
    after = made(job_id)
    assert {(a.subject, a.status) for a in after} == {("Spring calls (moved)", "cancelled")}
    assert [a.start_at.minute for a in after] == [30] * 6
    page.screenshot(path=str(ARTIFACTS / "wizard-edit-all.png"), full_page=True)
