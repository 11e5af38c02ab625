"""One-click unsubscribe (RFC 8058): no login, no cookie, no CSRF token, no redirect.

A GET only shows a confirmation page, because link scanners fetch every link
in a message; the POST (from that page, or straight from a mail client)
opts the contact out at once. A forged or altered token changes nothing.
The pages speak the contact's language (else the browser's).
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from flask_babel import force_locale

from models import Contact, db
from models.contacts import opt_out
from models.email.message import language_key
from models.email.unsubscribe import contact_id_from, is_test_token

from .extensions import csrf
from .i18n import LANGUAGES, browser_language

bp = Blueprint("unsubscribe", __name__)


def _contact(token: str) -> Contact | None:
    contact_id = contact_id_from(token)
    return db.session.get(Contact, contact_id) if contact_id is not None else None


def _page(template: str, contact: Contact | None = None, status: int = 200, **context):
    """A public page in the contact's language when we know it, else the browser's."""
    language = language_key(contact.language) if contact is not None else None
    if language not in LANGUAGES:
        language = browser_language()
    with force_locale(language):
        html = render_template(f"kohde/email/unsubscribe/{template}", contact=contact,
                               language=language, **context)
    return html, status


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    """Ask before unsubscribing: a GET must not change anything."""
    if is_test_token(token):
        return _page("confirm.html", token=token)
    contact = _contact(token)
    if contact is None:
        return _page("invalid.html", status=404)
    return _page("confirm.html", contact, token=token)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # mail clients post here without any token of ours (RFC 8058)
def unsubscribe(token: str):
    """Opt the contact out of marketing email, at once; answers 200, never a redirect."""
    if is_test_token(token):  # a test message's link: answered as usual, nobody opted out
        return _page("done.html", test=True)
    contact = _contact(token)
    if contact is None:
        return _page("invalid.html", status=404)
    opt_out(contact.id)
    db.session.commit()
    return _page("done.html", contact)


def init_app(app: Flask) -> None:
    """Register the public unsubscribe routes."""
    app.register_blueprint(bp)
