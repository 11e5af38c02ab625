"""What the screens explain: the dry run's "held back" counts (waiting period, opt-out)
before activation, and a contact's step history with "why not sent" when a queued message
is held back at send time; the contact's page shows its automations."""

from __future__ import annotations

from datetime import timedelta

from jobs.email.sender import start_senders
from models import Automation, Contact, OutboxMessage, clock, db
from models.automations import activate, dry_run, history_of

from .support import automation, contact, email_step, helsinki, local, template, tick_at, traces


def test_dry_run_counts_who_the_waiting_period_and_opt_out_hold_back(admin_client, ctx):
    helsinki(waiting_days=30)
    welcome = template("Welcome")
    row = automation(email_step(0))
    anna, _ben = contact("Anna"), contact("Ben")
    contact("Optout", email_opt_out=True)
    monday = local(2026, 12, 7, 10)
    # Anna got the same template a week ago, from a campaign: the waiting period holds her.
    db.session.add(OutboxMessage(template_id=welcome.id, contact_id=anna.id, send_key="c:1",
                                 state="sent", created_at=monday - timedelta(days=7),
                                 sent_at=monday - timedelta(days=7)))
    db.session.commit()
    dry = dry_run(row, monday)
    assert dry["entering"] == 3
    assert dry["held_back"] == {"waiting_period": 1, "opted_out": 1}
    assert dry["first_step"]["due_at"] == local(2026, 12, 8, 9)  # the next weekday at 09:00
    page = admin_client.get(f"/admin/automation/details/?id={row.id}").get_data(as_text=True)
    assert "3</strong> contacts would enter now" in page
    assert "1 within the waiting period" in page and "1 opted out of email" in page
    # Nothing was written: no enrolment, no trace, no message.
    assert traces() == [] and db.session.query(OutboxMessage).count() == 1
    # "Only new records" before its first activation: nobody enters now.
    row.only_new = True
    db.session.commit()
    assert dry_run(row, monday)["entering"] == 0


def test_history_says_why_a_queued_email_was_not_sent(admin_client, ctx, mailbox, run_jobs):
    helsinki()
    automation(email_step(0))
    anna, ben = contact("Anna"), contact("Ben")
    activate(db.session.query(Automation).one(), local(2026, 12, 7, 10))
    db.session.commit()
    tick_at(local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 8, 9, 30))
    assert [t.outcome for t in traces()] == ["queued", "queued"]
    # Ben opts out after his message was queued: the sender holds it back.
    db.session.get(Contact, ben.id).email_opt_out = True
    db.session.commit()
    start_senders()
    run_jobs()
    assert [to[0] for to, _msg in mailbox.messages] == ["anna@example.com"]
    annas = history_of(anna.id)[0]["steps"]
    assert [(s["outcome"], s["why"]) for s in annas] == [("sent", None)]
    bens = history_of(ben.id)[0]["steps"]
    assert [(s["outcome"], s["why"]) for s in bens] == [
        ("suppressed", "the contact opted out of email")]
    # The contact's page loads its automations, and the partial says the same in words.
    page = admin_client.get(f"/admin/contact/details/?id={ben.id}").get_data(as_text=True)
    assert f"/admin/contact_automations/{ben.id}" in page
    part = admin_client.get(f"/admin/contact_automations/{ben.id}").get_data(as_text=True)
    assert "Leads" in part and "the contact opted out of email" in part


def test_dry_run_counts_what_every_email_step_holds_back(admin_client, ctx):
    """Per email-to-contact step, by reason: opt-out, no email, a bounced address, and the
    waiting period, from the outbox's history or from an earlier step of the same template
    in the same run."""
    from models import SuppressedAddress

    helsinki(waiting_days=30)
    row = automation(email_step(0), email_step(2, name="Follow up"),
                     {"kind": "task", "subject": "Call", "delay_days": 3},
                     email_step(5))  # Welcome again, within the waiting period of step 1
    contact("Anna")
    ben = contact("Ben")
    contact("Optout", email_opt_out=True)
    contact("Nomail", email=None)
    contact("Gone")
    db.session.add(SuppressedAddress(email_key="gone@example.com"))
    monday = local(2026, 12, 7, 10)
    # Ben got "Follow up" from a campaign three days ago: its step waits for him.
    db.session.add(OutboxMessage(template_id=template("Follow up").id, contact_id=ben.id,
                                 send_key="c:1", state="sent",
                                 created_at=monday - timedelta(days=3),
                                 sent_at=monday - timedelta(days=3)))
    db.session.commit()
    dry = dry_run(row, monday)
    assert dry["entering"] == 5
    contact_held = {"opted_out": 1, "no_email": 1, "bounced": 1}
    assert [(e["step"].position, e["held_back"]) for e in dry["emails"]] == [
        (1, contact_held),
        (2, {**contact_held, "waiting_period": 1}),
        (4, {**contact_held, "waiting_period": 2}),
    ]
    assert dry["held_back"] == contact_held  # the first email's, as before
    with clock.frozen(monday):
        page = admin_client.get(f"/admin/automation/details/?id={row.id}").get_data(as_text=True)
    assert "Held back from step 4 (template &#39;Welcome&#39;, sent as the owner): 1 bounced " \
           "before, 1 no email address, 1 opted out of email, 2 within the waiting period." \
           in page
    # With a shorter waiting period the repeat of step 1 on day 5 is not held back by it.
    helsinki(waiting_days=4)
    dry = dry_run(db.session.get(Automation, row.id), monday)
    assert dry["emails"][2]["held_back"] == contact_held
