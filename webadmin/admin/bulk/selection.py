"""What a list's "With selected" post means: the ticked rows, or (``select_all=1``)
everything the list's search and filters match, read from the list's own URL (the
action form's ``url`` field) the way Flask-Admin reads them for the list itself."""

from __future__ import annotations

from datetime import date, datetime, time
from urllib.parse import parse_qsl, urlsplit

from flask import request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from models.selections import Selection, SelectionError

from ..base import MAX_SEARCH

# Flask-Admin's filter classes, by the operation a selection stores. Checked in this
# order against the filter's class and its bases: "not in list" is also an "in list".
OPERATIONS = (
    ("FilterNotInList", "not_in"), ("FilterInList", "in"),
    ("NotBetweenFilter", "not_between"), ("BetweenFilter", "between"),
    ("FilterNotLike", "not_like"), ("FilterLike", "like"), ("FilterEmpty", "empty"),
    ("FilterGreater", "gt"), ("FilterSmaller", "lt"),
    ("FilterNotEqual", "ne"), ("NotEqualFilter", "ne"), ("FilterEqual", "eq"),
)


def operation(flt) -> str:
    """The selection's name of a Flask-Admin filter's operation."""
    names = [cls.__name__ for cls in type(flt).__mro__]
    for suffix, op in OPERATIONS:
        if any(name.endswith(suffix) for name in names):
            return op
    raise SelectionError(_("the filter %(name)s cannot be used for a bulk action",
                           name=flt.name))


def filter_path(flt) -> str:
    """The dotted path of a filter (``owner.email``): Flask-Admin's key name for a
    related column is relationship, table, …, column."""
    if flt.key_name:
        parts = flt.key_name.split(".")
        return ".".join([*parts[:-1][0::2], parts[-1]])
    return flt.column.key


def _plain(value):
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def list_args(url: str) -> MultiDict:
    """The query arguments of the list URL the action form carried."""
    return MultiDict(parse_qsl(urlsplit(url or "").query, keep_blank_values=True))


def filters_of(view, args: MultiDict) -> list[list]:
    """The list's active filters as (path, operation, value), like
    ``_get_list_filter_args``: in their position order, invalid values left out."""
    active = []
    for arg, value in args.items(multi=True):
        if not arg.startswith("flt") or "_" not in arg:
            continue
        pos, key = arg[3:].split("_", 1)
        if key not in (view._filter_args or {}):
            continue
        _idx, flt = view._filter_args[key]
        if not flt.validate(value):
            continue
        op = operation(flt)
        clean = (value == "1") if op == "empty" else flt.clean(value)
        active.append((pos, [filter_path(flt), op, _plain(clean)]))
    return [item for _pos, item in sorted(active, key=lambda pair: pair[0])]


def _saved_filter_id(view, args: MultiDict) -> int | None:
    requested = args.get("saved_filter", "")
    if not requested or not hasattr(view, "saved_filter_choices"):
        return None
    usable = {str(saved.id): saved.id for saved in view.saved_filter_choices()}
    if requested not in usable:
        raise SelectionError(_("the list's saved filter cannot be used; clear it first"))
    return usable[requested]


def list_selection(view, ids: list[str]) -> Selection:
    """The selection a "With selected" post names (see the module's doc)."""
    if request.form.get("select_all") != "1":
        return Selection.from_params({"area": view.bulk_area, "ids": ids})
    args = list_args(request.form.get("url", ""))
    search = (args.get("search") or "").replace("\x00", "")[:MAX_SEARCH]
    data = {"area": view.bulk_area, "search": search, "filters": filters_of(view, args)}
    saved = _saved_filter_id(view, args)
    if saved is not None:
        data["saved_filter_id"] = saved
    return Selection.from_params(data)
