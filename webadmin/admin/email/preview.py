"""A template seen as one contact would get it, a test sent to oneself, a received mail
taken apart for the Mailbox screen."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email import message_from_string, policy
from email.message import EmailMessage

from flask import current_app
from flask_babel import gettext as _
from flask_login import current_user

from jobs.email import smtp
from models import Contact, EmailTemplate, User, db
from models.contacts import find_contact
from models.email.message import AddressProblem, address, compiled, compose
from models.email.render import CompiledTemplate, TemplateProblem

# Shown as headers; the MIME plumbing is left out.
PLUMBING = {"mime-version", "content-type", "content-transfer-encoding"}


class ContactNotFound(LookupError):
    """The sample contact typed in does not exist."""


def sample_contact(ident: str) -> Contact:
    """The contact with this id or email (lowest id first); empty: you, as a contact."""
    ident = ident.strip()
    if not ident:
        return you_as_contact()
    contact = find_contact(ident)
    if contact is None:
        raise ContactNotFound(_("No contact %(ident)s (type a contact's id or email address).",
                                ident=repr(ident)))
    return contact


def you_as_contact() -> Contact:
    """The logged-in user dressed as a contact they own; never added to the session."""
    user = db.session.get(User, current_user.id)
    first, _, last = (user.name or "").partition(" ")
    # No id: it gets the test unsubscribe link, so clicking it changes nothing.
    return Contact(first_name=first, last_name=last, email=user.email, owner=user)


@dataclass
class Preview:
    """What the preview partial shows."""

    contact: Contact
    headers: list[tuple[str, str]]
    html: str
    text: str
    text_generated: bool


def _headers(message: EmailMessage) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in message.items()
            if name.lower() not in PLUMBING]


def preview_message(template: EmailTemplate, contact: Contact, parts: dict[str, str]) -> Preview:
    """The message as it would be sent to ``contact``; ``parts`` (subject, body_html,
    body_text) replace the saved ones, so the edit page previews what is being typed.
    Without ``parts`` it is the saved template in the contact's language (its variant)."""
    if not parts:
        message = compose(template, contact, test=True,
                          compiled_template=compiled(template, contact.language))
        return Preview(contact=contact, headers=_headers(message),
                       html=message.get_body(("html",)).get_content(),
                       text=message.get_body(("plain",)).get_content(),
                       text_generated=not (template.body_text or "").strip())
    subject = parts.get("subject", template.subject)
    body_html = parts.get("body_html", template.body_html)
    body_text = parts.get("body_text", template.body_text)
    # The test unsubscribe link: clicking it in the preview must not opt the contact out.
    message = compose(template, contact, test=True,
                      compiled_template=CompiledTemplate(subject, body_html, body_text))
    return Preview(
        contact=contact,
        headers=_headers(message),
        html=message.get_body(("html",)).get_content(),
        text=message.get_body(("plain",)).get_content(),
        text_generated=not (body_text or "").strip(),
    )


def _smtp_answer(code: int, detail) -> str:
    text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
    return f"{code} {text}"


def send_test(template: EmailTemplate, contact: Contact, user: User) -> tuple[bool, str]:
    """Send the saved template, rendered for ``contact``, to ``user`` right now, subject
    marked [TEST]; whether it went, and a sentence saying where or what went wrong."""
    settings = smtp.parse_smtp_url(current_app.config.get("SMTP_URL"))
    where = f"{settings.host}:{settings.port}"
    try:
        # The test unsubscribe link: the tester clicking it must not opt the contact out.
        to = address(user.name, user.email)
        message = compose(template, contact, to=to, idstring="kohde.test", test=True)
    except (TemplateProblem, AddressProblem) as exc:
        return False, _("Nothing sent: %(problem)s", problem=exc)
    subject = message["Subject"]
    del message["Subject"]
    message["Subject"] = f"[TEST] {subject}"
    try:
        client = smtp.connect(settings)
        try:
            client.send_message(message, to_addrs=[to.addr_spec])  # the domain IDNA-encoded
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
    except smtplib.SMTPRecipientsRefused as exc:
        code, detail = next(iter(exc.recipients.values()))
        return False, _("The SMTP server at %(where)s refused %(email)s: %(answer)s",
                        where=where, email=user.email, answer=_smtp_answer(code, detail))
    except smtplib.SMTPResponseException as exc:
        return False, _("The SMTP server at %(where)s refused the test: %(answer)s",
                        where=where, answer=_smtp_answer(exc.smtp_code, exc.smtp_error))
    except (OSError, smtplib.SMTPException) as exc:
        return False, _("Could not send through the SMTP server at %(where)s: %(problem)s",
                        where=where, problem=exc)
    if current_app.config.get("SMTP_URL"):
        return True, _("Test sent to %(email)s through %(where)s; the server accepted it.",
                       email=user.email, where=where)
    return True, _("Test sent to %(email)s through %(where)s (the development sink: Email → "
                   "Mailbox); the server accepted it.", email=user.email, where=where)


@dataclass
class ReceivedMail:
    """A received message taken apart: its headers and its HTML and text parts."""

    headers: list[tuple[str, str]]
    html: str | None
    text: str | None


def _content(part) -> str | None:
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError):  # an unknown or lying charset: show what is there
        return (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")


def parse_mail(raw: str) -> ReceivedMail:
    """Headers (all of them, decoded) and the HTML and plain-text bodies of a raw message."""
    message = message_from_string(raw, policy=policy.default)
    return ReceivedMail(
        headers=[(name, str(value)) for name, value in message.items()],
        html=_content(message.get_body(("html",))),
        text=_content(message.get_body(("plain",))),
    )
