"""The one place that decides who may open which admin screen."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.helpers import get_redirect_target
from flask_admin.model import filters, template, typefmt
from flask_admin.model.form import converts
from flask_admin.tools import iterdecode
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import BigInteger, Integer, String, inspect
from wtforms import fields

from models import ActionInUse, User, db
from models.csv_cells import safe_cell

from ..i18n import clock, localdate, localtime
from .columns import COLUMN_LABELS
from .filters import LOCAL_DATETIME_FILTERS
from .forms import LOCAL_TIME_HELP, LocalDateTimeField, StoredTimeField
from .paging import PagingMixin
from .row_actions import DeleteRowAction

# The largest ids the database's INTEGER and BIGINT columns hold: a larger number in a URL
# is "no such record", not an out-of-range error from PostgreSQL.
INT_MAX, BIGINT_MAX = 2**31 - 1, 2**63 - 1
MAX_PAGE = 100_000  # far past any list a person pages through
MAX_SEARCH = 200  # characters of a list's search box


class Permission(StrEnum):
    """What only some roles may do inside screens everyone opens (the README's role matrix).
    Whole screens are admin-only by ``admin_only``; these are the finer rules."""

    CHANGE_TEMPLATES = "change_templates"  # attach, change or detach an email template
    UNDO_ANY_JOB = "undo_any_job"  # undo a job someone else started
    BULK_DELETE_CONTACTS = "bulk_delete_contacts"  # delete contacts (one or many) in lists
    IMPORT_OVERWRITE = "import_overwrite"  # let an import update existing contacts


ADMIN_ONLY_PERMISSIONS = frozenset(Permission)  # a user has none of them; an admin all


def can(permission: Permission | str, user=None) -> bool:
    """May ``user`` (the logged-in user by default) do this? Admins may do everything."""
    user = current_user if user is None else user
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_admin or Permission(permission) not in ADMIN_ONLY_PERMISSIONS


# Moments in the installation's zone and the reader's format, to the minute (datetime
# before date: a datetime is a date too, and the first match wins).
LOCAL_FORMATTERS = {
    datetime: lambda view, value, name: localtime(value),
    date: lambda view, value, name: localdate(value),
    time: lambda view, value, name: clock(value),
}


def go_to(url: str):
    """Redirect; for htmx, tell it to navigate the whole page (HX-Redirect)."""
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": url})
    return redirect(url)


class KohdeModelConverter(AdminModelConverter):
    """Form fields for our column types (UTCDateTime is a DateTime underneath)."""

    @converts("UTCDateTime")
    def convert_utc_datetime(self, field_args, **extra):  # noqa: D102 (edited in local time)
        field_args["description"] = field_args.get("description") or LOCAL_TIME_HELP
        return LocalDateTimeField(**field_args)

    @converts("StoredTime")
    def convert_stored_time(self, field_args, **extra):  # noqa: D102 (shows unreadable text)
        return StoredTimeField(**field_args)

    # SQLAlchemy 2.1's Float no longer derives from Numeric, so Flask-Admin's
    # "Numeric" converter misses it and the field silently vanishes from forms.
    @converts("Float")
    def convert_float(self, field_args, **extra):  # noqa: D102
        return fields.FloatField(**field_args)


class KohdeFilterConverter(FilterConverter):
    """List filters for our column types."""

    @filters.convert("utcdatetime")
    def conv_utc_datetime(self, column, name, **kwargs):  # noqa: D102 (typed in local time)
        return [f(column, name, **kwargs) for f in LOCAL_DATETIME_FILTERS]


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


def parse_key(model, raw) -> tuple | None:
    """The primary key ``raw`` (an ``?id=`` value, ``1,2`` for a composite key) names, typed
    for ``model``'s key columns; None when it cannot name a row (wrong shape, not a number,
    out of range, too long)."""
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        return None
    columns = inspect(model).primary_key
    parts = iterdecode(raw)
    if len(parts) != len(columns):
        return None
    key = []
    for column, part in zip(columns, parts, strict=True):
        if isinstance(column.type, Integer):
            limit = BIGINT_MAX if isinstance(column.type, BigInteger) else INT_MAX
            if not part.isascii() or not part.isdigit() or int(part) > limit:
                return None
            key.append(int(part))
        elif isinstance(column.type, String):
            if column.type.length and len(part) > column.type.length:
                return None
            key.append(part)
        else:
            return None
    return tuple(key)


class SecureView(AccessMixin, BaseView):
    """A custom admin page (not a model list) behind the login."""


class SecureModelView(PagingMixin, AccessMixin, ModelView):
    """Every model screen: behind the login, CSRF on every form, sensible paging (an
    estimated count and no deep OFFSETs at a million rows: paging.py)."""

    # The global CSRFProtect checks every POST; FlaskForm renders its token.
    form_base_class = AdminForm
    model_form_converter = KohdeModelConverter
    filter_converter = KohdeFilterConverter()
    # 20 rows (Flask-Admin's default): a screenful, and 40 % of the rendering of 50 (each
    # row has its links and buttons); the list's page-size menu offers 50 and 100.
    page_size = 20
    list_template = "kohde/list.html"
    can_set_page_size = True
    can_view_details = True
    can_export = True
    export_types = ["csv"]
    column_display_pk = True
    column_default_sort = ("id", True)
    # Never offer these in forms: the database or the code keeps them.
    form_excluded_columns = ["created_at", "updated_at"]
    column_type_formatters = {**LOCAL_FORMATTERS, **typefmt.BASE_FORMATTERS}
    column_type_formatters_detail = {**LOCAL_FORMATTERS, **typefmt.DETAIL_FORMATTERS}
    # A new row's owner is whoever creates it (a screen whose "owner" is a condition, not
    # the row's keeper, turns this off).
    new_rows_owned_by_you = True

    def __init__(self, *args, **kwargs):
        """Column names in the reader's language (webadmin/admin/columns.py, the screen's
        own ``column_labels`` first), and stored values shown by their labels wherever the
        form offers them as choices."""
        self.column_labels = {**COLUMN_LABELS, **(self.column_labels or {})}
        self.column_choices = {**(self.form_choices or {}), **(self.column_choices or {})}
        super().__init__(*args, **kwargs)

    def get_list_row_actions(self):
        """Flask-Admin's row actions with a lighter delete button (row_actions.py)."""
        return [DeleteRowAction() if isinstance(action, template.DeleteRowAction) else action
                for action in super().get_list_row_actions()]

    def create_form(self, obj=None):
        """The form for a new row: owned by you unless you choose someone else."""
        form = super().create_form(obj)
        owner = getattr(form, "owner", None)
        if (self.new_rows_owned_by_you and owner is not None and request.method == "GET"
                and owner.data is None and current_user.is_authenticated):
            owner.data = db.session.get(User, current_user.id)
        return form

    def handle_view_exception(self, exc: Exception) -> bool:
        """Deleting a group, campaign, template or user a scheduled action uses is refused
        with the actions' names (models/schedules.py), not as a generic failure."""
        if isinstance(exc, ActionInUse):
            flash(str(exc), "error")
            return True
        return super().handle_view_exception(exc)

    def _create_ajax_loader(self, name, options):
        """Pickers (form_ajax_refs): a posted id that cannot name a row is no row (on
        PostgreSQL ``'abc'`` for an integer key would be an error, not a miss)."""
        loader = super()._create_ajax_loader(name, options)
        unchecked = loader.get_one

        def get_one(pk):
            key = parse_key(loader.model, pk if isinstance(pk, str) else str(pk))
            return unchecked(key if key is None or len(key) > 1 else key[0]) if key else None

        loader.get_one = get_one
        return loader

    def get_one(self, id):
        """The row ``id`` names, or None when there is none or ``id`` cannot name one
        (``?id=abc``, ``?id=999999999999``, ``?id=1`` for a two-column key)."""
        key = parse_key(self.model, id)
        if key is None:
            return None
        return db.session.get(self.model, key if len(key) > 1 else key[0])

    def get_one_or_404(self):
        """The row ``?id=`` names, for a details page of our own: no id, or one that names no
        row, answers 404 with the layout and a way back."""
        row = self.get_one(request.args.get("id", ""))
        if row is None:
            abort(404, description=_("%(screen)s: there is no such record (it may have been "
                                     "deleted, or the link is wrong).", screen=self.name))
        return row

    def _check_id(self) -> None:
        """404 with the layout and a way back, for an id that names no row."""
        raw = request.args.get("id")
        if raw is not None and self.get_one(raw) is None:
            abort(404, description=_("%(screen)s: there is no record with the id %(id)s (it may "
                                     "have been deleted, or the link is wrong).",
                                     screen=self.name, id=repr(raw[:40])))

    @expose("/details/")
    def details_view(self):
        """Flask-Admin's details page; an id that names no row answers 404, not a redirect."""
        self._check_id()
        return super().details_view()

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        """Flask-Admin's edit page; an id that names no row answers 404, not a redirect."""
        if self.can_edit:
            self._check_id()
        return super().edit_view()

    @expose("/action/", methods=("POST",))
    def action_view(self):
        """Bulk actions; row ids that cannot name a row are refused before any query."""
        ids = request.form.getlist("rowid")
        if any(parse_key(self.model, raw) is None for raw in ids):
            flash(_("Some of the selected rows do not exist; nothing was done."), "error")
            return redirect(get_redirect_target() or self.get_url(".index_view"))
        return super().action_view()

    def _get_list_extra_args(self):
        """The list's URL arguments, with the page kept where the database can reach it
        (``?page=99999999999999999999`` would overflow OFFSET) and search text bounded."""
        args = super()._get_list_extra_args()
        args.page = min(max(args.page or 0, 0), MAX_PAGE)
        if args.search:
            args.search = args.search.replace("\x00", "")[:MAX_SEARCH]
        return args

    def get_export_value(self, model, name):
        """CSV export cells, with formula-looking text neutralised (models.csv_cells)."""
        return safe_cell(super().get_export_value(model, name))


class ReadOnlyModelView(SecureModelView):
    """Records that only jobs and hooks write: listed and shown, never edited here."""

    can_create = False
    can_edit = False
    can_delete = False
