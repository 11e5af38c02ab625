"""One outbox row → one MIME message: who it is from, what it says, how to opt out."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from email import message_from_bytes, policy, quoprimime
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from functools import lru_cache

import idna
from flask import current_app

from models import Contact, EmailTemplate, SenderMode, User, utcnow

from .render import CompiledTemplate, Rendered
from .unsubscribe import unsubscribe_url, unsubscribe_url_for_tests

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _one_line(value: str) -> str:
    # Nothing a person typed may start a new header line (header injection).
    return _CONTROL.sub(" ", value or "").strip()


class AddressProblem(ValueError):
    """An address that cannot go in a From or To header (the email package refuses it)."""


def ascii_domain(email: str) -> str:
    """The address with its domain in IDNA A-labels (``anna@bücher.example`` →
    ``anna@xn--bcher-kva.example``), as DNS, the SMTP envelope and headers of a message
    without SMTPUTF8 need it; AddressProblem when the domain cannot be encoded."""
    local, at, domain = email.rpartition("@")
    if not at or domain.isascii():
        return email
    try:
        # IDNA 2008 with the UTS 46 mapping (as browsers and email-validator): case folded,
        # symbols such as ☃ refused.
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressProblem(
            f"the domain of {email!r} cannot be encoded for DNS (IDNA): {exc}") from None
    return f"{local}@{encoded}"


@lru_cache(maxsize=4096)
def address(name: str, email: str | None) -> Address:
    """A header address, its domain IDNA-encoded; AddressProblem when the address is empty,
    malformed or its domain cannot be encoded.

    The outbox's SQL check is coarse (``%_@_%._%``, no spaces): ``a@@b.fi`` or a non-ASCII
    local part pass it, and the email package raises on them in different ways. Only a
    The email package refuses a non-ASCII local part, so every address made here is ASCII
    and no message needs SMTPUTF8. Cached: parsing is slow, and a batch has one or a few
    senders.
    """
    if not (email or "").strip():
        raise AddressProblem(f"no email address{f' for {name}' if name else ''}")
    addr_spec = ascii_domain(email.strip())
    try:
        return Address(display_name=_one_line(name), addr_spec=addr_spec)
    except (ValueError, IndexError, HeaderParseError):
        raise AddressProblem(f"not a usable email address: {email!r}") from None


def sender_of(template: EmailTemplate, contact: Contact, mode: str | None = None,
              chosen: User | None = None) -> Address:
    """The From address: fixed, the contact's owner, or a chosen user (else the template's
    fixed sender, else the default). ``mode`` and ``chosen`` override the template's choice
    (an outbox row an automation step made: "sent as the owner / this user")."""
    user: User | None = None
    if mode is None:
        mode, chosen = template.sender_mode, template.sender_user
    if mode == SenderMode.OWNER:
        user = contact.owner
    elif mode == SenderMode.USER:
        user = chosen
    if user is not None:
        return address(user.name, user.email)
    if template.sender_email:
        return address(template.sender_name, template.sender_email)
    return address(current_app.config["KOHDE_MAIL_FROM_NAME"],
                    current_app.config["KOHDE_MAIL_FROM"])


def context_for(template: EmailTemplate, contact: Contact, campaign=None, *,
                test: bool = False) -> dict:
    """The placeholders a template may use, for one contact. ``test``: a test send or a
    preview, whose unsubscribe link must not opt the real contact out."""
    company, owner = contact.company, contact.owner
    real = not test and contact.id is not None  # a contact not in the database names nobody
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
        "unsubscribe_url": unsubscribe_url(contact.id) if real else unsubscribe_url_for_tests(),
        "registration_url": template.registration_url or "",
        "survey_url": template.survey_url or "",
        "contact_url": (f"{current_app.config['KOHDE_BASE_URL'].rstrip('/')}"
                        f"/admin/contact/details/?id={contact.id}") if contact.id else "",
    }


def language_key(language: str | None) -> str | None:
    """A contact's language as a variant's key: "fi-FI", " FI " and "fi" are all "fi"."""
    key = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return key or None


def variant_for(template: EmailTemplate, language: str | None):
    """The template's variant in ``language`` (a contact's), or None: then the main text."""
    key = language_key(language)
    if key is None:
        return None
    for variant in template.variants:
        if variant.language == key and (variant.subject or "").strip():
            return variant
    return None


def compiled(template: EmailTemplate, language: str | None = None) -> CompiledTemplate:
    """The template's parts compiled for rendering: the variant in ``language`` when the
    template has one, else its main text. ``.language`` says which (None: the main text)."""
    variant = variant_for(template, language)
    source = variant or template
    result = CompiledTemplate(source.subject, source.body_html, source.body_text)
    result.language = variant.language if variant else None
    return result


def render_for(template: EmailTemplate, contact: Contact, campaign=None) -> Rendered:
    """The template rendered for one contact, in the contact's language when it can be."""
    return compiled(template, contact.language).render(context_for(template, contact, campaign))


@dataclass
class Draft:
    """One message's recipient, sender and placeholders as plain values (no ORM object, no
    app context): rendering and writing it needs neither the session nor the app."""

    context: dict
    sender: Address
    to: Address
    marketing: bool
    message_id: str | None = None
    idstring: str | None = None


def draft(template: EmailTemplate, contact: Contact, campaign=None, *, to: Address | None = None,
          message_id: str | None = None, idstring: str | None = None,
          test: bool = False, sender_mode: str | None = None,
          sender_user: User | None = None) -> Draft:
    """What a message to ``contact`` needs; AddressProblem when its From or To is unusable.

    ``to`` replaces the contact as the recipient (a test sent to oneself); the outbox
    passes its row's id as ``idstring`` so Message-IDs name the row they came from, and its
    row's sender choice (``sender_mode``, ``sender_user``) when it has one; ``test`` gives
    it the test unsubscribe link (previews and test sends).
    """
    return Draft(
        context=context_for(template, contact, campaign, test=test),
        sender=sender_of(template, contact, sender_mode, sender_user),
        to=to or address(contact.full_name, contact.email),
        marketing=template.marketing,
        message_id=message_id,
        idstring=idstring,
    )


CRLF = "\r\n"


def _mailbox(addr: Address) -> str:
    # Display name quoted or RFC 2047-encoded as needed; the address was parsed already.
    return formataddr((_one_line(addr.display_name), addr.addr_spec), "utf-8")


def _encoded_words(value: str) -> str:
    # RFC 2047 "B" encoded words of 39 UTF-8 bytes (52 base64 characters, a line of at most
    # 73 with "Subject: "), never splitting a character, folded one word a line. The email
    # package's Header does the same ~15× slower: it measures every candidate split.
    data = value.encode("utf-8")
    words, start = [], 0
    while start < len(data):
        end = min(start + 39, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return f"{CRLF} ".join(words)


def _unstructured(name: str, value: str) -> str:
    # Encoded words only when needed (non-ASCII, or text that would read as one), folded.
    value = _one_line(value)
    if value.isascii() and "=?" not in value:
        return f"{name}: " + Header(value, "us-ascii", header_name=name).encode(linesep=CRLF)
    return f"{name}: " + _encoded_words(value)


def _text_part(subtype: str, body: str) -> str:
    # Quoted-printable of the UTF-8 bytes (as the email package does: bytes seen as latin-1).
    encoded = quoprimime.body_encode(body.encode("utf-8").decode("latin-1"), eol=CRLF)
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{encoded}")


def wire(message_draft: Draft, compiled_template: CompiledTemplate) -> tuple[bytes, str]:
    """The message as sent (CRLF line ends) and its Message-ID: multipart/alternative with
    text and HTML, Date, Message-ID and one-click unsubscribe headers.

    Written directly rather than through ``EmailMessage``, which spends ~15× longer per
    message parsing and re-folding the headers it was just given; the parts are
    quoted-printable, the names and subject RFC 2047-encoded words when not ASCII.
    Addresses are ASCII (see :func:`address`), so no message needs SMTPUTF8. Pure (no app
    context, no database); TemplateProblem when the template cannot render.
    """
    rendered = compiled_template.render(message_draft.context)
    sender, to = message_draft.sender, message_draft.to
    message_id = message_draft.message_id or make_msgid(
        idstring=message_draft.idstring, domain=sender.domain or "kohde.local"
    )
    # "=_" cannot occur in quoted-printable text, so the boundary cannot clash with it.
    boundary = f"=_kohde_{secrets.token_hex(12)}"
    lines = [
        f"From: {_mailbox(sender)}",
        f"To: {_mailbox(to)}",
        _unstructured("Subject", rendered.subject),
        f"Date: {format_datetime(utcnow())}",
        f"Message-ID: {message_id}",
    ]
    if message_draft.marketing:
        # RFC 8058: mail clients may POST to this address to unsubscribe in one click.
        lines.append(f"List-Unsubscribe: <{message_draft.context['unsubscribe_url']}>")
        lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        _text_part("plain", rendered.text),
        f"--{boundary}",
        _text_part("html", rendered.html),
        f"--{boundary}--",
        "",
    ]
    return CRLF.join(lines).encode("ascii"), message_id


def compose(template: EmailTemplate, contact: Contact, campaign=None, *,
            compiled_template: CompiledTemplate | None = None, **draft_args) -> EmailMessage:
    """The message to ``contact`` exactly as the outbox would send it, parsed back (previews,
    test sends); ``draft_args`` as for :func:`draft`."""
    payload, _message_id = wire(draft(template, contact, campaign, **draft_args),
                                compiled_template or compiled(template, contact.language))
    return message_from_bytes(payload, policy=policy.default)
