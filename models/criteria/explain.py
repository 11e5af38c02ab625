"""Why a contact is, or is not, in a group: every condition of the tree, held or not."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from ..base import db
from .compiler import condition_holds
from .sentence import condition_words


def describe(node: dict) -> str:
    """A condition as a person would say it: "City contains Tur"."""
    if "all" in node:
        return _("all of")
    if "any" in node:
        return _("any of")
    if "not" in node:
        return _("not")
    return condition_words(node)


def explain(tree: dict, contact_id: int, now: datetime, tz: ZoneInfo) -> dict:
    """The tree with ``holds`` on every node, for one contact (one small query per node)."""

    def walk(node: dict, path: str) -> dict:
        holds = bool(db.session.scalar(condition_holds(node, contact_id, now, tz)))
        result = {"path": path or "(root)", "text": describe(node), "holds": holds}
        for key in ("all", "any"):
            if key in node:
                result["children"] = [
                    walk(child, f"{path + '.' if path else ''}{key}[{i}]")
                    for i, child in enumerate(node[key])
                ]
        if "not" in node:
            result["children"] = [walk(node["not"], f"{path + '.' if path else ''}not")]
        return result

    return walk(tree, "")
