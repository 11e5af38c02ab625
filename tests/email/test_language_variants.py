"""Email templates in several languages: a contact gets the variant in their language, any
other contact the template's main text; the outbox keeps which language went out. Sent
through a real SMTP sink; variants are edited on the template's own form."""

from __future__ import annotations

from html import unescape

from sqlalchemy import select

from jobs.email.sender import send_outbox
from models import Contact, EmailTemplate, EmailTemplateVariant, OutboxMessage, db
from models.email.message import compiled, language_key
from tests.conftest import campaign_joined, csrf_token

BODY = '<p>Hello {{ contact.first_name }}</p><a href="{{ unsubscribe_url }}">unsubscribe</a>'
FI_BODY = '<p>Hei {{ contact.first_name }}</p><a href="{{ unsubscribe_url }}">peru tilaus</a>'


def _template() -> EmailTemplate:
    template = EmailTemplate(name="Spring", subject="Spring news for {{ contact.first_name }}",
                             body_html=BODY)
    template.variants = [
        EmailTemplateVariant(language="fi", subject="Kevään uutiset, {{ contact.first_name }}",
                             body_html=FI_BODY),
        EmailTemplateVariant(language="sv", subject="Vårens nyheter", body_html=BODY,
                             body_text="Hej {{ contact.first_name }}"),
        EmailTemplateVariant(language="hu", subject="", body_html=""),  # empty: not used
    ]
    db.session.add(template)
    return template


def _send_to(template: EmailTemplate, people: dict[str, str | None]) -> dict[str, object]:
    """Contacts (email → language) join a campaign sending ``template``; the outbox sends."""
    campaign_joined(template, [
        Contact(first_name=email.split("@")[0].title(), email=email, language=language)
        for email, language in people.items()])
    assert send_outbox()["sent"] == len(people)
    db.session.rollback()
    return {row.to_email: row for row in db.session.scalars(select(OutboxMessage))}


def _received(mailbox) -> dict[str, object]:
    return {rcpts[0]: message for rcpts, message in mailbox.messages}


def test_each_contact_gets_their_languages_variant_else_the_main_text(ctx, mailbox):
    template = _template()
    rows = _send_to(template, {"aino@example.fi": "fi", "sven@example.se": "sv-FI",
                               "hanna@example.hu": "hu", "hans@example.de": "de",
                               "nobody@example.com": None})
    mail = _received(mailbox)
    assert mail["aino@example.fi"]["Subject"] == "Kevään uutiset, Aino"
    assert "Hei Aino" in mail["aino@example.fi"].get_body(("html",)).get_content()
    assert mail["sven@example.se"]["Subject"] == "Vårens nyheter"
    assert mail["sven@example.se"].get_body(("plain",)).get_content().strip() == "Hej Sven"
    # An empty variant is no variant; an unknown or missing language gets the main text.
    for email in ("hanna@example.hu", "hans@example.de", "nobody@example.com"):
        name = email.split("@")[0].title()
        assert mail[email]["Subject"] == f"Spring news for {name}"
    assert {email: row.language for email, row in rows.items()} == {
        "aino@example.fi": "fi", "sven@example.se": "sv", "hanna@example.hu": None,
        "hans@example.de": None, "nobody@example.com": None}
    # Every variant's unsubscribe link is the contact's own (one-click headers too).
    assert "List-Unsubscribe" in mail["aino@example.fi"]


def test_language_keys():
    assert [language_key(x) for x in ("fi", " FI ", "sv_FI", "hu-HU", "", None)] == [
        "fi", "fi", "sv", "hu", None, None]


def test_compiled_names_the_language_it_chose(ctx):
    template = _template()
    assert compiled(template, "fi").language == "fi"
    assert compiled(template, "hu").language is None
    assert compiled(template, None).language is None


def _form(token: str, **fields) -> dict:
    data = {
        "csrf_token": token, "name": "Kevät", "folder": "Campaign", "sender_mode": "fixed",
        "sender_name": "Kohde", "sender_email": "kampanjat@example.fi", "sender_user": "",
        "subject": "Hello", "body_html": BODY, "body_text": "", "marketing": "y",
        "send_timing": "immediately", "send_weekdays": "", "send_time": "",
        "registration_url": "", "survey_url": "",
    }
    data.update(fields)
    return data


def test_variants_are_edited_on_the_templates_form(admin_client):
    new = admin_client.get("/admin/emailtemplate/new/").get_data(as_text=True)
    assert "Add Language variant" in new
    token = csrf_token(admin_client, "/admin/emailtemplate/new/")
    answer = admin_client.post("/admin/emailtemplate/new/", data=_form(
        token, **{"variants-0-language": "fi", "variants-0-subject": "Hei",
                  "variants-0-body_html": FI_BODY, "variants-0-body_text": ""}))
    assert answer.status_code == 302, unescape(answer.get_data(as_text=True))[-3000:]
    db.session.rollback()
    template = db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == "Kevät"))
    assert [(v.language, v.subject) for v in template.variants] == [("fi", "Hei")]


def test_a_variant_is_checked_like_the_main_text(admin_client):
    token = csrf_token(admin_client, "/admin/emailtemplate/new/")
    # Marketing without the unsubscribe link, and the same language twice: refused, on the
    # variant's own fields, and nothing is saved.
    answer = admin_client.post("/admin/emailtemplate/new/", data=_form(
        token, **{"variants-0-language": "fi", "variants-0-subject": "Hei",
                  "variants-0-body_html": "<p>no link</p>",
                  "variants-1-language": "fi", "variants-1-subject": "Moi",
                  "variants-1-body_html": FI_BODY}))
    page = unescape(answer.get_data(as_text=True))
    assert answer.status_code == 200
    assert "a marketing email must contain {{ unsubscribe_url }}" in page
    assert "This language has a variant already." in page
    db.session.rollback()
    assert db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == "Kevät")) is None


def test_the_preview_shows_the_sample_contacts_language(admin_client):
    template = _template()
    contact = Contact(first_name="Aino", email="aino@example.fi", language="fi")
    db.session.add(contact)
    db.session.commit()
    token = csrf_token(admin_client, f"/admin/emailtemplate/details/?id={template.id}")
    answer = admin_client.post(f"/admin/emailtemplate/preview/{template.id}",
                               data={"contact": str(contact.id), "csrf_token": token})
    page = unescape(answer.get_data(as_text=True))
    assert "Kevään uutiset, Aino" in page and "Hei Aino" in page


def test_an_existing_variant_is_changed_on_the_edit_form(admin_client):
    template = _template()
    template.name = "Kevät"
    db.session.commit()
    url = f"/admin/emailtemplate/edit/?id={template.id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert 'name="variants-0-id"' in page
    ids = {v.language: v.id for v in template.variants}
    token = csrf_token(admin_client, url)
    answer = admin_client.post(url, data=_form(token, **{
        "variants-0-id": ids["fi"], "variants-0-language": "fi",
        "variants-0-subject": "Uusi aihe", "variants-0-body_html": FI_BODY,
        "variants-1-id": ids["hu"], "variants-1-language": "hu",
        "variants-1-subject": "Tavaszi hírek", "variants-1-body_html": BODY,
        # sv is left out of the post and marked for deletion.
        "variants-2-id": ids["sv"], "variants-2-language": "sv",
        "variants-2-subject": "Vårens nyheter", "variants-2-body_html": BODY,
        "del-variants-2": "on"}))
    assert answer.status_code == 302, unescape(answer.get_data(as_text=True))[-2000:]
    db.session.rollback()
    saved = db.session.get(EmailTemplate, template.id)
    assert {v.language: v.subject for v in saved.variants} == {"fi": "Uusi aihe",
                                                               "hu": "Tavaszi hírek"}
