"""Bulk actions on every list: the ticked rows, or "select all N that match".

A list view mixes in :class:`BulkActionsMixin` and names its ``bulk_actions``
(``webadmin/admin/bulk/contacts.py`` …). Each becomes a Flask-Admin action of the list's
"With selected" menu; choosing it shows a confirmation page that states the count and,
once its fields are filled in, the consequence (a dry run with the job's own SQL); "Run"
starts the job and goes to its progress. The list's search and filters travel as a
:class:`models.selections.Selection` (see ``selection.py``).
"""

from __future__ import annotations

import json

from flask import abort, flash, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user

from jobs.bulk import BulkError
from models.campaigns.audience import AudienceError
from models.selections import Selection, SelectionError, count

from ..base import go_to
from .actions import BulkAction, BulkRefused
from .selection import list_selection

__all__ = ["BulkAction", "BulkActionsMixin", "BulkRefused"]
PROBLEMS = (BulkError, BulkRefused, SelectionError, AudienceError, ValueError)


class BulkActionsMixin:
    """Flask-Admin actions that act on a selection and run as jobs."""

    bulk_area: str = ""
    bulk_actions: tuple[BulkAction, ...] = ()
    list_template = "kohde/bulk/list.html"

    def init_actions(self) -> None:
        """Flask-Admin's actions plus ours (each as if declared with ``@action``). Where the
        area deletes in bulk itself (a job, audited, with its role), Flask-Admin's
        row-by-row "Delete" goes."""
        super().init_actions()
        if any(b.name.startswith("delete_") for b in self.bulk_actions):
            self._actions = [(n, t) for n, t in self._actions if n != "delete"]
            self._actions_data.pop("delete", None)
        for bulk in self.bulk_actions:
            self._actions.append((bulk.name, bulk.label))
            self._actions_data[bulk.name] = (self._confirm_for(bulk), bulk.label, None)

    def _bulk(self, name: str) -> BulkAction:
        for bulk in self.bulk_actions:
            if bulk.name == name:
                return bulk
        abort(404, description=_("%(list)s: there is no bulk action %(name)s.", list=self.name,
                                 name=repr(name[:40])))

    def is_action_allowed(self, name: str) -> bool:
        """Admin-only actions are offered to admins only."""
        bulk = next((b for b in self.bulk_actions if b.name == name), None)
        if bulk is not None and bulk.admin_only and not current_user.is_admin:
            return False
        return super().is_action_allowed(name)

    def _refuse_unless_allowed(self, bulk: BulkAction) -> None:
        if not self.is_action_allowed(bulk.name):
            abort(403, description=_("“%(action)s” is for admins only; ask an admin to do it.",
                                     action=bulk.label))

    @expose("/action/", methods=("POST",))
    def action_view(self):
        """Bulk actions: a refused one answers 403 with the reason (not a silent redirect)."""
        bulk = next((b for b in self.bulk_actions if b.name == request.form.get("action")), None)
        if bulk is not None:
            self._refuse_unless_allowed(bulk)
        return super().action_view()

    def _confirm_for(self, bulk: BulkAction):
        def confirm(ids):
            try:
                selection = list_selection(self, ids)
            except SelectionError as exc:
                flash(str(exc), "error")
                return None
            return self._render_confirm(bulk, selection)

        return confirm

    def _render_confirm(self, bulk: BulkAction, selection: Selection, **extra):
        total = count(selection)
        return self.render("kohde/bulk/confirm.html", bulk=bulk, selection=selection,
                           selection_json=json.dumps(selection.to_params()), total=total,
                           fields=bulk.form_fields(), noun=selection.spec.noun,
                           back=request.form.get("url") or self.get_url(".index_view"),
                           preview_url=self.get_url(".bulk_preview", action=bulk.name),
                           run_url=self.get_url(".bulk_run", action=bulk.name), **extra)

    def _posted(self, name: str) -> tuple[BulkAction, Selection, dict]:
        bulk = self._bulk(name)
        self._refuse_unless_allowed(bulk)
        try:
            data = json.loads(request.form.get("selection") or "null")
        except ValueError:
            raise SelectionError(_("the selection could not be read; start again from the "
                                   "list")) from None
        selection = Selection.from_params(data)
        if selection.area != self.bulk_area:
            raise SelectionError(_("the selection is of another list"))
        return bulk, selection, bulk.parse(request.form)

    # The URL part is "action": Flask-Admin's view handler takes a "name" of its own.
    @expose("/bulk/<action>/preview", methods=("POST",))
    def bulk_preview(self, action: str):
        """htmx: the consequence in words, counted now with the job's own SQL."""
        try:
            bulk, selection, params = self._posted(action)
            preview = bulk.preview(selection, params)
        except PROBLEMS as exc:
            return self.render("kohde/bulk/_preview.html", error=str(exc)), 400
        return self.render("kohde/bulk/_preview.html", preview=preview, bulk=bulk,
                           run_url=self.get_url(".bulk_run", action=action))

    @expose("/bulk/<action>/run", methods=("POST",))
    def bulk_run(self, action: str):
        """Start the job and show its progress."""
        try:
            bulk, selection, params = self._posted(action)
            runs = bulk.start(selection, params, current_user.id)
        except PROBLEMS as exc:
            flash(_("Nothing was done: %(reason)s", reason=exc), "error")
            return go_to(self.get_url(".index_view"))
        if not runs:
            flash(_("Nothing was done: none of the selected rows can take this action."),
                  "error")
            return go_to(self.get_url(".index_view"))
        if len(runs) == 1:
            flash(_("%(action)s: job %(id)s started.", action=bulk.label, id=runs[0].id), "info")
            return go_to(url_for("jobrun.details_view", id=runs[0].id))
        flash(_("%(action)s: %(n)s jobs started.", action=bulk.label, n=len(runs)), "info")
        return go_to(url_for("jobrun.index_view"))
