"""CRM users (admins only)."""

from __future__ import annotations

from wtforms import PasswordField
from wtforms.validators import Length, Optional

from models import Role

from .base import SecureModelView, enum_choices


class UserView(SecureModelView):
    """Who may log in and with which role; passwords are only ever set, never shown."""

    admin_only = True
    column_list = ["id", "email", "name", "role", "active", "created_at"]
    column_searchable_list = ["email", "name"]
    column_filters = ["role", "active"]
    column_exclude_list = ["password_hash", "calendar_token"]
    column_details_exclude_list = ["password_hash", "calendar_token"]
    column_export_exclude_list = ["password_hash", "calendar_token"]
    form_columns = ["email", "name", "role", "active", "new_password"]
    form_choices = {"role": enum_choices(Role)}
    form_extra_fields = {
        "new_password": PasswordField(
            "New password",
            validators=[Optional(), Length(min=8)],
            description="Leave empty to keep the current password.",
        )
    }

    def on_model_change(self, form, model, is_created):
        """Hash a newly typed password; a new user without one cannot log in."""
        if form.new_password.data:
            model.set_password(form.new_password.data)
