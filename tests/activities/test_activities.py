"""Slotted mass-creation of activities against hand-computed schedules."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from jobs.groups import refresh
from jobs.runs import enqueue
from models import (
    Activity,
    Company,
    Contact,
    JobRun,
    JobStatus,
    Role,
    TargetGroup,
    db,
)
from models.activities.slots import dry_run
from tests.conftest import activity_slots, make_user

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAY = "2026-11-27"


def at(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}").replace(tzinfo=HELSINKI)


@pytest.fixture
def world(ctx):
    """Hour-long slots 08–11:30 (so three a day: the last half hour is not a slot)."""
    activity_slots(60, time(11, 30))
    anna, bert = make_user("anna@example.fi", Role.USER), make_user("bert@example.fi", Role.USER)
    acme = Company(name="Acme Oy")
    people = [Contact(last_name=f"A{n}", email=f"a{n}@example.fi", owner=anna, company=acme)
              for n in range(5)]
    people.append(Contact(last_name="B0", email="b0@example.fi", owner=bert))
    people.append(Contact(last_name="Nobody", email="nobody@example.fi"))
    group = TargetGroup(name="Callees", criteria={"all": []})
    db.session.add_all([acme, *people, group])
    db.session.commit()
    refresh(group)
    return {"anna": anna, "bert": bert, "people": people, "group": group, "acme": acme}


def create(world, run_jobs, **params):
    run = enqueue("group_activities", {"group_id": world["group"].id, "day": FRIDAY, **params})
    run_jobs()
    return db.session.get(JobRun, run.id)


def schedule(user) -> list[tuple[datetime, datetime]]:
    rows = db.session.scalars(select(Activity).where(Activity.owner_id == user.id,
                                                     Activity.job_id.is_not(None))
                              .order_by(Activity.start_at))
    return [(a.start_at, a.end_at) for a in rows]


def starts(user):
    return [s for s, _ in schedule(user)]


def test_friday_overflows_to_monday_and_the_last_half_hour_stays_free(world, run_jobs):
    run = create(world, run_jobs)
    assert run.status == JobStatus.DONE, run.error
    assert starts(world["anna"]) == [at(FRIDAY, 8), at(FRIDAY, 9), at(FRIDAY, 10),
                                     at("2026-11-30", 8), at("2026-11-30", 9)]
    assert schedule(world["anna"])[0][1] == at(FRIDAY, 9)  # an hour long
    assert starts(world["bert"]) == [at(FRIDAY, 8)]
    assert run.result["unassigned"] == 1  # "Nobody" has no owner and no fallback was given
    assert run.result["created"] == 6
    assert run.result["per_user"][str(world["anna"].id)] == {FRIDAY: 3, "2026-11-30": 2}


def test_existing_activities_are_not_overlapped(world, run_jobs):
    db.session.add(Activity(subject="Dentist", owner=world["anna"], start_at=at(FRIDAY, 9),
                            end_at=at(FRIDAY, 9, 30)))
    db.session.commit()
    create(world, run_jobs)
    assert starts(world["anna"]) == [at(FRIDAY, 8), at(FRIDAY, 10), at("2026-11-30", 8),
                                     at("2026-11-30", 9), at("2026-11-30", 10)]


def test_a_user_with_no_free_slot_that_day_starts_on_the_next_working_day(world, run_jobs):
    db.session.add(Activity(subject="Training", owner=world["anna"], start_at=at(FRIDAY, 7),
                            end_at=at(FRIDAY, 12)))
    db.session.commit()
    create(world, run_jobs)
    assert starts(world["anna"]) == [at("2026-11-30", 8), at("2026-11-30", 9),
                                     at("2026-11-30", 10), at("2026-12-01", 8),
                                     at("2026-12-01", 9)]


def test_cancelled_activities_do_not_block_a_slot(world, run_jobs):
    db.session.add(Activity(subject="Off", owner=world["anna"], start_at=at(FRIDAY, 8),
                            end_at=at(FRIDAY, 9), status="cancelled"))
    db.session.commit()
    create(world, run_jobs)
    assert starts(world["anna"])[0] == at(FRIDAY, 8)


def test_a_chosen_user_gets_them_all_and_a_fallback_takes_the_ownerless(world, run_jobs):
    create(world, run_jobs, user_id=world["bert"].id)
    assert len(starts(world["bert"])) == 7 and starts(world["anna"]) == []
    db.session.execute(Activity.__table__.delete())
    db.session.commit()
    run = create(world, run_jobs, fallback_user_id=world["bert"].id)
    assert run.result["unassigned"] == 0
    assert starts(world["bert"]) == [at(FRIDAY, 8), at(FRIDAY, 9)]  # its own contact + Nobody


def test_activities_are_numbered_and_linked_to_their_contact_and_company(world, run_jobs):
    run = create(world, run_jobs, subject="Spring call", campaign_id=None)
    created = db.session.scalars(select(Activity).where(Activity.job_id == run.id)).all()
    assert all(a.number == f"A-{a.id}" for a in created)
    assert all(len(a.contacts) == 1 for a in created)
    assert {a.contacts[0].id for a in created} == {p.id for p in world["people"][:6]}
    anna_first = min((a for a in created if a.owner_id == world["anna"].id),
                     key=lambda a: a.start_at)
    assert anna_first.contacts[0].last_name == "A0"  # contacts in id order, slots in time order
    assert anna_first.company_id == world["acme"].id
    assert {a.subject for a in created} == {"Spring call"}


def test_dry_run_plans_exactly_what_the_job_creates_and_changes_nothing(world, run_jobs):
    planned = dry_run(world["group"].id, datetime.fromisoformat(FRIDAY).date())
    assert db.session.query(Activity).count() == 0
    run = create(world, run_jobs)
    assert {k: v for k, v in run.result.items() if k != "created"} == planned


def test_cli_dry_run(app, world):
    result = app.test_cli_runner().invoke(args=[
        "activities", "create-for-group", "Callees", "--date", FRIDAY, "--dry-run",
        "--fallback-user", "bert@example.fi"])
    assert result.exit_code == 0, result.output
    assert f"anna@example.fi: 5 ({FRIDAY}: 3, 2026-11-30: 2)" in result.output
    assert f"bert@example.fi: 2 ({FRIDAY}: 2)" in result.output


@pytest.mark.parametrize("chunk", [2, 1000])
def test_ranged_creation_makes_the_same_activities_as_one_statement(app, world, run_jobs,
                                                                    chunk):
    before = app.config["KOHDE_CHUNK_ROWS"]
    app.config["KOHDE_CHUNK_ROWS"] = chunk  # 2: three statements for six activities
    try:
        run = create(world, run_jobs)
    finally:
        app.config["KOHDE_CHUNK_ROWS"] = before
    created = db.session.scalars(select(Activity).where(Activity.job_id == run.id)
                                 .order_by(Activity.id)).all()
    assert run.result["created"] == len(created) == 6
    assert run.progress_done == run.progress_total == 6
    assert all(a.number == f"A-{a.id}" and len(a.contacts) == 1 for a in created)
    assert {a.contacts[0].id for a in created} == {p.id for p in world["people"][:6]}
    assert starts(world["anna"]) == [at(FRIDAY, 8), at(FRIDAY, 9), at(FRIDAY, 10),
                                     at("2026-11-30", 8), at("2026-11-30", 9)]


def test_the_activity_form_edits_local_time_and_starts_with_sensible_values(admin_client,
                                                                           admin_user):
    from datetime import UTC, datetime

    from models import Activity, Settings, clock, db
    from tests.conftest import csrf_token

    settings = Settings.get()
    settings.timezone, settings.activity_duration_minutes = "Europe/Helsinki", 45
    db.session.commit()
    with clock.frozen(datetime(2026, 12, 1, 13, 20, tzinfo=UTC)):  # 15:20 in Helsinki
        form = admin_client.get("/admin/activity/new/").get_data(as_text=True)
    assert 'value="2026-12-01 16:00:00"' in form and 'value="2026-12-01 16:45:00"' in form
    assert f'<option selected value="{admin_user.id}">' in form or \
        f'data-json="[{admin_user.id}, ' in form  # the owner: you
    assert "Local time (the installation's time zone)." in form
    token = csrf_token(admin_client, "/admin/activity/new/")
    admin_client.post("/admin/activity/new/", data={
        "csrf_token": token, "type": "call", "subject": "Local", "number": "",
        "owner": str(admin_user.id), "start_at": "2026-12-07 09:00:00",
        "end_at": "2026-12-07 09:30:00", "status": "planned"})
    made = db.session.query(Activity).filter_by(subject="Local").one()
    assert made.start_at == datetime(2026, 12, 7, 7, tzinfo=UTC)  # 09:00 Helsinki (UTC+2)
    assert made.owner_id == admin_user.id
    edit = admin_client.get(f"/admin/activity/edit/?id={made.id}").get_data(as_text=True)
    assert 'value="2026-12-07 09:00:00"' in edit and 'value="2026-12-07 07:00:00"' not in edit
