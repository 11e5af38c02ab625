"""The back office in a real browser: Playwright driving Debian's chromium."""

import os
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from models import Contact, Role, db
from tests import browser_support
from tests.browser_support import ARTIFACTS, log_in
from tests.conftest import make_user, process_env
from tests.imports.test_import import MIXED

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def test_log_in_open_contacts_and_see_a_row(live_server, page, admin_user):
    contact = Contact(first_name="Väinö", last_name="Öberg", email="vaino@example.fi")
    db.session.add(contact)
    db.session.commit()
    log_in(page, live_server, admin_user.email)
    expect(page).to_have_url(f"{live_server}/admin/contact/")
    row = page.locator("table.model-list tbody tr", has_text="vaino@example.fi")
    expect(row).to_contain_text("Öberg")
    page.screenshot(path=str(ARTIFACTS / "contacts.png"), full_page=True)


def test_import_shows_live_progress_until_done(live_server, page, admin_user, app, tmp_path):
    """Upload in the browser; a real worker process runs the job; htmx polls to the end."""
    make_user("owner@example.com", Role.USER)
    log_in(page, live_server, admin_user.email)
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text(MIXED)
    page.goto(f"{live_server}/admin/import_contacts/")
    page.set_input_files("input[name=file]", str(csv_path))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#job-progress")).to_have_attribute("data-status", "queued")
    env = dict(os.environ, **process_env(app))
    subprocess.run([sys.executable, "-m", "webadmin.cli", "worker", "--burst", "--quiet"],
                   env=env, check=True, timeout=120)
    progress = page.locator("#job-progress")
    expect(progress).to_have_attribute("data-status", "done", timeout=10_000)
    expect(progress.locator('[data-result="imported"]')).to_have_text("4")
    expect(progress.locator('[data-result="rejected"]')).to_have_text("7")
    page.screenshot(path=str(ARTIFACTS / "import-done.png"), full_page=True)
