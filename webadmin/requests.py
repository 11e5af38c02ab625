"""The request class: NUL characters never reach the application from a URL or a form.

No person types a NUL; PostgreSQL refuses to store or even compare one ("A string
literal cannot contain NUL"), so a ``%00`` in a search box, a filter, a picker's
query or a form field would otherwise be a 500 wherever the value meets SQL.
They are dropped where Werkzeug builds ``request.args`` and ``request.form``
(JSON bodies are checked by the code that reads them, with the path named).
"""

from __future__ import annotations

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict


def _clean(value):
    return value.replace("\x00", "") if isinstance(value, str) else value


class NulFreeMultiDict(ImmutableMultiDict):
    """ImmutableMultiDict whose keys and text values never hold a NUL character."""

    def __init__(self, mapping=None):
        if mapping is None:
            super().__init__()
            return
        if hasattr(mapping, "items"):
            pairs = mapping.items(multi=True) if hasattr(mapping, "getlist") else mapping.items()
        else:
            pairs = mapping
        super().__init__([(_clean(k), _clean(v)) for k, v in pairs])


class KohdeRequest(Request):
    """Flask's Request with NUL-free args and form."""

    parameter_storage_class = NulFreeMultiDict
