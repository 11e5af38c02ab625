"""Login, logout and the role checks every screen relies on."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired

from models import User
from models.users import user_by_email

from .extensions import db, login_manager
from .i18n import LANGUAGES

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """Email and password, with the CSRF token Flask-WTF adds."""

    email = EmailField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me logged in"))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Flask-Login's hook: the user behind a session cookie."""
    return db.session.get(User, int(user_id))


def find_user(email: str) -> User | None:
    """The user with this email, compared case-insensitively."""
    return user_by_email(email)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would make the login page a phishing aid.
    if target and not urlsplit(target).netloc and target.startswith("/"):
        return target
    return url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form; on success go where the user was heading."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = find_user(form.email.data)
        if user is not None and user.active and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong email or password."), "error")
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out (a POST, so a link in an email cannot log anyone out)."""
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def choose_language():
    """The language menu (navbar, login page): a signed-in user's choice is kept on their
    user row, a visitor's in the session; "" follows the browser again."""
    chosen = request.form.get("language", "")
    chosen = chosen if chosen in LANGUAGES else None
    if current_user.is_authenticated:
        user = db.session.get(User, current_user.id)
        user.language = chosen
        db.session.commit()
    session.pop("language", None)
    if chosen and not current_user.is_authenticated:
        session["language"] = chosen
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/")
def root():
    """The site root opens the back office."""
    return redirect(url_for("admin.index"))


def init_app(app: Flask) -> None:
    """Register the login routes and tell Flask-Login where the form is."""
    app.register_blueprint(bp)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to access this page.")
    login_manager.login_message_category = "info"
