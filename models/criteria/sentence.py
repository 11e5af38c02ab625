"""A tree of conditions as one sentence a person reads: "Language is Finnish and company
city is Helsinki". Used wherever conditions are shown (a group's page, saved filters, jobs,
scheduled actions) instead of the JSON."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from ..base import db
from .fields import FIELDS, OPERATOR_LABELS, FieldType

MAX_DEPTH = 20
MAX_VALUES = 10  # an "is one of" list longer than this is shortened: "a, b, … (25 values)"


def _ref_names(tree) -> dict[tuple[FieldType, int], str]:
    """The names of the users, campaigns and groups the tree picks by id (one query each)."""
    from ..campaigns import Campaign
    from ..groups import TargetGroup
    from ..users import User

    wanted: dict[FieldType, set[int]] = {}
    stack = [tree]
    while stack:  # no recursion: a stored tree may be deep
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                stack.extend(node[key])
        if "not" in node:
            stack.append(node["not"])
        spec = FIELDS.get(node.get("field")) if isinstance(node.get("field"), str) else None
        if spec and spec.type in (FieldType.USER, FieldType.CAMPAIGN, FieldType.GROUP):
            values = node.get("value") if isinstance(node.get("value"), list) else [
                node.get("value")]
            wanted.setdefault(spec.type, set()).update(
                v for v in values if isinstance(v, int) and not isinstance(v, bool))
    names: dict[tuple[FieldType, int], str] = {}
    columns = {FieldType.USER: (User.id, User.name, User.email),
               FieldType.CAMPAIGN: (Campaign.id, Campaign.name, Campaign.number),
               FieldType.GROUP: (TargetGroup.id, TargetGroup.name, TargetGroup.name)}
    for kind, ids in wanted.items():
        id_col, name_col, other_col = columns[kind]
        for row_id, name, other in db.session.execute(
                select(id_col, name_col, other_col).where(id_col.in_(sorted(ids)[:1000]))):
            names[(kind, row_id)] = name or other
    return names


def _value_words(spec, value, names) -> str:
    # Here, not at the top: models.labels imports the models this package is imported by.
    from ..activities import ActivityType
    from ..labels import label

    def one(v) -> str:
        if isinstance(v, bool):
            return _("yes") if v else _("no")
        if spec is not None and spec.type in (FieldType.USER, FieldType.CAMPAIGN,
                                              FieldType.GROUP):
            return names.get((spec.type, v), f"#{v}")
        if spec is not None and spec.name == "language":
            return str(label(v, "language"))  # "Finnish" in the reader's words, not "fi"
        if spec is not None and spec.choices and isinstance(v, str):
            return str(label(v, type(spec.choices[0])))  # "Lead", not "lead"
        return str(v)

    if isinstance(value, dict):  # activity: {"type": "call", "within_last_days": 30}
        parts = [str(label(value["type"], ActivityType)).lower() if value.get("type")
                 else _("any activity")]
        if "within_last_days" in value:
            parts.append(_("in the last %(days)s days", days=value["within_last_days"]))
        if "planned_next_days" in value:
            parts.append(_("planned in the next %(days)s days", days=value["planned_next_days"]))
        return " ".join(parts)
    if isinstance(value, list):
        shown = [one(v) for v in value[:MAX_VALUES]]
        if len(value) > MAX_VALUES:
            shown.append(_("… (%(count)s values)", count=len(value)))
        return ", ".join(shown)
    return one(value)


def _condition(node: dict, names, first: bool) -> str:
    spec = FIELDS.get(node.get("field")) if isinstance(node.get("field"), str) else None
    label = spec.label if spec else str(node.get("field"))
    if not first:
        label = label[:1].lower() + label[1:]
    op = node.get("op")
    if op == "between" and isinstance(node.get("value"), list) and len(node["value"]) == 2:
        low, high = node["value"]
        return _("%(field)s is between %(low)s and %(high)s", field=label, low=low, high=high)
    if op in ("within_last_days", "older_than_days"):
        days = node.get("value")
        words = (_("%(field)s within the last %(days)s days", field=label, days=days)
                 if op == "within_last_days"
                 else _("%(field)s more than %(days)s days ago", field=label, days=days))
        return words
    words = f"{label} {OPERATOR_LABELS.get(op, str(op))}"
    if "value" in node:
        words += " " + _value_words(spec, node["value"], names)
    return words


def condition_words(node: dict) -> str:
    """One condition alone, as the sentence says it: "City contains Tur" (explain's lines)."""
    return _condition(node, _ref_names(node), True)


def sentence(tree) -> str:
    """The tree in words; "every contact" when it has no condition."""
    names = _ref_names(tree)

    def walk(node, first: bool, nested: bool, depth: int = 0) -> str:
        if not isinstance(node, dict):
            return str(node)
        if depth > MAX_DEPTH:  # validation stops trees far sooner; never recurse without end
            return "…"
        if "not" in node:
            return _("not (%(inner)s)", inner=walk(node["not"], False, False, depth + 1))
        for key, joiner in (("all", _(" and ")), ("any", _(" or "))):
            if key in node:
                children = node[key] if isinstance(node[key], list) else []
                if not children:
                    return _("every contact") if key == "all" else _("no contact")
                words = joiner.join(walk(c, first and i == 0, True, depth + 1)
                                    for i, c in enumerate(children))
                return f"({words})" if nested and len(children) > 1 else words
        return _condition(node, names, first)

    text = walk(tree, True, False)
    return text[:1].upper() + text[1:]
