"""Checks a conditions tree and lists every problem with its path.

A path names where a problem is, e.g. ``all[2].any[0].value``; the messages are
meant for the person who built the conditions.
"""

from __future__ import annotations

import json
from datetime import date

from flask_babel import gettext as _

from ..text import unstorable
from .fields import FIELDS, FieldType

MAX_DEPTH = 8
MAX_CONDITIONS = 200
MAX_LIST = 1000
MAX_DAYS = 36_500
# Values must fit where they go: INTEGER columns, and day boundaries Python's datetime holds.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
FIRST_DAY, LAST_DAY = "0002-01-01", "9998-12-31"  # ISO dates compare as text
MAX_TEXT = 1000
GROUP_KEYS = ("all", "any", "not")
ACTIVITY_KEYS = {"type", "within_last_days", "planned_next_days"}
# Work a tree may cost before it is refused: its JSON text, its nodes (groups and conditions,
# counted before any is checked, without recursion) and the problems listed.
MAX_TREE_TEXT = 1_000_000  # characters
MAX_NODES = 4 * MAX_CONDITIONS  # conditions, their groups and activity objects
MAX_PROBLEMS = 50


class CriteriaError(ValueError):
    """A tree that cannot be compiled; ``errors`` lists every problem with its path."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def loads(text) -> tuple[object, list[str]]:
    """A tree from JSON text, or the problems that stop it being read (too long, not JSON,
    nested too deeply for the parser): never a RecursionError."""
    if not isinstance(text, str | bytes):
        return None, ["(root): " + _("expected JSON text")]
    if len(text) > MAX_TREE_TEXT:
        return None, ["(root): " + _("the conditions are longer than %(limit)s characters",
                                     limit=f"{MAX_TREE_TEXT:,}")]
    try:
        return json.loads(text), []
    except RecursionError:
        return None, ["(root): " + _deeper()]
    except ValueError as exc:
        return None, ["(root): " + _("not valid JSON (%(problem)s)", problem=exc)]


def _deeper() -> str:
    return _("nested deeper than %(levels)s levels", levels=MAX_DEPTH)


def _shape_problem(tree) -> str | None:
    """Depth and size, measured without recursion (a JSON document can nest far deeper
    than Python's stack): the first limit ``tree`` passes, if any."""
    stack, nodes = [(tree, 0)], 0
    while stack:
        node, depth = stack.pop()
        # A level of groups is two of JSON (object, list); values add two more at the bottom.
        if depth > 2 * MAX_DEPTH + 4:
            return "(root): " + _deeper()
        if isinstance(node, dict):
            nodes += 1
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            if len(node) > MAX_LIST:
                return "(root): " + _("a list of more than %(limit)s items",
                                      limit=f"{MAX_LIST:,}")
            stack.extend((v, depth + 1) for v in node)
        if nodes > MAX_NODES:
            return "(root): " + _("more than %(limit)s conditions and groups", limit=MAX_NODES)
    return None


def _show(value) -> str:
    """``repr`` for a message: short, and safe for values nested too deeply to print."""
    if isinstance(value, list | dict):
        return _("a list") if isinstance(value, list) else _("a JSON object")
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10 and FIRST_DAY <= value <= LAST_DAY


def _text_problem(value) -> str | None:
    if not isinstance(value, str) or value == "":
        return _("expected a non-empty text, got %(value)s", value=_show(value))
    if "\x00" in value:
        return _("a text cannot contain a NUL character")
    if len(value) > MAX_TEXT:
        return _("at most %(limit)s characters", limit=MAX_TEXT)
    if problem := unstorable(value):
        return _("this text %(problem)s (a lone surrogate), which cannot be stored",
                 problem=problem)
    return None


def _scalar_problem(field, value) -> str | None:
    """Why ``value`` cannot be compared with ``field`` (None when it can)."""
    kind = field.type
    if kind == FieldType.STRING:
        return _text_problem(value)
    if kind == FieldType.CHOICE:
        ok, want = value in field.choices, _("one of %(values)s", values=", ".join(field.choices))
    elif kind == FieldType.BOOL:
        ok, want = isinstance(value, bool), _("true or false")
    elif kind == FieldType.DATETIME:
        ok, want = _is_date(value), _("a date as YYYY-MM-DD from %(first)s to %(last)s",
                                      first=FIRST_DAY, last=LAST_DAY)
    elif kind in (FieldType.INT, FieldType.USER, FieldType.CAMPAIGN, FieldType.GROUP):
        ok = _is_int(value) and INT_MIN <= value <= INT_MAX
        want = _("a whole number") if kind == FieldType.INT else _("an id")
        if _is_int(value) and not ok:
            return _("%(value)s is too large a number", value=value)
    else:
        return _("this field takes no plain value")
    return None if ok else _("expected %(want)s, got %(value)s", want=want, value=_show(value))


def _value_problems(field, op: str, value, path: str) -> list[str]:
    where = _join(path, "value")
    if op in ("is_empty", "is_not_empty"):
        return [] if value is None else [f"{where}: " + _("%(op)s takes no value", op=op)]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return [f"{where}: " + _("%(op)s needs a non-empty list", op=op)]
        if len(value) > MAX_LIST:
            return [f"{where}: " + _("at most %(limit)s values", limit=MAX_LIST)]
        return [f"{where}[{i}]: {p}" for i, v in enumerate(value)
                if (p := _scalar_problem(field, v))]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return [f"{where}: " + _("between needs a list of two values [from, to]")]
        problems = [f"{where}[{i}]: {p}" for i, v in enumerate(value)
                    if (p := _scalar_problem(field, v))]
        if not problems and value[0] > value[1]:
            problems.append(f"{where}: " + _("the first value must not be greater than the "
                                             "second"))
        return problems
    if op in ("within_last_days", "older_than_days"):
        if not _is_int(value) or not 0 <= value <= MAX_DAYS:
            return [f"{where}: " + _("expected a number of days from 0 to %(limit)s, got "
                                     "%(value)s", limit=MAX_DAYS, value=_show(value))]
        return []
    if op in ("exists", "not_exists"):
        return _activity_problems(field, value, where)
    if op in ("contains", "starts_with"):
        problem = _text_problem(value)
        return [f"{where}: {problem}"] if problem else []
    problem = _scalar_problem(field, value)
    return [f"{where}: {problem}"] if problem else []


def _activity_problems(field, value, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict):
        example = '{"type": "call", "within_last_days": 30}'
        return [f"{where}: " + _("expected an object like %(example)s", example=example)]
    problems = [f"{where}: " + _("unknown key %(key)s", key=repr(k))
                for k in sorted(set(value) - ACTIVITY_KEYS)]
    if "type" in value and (not isinstance(value["type"], str)
                            or value["type"] not in field.choices):
        problems.append(f"{where}.type: " + _("expected one of %(values)s",
                                              values=", ".join(field.choices)))
    for key in ("within_last_days", "planned_next_days"):
        if key in value and (not _is_int(value[key]) or not 0 <= value[key] <= MAX_DAYS):
            problems.append(f"{where}.{key}: " + _("expected a number of days from 0 to "
                                                   "%(limit)s", limit=MAX_DAYS))
    if "within_last_days" in value and "planned_next_days" in value:
        problems.append(f"{where}: " + _("use within_last_days or planned_next_days, not "
                                         "both"))
    return problems


def _condition_problems(node: dict, path: str) -> list[str]:
    unknown = sorted(set(node) - {"field", "op", "value"})
    problems = [f"{_join(path, _show(k)[1:-1])}: " + _("unknown key") for k in unknown]
    name = node.get("field")
    field = FIELDS.get(name) if isinstance(name, str) else None
    if field is None:
        return problems + [f"{_join(path, 'field')}: "
                           + _("unknown field %(name)s", name=_show(name))]
    op = node.get("op")
    if not isinstance(op, str) or op not in field.operators:
        return problems + [
            f"{_join(path, 'op')}: "
            + _("%(op)s does not fit %(type)s field %(name)s (use one of %(ops)s)",
                op=_show(op), type=field.type, name=repr(name), ops=", ".join(field.operators))
        ]
    return problems + _value_problems(field, op, node.get("value"), path)


def validate(tree, group_id: int | None = None) -> list[str]:
    """Every problem in ``tree`` (empty list: the tree is fine).

    ``group_id``: the group these conditions belong to; a condition on its own
    membership would make the group depend on itself.
    """
    problems: list[str] = []
    count = 0

    def walk(node, path: str, depth: int) -> None:
        nonlocal count
        label = path or "(root)"
        if depth > MAX_DEPTH:
            problems.append(f"{label}: " + _deeper())
            return
        if not isinstance(node, dict):
            problems.append(f"{label}: " + _("expected an object, got %(type)s",
                                             type=type(node).__name__))
            return
        groups = [k for k in GROUP_KEYS if k in node]
        if groups:
            if len(node) != 1:
                problems.append(f"{label}: " + _("a group has exactly one key, all, any or not"))
                return
            key = groups[0]
            if key == "not":
                walk(node["not"], _join(path, "not"), depth + 1)
                return
            children = node[key]
            if not isinstance(children, list):
                problems.append(f"{_join(path, key)}: " + _("expected a list of conditions"))
                return
            for i, child in enumerate(children):
                walk(child, f"{_join(path, key)}[{i}]", depth + 1)
            return
        count += 1
        if count == MAX_CONDITIONS + 1:
            problems.append(f"{label}: " + _("more than %(limit)s conditions",
                                             limit=MAX_CONDITIONS))
        problems.extend(_condition_problems(node, path))
        if group_id is not None and node.get("field") == "target_group":
            ids = node.get("value") if isinstance(node.get("value"), list) else [node.get("value")]
            if group_id in ids:
                problems.append(f"{_join(path, 'value')}: "
                                + _("a group cannot depend on itself"))

    if not isinstance(tree, dict) or not set(tree) & set(GROUP_KEYS):
        return ["(root): " + _('the root must be an object with "all", "any" or "not"')]
    if shape := _shape_problem(tree):
        return [shape]
    walk(tree, "", 0)
    if len(problems) > MAX_PROBLEMS:
        problems[MAX_PROBLEMS:] = ["(root): " + _("and %(count)s more problems",
                                                  count=len(problems) - MAX_PROBLEMS)]
    return problems


def check(tree, group_id: int | None = None) -> None:
    """Raise CriteriaError listing every problem, or return quietly."""
    problems = validate(tree, group_id)
    if problems:
        raise CriteriaError(problems)
