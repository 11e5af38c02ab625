"""The criteria builder's model of a tree: groups of rows, and the value widget each row needs.

A row keeps its values as the texts its inputs show (``v``, ``v2``, …): the
same shape whether it comes from a stored tree or from a half-edited row the
browser sends back, so changing the operator keeps what was typed. Turning
those texts into typed JSON is the browser's job (criteria-builder.js), and
the server validates whatever arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models import Campaign, TargetGroup, User, db
from models.criteria import FIELDS, OPERATOR_LABELS, Field, FieldType
from models.labels import label
from models.settings import installation_tz

# Long option lists stop being usable in a select; past this, ids still save and show.
MAX_OPTIONS = 500
SECTIONS = {"contacts": _l("Contact"), "companies": _l("Company"),
            "": _l("Memberships and activities")}
PERIODS = (("", _l("any time")), ("within_last_days", _l("in the last … days")),
           ("planned_next_days", _l("planned in the next … days")))


def widget_for(spec: Field, op: str) -> str:
    """The value widget a field and operator need (criteria-builder.js reads it back)."""
    kind = spec.type
    many = op in ("in", "not_in")
    if op in ("is_empty", "is_not_empty"):
        return "none"
    if kind == FieldType.ACTIVITY:
        return "activity"
    if op in ("within_last_days", "older_than_days"):
        return "days"
    if op == "between":
        return "date-range" if kind == FieldType.DATETIME else "int-range"
    if kind == FieldType.STRING:
        return "texts" if many else "text"
    if kind == FieldType.CHOICE:
        return "choices" if many else "choice"
    if kind == FieldType.BOOL:
        return "bool"
    if kind == FieldType.INT:
        return "ints" if many else "int"
    if kind == FieldType.DATETIME:
        return "date"
    return "refs" if many else "ref"  # users, campaigns, target groups: by id


def field_sections() -> list[tuple[str, list[Field]]]:
    """The whitelist grouped for the field select: contact, company, memberships."""
    return [(title, [f for f in FIELDS.values() if f.table == table])
            for table, title in SECTIONS.items()]


def _ref_options(kind: FieldType) -> list[tuple[str, str]]:
    """(id, label) of the users, campaigns or target groups a row can pick, by name."""
    if kind == FieldType.USER:
        rows = db.session.execute(
            select(User.id, User.name, User.email)
            .order_by(User.name, User.email)
            .limit(MAX_OPTIONS)
        )
        return [(str(i), f"{name} <{email}>" if name else email) for i, name, email in rows]
    if kind == FieldType.CAMPAIGN:
        rows = db.session.execute(
            select(Campaign.id, Campaign.name, Campaign.number)
            .order_by(Campaign.name)
            .limit(MAX_OPTIONS)
        )
        return [(str(i), f"{name} ({number})" if number else name) for i, name, number in rows]
    rows = db.session.execute(
        select(TargetGroup.id, TargetGroup.name).order_by(TargetGroup.name).limit(MAX_OPTIONS)
    )
    return [(str(i), name) for i, name in rows]


@dataclass
class Row:
    """One condition as the builder shows it."""

    spec: Field
    op: str
    v: list[str] = field(default_factory=list)  # the value, or each picked value
    v2: str = ""  # the upper end of "between"
    activity_type: str = ""
    period: str = ""  # "", "within_last_days" or "planned_next_days"
    days: str = ""

    kind = "row"

    @property
    def widget(self) -> str:
        """Which value inputs the row shows."""
        return widget_for(self.spec, self.op)

    @property
    def operators(self) -> list[tuple[str, str]]:
        """(operator, label) pairs the field allows."""
        return [(op, OPERATOR_LABELS[op]) for op in self.spec.operators]

    @property
    def first(self) -> str:
        """The single value text (empty when none)."""
        return self.v[0] if self.v else ""

    def options(self) -> list[tuple[str, str]]:
        """(value, label) pairs for select-like widgets; picked ids missing from the list too."""
        kind = self.spec.type
        if kind == FieldType.BOOL:
            return [("true", _("yes")), ("false", _("no"))]
        if kind in (FieldType.CHOICE, FieldType.ACTIVITY):
            return [(c, label(c, type(c))) for c in self.spec.choices]
        options = _ref_options(kind)
        known = {value for value, _label in options}
        return options + [(v, _("#%(id)s (not found)", id=v)) for v in self.v if v not in known]

    def picked(self, value: str) -> bool:
        """Is this option among the row's values?"""
        return value in self.v


@dataclass
class Group:
    """``all`` / ``any`` of its children, optionally negated."""

    mode: str = "all"
    negated: bool = False
    children: list = field(default_factory=list)

    kind = "group"


@dataclass
class RawRow:
    """A condition the builder cannot edit (unknown field or operator): kept as it is."""

    node: object
    kind = "raw"


def _texts(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def row_from_node(node: dict) -> Row | RawRow:
    """A stored condition as a row; what the builder cannot show stays a raw row."""
    spec = FIELDS.get(node.get("field")) if isinstance(node.get("field"), str) else None
    op = node.get("op")
    if spec is None or op not in spec.operators:
        return RawRow(node)
    value = node.get("value")
    row = Row(spec, op)
    widget = row.widget
    if widget == "activity":
        value = value if isinstance(value, dict) else {}
        row.activity_type = str(value.get("type", ""))
        for period, _ in PERIODS[1:]:
            if period in value:
                row.period, row.days = period, str(value[period])
    elif widget in ("date-range", "int-range") and isinstance(value, list):
        row.v = _texts(value[0]) if value else []
        row.v2 = str(value[1]) if len(value) > 1 else ""
    elif widget in ("texts", "ints") and isinstance(value, list):
        row.v = [", ".join(str(v) for v in value)]
    elif isinstance(value, list):
        row.v = [t for v in value for t in _texts(v)]
    else:
        row.v = _texts(value)
    return row


# Widgets that can show each other's values: changing "is" to "is one of" keeps the value.
FAMILIES = ({"text", "texts"}, {"int", "ints", "int-range"}, {"choice", "choices"},
            {"ref", "refs"}, {"date", "date-range"})


def _same_family(a: str, b: str) -> bool:
    return a == b or any(a in family and b in family for family in FAMILIES)


def new_row(name: str | None = None, op: str | None = None, previous: dict | None = None) -> Row:
    """A row for field ``name`` (the first field when unknown) and ``op`` (its first when unfit).

    ``previous`` is what the row showed before its operator changed (its widget
    and input texts, as the browser sends them back): the value stays when the
    new widget can show it. A fresh row of a select field starts on the first
    option, so adding a row never breaks the tree.
    """
    spec = FIELDS.get(name or "") or next(iter(FIELDS.values()))
    row = Row(spec, op if op in spec.operators else spec.operators[0])
    if previous and _same_family(previous.get("widget", ""), row.widget):
        row.v = [v for v in previous.get("v", []) if v != ""]
        row.v2 = previous.get("v2", "")
        row.activity_type = previous.get("activity_type", "")
        row.period, row.days = previous.get("period", ""), previous.get("days", "")
    if row.widget in ("choice", "ref", "date", "int", "text", "days"):
        row.v = row.v[:1]  # a single-value widget shows the first of several
    if not row.v and row.widget == "bool":
        row.v = ["false"]  # "email opt-out is no": the condition people mean most often
    if not row.v and row.widget in ("choice", "ref"):
        options = row.options()
        row.v = [options[0][0]] if options else []
    return row


# Fields a preview cannot show as one value per contact (memberships, activities).
NOT_SHOWN = {FieldType.CAMPAIGN, FieldType.GROUP, FieldType.ACTIVITY}


def used_fields(tree) -> list[Field]:
    """The whitelisted fields a tree's conditions use, in order, once each: the preview
    shows them beside each contact (a company-city condition shows the company's city)."""
    found: dict[str, Field] = {}
    stack = [tree]
    while stack:  # depth-first, left to right, without recursion
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        children = [node["not"]] if "not" in node else []
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                children.extend(node[key])
        stack.extend(reversed(children))
        spec = FIELDS.get(node.get("field")) if isinstance(node.get("field"), str) else None
        if spec is not None and spec.type not in NOT_SHOWN:
            found.setdefault(spec.name, spec)
    return list(found.values())


def shown_value(contact, spec: Field) -> str:
    """A contact's value of a whitelisted field, as the preview shows it."""
    if spec.table == "companies":
        company = contact.company
        value = getattr(company, spec.column) if company is not None else None
    elif spec.name == "owner":
        value = contact.owner
    elif spec.name == "email_domain":
        value = (contact.email or "").rpartition("@")[2]
    else:
        value = getattr(contact, spec.name, None)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "astimezone"):
        return value.astimezone(installation_tz()).strftime("%Y-%m-%d")
    return "" if value is None else str(value)


def group_from_node(node: dict) -> Group:
    """A group (all / any, maybe under not) and its children as builder nodes."""
    negated = False
    if "not" in node:
        negated, node = True, node["not"]
        if not isinstance(node, dict) or not ({"all", "any"} & set(node)):
            return Group("all", True, [node_from_tree(node)])  # "not" of a single condition
    mode = "any" if "any" in node else "all"
    children = node.get(mode)
    children = children if isinstance(children, list) else []
    return Group(mode, negated, [node_from_tree(child) for child in children])


def node_from_tree(node) -> Group | Row | RawRow:
    """Any node of a stored tree as what the builder shows."""
    if not isinstance(node, dict):
        return RawRow(node)
    if {"all", "any", "not"} & set(node):
        return group_from_node(node)
    return row_from_node(node)


def root_from_tree(tree) -> Group:
    """The builder always edits a group at the root (a bare condition becomes all of one)."""
    node = node_from_tree(tree if isinstance(tree, dict) else {"all": []})
    return node if isinstance(node, Group) else Group("all", False, [node])
