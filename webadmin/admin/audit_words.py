"""An audit entry as people read it: each changed field by its label ("Owner", not
``owner_id``), each value in words ("Customer", "yes", the owner's name, a local time), and
a bulk job's summary in the reader's language, for the audit log and the record pages'
change history."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import ActivityStatus, ActivityType, Campaign, Company, ContactKind, User, db
from models.bulk.changes import read_summary
from models.labels import label

from ..i18n import localtime
from .columns import COLUMN_LABELS

# Columns whose stored codes have words (models/labels.py), per table.
CODE_WORDS = {
    ("contacts", "status"): "contact_status", ("contacts", "kind"): ContactKind,
    ("contacts", "language"): "language", ("users", "language"): "language",
    ("activities", "type"): ActivityType, ("activities", "status"): ActivityStatus,
}
# Columns that hold another record's id: shown by that record's name.
REFERENCES = {"owner_id": User, "user_id": User, "company_id": Company, "campaign_id": Campaign}
FIELD_LABELS = {"owner_id": _l("Owner"), "company_id": _l("Company"),
                "campaign_id": _l("Campaign"), "user_id": _l("User")}
MAX_ID = 2**31


def field_label(column: str) -> str:
    """A column by its label in the reader's language."""
    label = FIELD_LABELS.get(column) or COLUMN_LABELS.get(column)
    return str(label) if label else column.replace("_", " ").capitalize()


def changed_fields(changes: dict | None) -> str:
    """The fields an audit entry changed, by their labels ("City, Status")."""
    return ", ".join(sorted(field_label(key) for key in changes or {}))


def change_value(table: str, column: str, value) -> str:
    """One recorded value in words: "—" for none, yes / no, a code's word, a referenced
    record's name, a moment in local time."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    kind = CODE_WORDS.get((table, column))
    if kind:
        return str(label(value, kind))
    model = REFERENCES.get(column)
    if model is not None and isinstance(value, int) and 0 < value < MAX_ID:
        found = db.session.get(model, value)
        return str(found.name or found.email) if isinstance(found, User) and found \
            else (str(found) if found else _("#%(id)s (deleted)", id=value))
    if isinstance(value, str) and "T" in value[10:11]:
        try:
            return localtime(datetime.fromisoformat(value))
        except ValueError:
            pass
    return str(value)


def bulk_summary_words(summary: str | None) -> str:
    """A bulk job's stored summary ("owner changed in bulk (job 1f3…)", kept in English for
    machines and exports) in the reader's language; "" for any other summary."""
    bulk = read_summary(summary)
    if bulk is None:
        return ""
    if bulk.undid:
        return _("Undo of job %(undone)s (job %(job)s)", undone=bulk.undid, job=bulk.job_id)
    what = label(bulk.what, "bulk_change")
    if bulk.note:
        return _("%(what)s: %(note)s (job %(job)s)", what=what, note=bulk.note, job=bulk.job_id)
    return _("%(what)s (job %(job)s)", what=what, job=bulk.job_id)


def summary_words(summary: str | None) -> str:
    """An audit entry's summary as the reader reads it: a bulk job's in their language,
    any other (a record's name) as stored."""
    return bulk_summary_words(summary) or (summary or "")
