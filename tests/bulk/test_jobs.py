"""Bulk jobs: set-based changes in chunks, results in words, audit entries, undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select

from jobs.bulk import (
    start_delete,
    start_opt_out,
    start_reassign_slotted,
    start_set_owner,
    start_shift,
    start_undo_bulk,
)
from jobs.bulk_areas import start_join_campaign, start_leave_campaign
from models import (
    Activity,
    AuditEntry,
    CampaignMember,
    Contact,
    JobRun,
    JobStatus,
    OutboxMessage,
    db,
)
from models.bulk import changes
from models.selections import Selection
from webadmin.admin.bulk.sentences import bulk_sentence

from .support import ids_where, world

TURKU = Selection("contacts", None, "", (("city", "eq", "Turku"),))


def _done(run_id: str) -> JobRun:
    run = db.session.get(JobRun, run_id)
    assert run.status == JobStatus.DONE, run.error
    return run


def test_set_owner_in_chunks_with_audit_and_undo(ctx, run_jobs, monkeypatch):
    data = world(40)
    monkeypatch.setattr(changes, "CHUNK", 7)  # several chunks even on a small table
    turku = ids_where(lambda c: c.city == "Turku")
    was_alice = ids_where(lambda c: c.city == "Turku" and c.owner_id == data["alice"])
    run = start_set_owner(TURKU, data["alice"], started_by=data["bob"])
    run_jobs()
    run = _done(run.id)
    assert run.result["changed"] == len(turku) - len(was_alice)
    assert run.result["selected"] == len(turku) == run.progress_total == run.progress_done
    assert "summary" not in run.result  # counts only: the page says it in the reader's words
    assert bulk_sentence(run).startswith("Owner changed to Alice on ")
    assert ids_where(lambda c: c.owner_id == data["alice"] and c.city == "Turku") == turku
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.summary.like("owner%")))
    entries = list(entries)
    assert len(entries) == run.result["changed"]
    assert all(e.user_id == data["bob"] and e.changes["owner_id"] == [data["bob"], data["alice"]]
               for e in entries)
    # a later edit wins over the undo
    later = db.session.get(Contact, sorted(set(turku) - set(was_alice))[0])
    later.owner_id = None
    db.session.commit()
    undo = start_undo_bulk(run.id, started_by=data["bob"])
    run_jobs()
    undo = _done(undo.id)
    assert undo.result["kept"] == 1
    assert undo.result["restored"] == run.result["changed"] - 1
    assert ids_where(lambda c: c.city == "Turku" and c.owner_id == data["alice"]) == was_alice
    assert _done(run.id).result["undone_by"] == undo.id


def test_opt_out_is_audited_with_the_reason(ctx, run_jobs):
    world(20)
    chosen = Selection("contacts", (1, 2, 7, 8))
    run = start_opt_out(chosen, True, "asked by phone")
    run_jobs()
    assert _done(run.id).result["changed"] == 2  # contacts 1 and 8 had opted out already
    reasons = db.session.scalars(select(AuditEntry.summary)
                                 .where(AuditEntry.table_name == "contacts")).all()
    assert len(reasons) == 2 and all("asked by phone" in r for r in reasons)
    assert ids_where(lambda c: c.email_opt_out and c.id in (1, 2, 7, 8)) == [1, 2, 7, 8]


def test_join_and_leave_campaign_with_email_and_undo(ctx, run_jobs):
    data = world(30)
    run = start_join_campaign(TURKU, data["campaign"])
    run_jobs()
    result = _done(run.id).result
    turku = ids_where(lambda c: c.city == "Turku")
    opted = ids_where(lambda c: c.city == "Turku" and c.email_opt_out)
    assert result["added"] == len(turku)
    assert result["email"] == {"queued": len(turku) - len(opted), "suppressed": len(opted)}
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == len(turku)
    leave = start_leave_campaign(Selection("contacts", tuple(turku[:2])), data["campaign"])
    run_jobs()
    assert _done(leave.id).result["removed"] == 2
    undo = start_undo_bulk(leave.id)
    run_jobs()
    _done(undo.id)
    members = db.session.scalar(select(func.count()).select_from(CampaignMember))
    assert members == len(turku)


def test_delete_contacts_audits_each(ctx, run_jobs):
    world(12)
    run = start_delete(Selection("contacts", None, "", (("status", "eq", "prospect"),)))
    run_jobs()
    deleted = _done(run.id).result["deleted"]
    assert deleted == 5 and db.session.scalar(select(func.count()).select_from(Contact)) == 7
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "delete")).all()
    assert len(rows) == 5 and rows[0].changes["email"].startswith("p")


def _activities(owner_id: int, count: int) -> list[int]:
    start = datetime(2027, 3, 1, 8, tzinfo=UTC)
    db.session.execute(insert(Activity), [
        {"subject": f"Call {i}", "owner_id": owner_id, "start_at": start + timedelta(hours=i),
         "end_at": start + timedelta(hours=i, minutes=30)} for i in range(count)])
    db.session.commit()
    return list(db.session.scalars(select(Activity.id).order_by(Activity.id)))


def test_shift_and_undo_activities(ctx, run_jobs):
    data = world(2)
    ids = _activities(data["alice"], 3)
    before = {a.id: a.start_at for a in db.session.scalars(select(Activity))}
    run = start_shift(Selection("activities", tuple(ids[:2])), 24 * 60)
    run_jobs()
    assert _done(run.id).result["moved"] == 2
    after = {a.id: a.start_at for a in db.session.scalars(select(Activity))}
    assert after[ids[0]] - before[ids[0]] == timedelta(days=1)
    assert after[ids[2]] == before[ids[2]]
    undo = start_undo_bulk(run.id)
    run_jobs()
    _done(undo.id)
    db.session.expire_all()
    assert {a.id: a.start_at for a in db.session.scalars(select(Activity))} == before


def test_reassign_into_free_slots(ctx, run_jobs):
    data = world(2)
    ids = _activities(data["alice"], 4)
    run = start_reassign_slotted(Selection("activities", tuple(ids)), data["bob"],
                                 datetime(2027, 3, 8).date())
    run_jobs()
    result = _done(run.id).result
    assert result["moved"] == 4 and result["planned"] == 4
    moved = db.session.scalars(select(Activity)).all()
    assert {a.owner_id for a in moved} == {data["bob"]}
    assert len({a.start_at for a in moved}) == 4
    assert min(a.start_at for a in moved).date() >= datetime(2027, 3, 8).date()


def test_the_result_is_said_in_the_readers_language_and_old_sentences_still_show(
        app, ctx, run_jobs):
    from flask_babel import force_locale

    from jobs.bulk import start_set_status

    world(40)
    run = start_set_status(TURKU, "customer")
    run_jobs()
    run = _done(run.id)
    old = JobRun(id="old-bulk", kind="bulk_set", dedupe_key="old", status=JobStatus.DONE,
                 params={"change": "contacts.status", "value": "customer"},
                 result={"changed": 3, "summary": "Status set to customer on 3 contacts."})
    db.session.add(old)
    db.session.commit()
    changed = run.result["changed"]
    with force_locale("en"):
        assert bulk_sentence(run) == (f"Status set to Customer on {changed} of "
                                      f"{run.result['selected']} selected contacts; "
                                      f"{run.result['unchanged']} had it already.")
    with force_locale("fi"):
        finnish = bulk_sentence(run)
        assert "Asiakas" in finnish and "Customer" not in finnish  # the reader's words
        assert bulk_sentence(old) == "Status set to customer on 3 contacts."  # kept as stored
    # The job's page says it to a Finnish reader the same way.
    from tests.conftest import login, make_user

    client = app.test_client()
    assert login(client, make_user("fi@example.com", "admin").email).status_code == 302
    page = client.get(f"/admin/jobrun/details/?id={run.id}",
                      headers={"Accept-Language": "fi"}).get_data(as_text=True)
    assert f"<p class=\"mb-1\" data-summary>{finnish}</p>" in page
    old_page = client.get("/admin/jobrun/details/?id=old-bulk",
                          headers={"Accept-Language": "fi"}).get_data(as_text=True)
    assert "Status set to customer on 3 contacts." in old_page
