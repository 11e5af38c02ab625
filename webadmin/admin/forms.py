"""Form pieces our screens share: a select whose empty choice reads as words, and pickers
whose placeholder says what to pick.

Flask-Admin's selects offer "no value" as an option whose value is ``__None`` and whose
label is empty, so the browser shows ``__None``; its AJAX pickers say "Please select
model". Both are developer words on a person's screen.
"""

from __future__ import annotations

from datetime import datetime, time

from flask_admin.form import DateTimeField, TimeField
from flask_admin.form.widgets import Select2Widget
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from models.settings import installation_tz, local_to_utc

NONE = "__None"  # what Flask-Admin's select fields read as "no value"
NO_VALUE = _l("(none)")


class BlankSelectWidget(Select2Widget):
    """A Select2 select whose "no value" option is an empty value labelled ``blank``
    (Flask-Admin's fields read an empty value as no value too)."""

    def __init__(self, blank=NO_VALUE, multiple: bool = False):
        super().__init__(multiple=multiple)
        self.blank = blank

    def __call__(self, field, **kwargs):  # noqa: D102
        kwargs.setdefault("data-placeholder", str(self.blank))
        if getattr(field, "allow_blank", False):
            field.blank_text = self.blank  # the label of the empty option
        html = super().__call__(field, **kwargs)
        # str() first: Markup.replace would escape the quotes of the replacement.
        return Markup(str(html).replace(f'value="{NONE}"', 'value=""'))


def blank_select(blank=NO_VALUE) -> dict:
    """``form_args`` for a nullable select: the widget above, its blank label, and an empty
    answer read as no value (before the choice is checked)."""
    return {"widget": BlankSelectWidget(blank), "blank_text": blank,
            "filters": [_none_if_empty]}


def _none_if_empty(value):
    return None if value == "" else value


def picker(fields: list[str], placeholder, page_size: int = 20) -> dict:
    """A ``form_ajax_refs`` entry whose placeholder says what to pick."""
    return {"fields": fields, "page_size": page_size, "placeholder": placeholder,
            "minimum_input_length": 0}


LOCAL_TIME_HELP = _l("Local time (the installation's time zone).")


class LocalDateTimeField(DateTimeField):
    """A stored UTC moment edited as the installation's wall-clock time: the form shows
    09:00 for 07:00 UTC in Helsinki, and 09:00 typed there is saved as 07:00 UTC (a
    person means the time on their own clock)."""

    def process_data(self, value):  # noqa: D102 (UTC → local, naive for the text box)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(installation_tz()).replace(tzinfo=None)
        super().process_data(value)

    def process_formdata(self, valuelist):  # noqa: D102 (local → UTC)
        super().process_formdata(valuelist)
        if isinstance(self.data, datetime) and self.data.tzinfo is None:
            self.data = local_to_utc(self.data)


class StoredTimeField(TimeField):
    """A time of day whose stored value may be text that is no time (models.settings'
    StoredTime): that text is shown as it is, for the person fixing it, not a 500."""

    def _value(self) -> str:  # noqa: D102
        if not self.raw_data and self.data is not None and not isinstance(self.data, time):
            return str(self.data)  # SQLite hands '8' back as the number 8
        return super()._value()
