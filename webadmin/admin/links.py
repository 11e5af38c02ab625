"""A record named on a page as words that link to it: a target group with its conditions
as a sentence, a campaign by number and name, any record by its name (or "#7 (deleted)").
Job results and scheduled actions show their targets with these."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from models import TargetGroup, db
from models.criteria.sentence import sentence

MAX_ID = 2**31  # a larger number is no stored id (and would overflow PostgreSQL's integer)


def link(endpoint: str, label, **args) -> Markup:
    """``label`` as a link to ``endpoint``."""
    return Markup(f'<a href="{escape(url_for(endpoint, **args))}">{escape(label)}</a>')


def record_link(model, endpoint: str, record_id) -> Markup | str:
    """The record with this id as a link to its page (its ``str()`` is the label: a campaign
    reads "2026-00001 Spring"); a deleted one says so."""
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        return "" if record_id is None else str(record_id)
    found = db.session.get(model, record_id) if record_id < MAX_ID else None
    if found is None:
        return _("#%(id)s (deleted)", id=record_id)
    return link(endpoint, found, id=record_id)


def group_in_words(group_id) -> Markup | str:
    """A target group as a link with its conditions in words: "Turku (City is Turku)"."""
    shown = record_link(TargetGroup, "targetgroup.details_view", group_id)
    group = db.session.get(TargetGroup, group_id) if isinstance(group_id, int) \
        and not isinstance(group_id, bool) and group_id < MAX_ID else None
    if group is None:
        return shown
    return Markup('{} <span class="text-muted small" data-criteria-sentence>({})</span>').format(
        shown, sentence(group.criteria))
