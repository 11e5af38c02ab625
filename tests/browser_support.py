"""Shared browser-test fixtures: the app over real HTTP and Debian's chromium through Playwright.

Test modules import the fixtures by name (``from .browser_support import live_server, page``).
"""

import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from jobs import embedded_redis

from .conftest import PASSWORD

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]


@pytest.fixture
def live_server(app):
    """The app served over real HTTP on a free loopback port, in a thread."""
    port = embedded_redis.free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def page():
    """A fresh chromium page (no Playwright browser download: Debian's chromium)."""
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        yield page
        browser.close()


def log_in(page, base: str, email: str) -> None:
    """Log in through the login page the contact list redirects to."""
    page.goto(f"{base}/admin/contact/")
    expect(page).to_have_url(f"{base}/login?next=/admin/contact/?")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
