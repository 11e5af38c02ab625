"""Related lists on record pages: which list is expanded ("show all"), its page, and times
in the installation's zone.

A details page shows each related list bounded (``SHORT`` rows); its "show all" link
opens the same page with ``?all=<list>``, which pages that one list ``LONG`` rows at a
time. The queries are in ``models/related.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import request

from models.related import Page

from ..i18n import localtime
from .audit_words import bulk_summary_words, change_value, field_label

SHORT, LONG = 10, 100
MAX_PAGE = 10_000  # far past any list a person pages through


@dataclass
class Section:
    """One related list as a page shows it."""

    name: str
    page: Page
    expanded: bool
    number: int  # the page number, from 1

    @property
    def rows(self) -> list:
        """The rows shown."""
        return self.page.rows


def section(name: str, fetch: Callable[[int, int], Page], short: int = SHORT) -> Section:
    """The list ``name`` for this request: ``short`` rows, or with ``?all=name`` a page of
    ``LONG`` (``&page=N``). ``fetch(limit, offset)`` is a models/related.py function."""
    expanded = request.args.get("all") == name
    number = 1
    if expanded:
        raw = request.args.get("page", "1")
        number = min(max(int(raw), 1), MAX_PAGE) if raw.isascii() and raw.isdigit() else 1
    limit = LONG if expanded else short
    return Section(name, fetch(limit, (number - 1) * limit), expanded, number)


def when(value: datetime | None, with_seconds: bool = False) -> str:
    """A stored UTC time as people read it: in the installation's zone and the reader's
    format (``webadmin.i18n.localtime``, the one formatter of moments)."""
    return localtime(value, seconds=with_seconds)


class RelatedPagesMixin:
    """For views whose pages show related lists: ``when`` (local times) and the change
    history's ``field_label`` / ``change_value`` / ``bulk_summary_words`` in every
    template they render, plus
    whatever ``related_context`` adds to the details page. (Codes in words: the ``label``
    filter, models/labels.py.)"""

    def related_context(self, model) -> dict:
        """The details page's related lists (a view overrides it)."""
        return {}

    def render(self, template, **kwargs):  # noqa: D102
        kwargs.setdefault("when", when)
        kwargs.setdefault("field_label", field_label)
        kwargs.setdefault("change_value", change_value)
        kwargs.setdefault("bulk_summary_words", bulk_summary_words)
        model = kwargs.get("model")
        if template == getattr(self, "details_template", None) and model is not None:
            kwargs.update(self.related_context(model))
        return super().render(template, **kwargs)
