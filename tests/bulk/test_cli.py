"""`kohde contacts set-owner|set-status|opt-out|opt-in` and `kohde activities
reassign|shift|set-status`: rows by --ids, --where, --search, --filter, --group; --dry-run,
--json, --no-wait, waiting with progress; `kohde jobs undo`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from models import Activity, Contact, FilterModule, JobRun, JobStatus, SavedFilter, TargetGroup, db
from models.groups.refresh import refresh
from tests.conftest import process_env

from .support import ids_where, world


@pytest.fixture
def waiting(app, monkeypatch):
    """The environment a waiting command hands to the worker it starts."""
    for name, value in process_env(app).items():
        monkeypatch.setenv(name, value)


def kohde(app, *args):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def test_set_owner_by_where_dry_run_json_then_wait(app, ctx, waiting):
    data = world(30)
    turku = ids_where(lambda c: c.city == "Turku")
    already = ids_where(lambda c: c.city == "Turku" and c.owner_id == data["bob"])
    dry = kohde(app, "contacts", "set-owner", "bob@example.com", "--where", "city eq Turku",
                "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == {"selected": len(turku),
                                      "would_change": len(turku) - len(already)}
    assert db.session.scalar(select(JobRun.id)) is None
    done = kohde(app, "contacts", "set-owner", "bob@example.com", "--where", "city eq Turku")
    assert done.exit_code == 0, done.output
    assert "Owner changed to Bob" in done.stdout
    db.session.expire_all()
    assert ids_where(lambda c: c.owner_id == data["bob"] and c.city == "Turku") == turku
    run_id = db.session.scalar(select(JobRun.id).where(JobRun.kind == "bulk_set"))
    undo = kohde(app, "jobs", "undo", run_id)
    assert undo.exit_code == 0 and "Put back" in undo.stdout, undo.output
    db.session.expire_all()
    assert ids_where(lambda c: c.owner_id == data["bob"] and c.city == "Turku") == already


def test_opt_out_by_saved_filter_and_opt_in_by_group(app, ctx, waiting):
    world(20)
    saved = SavedFilter(name="Oulu", module=FilterModule.CONTACT,
                        criteria={"all": [{"field": "city", "op": "eq", "value": "Oulu"}]})
    group = TargetGroup(name="Espoo", criteria={"all": [{"field": "city", "op": "eq",
                                                          "value": "Espoo"}]})
    db.session.add_all([saved, group])
    db.session.commit()
    refresh(group)
    out = kohde(app, "contacts", "opt-out", "--filter", "Oulu", "--reason", "list cleaned",
                "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["status"] == "done"
    db.session.expire_all()
    assert ids_where(lambda c: c.city == "Oulu" and not c.email_opt_out) == []
    back = kohde(app, "contacts", "opt-in", "--group", "Espoo", "--reason", "asked again")
    assert back.exit_code == 0, back.output
    db.session.expire_all()
    assert ids_where(lambda c: c.city == "Espoo" and c.email_opt_out) == []


def test_set_status_no_wait_and_bad_input(app, ctx):
    world(5)
    queued = kohde(app, "contacts", "set-status", "customer", "--ids", "1,2", "--no-wait")
    assert queued.exit_code == 0
    assert db.session.get(JobRun, queued.stdout.strip()).status == JobStatus.QUEUED
    for args, message in [
        (("--where", "password_hash eq x"), "no filter on 'password_hash'"),
        (("--where", "city"), "PATH OP VALUE"),
        ((), "say which rows"),
        (("--ids", "1,x"), "cannot exist"),
        (("--ids", "1", "--where", "city eq Oulu"), "--ids names the rows itself"),
    ]:
        refused = kohde(app, "contacts", "set-status", "x", *args)
        assert refused.exit_code == 1 and message in refused.output, (args, refused.output)
    unknown = kohde(app, "contacts", "set-owner", "nobody@example.com", "--ids", "1")
    assert unknown.exit_code == 1 and "no user" in unknown.output


def test_activities_reassign_shift_set_status(app, ctx, waiting):
    data = world(2)
    start = datetime(2027, 3, 1, 8, tzinfo=UTC)
    db.session.execute(insert(Activity), [
        {"subject": f"Call {i}", "owner_id": data["alice"], "start_at": start + timedelta(hours=i),
         "end_at": start + timedelta(hours=i, minutes=30)} for i in range(3)])
    db.session.commit()
    moved = kohde(app, "activities", "shift", "--days", "2", "--where",
                  "owner.email eq alice@example.com")
    assert moved.exit_code == 0 and "Moved 3 activities by 2 days." in moved.stdout, moved.output
    again = kohde(app, "activities", "reassign", "bob@example.com", "--ids", "1,2", "--json")
    assert json.loads(again.stdout)["result"]["changed"] == 2
    done = kohde(app, "activities", "set-status", "done", "--search", "Call", "--dry-run")
    assert done.stdout.strip() == "selected 3, would change 3"
    slotted = kohde(app, "activities", "reassign", "bob@example.com", "--ids", "3",
                    "--slotted-from", "2027-04-05")
    assert slotted.exit_code == 0, slotted.output
    db.session.expire_all()
    rows = {a.id: a for a in db.session.scalars(select(Activity))}
    assert rows[1].start_at == start + timedelta(days=2)
    assert {a.owner_id for a in rows.values()} == {data["bob"]}
    assert rows[3].start_at.date() >= datetime(2027, 4, 5).date()
    assert db.session.get(Contact, 1) is not None
