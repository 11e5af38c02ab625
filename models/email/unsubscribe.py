"""Signed unsubscribe links: a token names a contact and cannot be forged or altered."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "kohde-unsubscribe"
# What a test message's token names instead of a contact: the link works (the pages answer
# as for a real one) but unsubscribes nobody, so a test or a preview cannot opt anyone out.
TEST = "test"


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
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def is_test_token(token: str) -> bool:
    """Whether the token is a test message's (signed by us, naming no contact)."""
    try:
        return _serializer().loads(token) == TEST
    except BadSignature:
        return False


def _url(token: str) -> str:
    return f"{current_app.config['KOHDE_BASE_URL'].rstrip('/')}/unsubscribe/{token}"


def unsubscribe_url(contact_id: int) -> str:
    """The https address people (and mail clients, RFC 8058) use to opt out."""
    return _url(token_for(contact_id))


def unsubscribe_url_for_tests() -> str:
    """The link a test send and a preview carry: it answers like a real one, changes nothing."""
    return _url(_serializer().dumps(TEST))
