"""One outbox row → one MIME message: who it is from, what it says, how to opt out."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from flask import current_app

from models import Contact, EmailTemplate, OutboxMessage, SenderMode, User, utcnow

from .render import CompiledTemplate, Rendered
from .unsubscribe import unsubscribe_url


def _address(name: str, email: str) -> Address:
    return Address(display_name=name or "", addr_spec=email.strip())


def sender_of(template: EmailTemplate, contact: Contact) -> Address:
    """The From address: fixed, the contact's owner, or a chosen user (else the default)."""
    user: User | None = None
    if template.sender_mode == SenderMode.OWNER:
        user = contact.owner
    elif template.sender_mode == SenderMode.USER:
        user = template.sender_user
    if user is not None:
        return _address(user.name, user.email)
    if template.sender_email:
        return _address(template.sender_name, template.sender_email)
    return _address(current_app.config["KOHDE_MAIL_FROM_NAME"],
                    current_app.config["KOHDE_MAIL_FROM"])  # fmt: skip


def context_for(template: EmailTemplate, contact: Contact, campaign=None) -> dict:
    """The placeholders a template may use, for one contact."""
    company, owner = contact.company, contact.owner
    return {
        "contact": {
            "first_name": contact.first_name, "last_name": contact.last_name,
            "full_name": contact.full_name, "email": contact.email, "title": contact.title,
            "city": contact.city, "language": contact.language, "phone": contact.phone,
            "kind": contact.kind, "status": contact.status,
        },
        "company": {"name": company.name, "city": company.city, "country": company.country,
                    "industry": company.industry} if company else {},
        "owner": {"name": owner.name, "email": owner.email} if owner else {},
        "campaign": {"name": campaign.name, "number": campaign.number} if campaign else {},
        "unsubscribe_url": unsubscribe_url(contact.id),
        "registration_url": template.registration_url or "",
        "survey_url": template.survey_url or "",
    }  # fmt: skip


def compiled(template: EmailTemplate) -> CompiledTemplate:
    """The template's parts compiled for rendering."""
    return CompiledTemplate(template.subject, template.body_html, template.body_text)


def render_for(template: EmailTemplate, contact: Contact, campaign=None) -> Rendered:
    """The template rendered for one contact."""
    return compiled(template).render(context_for(template, contact, campaign))


def build(row: OutboxMessage, compiled_template: CompiledTemplate | None = None) -> EmailMessage:
    """A multipart/alternative message with Date, Message-ID and one-click unsubscribe."""
    template, contact = row.template, row.contact
    compiled_template = compiled_template or compiled(template)
    rendered = compiled_template.render(context_for(template, contact, row.campaign))
    sender = sender_of(template, contact)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = _address(contact.full_name, row.to_email or contact.email)
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = row.message_id or make_msgid(
        idstring=f"kohde.{row.id}", domain=sender.domain or "kohde.local"
    )
    if template.marketing:
        # RFC 8058: mail clients may POST to this address to unsubscribe in one click.
        message["List-Unsubscribe"] = f"<{unsubscribe_url(contact.id)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
