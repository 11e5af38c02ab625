"""Steps end to end: a user's notification about the contact (with the contact's link) goes
to the owner or the chosen user, even for a contact who opted out; the contact's email goes
through the outbox to the SMTP sink."""

from __future__ import annotations

from jobs.email.sender import start_senders
from models import EmailTemplate, db

from .support import (
    automation,
    contact,
    email_step,
    helsinki,
    local,
    owner,
    template,
    tick_at,
    traces,
)


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


def test_the_contact_email_goes_from_the_owner_or_the_chosen_user(ctx, mailbox, run_jobs):
    """The step's "sent as" wins over the template's fixed sender: the outbox row carries
    the choice and the message arrives From the contact's owner or the chosen user; mail
    from the same template outside the automation keeps the template's sender."""
    from sqlalchemy import select

    from models import Automation, Campaign, OutboxMessage
    from models.automations import activate
    from models.campaigns.audience import Action
    from models.campaigns.membership import add_members

    helsinki()
    for name in ("Welcome", "Follow up"):
        fixed = template(name)
        fixed.sender_mode, fixed.sender_name = "fixed", "Marketing"
        fixed.sender_email = "marketing@example.com"
    db.session.commit()
    boss = owner("boss@example.com")
    automation(email_step(0), email_step(1, name="Follow up", recipient="user", user_id=boss.id))
    contact("Anna")
    activate(db.session.query(Automation).one(), local(2026, 12, 7, 10))
    db.session.commit()
    tick_at(local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 9, 9, 30))
    rows = db.session.execute(select(OutboxMessage.send_key, OutboxMessage.sender_mode,
                                     OutboxMessage.sender_user_id)
                              .order_by(OutboxMessage.id)).all()
    assert [(mode, user_id) for _key, mode, user_id in rows] == [("owner", None),
                                                                 ("user", boss.id)]
    # The same template sent by a campaign: no step, so the template's fixed sender.
    bob = contact("Bob", status="customer")
    campaign = Campaign(name="Autumn", email_template_id=template("Welcome").id)
    db.session.add(campaign)
    db.session.commit()
    joined = add_members(campaign.id, Action.ADD_CONTACTS, contact_ids=[bob.id])
    db.session.commit()
    assert joined["email"] == {"queued": 1, "suppressed": 0}
    start_senders()
    run_jobs()
    sender = {(msg["Subject"], to[0]): msg["From"] for to, msg in mailbox.messages}
    assert sender == {("Welcome Anna", "anna@example.com"): "Owner <owner@example.com>",
                      ("Follow up Anna", "anna@example.com"): "Boss <boss@example.com>",
                      ("Welcome Bob", "bob@example.com"): "Marketing <marketing@example.com>"}
    assert len(mailbox.messages) == 3
