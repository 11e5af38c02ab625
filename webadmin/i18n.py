"""The back office's languages: Flask-Babel with the user's choice, else the browser's.

Messages are marked with ``_()`` / ``lazy_gettext()`` in Python and ``{{ _('…') }}`` in
templates; the catalogues live in ``webadmin/translations/<lang>/LC_MESSAGES/messages.po``
and are compiled to ``.mo`` by ``make install`` (``make translations``).
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel
from flask_login import current_user

# The languages the back office, the public pages and email templates speak.
LANGUAGES: tuple[str, ...] = ("en", "fi", "sv", "hu")
DEFAULT_LANGUAGE = "en"

babel = Babel()


def select_locale() -> str:
    """The signed-in user's chosen language, else the browser's best match, else English."""
    chosen = getattr(current_user, "language", None) if current_user else None
    if chosen in LANGUAGES:
        return chosen
    if request:
        return request.accept_languages.best_match(LANGUAGES, DEFAULT_LANGUAGE)
    return DEFAULT_LANGUAGE


def select_timezone() -> str:
    """Times are shown in the installation's zone (a setting), not in UTC."""
    from models.settings import installation_tz

    return installation_tz().key


def init_app(app: Flask) -> None:
    """Bind Flask-Babel; ``_`` and ``ngettext`` become available in every template."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
