"""CRM users (admins only), and each user's own profile (their language)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField
from wtforms.validators import Length, Optional

from models import Role, User, db
from models.labels import LANGUAGE_OWN_NAMES, choices

from .base import SecureModelView, SecureView
from .forms import blank_select


def language_choices() -> list[tuple[str, object]]:
    """The back office's languages, each in its own words, and "" for following the
    browser's Accept-Language."""
    return [("", _l("The browser's language")), *LANGUAGE_OWN_NAMES.items()]


class UserView(SecureModelView):
    """Who may log in and with which role; passwords are only ever set, never shown."""

    admin_only = True
    column_list = ["id", "email", "name", "role", "language", "active", "created_at"]
    column_searchable_list = ["email", "name"]
    column_filters = ["role", "active"]
    column_exclude_list = ["password_hash", "calendar_token"]
    column_details_exclude_list = ["password_hash", "calendar_token"]
    column_export_exclude_list = ["password_hash", "calendar_token"]
    form_columns = ["email", "name", "role", "language", "active", "new_password"]
    # A user picks the language to read in: each named in itself (as the language menu).
    form_choices = {"role": choices(Role), "language": list(LANGUAGE_OWN_NAMES.items())}
    form_args = {"language": {"description": _l("The back office's language for this user; "
                                                "empty: the browser's."),
                              **blank_select(_l("The browser's language"))}}
    form_extra_fields = {
        "new_password": PasswordField(
            _l("New password"),
            validators=[Optional(), Length(min=8)],
            description=_l("Leave empty to keep the current password."),
        )
    }

    def on_model_change(self, form, model, is_created):
        """Hash a newly typed password; a new user without one cannot log in; an empty
        language follows the browser."""
        model.language = model.language or None
        if form.new_password.data:
            model.set_password(form.new_password.data)


class ProfileForm(FlaskForm):
    """What a user sets for themselves."""

    language = SelectField(_l("Language"), choices=language_choices(), validate_choice=True)


class ProfileView(SecureView):
    """Your own settings: the back office's language (else the browser's)."""

    def is_visible(self) -> bool:
        """Reached from the navbar's email link, not from the menu."""
        return False

    @expose("/", methods=["GET", "POST"])
    def index(self):
        """The profile form; saving it switches the pages' language at once."""
        user = db.session.get(User, current_user.id)
        form = ProfileForm(language=user.language or "")
        if form.validate_on_submit():
            user.language = form.language.data or None
            db.session.commit()
            flash(_("Your profile was saved."), "success")
            return redirect(url_for(".index"))
        return self.render("kohde/users/profile.html", form=form, user=user)
