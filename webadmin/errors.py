"""Error pages: 4xx and 5xx answers in the back office's layout, with a way back.

A person who follows a stale link, lacks a role or hits a bug sees the usual
navigation and one plain sentence, never a bare page or a traceback. htmx
requests get a small fragment instead (the layout's script shows it in place
with a retry), and JSON requests get ``{"error": ...}``.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db

log = logging.getLogger(__name__)

SENTENCES = {
    400: _l("The request could not be understood: a value in it is not valid."),
    403: _l("You do not have permission to open this page. Ask an admin if you need it."),
    404: _l("There is nothing here: the page or record does not exist (any more)."),
    405: _l("This page cannot be used that way."),
    409: _l("That cannot be done now: the record changed in the meantime."),
    413: _l("The file is too large to upload."),
    500: _l("Something went wrong on our side. The error has been logged; please try again."),
}
TITLES = {400: _l("Bad request"), 403: _l("Not allowed"), 404: _l("Not found"),
          405: _l("Not allowed"), 409: _l("Conflict"), 413: _l("Too large"),
          500: _l("Something went wrong")}


def _sentence(error: HTTPException) -> str:
    code = error.code or 500
    default = getattr(type(error), "description", None)
    # A description given on purpose (abort(404, description=...)) says more than the default.
    if code < 500 and error.description and error.description != default:
        return error.description
    return str(SENTENCES.get(code, SENTENCES[500] if code >= 500 else SENTENCES[400]))


def _admin_view():
    admins = current_app.extensions.get("admin") or []
    return admins[0].index_view if admins else None


def _page(code: int, title: str, sentence: str) -> str:
    """The error page in the back office's layout; a bare page if even that cannot render
    (the database may be what failed)."""
    view = _admin_view()
    try:
        if view is None:
            raise LookupError("no admin")
        return view.render("kohde/errors/page.html", code=code, title=title, sentence=sentence)
    except Exception:  # noqa: BLE001 - the last resort must not fail in turn
        log.exception("the error page could not use the layout")
        db.session.rollback()
        return (f"<!doctype html><title>{code} {escape(title)}</title>"
                f"<h1>{escape(title)}</h1><p>{escape(sentence)}</p>"
                f'<p><a href="/admin/">{escape(_("Back to the dashboard"))}</a></p>')


def render_error(code: int, sentence: str):
    """The answer for an error: a page, an htmx fragment or JSON."""
    title = str(TITLES.get(code, _("Error")))
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(error=sentence), code
    if request.headers.get("HX-Request"):
        return render_template("kohde/errors/_fragment.html", code=code, sentence=sentence), code
    return _page(code, title, sentence), code


def handle_http_error(error: HTTPException):
    """4xx and 5xx raised with abort() or by Werkzeug."""
    if error.code is None or error.code < 400:
        return error
    if error.code >= 500:
        db.session.rollback()
    return render_error(error.code, _sentence(error))


def handle_exception(error: Exception):
    """Anything unexpected: logged with its traceback, shown as one sentence."""
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    if current_app.config.get("PROPAGATE_EXCEPTIONS"):
        raise error  # tests and the debugger want the exception itself
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    db.session.rollback()
    return render_error(500, str(SENTENCES[500]))


def settings_problems() -> list[str]:
    """For the layout's banner: the stored settings that cannot be used (their defaults are
    in effect instead); nothing for visitors, and nothing if the settings cannot be read."""
    from flask_login import current_user

    from models import Settings

    try:
        row = db.session.get(Settings, 1) if current_user.is_authenticated else None
        return row.values().problems if row is not None else []
    except Exception:  # noqa: BLE001 - a banner must never break the page it is on
        log.exception("the settings could not be checked")
        return []


def init_app(app: Flask) -> None:
    """Register the handlers and the layout's settings banner."""
    app.jinja_env.globals["settings_problems"] = settings_problems
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_http_error)
    app.register_error_handler(Exception, handle_exception)
