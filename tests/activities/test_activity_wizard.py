"""The group-activity wizard over HTTP: every step, both modes, every assignment, edits."""

import csv
import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from jobs.groups import refresh
from models import (
    Activity,
    ActivityContact,
    ActivityWizardExclusion,
    ActivityWizardRun,
    Company,
    Contact,
    JobRun,
    JobStatus,
    Role,
    TargetGroup,
    db,
)
from tests.activities.wizard_support import Wizard, at, criteria, first_day, hourly_slots, made
from tests.conftest import make_user


@pytest.fixture
def world(admin_user):
    """Anna owns six contacts in Turku, Bert two, two have no owner; one lives in Oulu."""
    hourly_slots()
    anna, bert, cecil = (make_user(f"{n}@example.fi", Role.USER) for n in ("anna", "bert", "cecil"))
    acme = Company(name="Acme Oy")
    people = [Contact(first_name="Aino", last_name=f"A{n}", email=f"a{n}@example.fi",
                      phone=f"+358 40 {n}", city="Turku", owner=anna, company=acme)
              for n in range(6)]
    people += [Contact(first_name="Bo", last_name=f"B{n}", email=f"b{n}@example.fi", city="Turku",
                       owner=bert) for n in range(2)]
    people += [Contact(first_name="Nils", last_name=f"N{n}", email=f"n{n}@example.fi",
                       city="Turku") for n in range(2)]
    oulu = Contact(first_name="Olli", last_name="Oulu", email="olli@example.fi", city="Oulu",
                   owner=anna)
    group = TargetGroup(name="Turku people", criteria={"all": [
        {"field": "city", "op": "eq", "value": "Turku"}]})
    db.session.add_all([acme, *people, oulu, group])
    db.session.commit()
    refresh(group)
    return {"anna": anna, "bert": bert, "cecil": cecil, "people": people, "group": group,
            "oulu": oulu, "day": first_day()}


def links_of(activity_id: int) -> set[int]:
    return set(db.session.scalars(select(ActivityContact.contact_id)
                                  .where(ActivityContact.activity_id == activity_id)))


def through_step_3(client, mode: str, source: dict, exclude=()) -> Wizard:
    wizard = Wizard(client)
    assert wizard.post(1, mode=mode).status_code == 302
    assert wizard.post(2, **source).status_code == 302
    page = wizard.get(3).get_data(as_text=True)
    shown = re.findall(r'name="shown" value="(\d+)"', page)
    response = wizard.post(3, data={"shown": shown, "exclude": [str(i) for i in exclude]})
    assert response.status_code == 302
    return wizard


def test_shared_mode_makes_one_numbered_activity_with_every_contact_linked(
    admin_client, world, run_jobs
):
    people, bert, day = world["people"], world["bert"], world["day"]
    wizard = through_step_3(admin_client, "shared", {"source": "criteria",
                                                     "criteria": criteria("Turku")},
                            exclude=[people[0].id])
    response = wizard.details(day, user_id=bert.id, start="10:00", duration_minutes="45",
                              activity_type="meeting", subject="Customer evening")
    assert response.status_code == 302, response.get_data(as_text=True)
    report = wizard.get(5).get_data(as_text=True)
    assert 'data-report="contacts">9<' in report

    job_id = wizard.create(run_jobs)
    activities = made(job_id)
    assert len(activities) == 1
    shared = activities[0]
    assert shared.number == f"A-{shared.id}" and shared.owner_id == bert.id
    assert (shared.start_at, shared.end_at) == (at(day, 10), at(day, 10, 45))
    assert (shared.type, shared.subject, shared.notes) == ("meeting", "Customer evening",
                                                           "Mention the 10 %")
    assert links_of(shared.id) == {p.id for p in people[1:]}  # all of Turku but the excluded
    page = wizard.get(6).get_data(as_text=True)
    assert f'data-number="{shared.number}"' in page and "and 8 more" in page


def test_per_contact_mode_makes_one_activity_per_contact(admin_client, world, run_jobs):
    anna, group, day = world["anna"], world["group"], world["day"]
    wizard = through_step_3(admin_client, "per_contact",
                            {"source": "group", "group_id": group.id})
    assert wizard.details(day, assignment="user", user_id=anna.id).status_code == 302
    job_id = wizard.create(run_jobs)
    activities = made(job_id)
    assert len(activities) == 10
    assert all(len(a.contacts) == 1 and a.number == f"A-{a.id}" for a in activities)
    assert {a.contacts[0].id for a in activities} == {p.id for p in world["people"]}
    assert [a.start_at for a in activities][:9] == [at(day, h) for h in range(8, 16)] + [
        at(day + timedelta(days=1), 8)]  # back to back, then the next working day
    run = db.session.get(JobRun, job_id)
    assert run.kind == "activity_wizard" and run.status == JobStatus.DONE
    assert run.progress_done == run.progress_total == 10  # shown in the job history
    job_page = admin_client.get(f"/admin/jobrun/details/?id={job_id}").get_data(as_text=True)
    assert f'href="/admin/activity_wizard/{wizard.id}/6"' in job_page


def test_even_distribution_among_three_users(admin_client, world, run_jobs):
    users = [world["anna"], world["bert"], world["cecil"]]
    wizard = through_step_3(admin_client, "per_contact",
                            {"source": "group", "group_id": world["group"].id})
    response = wizard.details(world["day"], assignment="even",
                              data={"user_ids": [str(u.id) for u in users]})
    assert response.status_code == 302, response.get_data(as_text=True)
    job_id = wizard.create(run_jobs)
    counts = Counter(a.owner_id for a in made(job_id))
    assert set(counts) == {u.id for u in users} and sum(counts.values()) == 10
    assert max(counts.values()) - min(counts.values()) <= 1
    page = wizard.get(6).get_data(as_text=True)
    assert sorted(re.findall(r'data-count="(\d+)"', page)) == ["3", "3", "4"]


def test_owner_distribution_reports_the_ownerless_and_a_fallback_takes_them(
    admin_client, world, run_jobs
):
    anna, bert, cecil = world["anna"], world["bert"], world["cecil"]
    group_source = {"source": "group", "group_id": world["group"].id}
    without = through_step_3(admin_client, "per_contact", group_source)
    assert without.details(world["day"], assignment="owner").status_code == 302
    report = without.get(5).get_data(as_text=True)
    assert 'data-report="activities">8<' in report and 'data-report="unassigned">2<' in report
    assert report.count("nobody (no owner)") == 2
    counts = Counter(a.owner_id for a in made(without.create(run_jobs)))
    assert counts == {anna.id: 6, bert.id: 2}

    with_fallback = through_step_3(admin_client, "per_contact", group_source)
    with_fallback.details(world["day"] + timedelta(days=5), assignment="owner",
                          fallback_user_id=cecil.id)
    counts = Counter(a.owner_id for a in made(with_fallback.create(run_jobs)))
    assert counts == {anna.id: 6, bert.id: 2, cecil.id: 2}


def test_exclusions_are_respected(admin_client, world, run_jobs):
    left_out = [world["people"][1].id, world["people"][7].id]
    wizard = through_step_3(admin_client, "per_contact",
                            {"source": "criteria", "criteria": criteria("Turku")},
                            exclude=left_out)
    wizard.details(world["day"], assignment="user", user_id=world["bert"].id)
    csv_ids = wizard.get("report.csv").get_data(as_text=True)
    assert "A1" not in csv_ids and "B1" not in csv_ids
    contacts = {a.contacts[0].id for a in made(wizard.create(run_jobs))}
    assert contacts == {p.id for p in world["people"]} - set(left_out)


def test_back_keeps_every_steps_state(admin_client, world):
    wizard = through_step_3(admin_client, "per_contact",
                            {"source": "criteria", "criteria": criteria("Turku")},
                            exclude=[world["people"][2].id])
    wizard.details(world["day"], assignment="even", subject="Kept subject",
                   data={"user_ids": [str(world["bert"].id), str(world["cecil"].id)]})
    back = wizard.post(4, go="back", activity_type="task", subject="Changed on the way back",
                       day=world["day"].isoformat(), assignment="even",
                       data={"user_ids": [str(world["bert"].id)]})
    assert back.status_code == 302 and back.headers["Location"].endswith("/3")

    step4 = wizard.get(4).get_data(as_text=True)
    assert 'value="Changed on the way back"' in step4
    assert re.search(rf'name="user_ids" value="{world["bert"].id}" checked', step4)
    assert not re.search(rf'name="user_ids" value="{world["cecil"].id}" checked', step4)
    assert re.search(r'value="task" selected', step4)
    step3 = wizard.get(3).get_data(as_text=True)
    assert re.search(rf'name="exclude" value="{world["people"][2].id}"[^>]*checked', step3)
    assert 'data-excluded="1"' in step3
    step2 = wizard.get(2).get_data(as_text=True)
    assert "Turku" in step2 and re.search(r'id="source-criteria" value="criteria"\s+checked', step2)
    step1 = wizard.get(1).get_data(as_text=True)
    assert re.search(r'id="mode-per-contact" value="per_contact"\s+checked', step1)


def test_exclusions_persist_across_pages_and_steps_for_many_contacts(admin_client, world):
    db.session.add_all([Contact(last_name=f"M{n:03}", city="Vaasa") for n in range(120)])
    db.session.commit()
    vaasa = sorted(db.session.scalars(select(Contact.id).where(Contact.city == "Vaasa")))
    wizard = Wizard(admin_client)
    wizard.post(1, mode="per_contact")
    wizard.post(2, source="criteria", criteria=criteria("Vaasa"))
    page1 = wizard.get(3).get_data(as_text=True)
    shown1 = re.findall(r'name="shown" value="(\d+)"', page1)
    assert len(shown1) == 50 and "page 1 of 3" in page1
    to_page2 = wizard.post(3, go="page:2", data={"shown": shown1, "exclude": [str(vaasa[0])]})
    assert to_page2.headers["Location"].endswith("/3?page=2")
    page2 = wizard.get(3, page=2).get_data(as_text=True)
    shown2 = re.findall(r'name="shown" value="(\d+)"', page2)
    assert shown2[0] == str(vaasa[50])
    wizard.post(3, data={"shown": shown2, "exclude": [str(vaasa[60]), str(vaasa[61])]})
    # htmx: one checkbox at a time, the whole form sent along (as htmx does inside a form)
    toggled = admin_client.post(f"{wizard.url}/exclude", data={
        "csrf_token": wizard.token, "contact_id": vaasa[61], "shown": shown2,
        "exclude": [str(vaasa[60])]})
    assert 'data-excluded="2"' in toggled.get_data(as_text=True)
    wizard.post(4, go="back")  # through the later steps and back again
    page1 = wizard.get(3).get_data(as_text=True)
    assert re.search(rf'value="{vaasa[0]}"[^>]*checked', page1)
    assert 'data-included="118"' in page1
    excluded = set(db.session.scalars(select(ActivityWizardExclusion.contact_id)
                                      .where(ActivityWizardExclusion.run_id == wizard.id)))
    assert excluded == {vaasa[0], vaasa[60]}


def test_the_csv_lists_who_is_included_with_user_and_planned_start(admin_client, world):
    anna, day = world["anna"], world["day"]
    wizard = through_step_3(admin_client, "per_contact",
                            {"source": "criteria", "criteria": criteria("Turku")})
    wizard.details(day, assignment="owner")
    response = wizard.get("report.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["contact", "company", "email", "phone", "assigned user", "planned start"]
    # "+358…" would be a formula to a spreadsheet: the CSV neutralises it with a leading '.
    assert rows[1] == ["Aino A0", "Acme Oy", "a0@example.fi", "'+358 40 0", anna.name,
                       at(day, 8).strftime("%Y-%m-%d %H:%M")]
    assert len(rows) == 11
    assert [r[4] for r in rows[-2:]] == ["", ""] and [r[5] for r in rows[-2:]] == ["", ""]
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 0  # only planned


def test_bad_input_gets_a_clear_message_never_a_500(admin_client, world, run_jobs):
    wizard = Wizard(admin_client)
    bad_mode = wizard.post(1, mode="both")
    assert bad_mode.status_code == 400 and "choose one shared" in bad_mode.get_data(as_text=True)
    wizard.post(1, mode="per_contact")
    unknown_group = wizard.post(2, source="group", group_id="99999")
    assert unknown_group.status_code == 400
    assert "choose an existing target group" in unknown_group.get_data(as_text=True)
    broken = wizard.post(2, source="criteria", criteria='{"all": [{"field": "nope"')
    assert broken.status_code == 400 and "not valid JSON" in broken.get_data(as_text=True)
    unknown_field = wizard.post(2, source="criteria",
                                criteria='{"all": [{"field": "shoe", "op": "eq", "value": 1}]}')
    assert unknown_field.status_code == 400 and "shoe" in unknown_field.get_data(as_text=True)
    nobody = wizard.post(2, source="criteria", criteria=criteria("Atlantis"))
    assert nobody.status_code == 400 and "no contacts match" in nobody.get_data(as_text=True)

    wizard.post(2, source="criteria", criteria=criteria("Oulu"))
    no_user = wizard.details(world["day"], assignment="user", user_id="")
    assert no_user.status_code == 400 and "choose the responsible user" in no_user.get_data(
        as_text=True)
    no_users = wizard.details(world["day"], assignment="even")
    assert no_users.status_code == 400 and "choose the users" in no_users.get_data(as_text=True)
    ghost = wizard.details(world["day"], assignment="even", data={"user_ids": ["99999"]})
    assert ghost.status_code == 400
    past = wizard.details(world["day"] - timedelta(days=60), user_id=world["anna"].id)
    assert past.status_code == 400 and "today or a later day" in past.get_data(as_text=True)
    for user_field in ("user_id", "fallback_user_id"):  # never an id the database refuses
        for ghost_id in ("99999", "123456789012345678901"):
            unknown = wizard.details(world["day"], assignment="owner", **{user_field: ghost_id})
            assert unknown.status_code == 400 and "no such" in unknown.get_data(as_text=True)
    no_campaign = wizard.details(world["day"], user_id=world["anna"].id, campaign_id="4242")
    assert no_campaign.status_code == 400 and "no such campaign" in no_campaign.get_data(
        as_text=True)
    wizard.post(1, mode="shared")
    too_long = wizard.details(world["day"], user_id=world["anna"].id, start="10:00",
                              duration_minutes="99999999999999999999")
    assert too_long.status_code == 400 and "duration" in too_long.get_data(as_text=True)
    assert wizard.get(5).status_code == 400  # the report refuses rather than overflow
    wizard.post(1, mode="per_contact")
    assert wizard.get(3, page="999999999999999999999999").status_code == 200
    no_subject = wizard.details(world["day"], user_id=world["anna"].id, subject=" ")
    assert no_subject.status_code == 400 and "subject" in no_subject.get_data(as_text=True)

    wizard.details(world["day"], user_id=world["anna"].id)
    wizard.post(3, data={"shown": [str(world["oulu"].id)], "exclude": [str(world["oulu"].id)]})
    empty = admin_client.post(f"{wizard.url}/create", data={"csrf_token": wizard.token})
    assert empty.status_code == 400 and "no contacts are selected" in empty.get_data(as_text=True)
    assert wizard.get(5).status_code == 400 and wizard.get("report.csv").status_code == 400
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0
    no_token = admin_client.post(f"{wizard.url}/1", data={"mode": "shared"})
    assert no_token.status_code == 400
    assert admin_client.get(f"{wizard.url.rsplit('/', 1)[0]}/99999/1").status_code == 404
    assert wizard.get(9).status_code == 404


def test_another_users_run_is_not_theirs_to_open(world, admin_user, user_client):
    theirs = ActivityWizardRun(created_by_id=admin_user.id)
    db.session.add(theirs)
    db.session.commit()
    assert user_client.get(f"/admin/activity_wizard/{theirs.id}/1").status_code == 403
    mine = Wizard(user_client)  # a plain CRM user may run the wizard
    assert mine.post(1, mode="shared").status_code == 302


def test_a_created_run_is_fixed_and_cannot_create_twice(admin_client, world, run_jobs):
    wizard = through_step_3(admin_client, "shared", {"source": "criteria",
                                                     "criteria": criteria("Oulu")})
    wizard.details(world["day"], user_id=world["anna"].id, start="09:00", duration_minutes="30")
    job_id = wizard.create(run_jobs)
    again = admin_client.post(f"{wizard.url}/create", data={"csrf_token": wizard.token})
    assert again.status_code == 302
    run_jobs()
    assert wizard.job_id() == job_id and len(made(job_id)) == 1
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 1
    assert wizard.post(1, mode="per_contact").headers["Location"].endswith("/6")


def test_step_7_changes_exactly_the_activities_this_run_created(admin_client, world, run_jobs):
    anna, bert, day = world["anna"], world["bert"], world["day"]
    hand_made = Activity(subject="Hand-made", owner=anna, start_at=at(day, 7),
                         end_at=at(day, 7, 30))
    db.session.add(hand_made)
    db.session.commit()
    other = through_step_3(admin_client, "per_contact", {"source": "criteria",
                                                         "criteria": criteria("Oulu")})
    other.details(day, assignment="user", user_id=anna.id, subject="Other run")
    other_job = other.create(run_jobs)
    before_other = [(a.id, a.subject, a.status, a.start_at, a.end_at) for a in made(other_job)]

    wizard = through_step_3(admin_client, "per_contact",
                            {"source": "group", "group_id": world["group"].id})
    wizard.details(day, assignment="user", user_id=bert.id, subject="Original")
    job_id = wizard.create(run_jobs)
    before = {a.id: (a.start_at, a.end_at, a.notes) for a in made(job_id)}

    nothing = wizard.post(7)
    assert nothing.status_code == 400 and "at least one field" in nothing.get_data(as_text=True)
    both = wizard.post(7, shift_days="1", new_day=day.isoformat(), new_time="09:00")
    assert both.status_code == 400 and "not both" in both.get_data(as_text=True)
    for days, minutes in (("1000000000", "0"), ("x", "5"), ("0", "99999999999999")):
        bad = wizard.post(7, shift_days=days, shift_minutes=minutes)
        assert bad.status_code == 400, (days, minutes)
    half = wizard.post(7, new_day=day.isoformat())
    assert half.status_code == 400 and "both a day and a time" in half.get_data(as_text=True)
    changed = wizard.post(7, subject="Renamed", status="done", type="meeting", shift_days="1",
                          shift_minutes="30")
    assert changed.status_code == 302
    after = made(job_id)
    assert len(after) == 10
    for a in after:
        assert (a.subject, a.status, a.type) == ("Renamed", "done", "meeting")
        start, end, notes = before[a.id]
        assert a.notes == notes  # left empty in the form: unchanged
        assert (a.start_at, a.end_at) == (start + timedelta(days=1, minutes=30),
                                          end + timedelta(days=1, minutes=30))

    moved = wizard.post(7, new_day=(day + timedelta(days=3)).isoformat(), new_time="12:15")
    assert moved.status_code == 302
    after = made(job_id)
    assert after[0].start_at == at(day + timedelta(days=3), 12, 15)
    assert after[1].start_at - after[0].start_at == timedelta(hours=1)  # the spacing stays

    db.session.expire_all()
    assert [(a.id, a.subject, a.status, a.start_at, a.end_at)
            for a in made(other_job)] == before_other
    untouched = db.session.get(Activity, hand_made.id)
    assert (untouched.subject, untouched.status, untouched.start_at) == (
        "Hand-made", "planned", at(day, 7))
    assert untouched.start_at.tzinfo is not None and untouched.start_at.astimezone(UTC)


def test_step_7_is_closed_until_the_activities_exist(admin_client, world):
    wizard = Wizard(admin_client)
    response = wizard.post(7, subject="Too early")
    assert response.status_code == 302 and response.headers["Location"].endswith("/6")
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 0


def test_the_menu_links_the_wizard(admin_client):
    page = admin_client.get("/admin/activity/").get_data(as_text=True)
    assert 'href="/admin/activity_wizard/"' in page and "Group activity wizard" in page
    assert datetime.now(UTC)  # the page rendered with the wizard in the CRM menu


def test_a_failed_job_can_be_fixed_and_tried_again(admin_client, world, run_jobs):
    anna, bert = world["anna"], world["bert"]
    wizard = through_step_3(admin_client, "shared", {"source": "criteria",
                                                     "criteria": criteria("Oulu")})
    wizard.details(world["day"], user_id=anna.id, start="09:00", duration_minutes="30")
    queued = admin_client.post(f"{wizard.url}/create", data={"csrf_token": wizard.token})
    assert queued.status_code == 302
    anna.active = False  # she leaves before the job runs: it fails and makes nothing
    db.session.commit()
    run_jobs()
    failed = wizard.job_id()
    assert db.session.get(JobRun, failed).status == JobStatus.FAILED
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 0
    page = wizard.get(6).get_data(as_text=True)
    assert 'data-status="failed"' in page and "choose the responsible user" in page
    assert "Try again" not in page  # not before step 4 is mended
    assert wizard.details(world["day"], user_id=bert.id, start="09:00",
                          duration_minutes="30").status_code == 302
    assert "Try again" in wizard.get(6).get_data(as_text=True)
    retried = wizard.create(run_jobs)
    assert retried != failed and db.session.get(JobRun, retried).status == JobStatus.DONE
    assert [a.owner_id for a in made(retried)] == [bert.id]
