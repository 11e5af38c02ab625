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

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from flask import Flask, has_request_context, request, session
from flask_babel import (
    Babel,
    format_date,
    format_datetime,
    format_decimal,
    format_time,
    get_locale,
    refresh,
)
from flask_login import current_user

from models.labels import LANGUAGE_OWN_NAMES, label

# The languages the back office, the public pages and email templates speak.
LANGUAGES: tuple[str, ...] = ("en", "fi", "sv", "hu")
DEFAULT_LANGUAGE = "en"

TRANSLATIONS = Path(__file__).resolve().parent / "translations"

babel = Babel()


def browser_language() -> str:
    """The browser's best match among our languages (Accept-Language), else English."""
    if has_request_context():
        return request.accept_languages.best_match(LANGUAGES, DEFAULT_LANGUAGE)
    return DEFAULT_LANGUAGE


def select_locale() -> str:
    """The signed-in user's chosen language, else the one picked on the login page, else
    the browser's best match, else English. (The unsubscribe page speaks its contact's
    language through ``force_locale``.)"""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = getattr(current_user, "language", None)
    if chosen in LANGUAGES:
        return chosen
    if session.get("language") in LANGUAGES:
        return session["language"]
    return browser_language()


def select_timezone() -> str:
    """Times are shown in the installation's zone (a setting), not in UTC."""
    from models.settings import installation_tz

    return installation_tz().key


# English pages show ISO days and 24-hour times: the back office's English readers are in
# Finland, Sweden and Hungary, for whom "5/3/27, 7:30 AM" would be a puzzle.
ENGLISH_MOMENT, ENGLISH_DAY = "yyyy-MM-dd HH:mm", "yyyy-MM-dd"


def _medium_date_short_time(locale: Locale, seconds: bool = False) -> str:
    # The locale's own way of joining a date and a time ("{1} 'klo' {0}" in Finnish), with
    # the medium date (a four-digit year) and the short time (no seconds), or the medium
    # time (with them).
    if locale.language == "en":
        return ENGLISH_MOMENT + (":ss" if seconds else "")
    joiner = str(locale.datetime_formats["medium"])
    time_format = locale.time_formats["medium" if seconds else "short"]
    return joiner.replace("{1}", locale.date_formats["medium"].pattern).replace(
        "{0}", time_format.pattern)


def localtime(value, zone: str | None = None, seconds: bool = False) -> str:
    """A moment in the installation's zone (or in ``zone``, e.g. a scheduled action's own),
    in the reader's format, to the minute ("1.12.2026 klo 15.38", "2026-12-01 15:38") or,
    with ``seconds``, to the second (leases and heartbeats); a date or time of day as such."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):  # an ISO moment from JSON (e.g. a group's refresh time)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        pattern = _medium_date_short_time(get_locale() or Locale("en"), seconds)
        if zone:
            return format_datetime(_in_zone(value, zone), pattern, rebase=False)
        return format_datetime(value, pattern)
    if isinstance(value, date):
        return localdate(value)
    if isinstance(value, time):
        return clock(value)
    return str(value)


def _in_zone(value: datetime, zone: str) -> datetime:
    # A zone that cannot be used (a broken setting) shows UTC rather than failing the page.
    try:
        tz = ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        tz = UTC
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(tz)


def localdate(value) -> str:
    """A day in the reader's format ("1.12.2026", "2026-12-01"); a moment's day is the
    day in the installation's zone."""
    if value is None or value == "":
        return ""
    english = (get_locale() or Locale("en")).language == "en"
    return format_date(value, ENGLISH_DAY if english else "medium")


def clock(value) -> str:
    """A time of day (or a moment's, in the installation's zone) to the minute."""
    if value is None or value == "":
        return ""
    pattern = "HH:mm" if (get_locale() or Locale("en")).language == "en" else "short"
    if isinstance(value, datetime):
        return format_time(value, pattern)
    return format_time(value, pattern, rebase=False)


def weekday(value) -> str:
    """The short weekday name of a moment (in its own zone) or a day: "Sun", "su", "sön"."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, "EEE", rebase=False)
    return format_date(value, "EEE", rebase=False)


def number(value, digits: int | None = None) -> str:
    """A number with the reader's grouping and decimal marks ("1 240", "1,240"); a count
    that reads as words of its own (a list's estimate, "about 25k") stays those words."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) and type(value).__str__ is not int.__str__:
        return str(value)
    if digits is not None:
        return format_decimal(value, format="#,##0." + "0" * digits if digits else "#,##0")
    return format_decimal(value)


def init_app(app: Flask) -> None:
    """Bind Flask-Babel; ``_`` and ``ngettext`` become available in every template, with
    the date, time, number and label filters."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    # Flask-Babel keeps the locale on ``g``: a request that shares its app context with
    # another (a CLI command or a test driving several requests) must choose afresh.
    app.before_request(refresh)
    app.jinja_env.filters.update(localtime=localtime, localdate=localdate, clock=clock,
                                 number=number, weekday=weekday, label=label)
    app.jinja_env.globals.update(language_own_names=LANGUAGE_OWN_NAMES,
                                 current_language=lambda: str(get_locale() or DEFAULT_LANGUAGE))


def compile_catalogues(root: Path = TRANSLATIONS) -> list[Path]:
    """Compile each ``messages.po`` whose ``.mo`` is missing or older (what ``make
    translations`` does), so a test run or a fresh checkout never shows English because a
    catalogue was not compiled; the compiled files are returned."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    done = []
    for po in sorted(root.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        with mo.open("wb") as target:
            write_mo(target, catalog)
        done.append(mo)
    return done
