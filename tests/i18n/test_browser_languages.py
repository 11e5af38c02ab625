"""Languages in a real browser: the navbar's menu switches the back office to Finnish,
Swedish and Hungarian (headings, Flask-Admin's own buttons, dates in the reader's format),
the login page follows the browser, and the public unsubscribe page speaks the contact's
language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Contact, User, db
from models.email.unsubscribe import token_for
from tests import browser_support
from tests.browser_support import ARTIFACTS, log_in

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name

# language → (the users list's heading in the menu, Flask-Admin's "Create", the date)
EXPECTED = {
    "fi": ("Käyttäjät", "Luo", "1.7.2026 12.05"),
    "sv": ("Användare", "Skapa", "1 juli 2026 12:05"),
    "hu": ("Felhasználók", "Létrehozás", "2026. júl. 1. 12:05"),
}


@pytest.mark.parametrize("language", ["fi", "sv", "hu"])
def test_the_navbar_menu_switches_the_language(live_server, page, admin_user, language):
    user = db.session.get(User, admin_user.id)
    user.created_at = datetime(2026, 7, 1, 9, 5, tzinfo=UTC)  # 12:05 in Helsinki
    db.session.commit()
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/user/")
    expect(page.locator("table.model-list")).to_contain_text("2026-07-01 12:05")
    page.select_option("[data-language-menu] select", language)
    page.wait_for_url(f"{live_server}/admin/user/")
    heading, create, date = EXPECTED[language]
    expect(page.locator(".navbar")).to_contain_text(heading)
    expect(page.locator(".nav-tabs")).to_contain_text(create)
    expect(page.locator("table.model-list")).to_contain_text(date)
    expect(page.locator("[data-language-menu] select")).to_have_value(language)
    page.screenshot(path=str(ARTIFACTS / f"i18n-users-{language}.png"))
    db.session.rollback()
    assert db.session.scalar(select(User.language).where(User.id == admin_user.id)) == language
    # The profile page says the same, under its own translated heading.
    page.click("[data-profile-link]")
    expect(page.locator("[data-profile]")).to_have_text(
        {"fi": "Oma profiili", "sv": "Din profil", "hu": "Saját profil"}[language])


def test_the_login_page_follows_the_browser(live_server, app):
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    assert Path(CHROMIUM).exists()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        finnish = browser.new_context(locale="fi-FI").new_page()
        finnish.goto(f"{live_server}/login")
        expect(finnish.locator("button[type=submit]")).to_have_text("Kirjaudu sisään")
        # The login page's own menu overrides the browser for this visitor.
        finnish.select_option("[data-language-menu] select", "sv")
        expect(finnish.locator("button[type=submit]")).to_have_text("Logga in")
        browser.close()


def test_the_unsubscribe_page_is_in_finnish_for_a_finnish_contact(live_server, page, ctx):
    aino = Contact(first_name="Aino", email="aino@example.fi", language="fi")
    db.session.add(aino)
    db.session.commit()
    page.goto(f"{live_server}/unsubscribe/{token_for(aino.id)}")  # an English browser
    expect(page.locator("html")).to_have_attribute("lang", "fi")
    expect(page.locator("h1")).to_have_text("Perutaanko osoitteen aino@example.fi tilaus?")
    page.click("button[type=submit]")
    expect(page.locator("[data-unsubscribed]")).to_have_text("Tilauksesi on peruttu.")
    page.screenshot(path=str(ARTIFACTS / "i18n-unsubscribe-fi.png"))
    db.session.rollback()
    assert db.session.get(Contact, aino.id).email_opt_out is True
