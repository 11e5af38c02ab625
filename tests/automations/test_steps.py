"""Steps end to end: a user's notification about the contact (with the contact's link) goes
to the owner or the chosen user, even for a contact who opted out; the contact's email goes
through the outbox to the SMTP sink."""

from __future__ import annotations

from jobs.email.sender import start_senders
from models import EmailTemplate, db

from .support import automation, contact, email_step, helsinki, local, owner, tick_at, traces


def test_notification_to_a_user_and_email_to_the_contact(ctx, mailbox, run_jobs):
    helsinki()
    note = EmailTemplate(name="New lead", folder="Notifications",
                         subject="New lead {{ contact.full_name }}",
                         body_text="See {{ contact_url }}")
    db.session.add(note)
    db.session.commit()
    boss = owner("boss@example.com")
    automation(email_step(0),
               {"kind": "email_user", "template_id": note.id, "recipient": "user",
                "user_id": boss.id, "delay_days": 0},
               {"kind": "email_user", "template_id": note.id, "delay_days": 1})
    anna = contact("Anna")
    quiet = contact("Quiet", email_opt_out=True)
    from models import Automation
    from models.automations import activate

    row = db.session.query(Automation).one()
    activate(row, local(2026, 12, 7, 10))
    db.session.commit()
    tick_at(local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 9, 9, 30))
    assert [t.outcome for t in traces(quiet)] == ["suppressed", "queued", "queued"]
    assert [t.outcome for t in traces(anna)] == ["queued", "queued", "queued"]
    start_senders()
    run_jobs()
    received = sorted((to[0], msg["Subject"]) for to, msg in mailbox.messages)
    assert received == sorted([
        ("anna@example.com", "Welcome Anna"),
        ("boss@example.com", "New lead Anna Test"), ("boss@example.com", "New lead Quiet Test"),
        ("owner@example.com", "New lead Anna Test"), ("owner@example.com", "New lead Quiet Test"),
    ])
    body = next(m for to, m in mailbox.messages if to[0] == "boss@example.com")
    assert "/admin/contact/details/?id=" in body.get_body(("plain",)).get_content()
