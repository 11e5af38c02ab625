"""`kohde campaigns …`: create, every audience command with --dry-run / --no-wait / --json,
summary, members as CSV, undo, and the errors a person meets."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import (
    Campaign,
    CampaignMember,
    Company,
    Contact,
    ContactKind,
    FilterModule,
    JobRun,
    JobStatus,
    Role,
    SavedFilter,
    TargetGroup,
    db,
)
from models.groups.refresh import refresh
from tests.conftest import make_user, process_env

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FINNISH = {"all": [{"field": "language", "op": "eq", "value": "fi"}]}

# name: (email, company, kind, opted out, language); Anna/Anni and Eve/Gus share an address
# once trimmed and lower-cased, Carl has none.
PEOPLE = {
    "Anna": ("Anna@Example.com ", "Acme", ContactKind.CONTACT, False, "fi"),
    "Anni": ("anna@example.com", "Acme", ContactKind.LEAD, False, "sv"),
    "Bob": ("bob@example.com", "Acme", ContactKind.CONTACT, True, "fi"),
    "Carl": (None, None, ContactKind.CONTACT, False, "fi"),
    "Eve": (" EVE@example.com", None, ContactKind.CONTACT, False, "sv"),
    "Gus": ("eve@example.com", None, ContactKind.LEAD, False, "fi"),
}


@pytest.fixture
def w(ctx):
    """The people, a group of the Finnish ones (Anna, Bob, Carl, Gus), a saved filter of the
    Swedish ones, and two active campaigns: Spring (empty) and Autumn (everyone)."""
    acme = Company(name="Acme")
    people = {}
    for name, (email, company, kind, opted_out, language) in PEOPLE.items():
        people[name] = Contact(first_name=name, last_name="Test", email=email,
                               company=acme if company else None, kind=kind,
                               email_opt_out=opted_out, language=language)
    spring, autumn = Campaign(name="Spring"), Campaign(name="Autumn")
    finns = TargetGroup(name="Finns", criteria=FINNISH)
    swedes = SavedFilter(name="Swedes", module=FilterModule.CONTACT,
                         criteria={"all": [{"field": "language", "op": "eq", "value": "sv"}]})
    db.session.add_all([acme, *people.values(), spring, autumn, finns, swedes])
    db.session.commit()
    refresh(finns)
    for minute, person in enumerate(people.values()):
        db.session.add(CampaignMember(campaign=autumn, contact=person,
                                      added_at=T0 + timedelta(minutes=minute)))
    db.session.commit()
    return people


@pytest.fixture
def waiting(app, monkeypatch):
    """The environment a waiting command hands to the worker it starts."""
    for name, value in process_env(app).items():
        monkeypatch.setenv(name, value)


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["campaigns", *args], catch_exceptions=False)


def members(campaign: str) -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(
        select(Contact.first_name).join(CampaignMember, CampaignMember.contact_id == Contact.id)
        .join(Campaign, Campaign.id == CampaignMember.campaign_id).where(Campaign.name == campaign)
    ))


def queued_id(result) -> str:
    """The job id a --no-wait command printed; the job waits in the queue."""
    assert result.exit_code == 0, result.output
    run_id = result.stdout.strip()
    assert db.session.get(JobRun, run_id).status == JobStatus.QUEUED
    return run_id


def test_create_with_a_generated_number(app, ctx):
    owner = make_user("owner@example.com", Role.USER)
    made = invoke(app, "create", "--name", "Spring", "--owner", owner.email, "--json")
    assert made.exit_code == 0, made.output
    data = json.loads(made.stdout)
    assert data == {"id": data["id"], "number": f"{datetime.now(UTC).year}-{data['id']:05d}",
                    "name": "Spring", "active": True}
    assert db.session.get(Campaign, data["id"]).owner_id == owner.id
    old = invoke(app, "create", "--name", "Old", "--inactive")
    assert old.exit_code == 0 and "created campaign " in old.output and "'Old'" in old.output
    assert db.session.scalar(select(Campaign.active).where(Campaign.name == "Old")) is False


def test_create_refuses_an_unknown_owner(app, ctx):
    result = invoke(app, "create", "--name", "Spring", "--owner", "nobody@example.com")
    assert result.exit_code == 1 and "no user 'nobody@example.com'" in result.output
    assert db.session.scalar(select(Campaign.id)) is None


def test_copy_group_dry_run_then_wait_then_again(app, w, waiting):
    dry = invoke(app, "copy-group", "Spring", "finns", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.strip() == "would add 4, already members 0"
    assert members("Spring") == set()  # a dry run changes nothing and starts no job
    assert db.session.scalar(select(JobRun.id)) is None
    done = invoke(app, "copy-group", "Spring", "Finns")
    assert done.exit_code == 0, done.output
    run = db.session.scalars(select(JobRun)).one()
    assert f"Spring: added 4, 4 members (undo: kohde campaigns undo {run.id})" in done.stdout
    assert members("Spring") == {"Anna", "Bob", "Carl", "Gus"}
    again = invoke(app, "copy-group", "Spring", "Finns", "--json")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["status"] == "done" and data["kind"] == "campaign_audience"
    assert data["result"]["added"] == 0 and members("Spring") == {"Anna", "Bob", "Carl", "Gus"}
    assert json.loads(invoke(app, "copy-group", "Spring", "Finns", "--dry-run", "--json")
                      .stdout) == {"action": "copy_group", "would_add": 0,
                                   "already_members": 4}


def test_copy_group_with_refresh(app, w, run_jobs):
    w["Eve"].language = "fi"  # matches since the group's last refresh
    db.session.commit()
    run_id = queued_id(invoke(app, "copy-group", "Spring", "Finns", "--refresh", "--no-wait"))
    assert db.session.get(JobRun, run_id).params["refresh_group"] is True
    run_jobs()
    assert members("Spring") == {"Anna", "Bob", "Carl", "Eve", "Gus"}


@pytest.mark.parametrize(
    ("command", "before", "dry", "after"),
    [
        (["remove-group", "Spring", "Finns"], {"Anna", "Anni", "Eve"}, "would remove 1",
         {"Anni", "Eve"}),
        (["copy-campaign", "Spring", "Autumn"], {"Anna"}, "would add 5, already members 1",
         set(PEOPLE)),
        (["remove-campaign", "Spring", "Autumn"], {"Anna"}, "would remove 1", set()),
        (["load-filter", "Spring", "Swedes"], {"Anna"}, "would add 2, already members 0",
         {"Anna", "Anni", "Eve"}),
        (["keep-only", "Spring", "Swedes"], {"Anna", "Anni", "Carl"}, "would remove 2",
         {"Anni"}),
        # Anna (joined first) keeps anna@example.com; Eve keeps eve@example.com; Carl has none.
        (["dedupe", "Spring", "--by", "email"], set(PEOPLE), "would remove 2",
         {"Anna", "Bob", "Carl", "Eve"}),
        # Acme: Anna joined first; Carl, Eve and Gus have no company.
        (["dedupe", "Spring", "--by", "company"], set(PEOPLE), "would remove 2",
         {"Anna", "Carl", "Eve", "Gus"}),
        (["prune-opted-out", "Spring"], set(PEOPLE), "would remove 1", set(PEOPLE) - {"Bob"}),
    ],
)
def test_bulk_commands_dry_run_and_no_wait(app, w, run_jobs, command, before, dry, after):
    spring = db.session.scalar(select(Campaign).where(Campaign.name == "Spring"))
    for minute, name in enumerate(sorted(before, key=list(PEOPLE).index)):
        db.session.add(CampaignMember(campaign=spring, contact=w[name],
                                      added_at=T0 + timedelta(minutes=minute)))
    db.session.commit()
    preview = invoke(app, *command, "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert preview.stdout.strip() == dry
    assert members("Spring") == before
    as_json = json.loads(invoke(app, *command, "--dry-run", "--json").stdout)
    run_id = queued_id(invoke(app, *command, "--no-wait"))
    run_jobs()
    run = db.session.get(JobRun, run_id)
    assert run.status == JobStatus.DONE, run.error
    done = run.result.get("added", run.result.get("removed"))
    assert done == as_json.get("would_add", as_json.get("would_remove"))
    assert members("Spring") == after


def test_no_wait_json_prints_the_job_id(app, w):
    result = invoke(app, "prune-opted-out", "Spring", "--no-wait", "--json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["id"]
    assert db.session.get(JobRun, run_id).params == {
        "campaign_id": db.session.scalar(select(Campaign.id).where(Campaign.name == "Spring")),
        "action": "prune_opted_out", "source_id": None, "contact_ids": None,
        "refresh_group": False}


def test_add_and_remove_single_contacts_by_email_or_id(app, w, waiting):
    preview = invoke(app, "add", "Spring", " ANNA@example.com", str(w["Eve"].id), "--dry-run")
    # " ANNA@example.com" names the first contact with that normalised address: Anna.
    assert preview.exit_code == 0 and preview.stdout.strip() == "would add 2, already members 0"
    added = invoke(app, "add", "Spring", " ANNA@example.com", str(w["Eve"].id))
    assert added.exit_code == 0, added.output
    assert "Spring: added 2, 2 members" in added.stdout
    assert members("Spring") == {"Anna", "Eve"}
    removed = invoke(app, "remove", "Spring", str(w["Eve"].id), "--json")
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["result"]["removed"] == 1
    assert members("Spring") == {"Anna"}
    unknown = invoke(app, "add", "Spring", "nobody@example.com")
    assert unknown.exit_code == 1 and "no contact 'nobody@example.com'" in unknown.output


def test_summary_text_and_json(app, w):
    data = json.loads(invoke(app, "summary", "Autumn", "--json").stdout)
    assert data == {
        "members": 6, "leads": 2, "contacts": 4, "companies": 1, "with_email": 5,
        "without_email": 1, "opted_out": 1, "duplicate_emails": 2,
        "companies_with_several_members": 1,
    }
    text = invoke(app, "summary", "Autumn")
    assert text.exit_code == 0
    lines = {line.split(":")[0].strip(): line.split(":")[1].strip()
             for line in text.stdout.splitlines()}
    assert lines["members"] == "6" and lines["duplicate emails"] == "2"


def test_members_prints_csv_in_join_order(app, w):
    result = invoke(app, "members", "Autumn")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["first_name"] for r in rows] == list(PEOPLE)  # joined one a minute, in this order
    assert rows[0] == {"contact_id": str(w["Anna"].id), "first_name": "Anna", "last_name": "Test",
                       "email": "Anna@Example.com ", "kind": "contact", "source": "manual",
                       "source_ref": "", "added_at": rows[0]["added_at"], "job_id": ""}
    assert rows[0]["added_at"].startswith("2026-01-05 09:00:00")
    assert rows[3]["email"] == ""  # Carl has none
    empty = invoke(app, "members", "Spring")
    assert empty.stdout.splitlines() == [
        "contact_id,first_name,last_name,email,kind,source,source_ref,added_at,job_id"]


def test_undo_through_the_cli(app, w, waiting):
    invoke(app, "copy-group", "Spring", "Finns")
    copied = db.session.scalars(select(JobRun)).one()
    result = invoke(app, "undo", copied.id)
    assert result.exit_code == 0, result.output
    assert f"undid {copied.id}: removed 4, restored 0" in result.stdout
    assert members("Spring") == set()
    twice = invoke(app, "undo", copied.id)
    assert twice.exit_code == 1
    assert f"AudienceError: job {copied.id} was already undone by" in twice.output


def test_undo_no_wait_and_unknown_job(app, w, run_jobs):
    run_id = json.loads(invoke(app, "undo", "nope", "--no-wait", "--json").stdout)["id"]
    run_jobs()
    run = db.session.get(JobRun, run_id)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("AudienceError: nope is not an audience job")


def test_inactive_campaign_is_refused_with_a_clear_message(app, w):
    db.session.add(Campaign(name="Old", active=False))
    db.session.commit()
    message = "campaign 'Old' is not active: only active campaigns can be changed"
    for command in (["copy-group", "Old", "Finns"], ["copy-group", "Old", "Finns", "--dry-run"],
                    ["dedupe", "Old", "--by", "email", "--no-wait"],
                    ["add", "Old", str(w["Anna"].id)]):
        result = invoke(app, *command)
        assert result.exit_code == 1, command
        assert message in result.output
    assert db.session.scalar(select(JobRun.id)) is None  # refused before anything is queued


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["copy-group", "Spring", "nope"], "no target group 'nope'"),
        (["remove-group", "Spring", "999"], "no target group '999'"),
        (["copy-campaign", "nope", "Autumn"], "no campaign 'nope'"),
        (["copy-campaign", "Spring", "Spring"], "a campaign cannot be its own source"),
        (["load-filter", "Spring", "nope"], "no saved filter 'nope'"),
        (["summary", "nope"], "no campaign 'nope'"),
        (["members", "nope"], "no campaign 'nope'"),
    ],
)
def test_unknown_names_exit_non_zero_with_a_clear_message(app, w, command, message):
    result = invoke(app, *command)
    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(select(JobRun.id)) is None


def test_dedupe_needs_a_known_key(app, w):
    result = invoke(app, "dedupe", "Spring", "--by", "phone")
    assert result.exit_code == 2
    assert "'phone' is not one of 'email', 'company'" in result.output
