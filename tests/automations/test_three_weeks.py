"""Three simulated weeks with the fake clock: entry, delays, weekday and hour timing,
leaving, modes, only-new, re-entry, the waiting period, two schedulers, pausing."""

from __future__ import annotations

import threading
from datetime import time

from sqlalchemy import func, select

from jobs.automations import run_automations
from models import Activity, OutboxMessage, clock, db
from models.automations import deactivate, history_of, step_due

from .support import (
    HELSINKI,
    automation,
    contact,
    email_step,
    enrolments,
    helsinki,
    local,
    set_status,
    switch_on,
    task_step,
    template,
    tick_at,
    traces,
)


def test_due_times_keep_the_hour_across_weekends_and_dst(ctx):
    # Friday 10:00, two days later on Mon-Fri at 09:00: Monday 09:00.
    assert step_due(local(2026, 12, 11, 10), 2, (1, 2, 3, 4, 5), time(9), HELSINKI) \
        == local(2026, 12, 14, 9)
    # Same day at 09:00 is past at 10:00: the next allowed day.
    assert step_due(local(2026, 12, 7, 10), 0, (1, 2, 3, 4, 5), time(9), HELSINKI) \
        == local(2026, 12, 8, 9)
    # Over the spring change (29 March 2027 03:00 → 04:00): 09:00 local is 06:00 UTC after.
    due = step_due(local(2027, 3, 26, 10), 3, (1, 2, 3, 4, 5, 6, 7), time(9), HELSINKI)
    assert due.hour == 6 and due.astimezone(HELSINKI).hour == 9


def test_three_weeks_of_a_continuous_automation(ctx):
    helsinki()
    welcome = template("Welcome")
    row = automation(email_step(0), task_step(2), email_step(4, "Reminder"))
    anna, ben = contact("Anna"), contact("Ben")
    nomail = contact("Nomail", email=None)
    contact("Other", status="customer")
    monday = local(2026, 12, 7, 10)
    switch_on(row, monday)
    done = tick_at(monday)
    assert done["entered"] == 3
    assert done["scheduled"] == 9
    dues = {(t.contact_id, t.step.position): t.due_at for t in traces()}
    assert dues[(anna.id, 1)] == local(2026, 12, 8, 9)   # next weekday at 09:00
    assert dues[(anna.id, 2)] == local(2026, 12, 10, 9)  # 2 days after: Wed 10:00 → Thu 09:00
    assert dues[(anna.id, 3)] == local(2026, 12, 14, 9)  # Fri 10:00 → Mon 09:00

    assert tick_at(local(2026, 12, 8, 8, 59)).get("queued") is None
    done = tick_at(local(2026, 12, 8, 9))
    assert done["queued"] == 2 and done["suppressed"] == 1
    held = [t for t in traces(nomail) if t.step.position == 1][0]
    assert (held.outcome, held.reason) == ("suppressed", "no_email")
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.template_id == welcome.id)) == 3

    # Ben stops matching on Wednesday: he leaves and his pending steps are cancelled.
    set_status(ben, "customer")
    done = tick_at(local(2026, 12, 9, 12))
    assert done["left"] == 1 and done["cancelled"] == 2
    bens = {t.step.position: t for t in traces(ben)}
    assert bens[1].outcome == "queued"
    assert bens[2].outcome == "cancelled" and bens[2].reason == "left"

    done = tick_at(local(2026, 12, 10, 9, 5))
    assert done.get("task_created") == 2, done
    annas_task = [t for t in traces(anna) if t.step.position == 2][0]
    task = db.session.get(Activity, annas_task.activity_id)
    assert task.type == "task" and task.start_at == local(2026, 12, 10, 9)
    assert task.number == f"A-{task.id}" and task.owner_id == anna.owner_id
    assert [c.id for c in task.contacts] == [anna.id]

    for day in range(11, 28):  # the rest of the three weeks, a tick every morning
        tick_at(local(2026, 12, day, 9, 30))
    annas = {t.step.position: t.outcome for t in traces(anna)}
    assert annas == {1: "queued", 2: "task_created", 3: "queued"}
    assert len(enrolments(row)) == 3  # nobody entered twice
    history = history_of(anna.id)
    assert [s["outcome"] for s in history[0]["steps"]] == ["queued", "task_created", "queued"]


def test_one_time_takes_who_matched_at_activation(ctx):
    helsinki()
    once = automation(email_step(0), name="Once", mode="one_time")
    always = automation(email_step(0), name="Always")
    anna = contact("Anna")
    monday = local(2026, 12, 7, 10)
    assert switch_on(once, monday)["entered"] == 1
    switch_on(always, monday)
    tick_at(monday)
    late = contact("Late")
    tick_at(local(2026, 12, 8, 10))
    assert [e.contact_id for e in enrolments(once)] == [anna.id]
    assert [e.contact_id for e in enrolments(always)] == [anna.id, late.id]


def test_only_new_records(ctx):
    helsinki()
    row = automation(email_step(0), only_new=True)
    anna = contact("Anna")
    monday = local(2026, 12, 7, 10)
    assert switch_on(row, monday)["baseline"] == 1
    assert tick_at(monday).get("entered") is None
    newcomer = contact("New")
    assert tick_at(local(2026, 12, 8, 10))["entered"] == 1
    # Anna left and came back: now she is new to it.
    set_status(anna, "customer")
    tick_at(local(2026, 12, 9, 10))
    set_status(anna, "lead")
    tick_at(local(2026, 12, 10, 10))
    real = [(e.contact_id, e.attempt) for e in enrolments(row) if e.attempt >= 1]
    assert sorted(real) == sorted([(newcomer.id, 1), (anna.id, 1)])


def test_reentry_after_leaving_plus_days(ctx):
    helsinki()
    row = automation(email_step(0), reentry="after_days", reentry_days=3)
    never = automation(email_step(0), name="Never")
    anytime = automation(email_step(0), name="Anytime", reentry="after_leaving")
    anna = contact("Anna")
    for each in (row, never, anytime):
        switch_on(each, local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 8, 9, 30))  # the first email
    set_status(anna, "customer")
    tick_at(local(2026, 12, 8, 10))  # leaves
    set_status(anna, "lead")
    tick_at(local(2026, 12, 9, 10))  # 1 day after leaving: not yet
    assert [e.attempt for e in enrolments(row)] == [1]
    assert [e.attempt for e in enrolments(anytime)] == [1, 2]  # "after leaving": at once
    tick_at(local(2026, 12, 11, 10, 1))  # 3 days after: back, attempt 2
    assert [e.attempt for e in enrolments(row)] == [1, 2]
    assert [e.attempt for e in enrolments(never)] == [1]
    # The second pass sends again (a new send key), unless the waiting period holds it.
    tick_at(local(2026, 12, 14, 9, 30))
    second = [t for t in traces(anna)
              if t.enrolment.attempt == 2 and t.step.automation_id == row.id]
    assert second[0].outcome == "suppressed" and second[0].reason == "waiting_period"


def test_waiting_period_suppresses_a_second_send_of_the_same_template(ctx):
    helsinki(waiting_days=7)
    row = automation(email_step(0), email_step(1))  # the same template twice
    anna = contact("Anna")
    switch_on(row, local(2026, 12, 7, 10))
    for day in (7, 8, 9, 10):
        tick_at(local(2026, 12, day, 10))
    outcomes = [(t.outcome, t.reason) for t in traces(anna)]
    assert outcomes == [("queued", None), ("suppressed", "waiting_period")]


def test_two_schedulers_do_no_step_twice(app, ctx):
    helsinki()
    row = automation(email_step(0), task_step(0))
    for n in range(30):
        contact(f"C{n}")
    switch_on(row, local(2026, 12, 7, 10))
    moment = local(2026, 12, 8, 9)
    tick_at(local(2026, 12, 7, 10))
    results, errors = [], []
    barrier = threading.Barrier(2)

    def scheduler():
        with app.app_context():
            try:
                barrier.wait()
                results.append(run_automations(moment))
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    with clock.frozen(moment):
        threads = [threading.Thread(target=scheduler) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert sum(r.get("queued", 0) for r in results) == 30
    assert sum(r.get("task_created", 0) for r in results) == 30
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 30
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 30


def test_a_paused_automation_does_nothing_and_resumes(ctx):
    helsinki()
    row = automation(email_step(0), task_step(1))
    anna = contact("Anna")
    switch_on(row, local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 7, 10))
    deactivate(row, local(2026, 12, 7, 11))
    db.session.commit()
    late = contact("Late")
    assert tick_at(local(2026, 12, 9, 10)) == {}
    assert all(t.state == "pending" for t in traces(anna))
    assert [s["why"] for s in history_of(anna.id)[0]["steps"]] == \
        ["the automation is paused"] * 2
    switch_on(row, local(2026, 12, 9, 12))
    done = tick_at(local(2026, 12, 9, 12))
    assert done["queued"] == 1 and done["task_created"] == 1 and done["entered"] == 1
    assert [t.outcome for t in traces(anna)] == ["queued", "task_created"]
    assert len(traces(late)) == 2
