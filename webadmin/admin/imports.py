"""The contact import page: upload a CSV, the import runs as a job with a progress bar."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from jobs.imports import start_import_contacts
from models import imports

from .base import Permission, SecureView, can


class ImportForm(FlaskForm):
    """A CSV file of contacts."""

    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file to import."))])


class ImportContactsView(SecureView):
    """Upload a CSV of contacts; the import runs as a job with a progress bar."""

    @expose("/", methods=["GET", "POST"])
    def index(self):
        """The upload form; on a valid upload, start the job and show its progress."""
        form = ImportForm()
        if form.validate_on_submit():
            upload = form.file.data
            try:
                path = imports.store_upload(upload.stream, upload.filename)
            except imports.ImportFileError as exc:
                flash(str(exc), "error")
            else:
                # Only an admin's import overwrites existing contacts (the role matrix).
                run = start_import_contacts(path, upload.filename, started_by=current_user.id,
                                            update_existing=can(Permission.IMPORT_OVERWRITE))
                flash(_("Importing %(file)s: job %(job)s started.", file=upload.filename,
                        job=run.id), "info")
                return redirect(url_for("jobrun.details_view", id=run.id))
        return self.render(
            "kohde/imports/contacts.html", form=form, columns=imports.COLUMNS,
            required=imports.REQUIRED, updates=can(Permission.IMPORT_OVERWRITE),
        )
