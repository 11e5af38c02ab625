"""The one place that decides who may open which admin screen."""

from __future__ import annotations

from enum import StrEnum

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import BaseView
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model import filters
from flask_admin.model.form import converts
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import fields

from models import ActionInUse


def enum_choices(enum: type[StrEnum]) -> list[tuple[str, str]]:
    """Select choices for a StrEnum: the stored value and a readable label."""
    return [(member.value, member.value.replace("_", " ").capitalize()) for member in enum]


def go_to(url: str):
    """Redirect; for htmx, tell it to navigate the whole page (HX-Redirect)."""
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": url})
    return redirect(url)


class KohdeModelConverter(AdminModelConverter):
    """Form fields for our column types (UTCDateTime is a DateTime underneath)."""

    @converts("UTCDateTime")
    def convert_utc_datetime(self, field_args, **extra):  # noqa: D102
        return self.convert_datetime(field_args, **extra)

    # SQLAlchemy 2.1's Float no longer derives from Numeric, so Flask-Admin's
    # "Numeric" converter misses it and the field silently vanishes from forms.
    @converts("Float")
    def convert_float(self, field_args, **extra):  # noqa: D102
        return fields.FloatField(**field_args)


class KohdeFilterConverter(FilterConverter):
    """List filters for our column types."""

    @filters.convert("utcdatetime")
    def conv_utc_datetime(self, column, name, **kwargs):  # noqa: D102
        return self.conv_datetime(column, name, **kwargs)


class AdminForm(FlaskForm):
    """FlaskForm (token checked by the global CSRFProtect) that remembers the edited row.

    Flask-Admin's ``Unique`` validator compares the clashing row with ``form._obj``,
    which only Flask-Admin's own BaseForm sets; without it, saving any row with a
    unique column (campaign number, user email, template name) fails as "Already exists."
    """

    def __init__(self, *args, obj=None, **kwargs):
        self._obj = obj
        super().__init__(*args, obj=obj, **kwargs)


class AccessMixin:
    """Logged-in users only; ``admin_only`` screens for admins only."""

    admin_only = False

    def is_accessible(self) -> bool:
        """Flask-Admin's hook: may the current user open this screen?"""
        if not current_user.is_authenticated:
            return False
        return current_user.is_admin or not self.admin_only

    def is_visible(self) -> bool:
        """Hide menu entries the user could not open anyway."""
        return self.is_accessible()

    def inaccessible_callback(self, name, **kwargs):
        """Anonymous: to the login page; logged in without the role: 403."""
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


class SecureView(AccessMixin, BaseView):
    """A custom admin page (not a model list) behind the login."""


class SecureModelView(AccessMixin, ModelView):
    """Every model screen: behind the login, CSRF on every form, sensible paging."""

    # The global CSRFProtect checks every POST; FlaskForm renders its token.
    form_base_class = AdminForm
    model_form_converter = KohdeModelConverter
    filter_converter = KohdeFilterConverter()
    page_size = 50
    can_set_page_size = True
    can_view_details = True
    can_export = True
    export_types = ["csv"]
    column_display_pk = True
    column_default_sort = ("id", True)
    # Never offer these in forms: the database or the code keeps them.
    form_excluded_columns = ["created_at", "updated_at"]

    def handle_view_exception(self, exc: Exception) -> bool:
        """Deleting a group, campaign, template or user a scheduled action uses is refused
        with the actions' names (models/schedules.py), not as a generic failure."""
        if isinstance(exc, ActionInUse):
            flash(str(exc), "error")
            return True
        return super().handle_view_exception(exc)


class ReadOnlyModelView(SecureModelView):
    """Records that only jobs and hooks write: listed and shown, never edited here."""

    can_create = False
    can_edit = False
    can_delete = False
