"""Bulk jobs: set-based changes in chunks, results in words, audit entries, undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError

import jobs.bulk
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


def test_undo_of_a_shift_leaves_an_activity_moved_since(ctx, run_jobs):
    """Someone moved one of the shifted activities again: undo keeps it where they put it,
    puts the other back, and says so."""
    data = world(2)
    ids = _activities(data["alice"], 2)
    before = {a.id: a.start_at for a in db.session.scalars(select(Activity))}
    run = start_shift(Selection("activities", tuple(ids)), 60)
    run_jobs()
    _done(run.id)
    moved_again = db.session.get(Activity, ids[1])
    moved_again.start_at += timedelta(days=7)
    moved_again.end_at += timedelta(days=7)
    db.session.commit()
    placed = moved_again.start_at
    undo = start_undo_bulk(run.id)
    run_jobs()
    result = _done(undo.id).result
    assert (result["restored"], result["kept"]) == (1, 1)
    db.session.expire_all()
    assert db.session.get(Activity, ids[0]).start_at == before[ids[0]]
    assert db.session.get(Activity, ids[1]).start_at == placed


def test_a_shift_retried_after_a_crash_moves_each_activity_once_and_undoes_all(
        app, ctx, run_jobs, monkeypatch):
    """The first attempt commits a chunk and loses its database; the retry moves only the
    rest (a shift done twice would move them twice) and undo puts back both attempts'."""
    data = world(2)
    ids = _activities(data["alice"], 5)
    before = {a.id: a.start_at for a in db.session.scalars(select(Activity))}
    monkeypatch.setattr(changes, "CHUNK", 2)
    calls = []

    def shift_then_lose_the_database(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:  # the first chunk is committed; the second one fails
            raise OperationalError("UPDATE activities", {}, Exception("server closed"))
        return changes.shift_times(*args, **kwargs)

    monkeypatch.setattr(jobs.bulk, "shift_times", shift_then_lose_the_database)
    app.config["KOHDE_JOB_RETRY_SECONDS"] = 0  # the retry goes on the queue at once
    first = start_shift(Selection("activities", tuple(ids)), 60)
    run_jobs()
    attempts = db.session.scalars(select(JobRun).where(JobRun.kind == "bulk_shift")
                                  .order_by(JobRun.attempt)).all()
    assert [(a.attempt, a.status) for a in attempts] == [(1, "failed"), (2, "done")]
    assert attempts[0].id == first.id
    db.session.expire_all()
    assert {a.id: a.start_at - before[a.id] for a in db.session.scalars(select(Activity))} \
        == dict.fromkeys(ids, timedelta(hours=1))
    undo = start_undo_bulk(attempts[1].id)
    run_jobs()
    assert _done(undo.id).result["restored"] == 5
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


SAID = {  # kind: (params, result, what the English reader sees)
    "bulk_shift": ({"minutes": -2880}, {"moved": 3}, "Moved 3 activities back by 2 days."),
    "bulk_reassign_slotted": ({"user_id": 999, "day": "2026-12-07"}, {"moved": 2},
                              "Gave 2 activities to nobody in free slots from 2026-12-07 on."),
    "bulk_delete": ({"selection": {"area": "contacts"}}, {"deleted": 1240},
                    "Deleted 1,240 contacts."),
    "undo_bulk": ({"run_id": "j1"}, {"undid": "j1", "restored": 5, "kept": 1},
                  "Put back 5 rows as they were before j1; 1 changed since and were left as "
                  "they are."),
    "bulk_join_campaign": ({"campaign_id": 999}, {"added": 4, "email": {"queued": 3,
                                                                        "suppressed": 1}},
                           "Added 4 contacts to #999; 3 emails queued, 1 held back."),
    "bulk_leave_campaign": ({"campaign_id": 999}, {"removed": 2},
                            "Removed 2 contacts from #999."),
    "bulk_contact_activities": ({}, {"created": 7, "unassigned": 0},
                                "Created 7 activities; 0 contacts had nobody to take theirs."),
    "bulk_export_contacts": ({}, {"exported": 12}, "Exported 12 contacts to CSV."),
    "bulk_campaign_cleanup": ({"action": "dedupe_email"},
                              {"removed": 6, "per_campaign": {"1": 6}, "skipped": 1,
                               "skipped_reasons": ["campaign 2 is not active"]},
                              "Removed 6 email duplicates from 1 campaign; 1 skipped "
                              "(campaign 2 is not active)."),
    "bulk_refresh_groups": ({}, {"groups": 2, "members": 1500, "skipped": 0},
                            "Refreshed 2 target groups: 1,500 members in all."),
    "bulk_outbox": ({"operation": "retry"}, {"changed": 1},
                    "Put 1 failed message back in the queue."),
}


def test_every_bulk_kind_is_said_in_words(app, ctx):
    from flask_babel import force_locale

    with force_locale("en"):
        for kind, (params, result, said) in SAID.items():
            assert bulk_sentence(JobRun(kind=kind, params=params, result=result)) == said, kind
        assert bulk_sentence(JobRun(kind="import_contacts", params={}, result={"rows": 1})) == ""


def test_bulk_audit_summaries_are_stored_in_english_and_read_in_the_readers_language(
        app, ctx, run_jobs):
    from flask_babel import force_locale, gettext

    from tests.conftest import login, make_user

    data = world(20)
    chosen = Selection("contacts", (1, 2, 3, 4))
    run = start_set_owner(chosen, data["alice"])
    run_jobs()
    undo = start_undo_bulk(_done(run.id).id)
    run_jobs()
    opt = start_opt_out(Selection("contacts", (2, 3)), True, "asked by phone")
    run_jobs()
    _done(undo.id)
    _done(opt.id)
    # What is stored stays English and machine-readable, as rows written before this read.
    stored = set(db.session.scalars(select(AuditEntry.summary)
                                    .where(AuditEntry.table_name == "contacts")))
    assert stored == {f"owner changed in bulk (job {run.id})", f"undo of {run.id} (job {undo.id})",
                      f"email opt-out set in bulk: asked by phone (job {opt.id})"}
    admin = make_user("fi@example.com", "admin")
    admin.language = "fi"  # the admin's own choice, not the browser's
    db.session.commit()
    client = app.test_client()
    assert login(client, admin.email).status_code == 302
    log = client.get("/admin/auditentry/?page_size=100").get_data(as_text=True)
    changed = db.session.scalar(select(AuditEntry.record_id).where(
        AuditEntry.summary.like("owner changed%")))
    history = client.get(f"/admin/contact/details/?id={changed}").get_data(as_text=True)
    with force_locale("fi"):
        owner = gettext("%(what)s (job %(job)s)", what=gettext("Owner changed in bulk"),
                        job=run.id)
        undone = gettext("Undo of job %(undone)s (job %(job)s)", undone=run.id, job=undo.id)
        opted = gettext("%(what)s: %(note)s (job %(job)s)",
                        what=gettext("Email opt-out set in bulk"), note="asked by phone",
                        job=opt.id)
    assert owner in log and undone in log and opted in log
    assert f"data-bulk-summary>{undone}<" in history
    for english in ("in bulk", "undo of", "Undo of", "(job "):
        assert english not in log and english not in history, english


def test_a_long_note_never_cuts_the_job_from_the_summary():
    text = changes._summary("job-1", changes.OPT_OUT_SET, "why " * 100)
    assert len(text) == changes.SUMMARY_LENGTH and text.endswith(" (job job-1)")
    said = changes.read_summary(text)
    assert said.job_id == "job-1" and said.what == changes.OPT_OUT_SET
    assert changes.read_summary("Acme Oy (job 5)") is None  # a record's name stays as it is
    from models.labels import BULK_CHANGES

    assert set(changes.DONE_IN_BULK) == set(BULK_CHANGES)  # each stored phrase has words
