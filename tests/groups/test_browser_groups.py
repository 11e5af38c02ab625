"""Target groups in a real browser: the builder (rows through htmx, live count, preview, save),
refresh from the list, the explain panel and saved filters on the contact list."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Contact, SavedFilter, TargetGroup, db
from tests import browser_support
from tests.browser_support import ARTIFACTS, log_in

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name

FINNISH_LEADS = {"all": [{"field": "language", "op": "eq", "value": "fi"},
                         {"field": "kind", "op": "eq", "value": "lead"}]}


@pytest.fixture
def people(ctx):
    """Six contacts: four speak Finnish, two of those are leads; one more lead speaks Swedish."""
    for first, language, kind in [("Aino", "fi", "contact"), ("Bertil", "sv", "lead"),
                                  ("Cecilia", "fi", "lead"), ("David", "en", "contact"),
                                  ("Eeva", "fi", "lead"), ("Fanni", "fi", "contact")]:
        db.session.add(Contact(first_name=first, last_name="Testinen", kind=kind,
                               language=language, email=f"{first.lower()}@example.fi"))
    db.session.commit()


def ready(row, widget: str, path: str) -> None:
    """Wait until htmx has wired up a new row: the builder read it back and gave it its path.

    htmx processes swapped-in content after its settle delay (20 ms); a person never
    beats that, Playwright does.
    """
    expect(row).to_have_attribute("data-widget", widget)
    expect(row).to_have_attribute("data-path", path)


def test_build_a_group_see_the_count_and_preview_and_save(live_server, page, admin_user, people):
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/targetgroup/new/")
    page.fill("input[name=name]", "Finnish leads")
    count = page.locator(".cb-count [data-count]")
    expect(count).to_have_attribute("data-count", "6")  # no conditions: everyone

    # Condition 1: language = fi (a new row starts as "Kind is contact"; pick the field).
    page.get_by_role("button", name="+ Condition").click()
    first = page.locator(".cb-row").nth(0)
    ready(first, "choice", "all[0]")
    expect(first.locator("select[name=cb_field]")).to_have_value("kind")
    first.locator("select[name=cb_field]").select_option("language")
    ready(first, "text", "all[0]")
    # Nothing typed yet: no error, only "fill in" (issue 16: messages after the user acted).
    expect(page.locator('.cb-count [data-status="incomplete"]')).to_be_visible()
    expect(page.locator(".cb-count [data-error-path]")).to_have_count(0)
    expect(first).to_have_class("cb-row")
    first.locator("input[name=cb_v]").fill("fi")
    expect(count).to_have_attribute("data-count", "4")
    # Emptied again by the user: now the empty value is named by its path.
    first.locator("input[name=cb_v]").fill("")
    expect(page.locator(".cb-count [data-error-path]")).to_have_text(
        "all[0].value: expected a non-empty text, got ''")
    expect(first).to_have_class("cb-row cb-invalid")
    first.locator("input[name=cb_v]").fill("fi")
    expect(count).to_have_attribute("data-count", "4")
    expect(first).to_have_class("cb-row")

    # Condition 2: kind = lead.
    page.get_by_role("button", name="+ Condition").click()
    second = page.locator(".cb-row").nth(1)
    ready(second, "choice", "all[1]")
    second.locator("select[name=cb_v]").select_option("lead")
    expect(count).to_have_attribute("data-count", "2")

    preview = page.locator(".cb-preview tbody tr")
    expect(preview).to_have_count(2)
    expect(preview.nth(0)).to_contain_text("cecilia@example.fi")
    expect(preview.nth(1)).to_contain_text("eeva@example.fi")
    page.screenshot(path=str(ARTIFACTS / "target-group-builder.png"), full_page=True)

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{live_server}/admin/targetgroup/")
    db.session.rollback()  # see what the server's thread committed
    group = db.session.scalar(select(TargetGroup).where(TargetGroup.name == "Finnish leads"))
    assert group.criteria == FINNISH_LEADS


def test_nested_group_not_toggle_and_remove(live_server, page, admin_user, people):
    """An "any" group inside, negated, then a row removed: the count follows each step."""
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/targetgroup/new/")
    count = page.locator(".cb-count [data-count]")
    expect(count).to_have_attribute("data-count", "6")

    page.get_by_role("button", name="+ Group").click()
    inner = page.locator(".cb-children .cb-group")
    ready(inner.locator(".cb-row"), "choice", "all[0].all[0]")  # a new group: "Kind is contact"
    expect(count).to_have_attribute("data-count", "3")
    inner.locator("input[name=cb_not]").check()
    expect(count).to_have_attribute("data-count", "3")  # not a contact: the three leads
    inner.locator("select[name=cb_mode]").select_option("any")
    inner.get_by_role("button", name="+ Condition").click()
    added = inner.locator(".cb-row").nth(1)
    ready(added, "choice", "all[0].not.any[1]")
    added.locator("select[name=cb_field]").select_option("language")
    ready(added, "text", "all[0].not.any[1]")
    added.locator("select[name=cb_op]").select_option("in")
    ready(added, "texts", "all[0].not.any[1]")
    added.locator("input[name=cb_v]").fill("sv, en")
    # not (contact or language in sv, en): Cecilia and Eeva
    expect(count).to_have_attribute("data-count", "2")
    inner.locator(".cb-row").nth(0).locator("[data-cb-remove]").click()
    # not (language in sv, en): the four Finnish speakers
    expect(count).to_have_attribute("data-count", "4")
    tree = page.locator("input[name=criteria]").input_value()
    assert tree == (
        '{"all":[{"not":{"any":[{"field":"language","op":"in","value":["sv","en"]}]}}]}'
    )


def test_refresh_explain_and_saved_filter_pages(live_server, page, admin_user, people, run_jobs):
    """The list's refresh icon starts the job; the contact page explains; the list filters."""
    group = TargetGroup(name="Finnish leads", criteria=FINNISH_LEADS)
    saved = SavedFilter(name="Finnish speakers", module="contact",
                        criteria={"all": [FINNISH_LEADS["all"][0]]})
    db.session.add_all([group, saved])
    db.session.commit()
    log_in(page, live_server, admin_user.email)

    page.goto(f"{live_server}/admin/targetgroup/")
    page.locator(f'[data-refresh-group="{group.id}"]').click()
    expect(page).to_have_url(re.compile(r"/admin/jobrun/details/\?id=refresh_group-"))
    run_jobs()
    expect(page.locator("#job-progress")).to_have_attribute("data-status", "done")
    page.goto(f"{live_server}/admin/targetgroup/")
    page.screenshot(path=str(ARTIFACTS / "target-groups-list.png"), full_page=True)
    expect(page.locator("table.model-list tbody tr", has_text="Finnish leads")).to_contain_text("2")

    cecilia = db.session.scalar(select(Contact.id).where(Contact.first_name == "Cecilia"))
    page.goto(f"{live_server}/admin/contact/details/?id={cecilia}")
    panel = page.locator(f'#group-explain .cb-explain[data-group="{group.id}"]')
    expect(panel).to_have_attribute("data-member", "true")
    expect(panel.locator('[data-holds="true"]')).to_have_count(3)  # all of, language, kind
    page.screenshot(path=str(ARTIFACTS / "contact-explain.png"), full_page=True)

    page.goto(f"{live_server}/admin/contact/")
    page.select_option("select[name=saved_filter]", str(saved.id))
    expect(page).to_have_url(f"{live_server}/admin/contact/?saved_filter={saved.id}")
    expect(page.locator("table.model-list tbody tr")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "contacts-saved-filter.png"), full_page=True)
    page.get_by_role("link", name="Clear the saved filter").click()
    expect(page.locator("table.model-list tbody tr")).to_have_count(6)
