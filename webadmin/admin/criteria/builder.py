"""The criteria builder: the form field that shows it and the htmx endpoints it talks to.

The builder edits a tree in the page (rows and groups rendered here, turned
into JSON by criteria-builder.js into the hidden ``criteria`` input), so the
normal Flask-Admin save still posts one field. Endpoints under /admin/criteria/:

- ``GET  row``, ``GET group``: a condition row / a nested group, as HTML.
- ``POST count``: how many contacts a tree matches; ``POST preview``: the first
  20 of them. An invalid tree answers 400 with every problem by path.
- ``GET  explain/<contact_id>``: why a contact is or is not in each target group.

POSTs take ``criteria`` (JSON text) and optional ``group_id`` as form fields,
or the same keys in a JSON body (then the answer is JSON too); the CSRF token
comes in the X-CSRFToken header that layout.html makes htmx send.
"""

from __future__ import annotations

import json

from flask import abort, jsonify, render_template, request
from flask_admin import expose
from flask_admin.form import JSONField
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy import func, select

from models import Contact, TargetGroup, db, utcnow
from models.criteria import matching_ids, validate
from models.criteria.validation import loads
from models.groups.queries import count_matches, explain_membership, preview
from models.settings import installation_tz
from models.text import unstorable

from ..base import SecureView
from .rows import PERIODS, Group, field_sections, new_row, root_from_tree, shown_value, used_fields

PREVIEW_SIZE = 20
EXPLAIN_GROUPS = 20  # an explanation costs a few queries per group: keep the panel quick


def split_problem(problem: str) -> dict:
    """ "all[0].value: expected …" → {"path": "all[0].value", "message": "expected …"}."""
    path, _, message = problem.partition(": ")
    return {"path": path, "message": message or path}


def _builder_context(**extra) -> dict:
    return {"sections": field_sections(), "periods": PERIODS, **extra}


class CriteriaBuilderWidget:
    """Renders the builder for a criteria field; the tree travels in a hidden input."""

    def __call__(self, field, **kwargs) -> Markup:
        # Flask-Admin passes "form-control" (wrong for a box of rows) and "is-invalid"
        # (which its error list below the field needs on the preceding element).
        classes = " ".join(c for c in kwargs.get("class", "").split() if c != "form-control")
        tree, text = _tree_and_text(field)
        return Markup(render_template(
            "kohde/criteria/builder.html",
            **_builder_context(field=field, value=text, root=root_from_tree(tree),
                               classes=classes, group_id=getattr(field, "group_id", None)),
        ))


def _tree_and_text(field) -> tuple[object, str]:
    """The tree to show and the JSON text to keep; a rejected post shows what was sent."""
    if field.raw_data and field.raw_data[0]:
        text = field.raw_data[0]
        tree, problems = loads(text)
        if not problems and unstorable(json.dumps(tree, ensure_ascii=False)):
            problems = ["lone surrogates"]  # not shown as rows (a page cannot hold them)
        return ({"all": []} if problems else tree), text
    tree = field.data if isinstance(field.data, dict) and field.data else {"all": []}
    return tree, json.dumps(tree, ensure_ascii=False)


class CriteriaField(JSONField):
    """A JSON criteria column edited with the builder (``group_id`` set on group edit pages)."""

    widget = CriteriaBuilderWidget()
    group_id: int | None = None

    def process_formdata(self, valuelist):
        """The posted JSON, read without recursion limits breaking the page (the tree's
        problems are the validator's to list)."""
        if valuelist and valuelist[0]:
            tree, problems = loads(valuelist[0])
            if problems:
                raise ValueError(problems[0].partition(": ")[2])
            self.data = tree
        else:
            super().process_formdata(valuelist)


class CriteriaBuilderView(SecureView):
    """The builder's partials and live answers (no menu entry: pages call it)."""

    def is_visible(self) -> bool:
        """Never in the menu: only the builder and the contact page call these."""
        return False

    @expose("/")
    def index(self):
        """Nothing to show on its own."""
        abort(404)

    @expose("/row")
    def row(self):
        """A condition row: a fresh one for ``cb_field``, or the same row with a new operator."""
        args = request.args
        previous = None
        if args.get("cb_widget"):  # the operator changed: keep the value where it fits
            previous = {
                "widget": args["cb_widget"], "v": args.getlist("cb_v"),
                "v2": args.get("cb_v2", ""), "activity_type": args.get("cb_atype", ""),
                "period": args.get("cb_period", ""), "days": args.get("cb_days", ""),
            }
        row = new_row(args.get("cb_field"), args.get("cb_op"), previous)
        return render_template("kohde/criteria/_node.html", **_builder_context(node=row))

    @expose("/group")
    def group(self):
        """A nested group holding one fresh row."""
        node = Group("all", False, [new_row()])
        return render_template("kohde/criteria/_node.html", **_builder_context(node=node))

    @expose("/count", methods=["POST"])
    def count(self):
        """How many contacts match the posted tree, or its problems (400); values nobody has
        typed yet are no problem to show until the user acts (``touched``)."""
        tree, group_id, problems = _posted_tree()
        if problems and _only_unfilled(problems):
            return render_template("kohde/criteria/_count.html", incomplete=True)
        if problems:
            return _problems("kohde/criteria/_count.html", problems)
        number = count_matches(tree)
        if request.is_json:
            return jsonify(count=number)
        return render_template("kohde/criteria/_count.html", count=number, group_id=group_id)

    @expose("/preview", methods=["POST"])
    def preview(self):
        """The first matching contacts (by id), or the tree's problems (400)."""
        tree, _, problems = _posted_tree()
        if problems and _only_unfilled(problems):
            return render_template("kohde/criteria/_preview.html", incomplete=True)
        if problems:
            return _problems("kohde/criteria/_preview.html", problems)
        contacts = preview(matching_ids(tree, utcnow(), installation_tz()), PREVIEW_SIZE)
        if request.is_json:
            return jsonify(contacts=[{"id": c.id, "name": str(c), "email": c.email}
                                     for c in contacts])
        return render_template("kohde/criteria/_preview.html", contacts=contacts,
                               limit=PREVIEW_SIZE, columns=used_fields(tree),
                               shown=shown_value)

    @expose("/explain/<int:contact_id>")
    def explain(self, contact_id: int):
        """For the first target groups by name: is the contact a member, and why (not)."""
        contact = db.session.get(Contact, contact_id)
        if contact is None:
            abort(404)
        total = db.session.scalar(select(func.count()).select_from(TargetGroup))
        groups = db.session.scalars(
            select(TargetGroup).order_by(TargetGroup.name, TargetGroup.id).limit(EXPLAIN_GROUPS)
        )
        panels = []
        for group in groups:
            # Checked here: explain_membership compiles node by node before it checks the
            # tree, so a group saved before validation existed would raise a KeyError.
            problems = validate(group.criteria, group.id)
            if problems:
                panels.append({"group": {"id": group.id, "name": group.name}, "errors": problems})
            else:
                panels.append(explain_membership(group, contact))
        return render_template("kohde/criteria/_explain.html", panels=panels, total=total,
                               contact=contact)


def _posted_tree() -> tuple[object, int | None, list[str]]:
    """The tree and group id from a form or JSON post, and every problem with them."""
    if request.is_json:
        body, problems = loads(request.get_data(as_text=True))
        if problems or not isinstance(body, dict):
            return None, None, ["(request): " + gettext('expected a JSON object {"criteria": {…}}')]
        tree, group_id = body.get("criteria"), body.get("group_id")
        group_id = group_id if isinstance(group_id, int) else None
    else:
        group_id = request.form.get("group_id", type=int)
        tree, problems = loads(request.form.get("criteria", ""))
        if problems:
            return None, group_id, problems
    return tree, group_id, validate(tree, group_id)


def _unfilled(problem: str) -> bool:
    # A value left empty: what a fresh row has before anyone typed in it.
    return problem.endswith(("got ''", "got None")) or "needs a non-empty list" in problem


def _only_unfilled(problems: list[str]) -> bool:
    """For a form post the user has not typed in yet (``touched`` is empty): every problem
    is an empty value, so the builder says "fill in" instead of listing errors."""
    if request.is_json or request.form.get("touched"):
        return False
    return all(_unfilled(p) for p in problems)


def _problems(template: str, problems: list[str]):
    """400 with every problem by path: JSON for JSON posts, the partial for htmx."""
    if request.is_json:
        return jsonify(errors=problems), 400
    return render_template(template, errors=[split_problem(p) for p in problems]), 400
