"""Campaign email end to end with a real aiosmtpd sink: join → one message, suppression,
waiting period, 4xx/5xx, templates in the sandbox, unsubscribe."""

import pytest
from sqlalchemy import select

from jobs.email.sender import send_outbox
from jobs.runs import enqueue
from models import (
    Campaign,
    CampaignMember,
    Contact,
    EmailTemplate,
    OutboxMessage,
    OutboxState,
    Settings,
    SuppressedAddress,
    User,
    db,
)
from models.email.outbox import queue_campaign_join
from models.email.render import CompiledTemplate, TemplateProblem, check_template
from models.email.unsubscribe import token_for
from tests.conftest import csrf_token

BODY = ('<p>Hei {{ contact.first_name }} from {{ company.name }}!</p>'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')



@pytest.fixture
def template(ctx):
    owner = User(email="olli@example.fi", name="Olli Omistaja")
    tpl = EmailTemplate(name="Welcome", subject="Tervetuloa, {{ contact.first_name }} ✓",
                        body_html=BODY, sender_mode="owner")
    db.session.add_all([owner, tpl])
    Settings.get().email_messages_per_second = 1000
    db.session.commit()
    return tpl


def add(campaign, *contacts_, run_jobs):
    enqueue("campaign_audience", {"campaign_id": campaign.id, "action": "add_contacts",
                                  "contact_ids": [c.id for c in contacts_]})
    run_jobs()


def test_join_sends_exactly_one_rendered_message(ctx, mailbox, template, run_jobs):
    owner = db.session.scalar(select(User).where(User.email == "olli@example.fi"))
    aino = Contact(first_name="Aino", last_name="Äijälä", email="aino@example.fi", owner=owner)
    campaign = Campaign(name="Spring", email_template=template)
    db.session.add_all([aino, campaign])
    db.session.commit()
    add(campaign, aino, run_jobs=run_jobs)
    assert mailbox.recipients() == ["aino@example.fi"]
    (_rcpts, message), = mailbox.messages
    assert message["Subject"] == "Tervetuloa, Aino ✓"
    assert message["From"].addresses[0].display_name == "Olli Omistaja"
    assert message["From"].addresses[0].addr_spec == "olli@example.fi"
    assert message["To"].addresses[0].display_name == "Aino Äijälä"
    assert message["Date"] and message["Message-ID"]
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",)).get_content()
    assert "Hei Aino from !" in html  # no company: the placeholder renders empty
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"]).strip().strip("<>")
    assert unsubscribe.startswith("https://crm.example.fi/unsubscribe/") and unsubscribe in html
    assert "Unsubscribe (" in message.get_body(("plain",)).get_content()
    # Adding again, or sending again, sends nothing more.
    add(campaign, aino, run_jobs=run_jobs)
    send_outbox()
    assert len(mailbox.messages) == 1
    row = db.session.scalars(select(OutboxMessage)).one()
    assert (row.state, row.attempts) == (OutboxState.SENT, 1)


def test_members_from_before_the_template_get_nothing(ctx, mailbox, template, run_jobs):
    early, late = Contact(email="early@example.fi"), Contact(email="late@example.fi")
    campaign = Campaign(name="Autumn")
    db.session.add_all([early, late, campaign])
    db.session.commit()
    add(campaign, early, run_jobs=run_jobs)
    campaign.email_template = template
    db.session.commit()
    add(campaign, late, run_jobs=run_jobs)
    assert mailbox.recipients() == ["late@example.fi"]


def test_suppression_reasons_and_waiting_period(ctx, mailbox, template, run_jobs):
    people = {
        "ok": Contact(email="ok@example.fi"),
        "opted": Contact(email="opted@example.fi", email_opt_out=True),
        "none": Contact(email=None),
        "bad": Contact(email="not an address"),
        "bounced": Contact(email="gone@example.fi"),
    }
    db.session.add(SuppressedAddress(email_key="gone@example.fi"))
    first, second = Campaign(name="One", email_template=template), Campaign(
        name="Two", email_template=template)
    db.session.add_all([*people.values(), first, second])
    db.session.commit()
    add(first, *people.values(), run_jobs=run_jobs)
    add(second, people["ok"], run_jobs=run_jobs)  # same template within the waiting period
    assert mailbox.recipients() == ["ok@example.fi"]
    reasons = {row.contact.email: row.suppressed_reason
               for row in db.session.scalars(select(OutboxMessage))
               if row.state == OutboxState.SUPPRESSED and row.campaign_id == first.id}
    assert reasons == {"opted@example.fi": "opted_out", None: "no_email",
                       "not an address": "invalid_email", "gone@example.fi": "bounced"}
    waited = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.campaign_id == second.id)).one()
    assert waited.suppressed_reason == "waiting_period"


def test_a_message_overtaken_by_a_send_of_its_template_waits(ctx, mailbox, template):
    """Created, then, before it goes, the same template reaches the contact by another send
    (a newer message, sent first): at send time the waiting period holds it back, whatever
    the ids. Of two messages still waiting, the older one goes."""
    from models import utcnow

    person, other = Contact(email="twice@example.fi"), Contact(email="pair@example.fi")
    campaign = Campaign(name="C", email_template=template)
    db.session.add_all([person, other, campaign])
    db.session.commit()
    db.session.add(CampaignMember(campaign=campaign, contact=person))
    db.session.commit()
    assert queue_campaign_join(campaign.id, contact_ids=[person.id]) == {"queued": 1,
                                                                         "suppressed": 0}
    waiting = db.session.scalars(select(OutboxMessage)).one()
    # Another send of the same template overtook it: a newer message, already sent.
    db.session.add(OutboxMessage(template_id=template.id, contact_id=person.id,
                                 send_key="group:9:2026-12-01", reason="group_email",
                                 state=OutboxState.SENT, to_email=person.email,
                                 created_at=utcnow(), sent_at=utcnow()))
    # Two messages of the template to another contact, neither sent yet.
    db.session.add_all([OutboxMessage(template_id=template.id, contact_id=other.id,
                                      send_key=f"group:{n}:2026-12-01", reason="group_email",
                                      to_email=other.email, created_at=utcnow())
                        for n in (1, 2)])
    db.session.commit()
    assert send_outbox() == {"sent": 1, "deferred": 0, "failed": 0, "suppressed": 2}
    assert mailbox.recipients() == ["pair@example.fi"]
    db.session.rollback()
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(row.contact_id, row.state, row.suppressed_reason) for row in rows] == [
        (person.id, OutboxState.SUPPRESSED, "waiting_period"),
        (person.id, OutboxState.SENT, None),
        (other.id, OutboxState.SENT, None),
        (other.id, OutboxState.SUPPRESSED, "waiting_period"),
    ]
    assert rows[0].id == waiting.id


def test_opt_out_after_queueing_is_checked_again_at_send(ctx, mailbox, template):
    person = Contact(email="late-optout@example.fi")
    campaign = Campaign(name="C", email_template=template)
    db.session.add_all([person, campaign])
    db.session.commit()
    db.session.add(CampaignMember(campaign=campaign, contact=person))
    db.session.commit()
    assert queue_campaign_join(campaign.id, contact_ids=[person.id]) == {"queued": 1,
                                                                         "suppressed": 0}
    person.email_opt_out = True
    db.session.commit()
    assert send_outbox()["suppressed"] == 1
    assert mailbox.messages == []
    row = db.session.scalars(select(OutboxMessage)).one()
    assert (row.state, row.suppressed_reason) == (OutboxState.SUPPRESSED, "opted_out")


def test_4xx_is_retried_later_and_5xx_fails_and_suppresses(ctx, mailbox, template, run_jobs):
    a, b = Contact(email="a@example.fi"), Contact(email="b@example.fi")
    campaign = Campaign(name="R", email_template=template)
    db.session.add_all([a, b, campaign])
    db.session.commit()
    mailbox.reply = "451 4.3.0 try again later"
    add(campaign, a, run_jobs=run_jobs)
    row = db.session.scalars(select(OutboxMessage)).one()
    assert row.state == OutboxState.DEFERRED and row.last_error.startswith("451")
    assert row.next_attempt_at is not None
    mailbox.reply = None
    row.next_attempt_at = None  # due now
    db.session.commit()
    assert send_outbox()["sent"] == 1
    assert mailbox.recipients() == ["a@example.fi"]
    mailbox.reply = "550 5.1.1 no such user"
    add(campaign, b, run_jobs=run_jobs)
    failed = db.session.scalars(select(OutboxMessage).where(OutboxMessage.contact_id == b.id)).one()
    assert failed.state == OutboxState.FAILED and failed.last_error.startswith("550")
    assert db.session.get(SuppressedAddress, "b@example.fi") is not None


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''|attr('__class__') }}",
        "{{ '{0.__class__}'|attr('format')(contact) }}",
        "{{ contact|attr('__class__') }}",
        "{{ '{0.__class__}'.format(contact) }}",
        "{% for i in range(10**9) %}{% endfor %}",
    ],
)
def test_sandbox_refuses_escapes_with_a_clear_message(source):
    with pytest.raises(TemplateProblem, match="not allowed in a template"):
        CompiledTemplate("s", source, "").render({"contact": {"first_name": "A"}})


@pytest.mark.parametrize("source", [
    "{{ 'x' * 10**9 }}",
    "{{ [0] * 10**9 }}",
    "{{ 'x'|center(10**9) }}",
    "{{ '%1000000000s' % 'x' }}",
    "{{ '%*s'|format(10**9, 'x') }}",
    "{{ ('x' * 100000)|replace('x', 'x' * 100) }}",
    "{{ ('x' ~ '\n' * 99999)|indent(100) }}",
    "{{ range(100000)|join('-' * 100) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    # Doubling a string in a macro (thirty calls make a gigabyte), with ~ and with +.
    "{% macro f(s, n) %}{{ f(s ~ s, n - 1) if n else s|length }}{% endmacro %}{{ f('x', 40) }}",
    "{% macro f(s, n) %}{{ f(s + s, n - 1) if n else s|length }}{% endmacro %}{{ f('x', 40) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
])
def test_sandbox_refuses_output_past_the_cap_before_it_is_made(source):
    # A loop that only adds output may meet the time budget first on a loaded machine:
    # refused either way, before the memory is spent.
    with pytest.raises(TemplateProblem, match=r"not allowed in a template: the (output would be "
                                              r"larger than 1,000,000 characters|template took "
                                              r"longer than)"):
        CompiledTemplate("s", source, "").render({})
    with pytest.raises(TemplateProblem, match="a number would have more than 4,096 bits"):
        CompiledTemplate("s", "{{ 7 ** 1000000 }}", "").render({})  # Jinja's ** is left-associative


def test_sandbox_output_up_to_the_cap_renders():
    ok = CompiledTemplate("Hei {{ contact.first_name ~ '!' * 3 }}",
                          "{{ 'x' * 999000 }}{{ '%05d' % 7 }}",
                          "{{ 'a'|center(9) }}|{{ 2 ** 64 }}").render(
        {"contact": {"first_name": "Aino"}})
    assert ok.subject == "Hei Aino!!!"
    assert len(ok.html) == 999005 and ok.html.endswith("00007")
    assert ok.text == "    a    |18446744073709551616"


def test_template_checks_on_save():
    with pytest.raises(TemplateProblem, match=r"HTML body, line 2: .*"):
        check_template("s", "<p>ok</p>\n{% if %}", "", marketing=True)
    with pytest.raises(TemplateProblem, match="must contain {{ unsubscribe_url }}"):
        check_template("s", "<p>no way out</p>", "", marketing=True)
    assert check_template("s", "<p>service</p>", "", marketing=False).warnings == []
    warnings = check_template("Hi {{ contact.shoe }}", BODY + "{{ foo }}", "", True).warnings
    assert warnings == ["subject: unknown placeholder {{ contact.shoe }}",
                        "HTML body: unknown placeholder {{ foo }}"]


def test_unsubscribe_get_confirms_post_opts_out_forged_changes_nothing(app, ctx):
    person = Contact(email="leaving@example.fi")
    db.session.add(person)
    db.session.commit()
    client = app.test_client()  # no login, no cookie, no CSRF token
    token = token_for(person.id)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and "Unsubscribe leaving@example.fi?" in page.get_data(True)
    db.session.refresh(person)
    assert person.email_opt_out is False  # a link scanner's GET changes nothing
    for forged in (token[:-2] + "xx", token_for(person.id).replace(".", ".A", 1), "42"):
        assert client.post(f"/unsubscribe/{forged}").status_code == 404
    db.session.refresh(person)
    assert person.email_opt_out is False
    done = client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200 and "Location" not in done.headers
    db.session.refresh(person)
    assert person.email_opt_out is True


def test_adding_a_member_in_the_admin_sends_the_campaign_email(admin_client, mailbox, template,
                                                                 run_jobs):
    person = Contact(first_name="Single", email="single@example.fi")
    campaign = Campaign(name="By hand", email_template=template)
    db.session.add_all([person, campaign])
    db.session.commit()
    token = csrf_token(admin_client, "/admin/campaignmember/new/")
    response = admin_client.post("/admin/campaignmember/new/", data={
        "csrf_token": token, "campaign": campaign.id, "contact": person.id, "source": "manual"})
    assert response.status_code == 302
    run_jobs()
    assert mailbox.recipients() == ["single@example.fi"]
    member = db.session.scalars(select(CampaignMember)).one()
    assert member.added_by.email == "admin@example.com"
