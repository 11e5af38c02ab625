"""The calendar page, mass-creation from a target group's page and the .ics feed, over HTTP."""

import re
from datetime import UTC, datetime, time, timedelta
from html import unescape
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import event, func, select

from jobs.groups import refresh
from models import (
    Activity,
    ActivityStatus,
    Company,
    Contact,
    JobRun,
    JobStatus,
    Role,
    TargetGroup,
    db,
)
from tests.conftest import activity_slots, csrf_token, make_user

HELSINKI = ZoneInfo("Europe/Helsinki")
WEDNESDAY, FRIDAY, NEXT_MONDAY = "2026-11-25", "2026-11-27", "2026-11-30"


def local(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}").replace(tzinfo=HELSINKI)


class GridParser(HTMLParser):
    """Where each activity link sits in the calendar table: (day, hour, column index)."""

    def __init__(self):
        super().__init__()
        self.in_grid, self.column, self.cell = False, -1, None
        self.columns: dict[str, int] = {}  # header day -> column index
        self.placed: dict[int, tuple[str, int, int]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "kohde-cal" in (attrs.get("class") or "").split():
            self.in_grid = True
        if not self.in_grid:
            return
        if tag == "tr":
            self.column = -1
        elif tag in ("td", "th"):
            self.column += 1
            self.cell = (attrs.get("data-day"), attrs.get("data-hour"), self.column)
            if tag == "th" and attrs.get("data-day"):
                self.columns[attrs["data-day"]] = self.column
        elif tag == "a" and attrs.get("data-activity"):
            day, hour, column = self.cell
            self.placed[int(attrs["data-activity"])] = (day, int(hour), column)

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_grid = False


def grid(response) -> GridParser:
    assert response.status_code == 200, response.status_code
    parser = GridParser()
    parser.feed(response.get_data(as_text=True))
    return parser


def href(response, rel: str) -> str:
    page = response.get_data(as_text=True)
    return unescape(re.search(rf'<a [^>]*href="([^"]+)" rel="{rel}"', page).group(1))


@pytest.fixture
def helsinki(ctx):
    """Helsinki time, half-hour slots 08–16, Monday to Friday."""
    activity_slots(30, time(16, 0))


def activity(owner, start: datetime, minutes: int = 30, **values) -> Activity:
    row = Activity(owner=owner, start_at=start, end_at=start + timedelta(minutes=minutes),
                   subject=values.pop("subject", "Call"), **values)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def week(helsinki):
    """Anna's week 48 of 2026 (plus next Monday, and a June call) and one of Bert's."""
    anna, bert = make_user("anna@example.fi", Role.USER), make_user("bert@example.fi", Role.USER)
    aino = Contact(first_name="Aino", last_name="Asiakas", email="aino@example.fi")
    db.session.add(aino)
    return {
        "anna": anna, "bert": bert,
        "call": activity(anna, local(WEDNESDAY, 9, 30), number="A-1", type="call",
                         subject="Renewal call", contacts=[aino]),
        "meeting": activity(anna, local(FRIDAY, 14), 60, number="A-2", type="meeting",
                            subject="Demo", status=ActivityStatus.DONE),
        "monday": activity(anna, local(NEXT_MONDAY, 8), number="A-3", subject="Follow-up"),
        "evening": activity(anna, local(FRIDAY, 18, 15), number="A-4", subject="Late one"),
        "summer": activity(anna, local("2026-06-10", 9), number="A-5", subject="Summer call"),
        "berts": activity(bert, local(WEDNESDAY, 10), number="B-1", subject="Bert's call"),
    }


def calendar_url(user, **args) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"user": user.id, **args}.items())
    return f"/admin/calendar/?{query}"


def test_the_week_grid_puts_activities_in_their_day_column_and_local_hour(admin_client, week):
    response = admin_client.get(calendar_url(week["anna"], day=FRIDAY))
    page = grid(response)
    week_days = [f"2026-11-{d}" for d in range(23, 30)]
    assert [page.columns[d] for d in week_days] == [1, 2, 3, 4, 5, 6, 7]  # Mon … Sun
    # 09:30 in Helsinki is 07:30 UTC in the database: Wednesday's column, the 09 row.
    assert week["call"].start_at == datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
    assert page.placed[week["call"].id] == (WEDNESDAY, 9, 3)
    assert page.placed[week["meeting"].id] == (FRIDAY, 14, 5)
    # Outside the working day the grid grows a row instead of hiding the activity.
    assert page.placed[week["evening"].id] == (FRIDAY, 18, 5)
    assert set(page.placed) == {week["call"].id, week["meeting"].id, week["evening"].id}
    html = response.get_data(as_text=True)
    for text in ["A-1", "Renewal call", "Aino Asiakas", "09:30–10:00", "meeting", "Demo"]:
        assert text in html
    assert f'href="/admin/activity/details/?id={week["call"].id}' in html
    assert "Bert&#39;s call" not in html


def test_summer_time_is_respected(admin_client, week):
    page = grid(admin_client.get(calendar_url(week["anna"], day="2026-06-10")))
    assert week["summer"].start_at == datetime(2026, 6, 10, 6, 0, tzinfo=UTC)  # UTC+3
    assert page.placed[week["summer"].id] == ("2026-06-10", 9, 3)


def test_next_previous_today_and_the_day_view(admin_client, week):
    first = admin_client.get(calendar_url(week["anna"], day=WEDNESDAY))
    following = admin_client.get(href(first, "next"))
    assert grid(following).placed == {week["monday"].id: (NEXT_MONDAY, 8, 1)}
    back = admin_client.get(href(following, "prev"))
    assert week["call"].id in grid(back).placed
    assert "day=2026-11-16" in href(back, "prev")

    today = datetime.now(HELSINKI).date().isoformat()
    this_week = grid(admin_client.get(f"/admin/calendar/?user={week['anna'].id}"))
    assert today in this_week.columns

    day = grid(admin_client.get(calendar_url(week["anna"], view="day", day=FRIDAY)))
    assert day.columns == {FRIDAY: 1}
    assert day.placed == {week["meeting"].id: (FRIDAY, 14, 1),
                          week["evening"].id: (FRIDAY, 18, 1)}
    assert "day=2026-11-26" in href(admin_client.get(calendar_url(week["anna"], view="day",
                                                                  day=FRIDAY)), "prev")


def test_a_plain_user_sees_their_own_calendar_with_the_feed_url_and_may_look_at_others(
    app, week, user_client, plain_user
):
    mine = user_client.get("/admin/calendar/").get_data(as_text=True)
    assert f"/calendar/{plain_user.calendar_token}.ics" in mine
    assert "Calendar" in mine  # the menu entry

    berts = user_client.get(calendar_url(week["bert"], day=WEDNESDAY))
    assert grid(berts).placed == {week["berts"].id: (WEDNESDAY, 10, 3)}
    html = berts.get_data(as_text=True)
    assert week["bert"].calendar_token not in html  # someone else's feed stays secret
    assert plain_user.calendar_token not in html
    assert user_client.get("/admin/calendar/?user=999999").status_code == 404


def test_the_calendar_needs_a_login(app, week):
    response = app.test_client().get("/admin/calendar/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_activity_list_filters_by_owner_type_date_status_and_campaign(admin_client, week):
    page = admin_client.get("/admin/activity/").get_data(as_text=True)
    for label in ["Owner", "Type", "Start", "Status", "Campaign"]:
        assert f'"{label}"' in page or f">{label}<" in page
    # Moments in the filter are local time (Helsinki), as the list shows them.
    url = ("/admin/activity/?flt0_start_between=2026-11-23+00:00:00+to+2026-11-29+23:59:59"
           f"&flt1_owner_equals={week['anna'].email}")
    anna_week = admin_client.get(url).get_data(as_text=True)
    assert "Renewal call" in anna_week and "Demo" in anna_week
    assert "Bert&#39;s call" not in anna_week and "Follow-up" not in anna_week
    planned_calls = admin_client.get(url + "&flt2_status_equals=planned&flt3_type_equals=call")
    assert "Renewal call" in planned_calls.get_data(as_text=True)
    assert "Demo" not in planned_calls.get_data(as_text=True)


# --- mass-creation from a target group's details page ---


@pytest.fixture
def group(helsinki):
    """Three of Anna's contacts, one of Bert's, one without an owner; a refreshed group."""
    anna, bert = make_user("anna@example.fi", Role.USER), make_user("bert@example.fi", Role.USER)
    acme = Company(name="Acme Oy")
    people = [Contact(last_name=f"A{n}", email=f"a{n}@example.fi", owner=anna, company=acme)
              for n in range(3)]
    people += [Contact(last_name="B0", email="b0@example.fi", owner=bert),
               Contact(last_name="Nobody", email="nobody@example.fi")]
    target = TargetGroup(name="Callees", criteria={"all": []})
    db.session.add_all([acme, *people, target])
    db.session.commit()
    refresh(target)
    # Anna's Friday is full but for the last slot: her third call spills to Monday.
    for slot in range(15):
        activity(anna, local(FRIDAY, 8) + timedelta(minutes=30 * slot), subject="Busy")
    return {"anna": anna, "bert": bert, "group": target}


def form_data(**values) -> dict:
    return {"day": FRIDAY, "subject": "Winter offer", "activity_type": "call",
            "assign": "owner", "user_id": "", "fallback_user_id": "", "campaign_id": "",
            **values}


def test_the_group_page_loads_the_form_and_the_preview_shows_users_days(admin_client, group):
    gid, anna, bert = group["group"].id, group["anna"], group["bert"]
    details = admin_client.get(f"/admin/targetgroup/details/?id={gid}").get_data(as_text=True)
    assert f'hx-get="/admin/group_activities/{gid}/form"' in details
    form = admin_client.get(f"/admin/group_activities/{gid}/form").get_data(as_text=True)
    assert 'name="csrf_token"' in form and ">Anna<" in form and ">Bert<" in form
    token = csrf_token(admin_client, f"/admin/group_activities/{gid}/form")

    preview = admin_client.post(f"/admin/group_activities/{gid}/preview",
                                data={**form_data(), "csrf_token": token},
                                headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.search(rf'data-user="{anna.id}">\s*<td>Anna</td>', preview)
    assert f'data-day="{FRIDAY}" data-count="1"' in preview  # Anna's last free slot, Bert's first
    assert f'data-day="{NEXT_MONDAY}" data-count="2"' in preview
    assert 'data-plan="planned">4<' in preview and 'data-plan="unassigned">1<' in preview
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 15  # nothing made

    with_fallback = admin_client.post(
        f"/admin/group_activities/{gid}/preview",
        data={**form_data(fallback_user_id=bert.id), "csrf_token": token},
    ).get_data(as_text=True)
    assert 'data-plan="planned">5<' in with_fallback
    assert 'data-plan="unassigned">0<' in with_fallback

    bad = admin_client.post(f"/admin/group_activities/{gid}/preview",
                            data={**form_data(assign="user"), "csrf_token": token})
    assert bad.status_code == 400 and "choose the user" in bad.get_data(as_text=True)


def test_create_enqueues_the_job_and_the_activities_exist_after_it_ran(
    admin_client, group, run_jobs
):
    gid, bert = group["group"].id, group["bert"]
    token = csrf_token(admin_client, f"/admin/group_activities/{gid}/form")
    refused = admin_client.post(f"/admin/group_activities/{gid}/create", data=form_data())
    assert refused.status_code == 400  # no CSRF token, no job
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0

    response = admin_client.post(
        f"/admin/group_activities/{gid}/create",
        data={**form_data(assign="user", user_id=bert.id), "csrf_token": token},
    )
    assert response.status_code == 302
    assert "/admin/jobrun/details/?id=group_activities-" in response.headers["Location"]
    run_id = response.headers["Location"].split("id=")[1]
    run_jobs()
    run = db.session.get(JobRun, run_id)
    assert run.status == JobStatus.DONE, run.error
    assert run.user_id is not None and run.result["created"] == 5
    made = db.session.scalars(select(Activity).where(Activity.job_id == run_id)
                              .order_by(Activity.start_at)).all()
    assert {a.owner_id for a in made} == {bert.id}
    assert [a.start_at for a in made][:2] == [local(FRIDAY, 8), local(FRIDAY, 8, 30)]
    assert all(a.subject == "Winter offer" and len(a.contacts) == 1 for a in made)

    placed = grid(admin_client.get(calendar_url(bert, day=FRIDAY))).placed
    assert set(placed) == {a.id for a in made}


def test_create_over_htmx_answers_with_hx_redirect(admin_client, group):
    gid = group["group"].id
    token = csrf_token(admin_client, f"/admin/group_activities/{gid}/form")
    response = admin_client.post(f"/admin/group_activities/{gid}/create",
                                 data={**form_data(), "csrf_token": token},
                                 headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/admin/jobrun/details/?id=")


# --- the .ics feed ---


@pytest.fixture
def feed_world(helsinki):
    """Anna's activities around today (some outside the feed's window) and one of Bert's."""
    anna, bert = make_user("anna@example.fi", Role.USER), make_user("bert@example.fi", Role.USER)
    aino = Contact(first_name="Aino", last_name="Asiakas", email="aino@example.fi")
    db.session.add(aino)
    tomorrow = datetime.now(HELSINKI).date() + timedelta(days=1)
    at_nine = datetime.combine(tomorrow, time(9), HELSINKI)
    return {
        "anna": anna, "bert": bert,
        "planned": activity(anna, at_nine, number="A-1", subject="Renewal call",
                            notes="Ask about the renewal.", contacts=[aino]),
        "done": activity(anna, at_nine - timedelta(days=10), 60, number="A-2", subject="Demo",
                         status=ActivityStatus.DONE),
        "cancelled": activity(anna, at_nine + timedelta(days=20), number="A-3",
                              subject="Lunch", status=ActivityStatus.CANCELLED),
        "too_old": activity(anna, at_nine - timedelta(days=40), subject="Too old"),
        "too_far": activity(anna, at_nine + timedelta(days=200), subject="Too far"),
        "berts": activity(bert, at_nine, subject="Bert's call"),
    }


def test_the_feed_lists_the_users_events_in_utc_with_statuses(app, feed_world):
    client = app.test_client()  # no login: calendar apps send no cookies
    response = client.get(f"/calendar/{feed_world['anna'].calendar_token}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    cal = Calendar.from_ical(response.data)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    wanted = {name: feed_world[name] for name in ("planned", "done", "cancelled")}
    assert set(events) == {f"activity-{a.id}@kohde" for a in wanted.values()}
    for row in wanted.values():
        event = events[f"activity-{row.id}@kohde"]
        assert event.decoded("DTSTART") == row.start_at
        assert event.decoded("DTSTART").utcoffset() == timedelta(0)
        assert event.decoded("DTEND") == row.end_at
        assert event.decoded("LAST-MODIFIED") == row.updated_at.replace(microsecond=0)
    planned = events[f"activity-{wanted['planned'].id}@kohde"]
    assert str(planned["SUMMARY"]) == "A-1 Renewal call"
    assert "Ask about the renewal." in str(planned["DESCRIPTION"])
    assert "Aino Asiakas <aino@example.fi>" in str(planned["DESCRIPTION"])
    assert b"DTSTART:" + wanted["planned"].start_at.strftime("%Y%m%dT%H%M%SZ").encode() \
        in response.data
    statuses = {name: str(events[f"activity-{row.id}@kohde"]["STATUS"])
                for name, row in wanted.items()}
    assert statuses == {"planned": "CONFIRMED", "done": "CONFIRMED", "cancelled": "CANCELLED"}

    again = client.get(f"/calendar/{feed_world['anna'].calendar_token}.ics")
    assert again.data == response.data  # stable UIDs and stamps: clients see no change


def test_a_wrong_token_is_404_and_a_deactivated_users_feed_is_gone(app, feed_world):
    client = app.test_client()
    assert client.get("/calendar/not-a-token.ics").status_code == 404
    assert client.get(f"/calendar/{feed_world['anna'].calendar_token}x.ics").status_code == 404
    feed_world["anna"].active = False
    db.session.commit()
    assert client.get(f"/calendar/{feed_world['anna'].calendar_token}.ics").status_code == 404


def test_the_week_is_one_query_on_activities(admin_client, week):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        admin_client.get(calendar_url(week["anna"], day=WEDNESDAY))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len([s for s in statements if "FROM activities" in s]) == 1
