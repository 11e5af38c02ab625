"""The template preview in a real browser: htmx posts the typed (unsaved) bodies with the
CSRF header, the answer lands under the form, the HTML sits in a sandboxed iframe."""

import pytest
from playwright.sync_api import expect

from models import Company, Contact, EmailTemplate, db
from tests import browser_support
from tests.browser_support import ARTIFACTS, log_in

pytestmark = pytest.mark.browser
live_server, page = browser_support.live_server, browser_support.page  # fixtures, by name


def test_preview_on_the_edit_page_shows_what_is_being_typed(live_server, page, admin_user):
    saved = '<p>Saved</p><a href="{{ unsubscribe_url }}">pois</a>'
    template = EmailTemplate(name="Kevät", subject="Hei {{ contact.first_name }}", body_html=saved)
    aino = Contact(first_name="Aino", last_name="Äijälä", email="aino@example.fi",
                   company=Company(name="Äijälä Oy"))
    db.session.add_all([template, aino])
    db.session.commit()
    log_in(page, live_server, admin_user.email)
    page.goto(f"{live_server}/admin/emailtemplate/edit/?id={template.id}")
    page.fill("textarea[name=body_html]",
              '<h1 id="typed">Typed for {{ contact.first_name }} / {{ company.name }}</h1>'
              '<script>document.title = "escaped"</script>{{ unsubscribe_url }}')
    page.fill("#sample-contact", "aino@example.fi")
    page.click("[data-email-preview]")
    preview = page.locator("#email-preview [data-preview=ok]")
    expect(preview).to_be_visible()
    expect(preview.locator("[data-header=Subject]")).to_have_text("Hei Aino")
    expect(preview.locator("[data-header=To]")).to_have_text("Aino Äijälä <aino@example.fi>")
    frame = page.frame_locator("#email-preview iframe[sandbox='']")
    expect(frame.locator("#typed")).to_have_text("Typed for Aino / Äijälä Oy")
    assert page.title() != "escaped"  # the script stayed in the sandbox (it cannot run there)
    page.locator("#email-sample").screenshot(path=str(ARTIFACTS / "email-template-preview.png"))
    db.session.refresh(template)
    assert template.body_html.startswith("<p>Saved</p>")  # a preview saves nothing

    page.fill("textarea[name=body_html]", "{{ ''.__class__.__mro__ }}")
    page.click("[data-email-preview]")
    expect(page.locator("#email-preview [data-preview=error]")).to_contain_text(
        "not allowed in a template")
