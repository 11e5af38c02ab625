"""A list's date-time filters read what a person types as the installation's wall-clock
time (Helsinki here), as every page shows times, and compare the UTC instant it names;
the filter box keeps the typed text. Rows sit just inside and just outside each bound,
around both daylight-saving changes of 2026 (29 March: 03:00 → 04:00; 25 October:
04:00 → 03:00, so 03:00–03:59 happens twice)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from flask_admin.contrib.sqla import filters as sqla
from sqlalchemy import select

from models import Activity, Contact, Settings, db
from models.settings import local_to_utc
from tests.conftest import csrf_token
from webadmin.admin.bulk.selection import filters_of, list_args

LIST = "/admin/contact/"


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# name → created_at (UTC), and the Helsinki wall-clock time the list shows for it.
ROWS = {
    "fall-before": utc(2026, 10, 24, 23, 59),  # 02:59 summer time
    "fall-first-0329": utc(2026, 10, 25, 0, 29),  # 03:29 summer time (the first 03:29)
    "fall-first-0330": utc(2026, 10, 25, 0, 30),  # 03:30 summer time (the first 03:30)
    "fall-first-0331": utc(2026, 10, 25, 0, 31),  # 03:31 summer time
    "fall-second-0329": utc(2026, 10, 25, 1, 29),  # 03:29 winter time (the second one)
    "fall-0400": utc(2026, 10, 25, 2, 0),  # 04:00 winter time
    "fall-0401": utc(2026, 10, 25, 2, 1),  # 04:01 winter time
    "spring-0259": utc(2026, 3, 29, 0, 59),  # 02:59 winter time, just before the gap
    "spring-0400": utc(2026, 3, 29, 1, 0, 30),  # 04:00:30 summer time, just after it
    "spring-0429": utc(2026, 3, 29, 1, 29),  # 04:29 summer time
    "spring-0431": utc(2026, 3, 29, 1, 31),  # 04:31 summer time
}


@pytest.fixture
def rows(ctx):
    Settings.get().timezone = "Europe/Helsinki"
    db.session.add_all(Contact(first_name=name, last_name="Row", email=f"{name}@example.fi",
                               created_at=at) for name, at in ROWS.items())
    db.session.commit()


def _key(app, kind) -> str:
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == "contact")
    for key, (_index, flt) in view._filter_args.items():
        if str(flt.name) == "Created" and isinstance(flt, kind):
            return key
    raise AssertionError(f"no {kind.__name__} filter on Created")


def _listed(admin_client, app, kind, typed: str) -> tuple[set[str], str]:
    """The row names the contact list shows with the "Created" filter ``kind`` set to the
    typed text, and the text its filter box is filled with again."""
    response = admin_client.get(LIST, query_string={f"flt0_{_key(app, kind)}": typed,
                                                    "page_size": 100})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Invalid Filter Value" not in page, typed
    active = re.search(r'id="active-filters-data"[^>]*>(.*?)</div>', page, re.S)
    shown = json.loads(active.group(1))[0][2] if active else None
    return {name for name in ROWS if f"{name}@example.fi" in page}, shown


FALL = {"fall-before", "fall-first-0329", "fall-first-0330", "fall-first-0331",
        "fall-second-0329", "fall-0400", "fall-0401"}
SPRING = {"spring-0259", "spring-0400", "spring-0429", "spring-0431"}


@pytest.mark.parametrize("kind, typed, expected", [
    # 03:30 on 25 October happens twice; a typed time means the first (00:30 UTC), as the
    # edit forms and scheduled actions read it. The second 03:29 is an hour later.
    (sqla.DateTimeGreaterFilter, "2026-10-25 03:30:00",
     {"fall-first-0331", "fall-second-0329", "fall-0400", "fall-0401"}),
    (sqla.DateTimeSmallerFilter, "2026-10-25 03:30:00",
     {"fall-before", "fall-first-0329"} | SPRING),
    (sqla.DateTimeEqualFilter, "2026-10-25 03:30:00", {"fall-first-0330"}),
    (sqla.DateTimeEqualFilter, "2026-10-25 03:30", {"fall-first-0330"}),  # as pages show it
    (sqla.DateTimeNotEqualFilter, "2026-10-25 03:30:00", set(ROWS) - {"fall-first-0330"}),
    # 03:00 (the first) to 04:00 takes in both 03:xx hours: 00:00 to 02:00 UTC.
    (sqla.DateTimeBetweenFilter, "2026-10-25 03:00:00 to 2026-10-25 04:00:00",
     FALL - {"fall-before", "fall-0401"}),
    (sqla.DateTimeNotBetweenFilter, "2026-10-25 03:00:00 to 2026-10-25 04:00:00",
     {"fall-before", "fall-0401"} | SPRING),
    # Summer time from 29 March: 04:30 there is 01:30 UTC (not 02:30, not 04:30).
    (sqla.DateTimeSmallerFilter, "2026-03-29 04:30:00", {"spring-0259", "spring-0400",
                                                         "spring-0429"}),
    (sqla.DateTimeGreaterFilter, "2026-03-29 04:30:00", {"spring-0431"} | FALL),
    (sqla.DateTimeBetweenFilter, "2026-03-29 04:29:30 to 2026-03-29 04:30:30",
     set()),
    (sqla.DateTimeBetweenFilter, "2026-03-29 04:28:30 to 2026-03-29 04:29:30",
     {"spring-0429"}),
    # 03:30 does not exist on 29 March: it is read as 04:00, the first minute after the gap.
    (sqla.DateTimeGreaterFilter, "2026-03-29 03:30:00", {"spring-0400", "spring-0429",
                                                         "spring-0431"} | FALL),
    (sqla.DateTimeSmallerFilter, "2026-03-29 03:30:00", {"spring-0259"}),
])
def test_a_typed_moment_is_local_time_and_the_box_keeps_it(admin_client, app, rows, kind,
                                                           typed, expected):
    listed, shown = _listed(admin_client, app, kind, typed)
    assert listed == expected
    assert shown == typed


def test_each_date_time_filter_of_a_list_reads_local_time(app, rows):
    """Every filter a UTCDateTime column offers converts (none is Flask-Admin's own)."""
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == "contact")
    created = [flt for _i, flt in view._filter_args.values() if str(flt.name) == "Created"]
    assert len(created) == 7
    for flt in created:
        assert isinstance(flt, sqla.FilterEmpty) or type(flt).__module__ == \
            "webadmin.admin.filters", type(flt)


@pytest.mark.parametrize("typed", ["2026-10-25", "25.10.2026 03:30", "2026-10-25 25:00",
                                   "0001-01-01 00:00:00",
                                   "2026-10-25 04:00:00 to 2026-10-25 03:00:00"])
def test_what_is_not_a_moment_is_refused_not_a_500(admin_client, app, rows, typed):
    kind = sqla.DateTimeBetweenFilter if " to " in typed else sqla.DateTimeGreaterFilter
    response = admin_client.get(LIST, query_string={f"flt0_{_key(app, kind)}": typed})
    assert response.status_code == 200
    assert "Invalid Filter Value" in response.get_data(as_text=True)


def test_select_all_that_match_stores_the_same_utc_instants(app, rows):
    """A bulk action over "all that match" selects what the filtered list shows."""
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == "contact")
    greater = _key(app, sqla.DateTimeGreaterFilter)
    between = _key(app, sqla.DateTimeBetweenFilter)
    url = (f"{LIST}?flt0_{greater}=2026-10-25+03:30:00"
           f"&flt1_{between}=2026-03-29+04:30:00+to+2026-10-25+04:00:00")
    assert filters_of(view, list_args(url)) == [
        ["created_at", "gt", "2026-10-25T00:30:00+00:00"],
        ["created_at", "between", ["2026-03-29T01:30:00+00:00", "2026-10-25T02:00:00+00:00"]],
    ]


def test_the_bulk_confirmation_says_the_moments_as_they_were_typed(app, admin_client, rows):
    """"Select all that match" compares UTC instants and says them in local time again."""
    greater = _key(app, sqla.DateTimeGreaterFilter)
    url = f"{LIST}?flt0_{greater}=2026-10-25+03:30:00"
    token = csrf_token(admin_client, url)
    confirm = admin_client.post(f"{LIST}action/", data={
        "csrf_token": token, "action": "set_owner", "url": url, "rowid": ["1"],
        "select_all": "1"})
    page = confirm.get_data(as_text=True)
    assert 'data-total="4"' in page  # fall-first-0331, fall-second-0329, fall-0400, fall-0401
    said = re.search(r"<p[^>]*data-selection>(.*?)</p>", page, re.S).group(1)
    assert "created_at gt 2026-10-25 03:30:00" in said and "+00:00" not in said


def test_an_activity_saved_at_a_typed_time_is_found_by_filtering_on_those_words(
        admin_client, admin_user, app, rows):
    """The edit form and the list filter read a typed time alike (models.settings.local_to_utc),
    even in the hour the clocks skip; a moment no database holds is a form error."""
    token = csrf_token(admin_client, "/admin/activity/new/")
    form = {"csrf_token": token, "type": "call", "subject": "Gap", "number": "",
            "owner": str(admin_user.id), "start_at": "2026-03-29 03:30:00",
            "end_at": "2026-03-29 04:30:00", "status": "planned"}
    assert admin_client.post("/admin/activity/new/", data=form).status_code == 302
    made = db.session.scalars(select(Activity).filter_by(subject="Gap")).one()
    assert made.start_at == utc(2026, 3, 29, 1, 0)  # 04:00 summer time, first after the gap
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == "activity")
    key = next(k for k, (_i, flt) in view._filter_args.items()
               if str(flt.name) == "Start" and type(flt).__name__.endswith("DateTimeEqualFilter"))
    found = admin_client.get("/admin/activity/", query_string={f"flt0_{key}": "2026-03-29 03:30"})
    assert f"details/?id={made.id}" in found.get_data(as_text=True)

    refused = admin_client.post("/admin/activity/new/", data={
        **form, "subject": "Never", "start_at": "0001-01-01 00:00:00"})
    assert refused.status_code == 200
    assert "outside the range that can be stored" in refused.get_data(as_text=True)


def test_forms_and_filters_read_a_typed_time_alike(rows):
    """The edit forms save a typed time by the same rule (models.settings.local_to_utc)."""
    assert local_to_utc(datetime(2026, 10, 25, 3, 30)) == utc(2026, 10, 25, 0, 30)
    assert local_to_utc(datetime(2026, 3, 29, 3, 30)) == utc(2026, 3, 29, 1, 0)
    assert local_to_utc(datetime(2026, 12, 1, 9, 0)) == utc(2026, 12, 1, 7, 0)
    with pytest.raises(ValueError):
        local_to_utc(datetime(1, 1, 1))


def test_the_command_lines_filter_reads_typed_times_as_the_list_does(rows):
    from models.selections import Selection, count, parse_filter, selected

    def names(text: str) -> set[str]:
        selection = Selection("contacts", filters=(tuple(parse_filter("contacts", text)),))
        found = set(db.session.scalars(select(Contact.first_name).where(
            Contact.id.in_(selected(selection, Contact.id)))))
        assert count(selection) == len(found)
        return found

    # 03:30 on the morning the clocks go back is the first 03:30 (summer time), as a form
    # and the list's filter box read it; an offset written out is taken as it is.
    assert names("created_at gt 2026-10-25 03:30") == {
        "fall-first-0331", "fall-second-0329", "fall-0400", "fall-0401"}
    assert names("created_at gt 2026-10-25T03:30+02:00") == {"fall-0400", "fall-0401"}
    assert names("created_at between 2026-03-29 02:59,2026-03-29 04:29") == {
        "spring-0259", "spring-0400", "spring-0429"}
