"""The back office's languages: Flask-Babel with the user's choice, else the browser's.

Messages are marked with ``_()`` / ``lazy_gettext()`` in Python and ``{{ _('…') }}`` in
templates; the catalogues live in ``webadmin/translations/<lang>/LC_MESSAGES/messages.po``
and are compiled to ``.mo`` by ``make install`` (``make translations``). Flask-Admin's own
strings come from its "admin" domain, which ships Finnish, Swedish and Hungarian.

Dates, times and numbers go through the filters registered here (``localtime``,
``localdate``, ``clock``, ``number``), so every page shows them in the installation's zone
and the reader's locale, never as UTC with microseconds.
"""

from __future__ import annotations

from datetime import date, datetime, time

from babel import Locale
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, format_date, format_datetime, format_decimal, format_time, get_locale
from flask_login import current_user

from models.labels import LANGUAGE_NAMES, label

# The languages the back office, the public pages and email templates speak.
LANGUAGES: tuple[str, ...] = ("en", "fi", "sv", "hu")
DEFAULT_LANGUAGE = "en"

babel = Babel()


def browser_language() -> str:
    """The browser's best match among our languages (Accept-Language), else English."""
    if has_request_context():
        return request.accept_languages.best_match(LANGUAGES, DEFAULT_LANGUAGE)
    return DEFAULT_LANGUAGE


def select_locale() -> str:
    """A page's own choice (the unsubscribe page speaks its contact's language), else the
    signed-in user's chosen language, else the browser's best match, else English."""
    if (own := g.get("kohde_language")) in LANGUAGES:
        return own
    user = current_user if has_request_context() else None
    chosen = getattr(user, "language", None) if user is not None else None
    if chosen in LANGUAGES:
        return chosen
    return browser_language()


def select_timezone() -> str:
    """Times are shown in the installation's zone (a setting), not in UTC."""
    from models.settings import installation_tz

    return installation_tz().key


def _medium_date_short_time(locale: Locale) -> str:
    # The locale's own way of joining a date and a time ("{1} 'klo' {0}" in Finnish), with
    # the medium date (a four-digit year) and the short time (no seconds).
    joiner = str(locale.datetime_formats["medium"])
    return joiner.replace("{1}", locale.date_formats["medium"].pattern).replace(
        "{0}", locale.time_formats["short"].pattern)


def localtime(value) -> str:
    """A moment in the installation's zone, in the reader's format, to the minute
    ("1.12.2026 klo 15.38", "Dec 1, 2026, 3:38 PM"); a date or time of day as such."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, _medium_date_short_time(get_locale() or Locale("en")))
    if isinstance(value, date):
        return localdate(value)
    if isinstance(value, time):
        return clock(value)
    return str(value)


def localdate(value) -> str:
    """A day in the reader's format ("1.12.2026", "Dec 1, 2026"); a moment's day is the
    day in the installation's zone."""
    if value is None or value == "":
        return ""
    return format_date(value, "medium")


def clock(value) -> str:
    """A time of day (or a moment's, in the installation's zone) to the minute."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return format_time(value, "short")
    return format_time(value, "short", rebase=False)


def number(value, digits: int | None = None) -> str:
    """A number with the reader's grouping and decimal marks ("1 240", "1,240")."""
    if value is None or value == "":
        return ""
    if digits is not None:
        return format_decimal(value, format="#,##0." + "0" * digits if digits else "#,##0")
    return format_decimal(value)


def init_app(app: Flask) -> None:
    """Bind Flask-Babel; ``_`` and ``ngettext`` become available in every template, with
    the date, time, number and label filters."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(localtime=localtime, localdate=localdate, clock=clock,
                                 number=number, label=label)
    app.jinja_env.globals.update(language_names=LANGUAGE_NAMES, current_language=select_locale)
