"""Every activity gets a number, however it is made; the admin list reads in local time."""

from datetime import UTC, datetime

from sqlalchemy import select

from models import Activity, Settings, db
from tests.conftest import csrf_token


def test_an_activity_made_in_code_gets_a_number_from_its_id(ctx):
    first = Activity(subject="Call", start_at=datetime(2026, 5, 4, 9, tzinfo=UTC),
                     end_at=datetime(2026, 5, 4, 10, tzinfo=UTC))
    second = Activity(subject="Call", number="", start_at=first.start_at, end_at=first.end_at)
    db.session.add_all([first, second])
    db.session.commit()
    assert first.number == f"A-{first.id}" and second.number == f"A-{second.id}"
    db.session.expire_all()
    assert db.session.get(Activity, first.id).number == f"A-{first.id}"  # stored, not just set


def test_an_activity_made_in_the_admin_form_without_a_number_gets_one(admin_client):
    token = csrf_token(admin_client, "/admin/activity/new/")
    response = admin_client.post("/admin/activity/new/", data={
        "csrf_token": token, "type": "call", "subject": "Hand-made", "number": "",
        "start_at": "2026-05-04 09:00:00", "end_at": "2026-05-04 09:30:00",
        "status": "planned", "notes": ""})
    assert response.status_code == 302
    made = db.session.scalar(select(Activity).where(Activity.subject == "Hand-made"))
    assert made.number == f"A-{made.id}"


def test_a_typed_number_is_kept(admin_client):
    token = csrf_token(admin_client, "/admin/activity/new/")
    admin_client.post("/admin/activity/new/", data={
        "csrf_token": token, "type": "call", "subject": "Typed", "number": "X-7",
        "start_at": "2026-05-04 09:00:00", "end_at": "2026-05-04 09:30:00",
        "status": "planned"})
    assert db.session.scalar(select(Activity.number).where(Activity.subject == "Typed")) == "X-7"


def test_the_activity_list_shows_times_in_the_installation_time_zone(admin_client):
    Settings.get().timezone = "Europe/Helsinki"
    db.session.add(Activity(subject="Summer call", start_at=datetime(2026, 6, 10, 6, tzinfo=UTC),
                            end_at=datetime(2026, 6, 10, 7, tzinfo=UTC)))
    db.session.commit()
    listing = admin_client.get("/admin/activity/").get_data(as_text=True)
    assert "2026-06-10 09:00" in listing and "2026-06-10 10:00" in listing  # UTC+3 in June
    assert "2026-06-10 06:00" not in listing
