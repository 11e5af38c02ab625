"""Editing the steps of an active automation: a removed step keeps its history (done
traces readable, pending ones cancelled with the reason step_removed) and is in no
schedule, list or count; a step added shows who will get it before it is saved."""

from __future__ import annotations

from sqlalchemy import select

from models import Automation, AutomationStep, clock, db
from models.automations import contacts_at, history_of, remove_step, step_counts

from ..conftest import csrf_token
from .support import (
    automation,
    contact,
    email_step,
    helsinki,
    local,
    switch_on,
    task_step,
    tick_at,
    traces,
)


def test_a_removed_step_keeps_its_history(admin_client, ctx):
    helsinki()
    row = automation(email_step(0), task_step(3, subject="Call"))
    anna, ben = contact("Anna"), contact("Ben")
    switch_on(row, local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 8, 9, 30))  # the email is done, the task waits
    email, task = db.session.scalars(select(AutomationStep).order_by(AutomationStep.position))
    token = csrf_token(admin_client, f"/admin/automation/details/?id={row.id}")

    with clock.frozen(local(2026, 12, 8, 10)):
        part = admin_client.post(f"/admin/automation/steps/{task.id}/remove",
                                 headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "Step removed; 2 contacts waiting for it will not get it." in part
    assert "1 removed step" in part
    assert [(t.state, t.outcome, t.reason) for t in traces(anna)] == [
        ("done", "queued", None), ("done", "cancelled", "step_removed")]
    # The done step removed too: its traces stay as they were.
    assert remove_step(db.session.get(AutomationStep, email.id), local(2026, 12, 8, 11)) == 0
    db.session.commit()
    assert [(t.outcome, t.reason) for t in traces(ben)] == [("queued", None),
                                                           ("cancelled", "step_removed")]
    row = db.session.get(Automation, row.id)
    assert row.steps == [] and [s.id for s in row.removed_steps] == [task.id, email.id]
    assert row.problems()["steps"]  # nothing left to run: it says so

    # Readable: the contact's history says why, who was at the removed step is listed.
    history = history_of(anna.id)[0]["steps"]
    assert [(s["outcome"], s["why"]) for s in history] == [
        ("queued", None), ("cancelled", "the step was removed")]
    page = admin_client.get(f"/admin/contact_automations/{anna.id}").get_data(as_text=True)
    assert "(removed step)" in page and "the step was removed" in page
    assert [c.first_name for c, _t in contacts_at(email, "queued")] == ["Anna", "Ben"]
    listed = admin_client.get(f"/admin/automation/steps/{task.id}/contacts?state=cancelled")
    assert listed.status_code == 200 and "Ben" in listed.get_data(as_text=True)
    assert step_counts(row)[email.id] == {"queued": 2}
    # A removed step cannot be edited or removed again.
    again = admin_client.post(f"/admin/automation/steps/{task.id}/remove",
                              headers={"X-CSRFToken": token})
    assert again.status_code == 404

    # In no schedule: a newcomer gets traces only for the steps in use.
    db.session.add(AutomationStep(automation_id=row.id, position=1, kind="task",
                                  subject="Meet", delay_days=0, weekdays="1-7"))
    db.session.commit()
    cecilia = contact("Cecilia")
    tick_at(local(2026, 12, 9, 10))
    assert [(t.step.subject, t.outcome) for t in traces(cecilia)] == [("Meet", "task_created")]
    listing = admin_client.get("/admin/automation/").get_data(as_text=True)
    assert "1. Task for a user" in listing and "2. " not in listing


def test_adding_a_step_shows_who_gets_it_before_it_is_added(admin_client, ctx):
    helsinki()
    row = automation(email_step(0))
    for name in ("Anna", "Ben"):
        contact(name)
    switch_on(row, local(2026, 12, 7, 10))  # Monday
    tick_at(local(2026, 12, 7, 10))  # both enter
    contact("Cecilia")
    tick_at(local(2026, 12, 9, 10))  # Wednesday: Cecilia enters
    token = csrf_token(admin_client, f"/admin/automation/details/?id={row.id}")
    fields = {"kind": "task", "subject": "Call", "delay_days": "2", "weekdays": "1-5",
              "at_time": "09:00"}
    with clock.frozen(local(2026, 12, 10, 12)):  # Thursday noon
        effect = admin_client.post(f"/admin/automation/{row.id}/steps/preview", data=fields,
                                   headers={"X-CSRFToken": token}).get_data(as_text=True)
    # Anna and Ben entered Monday 10:00: due Wednesday 10:00 or later, on a weekday at 09:00
    # (Thursday 09:00), past. Cecilia entered Wednesday 10:00: Friday 09:00 is too early,
    # so next Monday 09:00.
    assert "gives this step to <strong>3</strong> contacts in the automation now" in effect
    assert "2 of them are past its time and get it on the next tick" in effect
    assert "The first is due Mon 2026-12-14 09:00 (1 contact)" in effect, effect
    db.session.rollback()
    assert len(db.session.get(Automation, row.id).steps) == 1  # nothing added yet
    # A step that cannot run says why, and nothing is added.
    bad = admin_client.post(f"/admin/automation/{row.id}/steps/preview", data={"kind": "task"},
                            headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "give the task a subject" in bad

    with clock.frozen(local(2026, 12, 10, 12)):
        part = admin_client.post(f"/admin/automation/{row.id}/steps/add", data=fields,
                                 headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "Step added; 3 contacts in the automation get it." in part
    done = tick_at(local(2026, 12, 10, 12, 5))
    assert done["task_created"] == 2
    tick_at(local(2026, 12, 14, 9, 1))
    assert [t.outcome for t in traces() if t.step.kind == "task"] == ["task_created"] * 3

    # Before the first activation nobody is in it: the preview says so.
    fresh = automation(email_step(0), name="Fresh")
    effect = admin_client.post(f"/admin/automation/{fresh.id}/steps/preview", data=fields,
                               headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "Nobody is in the automation now" in effect
