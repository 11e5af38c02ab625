"""Settings are validated on save; a bad value already stored falls back to its default
with a visible warning, never a 500."""

import re
from datetime import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from models import Contact, Settings, db
from tests.conftest import csrf_token

GOOD = {
    "timezone": "Europe/Helsinki", "activity_duration_minutes": "15",
    "activity_earliest_start": "08:00", "activity_latest_end": "16:00",
    "working_days": "1,2,3,4,5", "email_waiting_period_days": "30",
    "email_messages_per_second": "50", "automatic_email_campaigns": "y",
}
FORM = "/admin/settings/edit/?id=1"


def post(client, **changes):
    token = csrf_token(client, FORM)
    return client.post(FORM, data={**GOOD, **changes, "csrf_token": token})


@pytest.mark.parametrize("changes, field, message", [
    ({"timezone": "Mars/Olympus"}, "timezone", "not an IANA time zone"),
    ({"timezone": "../../etc/passwd"}, "timezone", "not an IANA time zone"),
    ({"timezone": ""}, "timezone", ""),
    ({"working_days": "1,2,9"}, "working_days", "'9' is not a weekday"),
    ({"working_days": "0"}, "working_days", "not a weekday"),
    ({"working_days": "mon,tue"}, "working_days", "not a weekday"),
    ({"working_days": ","}, "working_days", "at least one working day"),
    ({"activity_latest_end": "07:00"}, "activity_latest_end", "must be after the earliest"),
    ({"activity_latest_end": "08:00"}, "activity_latest_end", "must be after the earliest"),
    ({"activity_latest_end": "08:10", "activity_duration_minutes": "15"}, "activity_latest_end",
     "shorter than one activity"),
    ({"activity_duration_minutes": "0"}, "activity_duration_minutes", "from 1 to"),
    ({"activity_duration_minutes": "-5"}, "activity_duration_minutes", "from 1 to"),
    ({"email_waiting_period_days": "-1"}, "email_waiting_period_days", "from 0 to"),
    ({"email_messages_per_second": "0"}, "email_messages_per_second", "from 1 to"),
])
def test_each_rule_refuses_a_bad_value_naming_the_field(admin_client, ctx, changes, field,
                                                        message):
    response = post(admin_client, **changes)
    assert response.status_code == 200  # the form again, not "Record was successfully saved"
    page = response.get_data(as_text=True)
    assert "successfully saved" not in page
    assert f'id="{field}"' in page and "invalid-feedback" in page
    assert message.replace("'", "&#39;").lower() in page.lower()
    db.session.rollback()
    assert Settings.get().timezone == "Europe/Helsinki"


def test_good_values_are_saved_and_working_days_normalised(admin_client, ctx):
    response = post(admin_client, timezone="America/New_York", working_days="5, 1,3,3",
                    email_waiting_period_days="0")
    assert response.status_code == 302
    db.session.rollback()
    row = Settings.get()
    assert (row.timezone, row.working_days, row.email_waiting_period_days) == (
        "America/New_York", "1,3,5", 0)


@pytest.fixture
def broken_settings(ctx):
    """Values no form would save, written as an old version or a hand edit might have."""
    row = Settings.get()
    row.timezone = "Mars/Olympus"
    row.working_days = "9"
    row.activity_earliest_start, row.activity_latest_end = time(16, 0), time(8, 0)
    row.activity_duration_minutes = 0
    row.email_waiting_period_days = -3
    db.session.commit()


def test_stored_bad_values_fall_back_to_defaults(broken_settings):
    values = Settings.current()
    assert values.timezone == "Europe/Helsinki" and values.weekdays == {1, 2, 3, 4, 5}
    assert (values.activity_earliest_start, values.activity_latest_end) == (time(8), time(16))
    assert values.activity_duration_minutes == 15 and values.email_waiting_period_days == 30
    assert len(values.problems) == 5


@pytest.mark.parametrize("url", [
    "/admin/calendar/", "/admin/calendar/?view=day", "/admin/activity_wizard/",
    "/admin/contact/", "/admin/", "/admin/settings/edit/?id=1", "/admin/activity/",
])
def test_pages_work_and_warn_with_bad_stored_settings(admin_client, broken_settings, url):
    response = admin_client.get(url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "kohde-settings-warning" in page and "Mars/Olympus" in page


def test_live_count_and_wizard_work_with_bad_stored_settings(admin_client, broken_settings):
    db.session.add(Contact(first_name="A", last_name="B", email="a@example.fi"))
    db.session.commit()
    token = csrf_token(admin_client, "/admin/contact/")
    tree = '{"all": [{"field": "created_at", "op": "within_last_days", "value": 3}]}'
    count = admin_client.post("/admin/criteria/count", data={"criteria": tree},
                              headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert count.status_code == 200
    start = admin_client.post("/admin/activity_wizard/start", headers={"X-CSRFToken": token})
    assert start.status_code == 302
    first = start.headers["Location"]  # …/activity_wizard/<run>/1
    for step in (1, 2, 4):
        assert admin_client.get(first[: -1] + str(step)).status_code in (200, 302)


def _field_errors(page: str) -> dict[str, str]:
    """Each form field's error text on a settings page, by the field's id."""
    found = {}
    for match in re.finditer(r'id="(\w+)"[^>]*>\s*<div class="invalid-feedback">(.*?)</div>',
                             page, re.S):
        found[match.group(1)] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(2)))
    return found


def test_the_settings_page_marks_each_stored_value_not_in_use(admin_client, broken_settings):
    page = admin_client.get(FORM).get_data(as_text=True)
    errors = _field_errors(page)
    assert set(errors) == {"timezone", "working_days", "activity_latest_end",
                           "activity_duration_minutes", "email_waiting_period_days"}
    assert "&#39;Mars/Olympus&#39; is not an IANA time zone" in errors["timezone"]
    assert "using Europe/Helsinki" in errors["timezone"]
    assert "must be after the earliest start" in errors["activity_latest_end"]
    assert "using 08:00–16:00" in errors["activity_latest_end"]
    assert 'value="Mars/Olympus"' in page  # what is stored, to be corrected


def test_the_warning_speaks_the_readers_language(admin_client, broken_settings):
    page = admin_client.get("/admin/", headers={"Accept-Language": "fi"}).get_data(as_text=True)
    warning = page[page.index("kohde-settings-warning"):][:1500]
    assert "Mars/Olympus" in warning
    assert "Some settings cannot be used" not in warning  # Finnish, not the English msgid


def test_a_long_activity_is_not_silently_shortened_with_the_default_day(ctx):
    row = Settings.get()
    row.activity_duration_minutes = 600
    row.activity_earliest_start, row.activity_latest_end = time(18, 0), time(6, 0)
    db.session.commit()
    values = Settings.current()
    assert values.activity_duration_minutes == 480
    assert set(values.field_problems) == {"activity_latest_end", "activity_duration_minutes"}


@pytest.mark.parametrize("stored", ["abc", "8", "25:99"])
@pytest.mark.parametrize("column", ["activity_earliest_start", "activity_latest_end"])
def test_a_time_that_is_no_time_in_the_row_warns_and_pages_work(admin_client, ctx, column,
                                                                stored):
    """SQLite keeps any text in a TIME column (PostgreSQL refuses it): written by hand, it
    is reported like any bad value, and the pages that use the working hours still work."""
    Settings.get()
    db.session.commit()
    update = text(f"UPDATE settings SET {column} = :v")
    if db.engine.dialect.name != "sqlite":
        # PostgreSQL's TIME column refuses the text itself: such a row cannot exist there.
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(update, {"v": stored})
        return
    with db.engine.begin() as conn:
        conn.execute(update, {"v": stored})
    db.session.expire_all()
    values = Settings.current()
    assert (values.activity_earliest_start, values.activity_latest_end) == (time(8), time(16))
    for url in ("/admin/", "/admin/calendar/", "/admin/activity_wizard/", FORM):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert "kohde-settings-warning" in page and "HH:MM" in page, url
    page = admin_client.get(FORM).get_data(as_text=True)
    assert f'value="{stored}"' in page and column in _field_errors(page)
    assert post(admin_client).status_code == 302  # saving good values mends it
    db.session.expire_all()
    assert Settings.current().problems == []
