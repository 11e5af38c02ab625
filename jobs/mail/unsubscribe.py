"""Signed unsubscribe links: a token names a contact and cannot be forged or altered."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "kohde-unsubscribe"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def token_for(contact_id: int) -> str:
    """The token of a contact's unsubscribe link."""
    return _serializer().dumps(contact_id)


def contact_id_from(token: str) -> int | None:
    """The contact a token names, or None for a forged or altered token."""
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def unsubscribe_url(contact_id: int) -> str:
    """The https address people (and mail clients, RFC 8058) use to opt out."""
    base = current_app.config["KOHDE_BASE_URL"].rstrip("/")
    return f"{base}/unsubscribe/{token_for(contact_id)}"
