"""The activity, campaign, target group, outbox and job lists' bulk actions over HTTP, and
undo of a job: a user undoes their own jobs only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_admin.contrib.sqla.filters import BooleanEqualFilter, FilterEqual
from sqlalchemy import func, insert, select

from jobs.bulk import start_set_owner
from models import (
    Activity,
    Campaign,
    CampaignMember,
    Contact,
    JobRun,
    OutboxMessage,
    OutboxState,
    Role,
    TargetGroup,
    db,
)
from models.email.outbox import queue_campaign_join
from models.selections import Selection

from ..conftest import make_user
from .support import filter_arg, second_client, world
from .test_admin_contacts import choose, post, selection_of

START = datetime(2027, 3, 1, 8, tzinfo=UTC)


def act(client, base: str, action: str, fields: dict, rowids=(), select_all=False, url=None):
    """Choose the action in the list, preview it, run it; the run's answer."""
    confirm, token = choose(client, action, rowids=rowids, select_all=select_all,
                            url=url or f"{base}/", base=base)
    assert confirm.status_code == 200, confirm.status_code
    selection = selection_of(confirm.get_data(as_text=True))
    preview = post(client, f"{base}/bulk/{action}/preview", token, selection, **fields)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    assert 'id="bulk-run"' in preview.get_data(as_text=True)
    return post(client, f"{base}/bulk/{action}/run", token, selection, **fields)


def _done(run_jobs) -> list[JobRun]:
    run_jobs()
    runs = db.session.scalars(select(JobRun).order_by(JobRun.enqueued_at)).all()
    assert all(r.status == "done" for r in runs), [r.error for r in runs]
    return runs


def _activities(owner_id: int, count: int = 3) -> None:
    db.session.execute(insert(Activity), [
        {"subject": f"Call {i}", "owner_id": owner_id, "start_at": START + timedelta(hours=i),
         "end_at": START + timedelta(hours=i, minutes=30)} for i in range(count)])
    db.session.commit()


def test_activities_reassign_status_shift_delete(app, user_client, run_jobs):
    data = world(2)
    _activities(data["alice"])
    base = "/admin/activity"
    act(user_client, base, "reassign", {"owner_id": str(data["bob"]), "mode": "keep", "day": ""},
        rowids=[1])
    act(user_client, base, "reassign", {"owner_id": str(data["bob"]), "mode": "slotted",
                                        "day": "2027-04-05"}, rowids=[2])
    act(user_client, base, "set_status", {"status": "done"}, select_all=True,
        url=f"{base}/?search=Call")
    act(user_client, base, "shift", {"amount": "-2", "unit": "hours"}, rowids=[3])
    _done(run_jobs)
    rows = {a.id: a for a in db.session.scalars(select(Activity))}
    assert rows[1].owner_id == data["bob"] and rows[1].start_at == START
    assert rows[2].owner_id == data["bob"] and rows[2].start_at.date().isoformat() >= "2027-04-05"
    assert {a.status for a in rows.values()} == {"done"}
    assert rows[3].start_at == START + timedelta(hours=0)
    act(user_client, base, "delete_activities", {}, rowids=[1, 2])
    _done(run_jobs)
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 1


def test_campaigns_activate_and_clean_up(app, user_client, run_jobs):
    data = world(14)
    campaign = db.session.get(Campaign, data["campaign"])
    db.session.execute(insert(CampaignMember), [
        {"campaign_id": campaign.id, "contact_id": i} for i in range(1, 15)])
    db.session.commit()
    base = "/admin/campaign"
    active = filter_arg(app, "campaign", "Active", BooleanEqualFilter)
    act(user_client, base, "remove_opted_out", {}, select_all=True,
        url=f"{base}/?flt0_{active}=1")
    _done(run_jobs)
    assert db.session.scalar(select(func.count()).select_from(CampaignMember)) == 12  # 1 and 8
    act(user_client, base, "deactivate", {}, rowids=[campaign.id])
    _done(run_jobs)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).active is False
    act(user_client, base, "activate", {}, rowids=[campaign.id])
    _done(run_jobs)
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).active is True
    db.session.get(Contact, 3).email = db.session.get(Contact, 2).email.upper()
    db.session.commit()
    act(user_client, base, "remove_email_duplicates", {}, rowids=[campaign.id])
    run = _done(run_jobs)[-1]
    assert run.result["removed"] == 1
    assert db.session.scalar(select(func.count()).select_from(CampaignMember)) == 11


def test_groups_refresh_selected(user_client, run_jobs):
    world(8)
    groups = [TargetGroup(name=f"In {city}", criteria={"all": [
        {"field": "city", "op": "eq", "value": city}]}) for city in ("Turku", "Oulu")]
    db.session.add_all(groups)
    db.session.commit()
    act(user_client, "/admin/targetgroup", "refresh", {}, rowids=[g.id for g in groups])
    run = _done(run_jobs)[-1]
    assert run.result["groups"] == 2 and run.result["members"] == 6
    db.session.expire_all()
    assert [g.member_count for g in db.session.scalars(select(TargetGroup))] == [4, 2]


def test_outbox_retry_and_cancel(app, user_client, run_jobs):
    data = world(6)
    db.session.execute(insert(CampaignMember), [
        {"campaign_id": data["campaign"], "contact_id": i} for i in range(1, 7)])
    db.session.commit()
    queue_campaign_join(data["campaign"], contact_ids=list(range(1, 7)))
    db.session.commit()
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    messages[1].state, messages[1].attempts = OutboxState.FAILED, 5
    db.session.commit()
    base = "/admin/outboxmessage"
    state = filter_arg(app, "outboxmessage", "State", FilterEqual)
    act(user_client, base, "cancel_queued", {}, select_all=True,
        url=f"{base}/?flt0_{state}=queued")
    act(user_client, base, "retry_failed", {}, rowids=[messages[1].id])
    _done(run_jobs)
    states = {m.id: (m.state, m.suppressed_reason) for m in db.session.scalars(
        select(OutboxMessage))}
    assert states[messages[2].id] == ("suppressed", "cancelled")
    # the retried one went back in the queue (and the sender the retry started sent it on)
    assert states[messages[1].id][0] != "failed"


def test_jobs_undo_own_only(app, user_client, run_jobs):
    data = world(6)
    mine = start_set_owner(Selection("contacts", (1, 2)), data["alice"], started_by=data["bob"])
    boss = make_user("boss@example.com", Role.ADMIN)
    theirs = start_set_owner(Selection("contacts", (3, 4)), data["alice"], started_by=boss.id)
    run_jobs()
    plain = db.session.scalar(select(JobRun.user_id).where(JobRun.id == mine.id))
    assert plain == data["bob"]
    user = db.session.scalar(select(Contact.owner_id).where(Contact.id == 1))
    assert user == data["alice"]
    # the test's user_client is user@example.com: neither job is theirs
    refused = user_client.post(f"/admin/jobrun/undo/{theirs.id}", data={
        "csrf_token": choose(user_client, "undo", rowids=[theirs.id], url="/admin/jobrun/",
                             base="/admin/jobrun")[1]})
    assert refused.status_code == 403
    preview, token = choose(user_client, "undo", rowids=[mine.id, theirs.id],
                            url="/admin/jobrun/", base="/admin/jobrun")
    selection = selection_of(preview.get_data(as_text=True))
    words = post(user_client, "/admin/jobrun/bulk/undo/preview", token, selection)
    assert "This undoes 0 jobs" in words.get_data(as_text=True)
    bob = second_client(app, "bob@example.com")
    answer = act(bob, "/admin/jobrun", "undo", {}, rowids=[mine.id, theirs.id],
                 url="/admin/jobrun/")
    assert "/admin/jobrun/details/" in answer.headers["HX-Redirect"]
    run_jobs()
    db.session.expire_all()
    owners = dict(db.session.execute(select(Contact.id, Contact.owner_id)).all())
    assert owners[1] == data["bob"]  # Bob's own job is undone
    assert owners[3] == data["alice"]  # the admin's job stays done
    undone = db.session.get(JobRun, mine.id).result.get("undone_by")
    assert undone
