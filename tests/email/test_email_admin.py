"""The email screens over HTTP: template checks on save, preview, a test sent to oneself,
the dev mailbox, and the campaign's email counts."""

import re
import smtplib
from email.message import EmailMessage
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from jobs.email import sink
from jobs.embedded_redis import free_port
from models import (
    Campaign,
    CampaignMember,
    Company,
    Contact,
    EmailTemplate,
    MailboxMessage,
    OutboxMessage,
    OutboxState,
    TargetGroup,
    db,
)
from models.email.outbox import queue_campaign_join
from models.email.unsubscribe import unsubscribe_url
from tests.conftest import csrf_token

BODY = ('<p>Hei {{ contact.first_name }} / {{ company.name }}</p>'
        '<a href="{{ unsubscribe_url }}">pois</a>')
NEW = "/admin/emailtemplate/new/"



def form(token: str, **fields) -> dict:
    """A complete template form as the browser posts it."""
    data = {
        "csrf_token": token, "name": "Kevät", "folder": "Campaign", "sender_mode": "fixed",
        "sender_name": "Kohde", "sender_email": "kampanjat@example.fi", "sender_user": "",
        "subject": "Hei {{ contact.first_name }}", "body_html": BODY, "body_text": "",
        "marketing": "y", "send_timing": "immediately", "send_weekdays": "", "send_time": "",
        "registration_url": "", "survey_url": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def page_text(response) -> str:
    return unescape(response.get_data(as_text=True))


def templates_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(EmailTemplate))


@pytest.fixture
def saved(ctx):
    """A saved campaign template and a contact with a company."""
    template = EmailTemplate(name="Saved", subject="Tervetuloa {{ contact.first_name }} ✓",
                             body_html=BODY, sender_email="kampanjat@example.fi",
                             sender_name="Kohde Kampanjat")
    aino = Contact(first_name="Aino", last_name="Äijälä", email="aino@example.fi",
                   company=Company(name="Äijälä Oy"))
    db.session.add_all([template, aino])
    db.session.commit()
    return template, aino


def test_a_syntax_error_is_refused_on_its_field_with_its_line(admin_client):
    token = csrf_token(admin_client, NEW)
    response = admin_client.post(NEW, data=form(token, body_html="<p>ok</p>\n{% if %}\n"
                                                + BODY, subject="Hi {{ contact.name "))
    assert response.status_code == 200  # the form again, not a redirect
    text = page_text(response)
    assert "Failed to create record." in text
    assert re.search(r'id="body_html".*?HTML body, line 2: ', text, re.S)
    assert re.search(r'id="subject".*?subject, line 1: ', text, re.S)  # every part's error
    assert templates_count() == 0
    assert "is-invalid" not in page_text(admin_client.get(NEW))  # the next form starts clean


def test_a_syntax_error_on_edit_keeps_the_saved_template(admin_client, saved):
    template, _ = saved
    url = f"/admin/emailtemplate/edit/?id={template.id}"
    token = csrf_token(admin_client, url)
    broken = form(token, name="Saved", body_text="Hei\n\n{{ contact.first_name }")
    response = admin_client.post(url, data=broken)
    assert response.status_code == 200 and "text body, line 3: " in page_text(response)
    db.session.refresh(template)
    assert template.body_text == "" and template.subject.startswith("Tervetuloa")


def test_marketing_without_unsubscribe_url_is_refused_a_service_message_is_not(admin_client):
    token = csrf_token(admin_client, NEW)
    response = admin_client.post(NEW, data=form(token, body_html="<p>Osta nyt</p>"))
    assert response.status_code == 200
    assert "must contain {{ unsubscribe_url }}" in page_text(response)
    assert templates_count() == 0
    service = form(token, name="Kuitti", folder="Service", body_html="<p>Kiitos</p>",
                   marketing=None)
    assert admin_client.post(NEW, data=service).status_code == 302
    assert templates_count() == 1


def test_an_unknown_placeholder_is_saved_with_a_warning(admin_client):
    token = csrf_token(admin_client, NEW)
    response = admin_client.post(NEW, data=form(token, subject="Hei {{ contact.shoe_size }}",
                                                body_html=BODY + "{{ foo }}"),
                                 follow_redirects=True)
    text = page_text(response)
    assert "Record was successfully created." in text
    assert "Saved, but subject: unknown placeholder {{ contact.shoe_size }}" in text
    assert "Saved, but HTML body: unknown placeholder {{ foo }}" in text
    assert 'class="alert alert-warning' in text
    assert templates_count() == 1


def test_folder_offers_campaign_and_folders_in_use_and_only_campaign_templates_attach(
    admin_client, saved
):
    template, _ = saved
    db.session.add(EmailTemplate(name="Receipt", folder="Service", subject="s", marketing=False))
    db.session.commit()
    db.session.add(EmailTemplate(name="Old", folder="Legacy", subject="s", marketing=False))
    db.session.commit()
    page = page_text(admin_client.get(NEW))
    folder_select = re.search(r'<select[^>]*name="folder".*?</select>', page, re.S).group(0)
    options = re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', folder_select)
    assert options == [("Campaign", "Campaign"), ("Automation", "Automation"),
                       ("Service", "Service messages"), ("Archive", "Archive"),
                       ("Legacy", "Legacy")]  # the known folders, then one in use
    finnish = page_text(admin_client.get(NEW, headers={"Accept-Language": "fi"}))
    assert re.search(r'<option[^>]*value="Campaign"[^>]*>Kampanja</option>', finnish)
    # "campaign" typed in lower case is the Campaign folder (or it would never attach).
    token = csrf_token(admin_client, NEW)
    lower = admin_client.post(NEW, data=form(token, name="Lower", folder="campaign"))
    assert lower.status_code == 302
    folder = select(EmailTemplate.folder).where(EmailTemplate.name == "Lower")
    assert db.session.scalar(folder) == "Campaign"
    # A campaign refuses a template from another folder, even when posted by hand.
    service = db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == "Receipt"))
    token = csrf_token(admin_client, "/admin/campaign/new/")
    response = admin_client.post("/admin/campaign/new/", data={
        "csrf_token": token, "name": "Syys", "active": "y", "email_template": service.id,
    })
    assert response.status_code == 200
    assert "Only templates in the 'Campaign' folder can be attached." in page_text(response)
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0
    # So does a target group (before, it saved the group without the template, silently).
    def new_group(template_id: int):
        return admin_client.post("/admin/targetgroup/new/", data={
            "csrf_token": csrf_token(admin_client, "/admin/targetgroup/new/"), "name": "Turku",
            "criteria": '{"all": []}', "sample_mode": "none", "email_template": template_id,
        })

    response = new_group(service.id)
    assert response.status_code == 200
    assert "Only templates in the 'Campaign' folder can be attached." in page_text(response)
    assert db.session.scalar(select(func.count()).select_from(TargetGroup)) == 0
    assert new_group(template.id).status_code == 302
    assert db.session.scalar(select(TargetGroup.email_template_id)) == template.id
    # A template a campaign sends cannot leave the Campaign folder behind its back.
    db.session.add(Campaign(name="Kevät", email_template=template))
    db.session.commit()
    url = f"/admin/emailtemplate/edit/?id={template.id}"
    response = admin_client.post(url, data=form(csrf_token(admin_client, url), name="Saved",
                                                folder="Archive"))
    assert response.status_code == 200 and "detach it there" in page_text(response)
    db.session.refresh(template)
    assert template.folder == "Campaign"


def test_a_malformed_sender_address_is_refused(admin_client):
    token = csrf_token(admin_client, NEW)
    response = admin_client.post(NEW, data=form(token, sender_email="kampanjat@@example.fi"))
    assert response.status_code == 200
    assert "not a usable email address: 'kampanjat@@example.fi'" in page_text(response)
    response = admin_client.post(NEW, data=form(token, sender_mode="user"))
    assert "Choose the user to send as." in page_text(response)
    assert templates_count() == 0


def preview(client, template, **data):
    token = csrf_token(client, f"/admin/emailtemplate/details/?id={template.id}")
    return client.post(f"/admin/emailtemplate/preview/{template.id}", data=data,
                       headers={"X-CSRFToken": token, "HX-Request": "true"})


def test_preview_renders_for_a_chosen_contact_with_headers(admin_client, saved, app):
    app.config["KOHDE_BASE_URL"] = "https://crm.example.fi"
    template, aino = saved
    for ident in (str(aino.id), "AINO@example.fi "):
        response = preview(admin_client, template, contact=ident)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        text = unescape(html)
        assert 'data-header="Subject">Tervetuloa Aino ✓<' in text
        assert 'data-header="To">Aino Äijälä &lt;aino@example.fi&gt;<' in html
        assert 'data-header="From">Kohde Kampanjat &lt;kampanjat@example.fi&gt;<' in html
        assert 'data-header="List-Unsubscribe">&lt;https://crm.example.fi/unsubscribe/' in html
        assert unsubscribe_url(aino.id) not in text  # a test link: clicking it opts nobody out
        assert "List-Unsubscribe=One-Click" in text
        # The HTML sits in a sandboxed iframe: escaped into srcdoc, never into the page.
        frame = re.search(r'<iframe sandbox="" [^>]*srcdoc="([^"]*)"', html, re.S)
        assert frame and "<p>Hei Aino / Äijälä Oy</p>" in unescape(frame.group(1))
        assert "<p>Hei Aino" not in html
        assert "made from the HTML" in text and "Hei Aino / Äijälä Oy" in text


def test_preview_takes_the_typed_bodies_and_defaults_to_you(admin_client, saved):
    template, _ = saved
    typed = {"subject": "Moi {{ contact.first_name }}", "body_html": "<b>{{ contact.email }}</b>",
             "body_text": "T: {{ owner.email }}"}
    response = preview(admin_client, template, contact="", **typed)
    text = page_text(response)
    assert 'data-header="Subject">Moi Admin<' in text
    assert "<b>admin@example.com</b>" in text and "T: admin@example.com" in text
    assert "you, as a contact" in text and "made from the HTML" not in text
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1  # still just Aino


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ contact|attr('__class__') }}",
    "{{ '{0.__class__}'.format(contact) }}",
])
def test_preview_shows_a_sandbox_escape_as_a_refusal(admin_client, saved, body):
    template, aino = saved
    response = preview(admin_client, template, contact=str(aino.id), body_html=body)
    assert response.status_code == 200
    text = page_text(response)
    assert 'data-preview="error"' in text and "not allowed in a template" in text
    assert "Traceback" not in text and "<class" not in text


def test_preview_errors_are_messages_not_stack_traces(admin_client, saved):
    template, aino = saved
    cases = [
        ("nobody@example.fi", {}, "No contact 'nobody@example.fi'"),
        (str(aino.id), {"body_html": "{% for x in %}"}, "line 1: "),
        (str(aino.id), {"body_html": "{{ contact.first_name + 1 }}"}, "cannot render: "),
    ]
    for ident, parts, message in cases:
        response = preview(admin_client, template, contact=ident, **parts)
        assert response.status_code == 200, ident
        assert 'data-preview="error"' in response.get_data(as_text=True)
        assert message in page_text(response), page_text(response)
    no_email = Contact(first_name="Ei", email=None)
    db.session.add(no_email)
    db.session.commit()
    response = preview(admin_client, template, contact=str(no_email.id))
    assert "no email address for Ei" in page_text(response)


def test_send_a_test_to_me_delivers_one_message_to_the_admin(admin_client, saved, mailbox):
    template, aino = saved
    url = f"/admin/emailtemplate/details/?id={template.id}"
    token = csrf_token(admin_client, url)
    response = admin_client.post(f"/admin/emailtemplate/send-test/{template.id}",
                                 data={"csrf_token": token, "contact": str(aino.id),
                                       "back": "details"})
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    text = page_text(admin_client.get(url))
    port = mailbox_port(admin_client)
    assert f"Test sent to admin@example.com through 127.0.0.1:{port}" in text
    assert mailbox.recipients() == ["admin@example.com"]
    ((_rcpts, message),) = mailbox.messages
    assert message["Subject"] == "[TEST] Tervetuloa Aino ✓"
    assert message["To"].addresses[0].addr_spec == "admin@example.com"
    assert "Hei Aino / Äijälä Oy" in message.get_body(("html",)).get_content()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # not queued
    # Its unsubscribe link is a test link: not Aino's, and following it (GET, then the
    # one-click POST a mail client would make) answers as usual and opts nobody out.
    link = str(message["List-Unsubscribe"]).strip().strip("<>")
    assert link != unsubscribe_url(aino.id) and link in message.get_body(("html",)).get_content()
    path = urlsplit(link).path
    public = admin_client.application.test_client()  # no login, no cookie, no CSRF token
    assert "a test message" in page_text(public.get(path))
    done = public.post(path, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and "nobody was unsubscribed" in page_text(done)
    db.session.refresh(aino)
    assert aino.email_opt_out is False
    # A real link of Aino's still works.
    assert public.post(urlsplit(unsubscribe_url(aino.id)).path).status_code == 200
    db.session.refresh(aino)
    assert aino.email_opt_out is True


def mailbox_port(client) -> int:
    return int(client.application.config["SMTP_URL"].rsplit(":", 1)[1])


def test_send_a_test_says_what_the_server_answered(admin_client, saved, mailbox, app):
    template, _ = saved
    token = csrf_token(admin_client, f"/admin/emailtemplate/edit/?id={template.id}")
    mailbox.reply = "554 5.7.1 no thanks"
    response = admin_client.post(f"/admin/emailtemplate/send-test/{template.id}",
                                 data={"csrf_token": token, "back": "edit"},
                                 follow_redirects=True)
    assert "refused the test: 554 5.7.1 no thanks" in page_text(response)
    assert mailbox.messages == []
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens there
    response = admin_client.post(f"/admin/emailtemplate/send-test/{template.id}",
                                 data={"csrf_token": token, "back": "edit"},
                                 follow_redirects=True)
    assert "Could not send through the SMTP server at 127.0.0.1:" in page_text(response)


def test_the_mailbox_lists_and_shows_what_the_dev_sink_received(admin_client, app):
    port = free_port()
    controller = sink.start(sink.MailboxSink(app), port)
    try:
        message = EmailMessage()
        message["From"] = "Kohde <noreply@kohde.invalid>"
        message["To"] = "Aino Äijälä <aino@example.fi>"
        message["Subject"] = "Tervetuloa ✓"
        message["List-Unsubscribe"] = "<https://crm.example.fi/unsubscribe/x>"
        message.set_content("Hei Aino, tekstinä")
        message.add_alternative('<p>Hei <b>Aino</b></p><script>alert(1)</script>', subtype="html")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    finally:
        controller.stop()
    stored = db.session.scalars(select(MailboxMessage)).one()
    listing = page_text(admin_client.get("/admin/mailboxmessage/"))
    assert "Tervetuloa ✓" in listing and "noreply@kohde.invalid" in listing
    assert "aino@example.fi" in listing and "Clear mailbox" in listing
    details = admin_client.get(f"/admin/mailboxmessage/details/?id={stored.id}")
    html = details.get_data(as_text=True)
    assert details.status_code == 200
    assert "List-Unsubscribe" in html and "https://crm.example.fi/unsubscribe/x" in html
    frame = re.search(r'<iframe sandbox="" [^>]*srcdoc="([^"]*)"', html, re.S)
    assert frame and "<script>alert(1)</script>" in unescape(frame.group(1))
    assert "<script>alert(1)" not in html  # only inside the sandboxed srcdoc, escaped
    assert "Hei Aino, tekstinä" in unescape(html)
    token = csrf_token(admin_client, "/admin/mailboxmessage/")
    response = admin_client.post("/admin/mailboxmessage/clear", data={"csrf_token": token},
                                 follow_redirects=True)
    assert "Mailbox cleared: 1 message removed." in page_text(response)
    assert db.session.scalar(select(func.count()).select_from(MailboxMessage)) == 0


def test_a_plain_user_is_refused_the_template_and_mailbox_screens(user_client, saved):
    template, aino = saved
    token = csrf_token(user_client, "/admin/")
    for url in ("/admin/emailtemplate/", NEW, f"/admin/emailtemplate/edit/?id={template.id}",
                f"/admin/emailtemplate/details/?id={template.id}", "/admin/mailboxmessage/"):
        assert user_client.get(url).status_code == 403, url
    for url in (f"/admin/emailtemplate/preview/{template.id}",
                f"/admin/emailtemplate/send-test/{template.id}", "/admin/mailboxmessage/clear",
                NEW):
        response = user_client.post(url, data={"csrf_token": token, "contact": str(aino.id)})
        assert response.status_code == 403, url
    assert "Templates" not in user_client.get("/admin/").get_data(as_text=True)


def test_the_audience_screen_shows_the_campaign_email_counts(admin_client, saved):
    template, _ = saved
    people = [Contact(email=f"p{n}@example.fi") for n in range(4)]
    people += [Contact(email="out@example.fi", email_opt_out=True), Contact(email=None)]
    campaign = Campaign(name="Kevät", email_template=template)
    db.session.add_all([*people, campaign])
    db.session.commit()
    db.session.add_all(CampaignMember(campaign=campaign, contact=c) for c in people)
    db.session.commit()
    queue_campaign_join(campaign.id, contact_ids=[c.id for c in people])
    rows = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.state == OutboxState.QUEUED).order_by(OutboxMessage.id)).all()
    rows[0].state, rows[1].state, rows[2].state = OutboxState.SENT, OutboxState.SENT, "failed"
    db.session.commit()
    html = admin_client.get(f"/admin/audience/{campaign.id}").get_data(as_text=True)
    counts = dict(re.findall(r'data-email="(\w+)">([\d ]+)<', html))
    assert counts == {"sent": "2", "queued": "1", "deferred": "0", "failed": "1",
                      "suppressed": "2", "suppressed_no_email": "1",
                      "suppressed_opted_out": "1"}
    assert "opted out" in html and "no email" in html
