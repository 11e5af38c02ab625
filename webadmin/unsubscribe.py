"""One-click unsubscribe (RFC 8058): no login, no cookie, no CSRF token, no redirect.

A GET only shows a confirmation page, because link scanners fetch every link
in a message; the POST (from that page, or straight from a mail client)
opts the contact out at once. A forged or altered token changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from models import Contact, db
from models.contacts import opt_out
from models.email.unsubscribe import contact_id_from, is_test_token

from .extensions import csrf

bp = Blueprint("unsubscribe", __name__)


def _contact(token: str) -> Contact | None:
    contact_id = contact_id_from(token)
    return db.session.get(Contact, contact_id) if contact_id is not None else None


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    """Ask before unsubscribing: a GET must not change anything."""
    if is_test_token(token):
        return render_template("kohde/email/unsubscribe/confirm.html", contact=None, token=token)
    contact = _contact(token)
    if contact is None:
        return render_template("kohde/email/unsubscribe/invalid.html"), 404
    return render_template("kohde/email/unsubscribe/confirm.html", contact=contact, token=token)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # mail clients post here without any token of ours (RFC 8058)
def unsubscribe(token: str):
    """Opt the contact out of marketing email, at once; answers 200, never a redirect."""
    if is_test_token(token):  # a test message's link: answered as usual, nobody opted out
        return render_template("kohde/email/unsubscribe/done.html", test=True), 200
    contact_id = contact_id_from(token)
    if contact_id is None or db.session.get(Contact, contact_id) is None:
        return render_template("kohde/email/unsubscribe/invalid.html"), 404
    opt_out(contact_id)
    db.session.commit()
    return render_template("kohde/email/unsubscribe/done.html"), 200


def init_app(app: Flask) -> None:
    """Register the public unsubscribe routes."""
    app.register_blueprint(bp)
