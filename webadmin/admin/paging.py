"""Lists that stay fast at a million rows (issue 17), mixed into every model list.

* **The count** is the planner's estimate above ``models.counting.EXACT_BELOW`` rows on
  PostgreSQL ("about 1.0M"), exact below it and on SQLite; a link under the list counts
  exactly on demand (``?exact_count=1``).
* **Deep pages** are refused with a hint: ``OFFSET 250,000`` reads and throws away a
  quarter of a million rows (~0.8 s at 1M contacts), and nobody pages that far to find
  someone; a search, a filter or the other sort order finds them at once.
"""

from __future__ import annotations

from flask import flash, g, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func
from sqlalchemy.orm import Query

from models import CampaignMember
from models.counting import key_counts, list_count

# Rows a list may skip (page × page size): page 200 of 50. Past it, the hint.
MAX_OFFSET = 10_000


class EstimatedCount(int):
    """A list's row count taken from the planner's statistics: an int for the pager's
    arithmetic that reads "about 1.0M" wherever the page prints it."""

    def __str__(self) -> str:
        return about(int(self))

    def __format__(self, spec: str) -> str:
        # "{}" and Jinja's output read as the estimate; a numeric spec as the number.
        return str(self) if not spec else format(int(self), spec)


def about(n: int) -> str:
    """A rounded row count for people: "about 1.0M", "about 52k", "about 900"."""
    if n >= 1_000_000:
        rounded = f"{n / 1_000_000:.1f}M"
    elif n >= 10_000:
        rounded = f"{n / 1_000:.0f}k"
    else:
        rounded = f"{n:,}"
    return _("about %(count)s", count=rounded)


class CountQuery(Query):
    """The list's count query (Flask-Admin adds the search and filters to it as to the
    rows' query): ``scalar()`` answers the estimate or the exact count
    (``models.counting.list_count``). ``exact`` travels with every copy the filters make."""

    exact = False

    def scalar(self):  # noqa: D102 (Query.scalar, answered as described above)
        count, estimated = list_count(self.statement, exact=self.exact)
        return EstimatedCount(count) if estimated else count


class PagingMixin:
    """For ``SecureModelView``: an estimated count with an exact one on demand, and deep
    pages refused with a hint to filter."""

    max_offset = MAX_OFFSET

    def get_count_query(self):
        """Flask-Admin's count query, as a ``CountQuery``."""
        query = CountQuery([func.count("*")], session=self.session).select_from(self.model)
        query.exact = request.args.get("exact_count") == "1"
        return query

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        """Flask-Admin's rows and count; a page past ``max_offset`` rows gets no rows, only
        the count and a hint (the OFFSET is never run)."""
        size = self.page_size if page_size is None else page_size
        if execute and page and size and page * size >= self.max_offset:
            count, _query = super().get_list(page, sort_column, sort_desc, search, filters,
                                             execute=False, page_size=page_size)
            flash(_("Pages past the first %(rows)s rows are not shown: search, filter or "
                    "sort the other way to find what you are looking for.",
                    rows=f"{self.max_offset:,}"), "warning")
            return count, []
        return super().get_list(page, sort_column, sort_desc, search, filters,
                                execute=execute, page_size=page_size)

    @staticmethod
    def count_is_estimate(count) -> bool:
        """For the list template: is the count shown an estimate?"""
        return isinstance(count, EstimatedCount)

    @staticmethod
    def exact_count_url() -> str:
        """This list as it is, counted exactly."""
        args = request.args.to_dict(flat=False)
        args["exact_count"] = ["1"]
        return url_for(request.endpoint, **(request.view_args or {}), **args)


def member_counts(context, campaign_id: int) -> str:
    """For a campaign list's formatter: the campaign's members as shown, counted for every
    campaign on the page at once (``models.counting.key_counts``: big ones estimated)."""
    counts = g.get("kohde_member_counts")
    if counts is None or campaign_id not in counts:
        ids = [row.id for row in context.get("data") or []] or [campaign_id]
        counts = g.kohde_member_counts = key_counts(CampaignMember.campaign_id, ids)
    count, estimated = counts.get(campaign_id, (0, False))
    return str(EstimatedCount(count)) if estimated else f"{count:,}"
