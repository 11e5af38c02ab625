"""What the back office refuses in a conditions tree before it is saved, counted or used.

``models.criteria.validate`` checks shape, fields, operators and value types.
A few values pass it and still fail in the database: a whole number beyond
the 32-bit INTEGER columns (ids, company size), a date whose day boundary
falls outside what Python's datetime holds (year 1 or 9999 shifted by the time
zone), a NUL character (PostgreSQL text cannot hold one). Those are refused
here, by path, so a person gets a message instead of a server error.
"""

from __future__ import annotations

from models.criteria import FIELDS, FieldType, validate

TREE_KEYS = {"all", "any", "not"}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # PostgreSQL INTEGER
FIRST_DAY, LAST_DAY = "0002-01-01", "9998-12-31"  # ISO dates compare as text


def tree_problems(tree, group_id: int | None = None) -> list[str]:
    """Every reason the tree cannot be saved or counted, each as "path: message".

    ``group_id``: the group that owns the tree, so it cannot select on its own members.
    """
    if not isinstance(tree, dict) or not set(tree) & TREE_KEYS:
        return ['(root): the root must be an object with "all", "any" or "not"']
    return validate(tree, group_id) or _beyond_the_database(tree)


def _value_problem(kind: FieldType, value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        return f"{value} is too large a number"
    if isinstance(value, str):
        if "\x00" in value:
            return "a text cannot contain a NUL character"
        if kind == FieldType.DATETIME and not FIRST_DAY <= value <= LAST_DAY:
            return f"pick a date between {FIRST_DAY} and {LAST_DAY}"
    return None


def _beyond_the_database(tree: dict) -> list[str]:
    """Problems of values in a tree that ``validate`` already accepted."""
    problems: list[str] = []

    def walk(node: dict, path: str) -> None:
        prefix = f"{path}." if path else ""
        for key in ("all", "any"):
            for i, child in enumerate(node.get(key, ())):
                walk(child, f"{prefix}{key}[{i}]")
        if "not" in node:
            walk(node["not"], f"{prefix}not")
        if "field" not in node:
            return
        kind = FIELDS[node["field"]].type
        value = node.get("value")
        if isinstance(value, list):
            labelled = [(f"{prefix}value[{i}]", v) for i, v in enumerate(value)]
        else:
            labelled = [(f"{prefix}value", value)]
        problems.extend(f"{where}: {problem}" for where, v in labelled
                        if (problem := _value_problem(kind, v)))  # fmt: skip

    walk(tree, "")
    return problems
