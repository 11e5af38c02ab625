"""The sender with a real aiosmtpd sink: one bad message never holds back its batch, the
recorded Message-ID is the one delivered, the pace setting still paces, and the message
the outbox writes itself reads back as written."""

import threading
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from jobs.email import sink
from jobs.email.sender import send_outbox
from jobs.embedded_redis import free_port
from models import Campaign, Contact, EmailTemplate, OutboxMessage, Settings, db
from models.email.message import Draft, address, wire
from models.email.render import CompiledTemplate
from tests.conftest import campaign_joined

BODY = '<p>Hei {{ contact.first_name }}</p><a href="{{ unsubscribe_url }}">pois</a>'


@pytest.fixture
def mailbox(app):
    """A real SMTP server on loopback that, unlike aiosmtpd's default, offers no SMTPUTF8
    (as many relays do not)."""
    memory = sink.MemorySink()
    port = free_port()
    controller = Controller(memory, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{port}", KOHDE_BASE_URL="https://crm.example.fi")
    yield memory
    controller.stop()
    app.config["SMTP_URL"] = None


def queue(template: EmailTemplate, *emails: str, per_second: int = 1000) -> Campaign:
    """Contacts with these addresses join a campaign that sends ``template``."""
    Settings.get().email_messages_per_second = per_second
    return campaign_joined(template, [Contact(first_name=f"P{n}", email=email)
                                      for n, email in enumerate(emails)])


def outcomes() -> dict:
    db.session.rollback()
    return {row.to_email: (row.state, row.suppressed_reason, row.last_error)
            for row in db.session.scalars(select(OutboxMessage))}


def test_addresses_the_email_package_refuses_are_suppressed_the_rest_go(ctx, mailbox):
    # All three pass the outbox's SQL check; the email package refuses each in a To header
    # (it takes no non-ASCII local part at all, so no recipient ever needs SMTPUTF8).
    template = EmailTemplate(name="T", subject="Hei", body_html=BODY)
    db.session.add(template)
    queue(template, "a@@example.fi", "b@example..fi", "äijä@example.fi", "ok@example.fi",
          "ok2@example.fi")
    counts = send_outbox()
    assert counts == {"sent": 2, "deferred": 0, "failed": 0, "suppressed": 3}
    assert sorted(mailbox.recipients()) == ["ok2@example.fi", "ok@example.fi"]
    result = outcomes()
    assert result["a@@example.fi"][:2] == ("suppressed", "invalid_email")
    assert "not a usable email address" in result["a@@example.fi"][2]
    assert result["b@example..fi"][:2] == ("suppressed", "invalid_email")
    assert result["äijä@example.fi"][:2] == ("suppressed", "invalid_email")


def test_international_domains_go_idna_encoded_and_unencodable_ones_are_suppressed(ctx, mailbox):
    # This server offers no SMTPUTF8: a non-ASCII domain must reach it as A-labels, in the
    # envelope and in the headers, the sender's as well as the recipient's.
    template = EmailTemplate(name="T", subject="Hei", body_html=BODY,
                             sender_name="Müller", sender_email="info@müller.example")
    db.session.add(template)
    queue(template, "anna@bücher.example", "Bo@ÄIJÄLÄ.fi", "bob@☃.example", "eve@a..ü.example")
    assert send_outbox() == {"sent": 2, "deferred": 0, "failed": 0, "suppressed": 2}
    assert sorted(mailbox.recipients()) == ["Bo@xn--ijl-placb.fi", "anna@xn--bcher-kva.example"]
    for rcpts, message in mailbox.messages:
        assert [str(a.addr_spec) for a in message["To"].addresses] == rcpts
        assert message["From"].addresses[0].addr_spec == "info@xn--mller-kva.example"
        assert message["Message-ID"].endswith("@xn--mller-kva.example>")
    result = outcomes()
    assert result["anna@bücher.example"][0] == "sent"  # the row keeps the address as typed
    for bad in ("bob@☃.example", "eve@a..ü.example"):
        state, reason, error = result[bad]
        assert (state, reason) == ("suppressed", "invalid_email")
        assert f"the domain of {bad!r} cannot be encoded for DNS (IDNA)" in error


def test_a_template_that_cannot_render_fails_its_messages_only(ctx, mailbox):
    broken = EmailTemplate(name="Broken", subject="Hei",
                           body_html=BODY + "{{ contact.first_name + 1 }}")
    fine = EmailTemplate(name="Fine", subject="Hei", body_html=BODY)
    db.session.add_all([broken, fine])
    queue(broken, "x@example.fi")
    queue(fine, "y@example.fi")
    assert send_outbox() == {"sent": 1, "deferred": 0, "failed": 1, "suppressed": 0}
    assert mailbox.recipients() == ["y@example.fi"]
    state, _, error = outcomes()["x@example.fi"]
    assert state == "failed" and error.startswith("cannot render: ")


def test_the_recorded_message_id_is_the_delivered_one(ctx, mailbox):
    template = EmailTemplate(name="T", subject="Hei", body_html=BODY)
    db.session.add(template)
    queue(template, "one@example.fi", "two@example.fi")
    send_outbox()
    delivered = {rcpts[0]: message["Message-ID"] for rcpts, message in mailbox.messages}
    for row in db.session.scalars(select(OutboxMessage)):
        assert row.message_id == delivered[row.to_email]
        assert row.message_id.endswith("@kohde.invalid>") and f"kohde.{row.id}" in row.message_id


def test_the_pace_setting_still_spaces_messages(ctx, mailbox):
    template = EmailTemplate(name="T", subject="Hei", body_html=BODY)
    db.session.add(template)
    queue(template, *(f"p{n}@example.fi" for n in range(4)), per_second=10)
    began = time.monotonic()
    assert send_outbox()["sent"] == 4
    assert time.monotonic() - began >= 0.35  # four messages at 10/s: at least 3 gaps


NAMES = ["Aino Äijälä", 'Smith, "JJ" John', "Evil\r\nBcc: victim@example.fi", "",
         "Jääskeläinen-Åström " * 6]
SUBJECTS = ["Tervetuloa ✓", "Plain ASCII " * 20, "Ääkköset " * 15, "=?utf-8?q?looks_encoded?=",
            "Re: hi\r\nBcc: victim@example.fi"]
TEXTS = ["", "Hei\n.\n..starts with dots\nFrom here\ntrailing   \n\ttab = sign",
         "Å\x85 " + "pitkä rivi " * 40 + "\r\nwindows\r\nline ends 😀"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("text", TEXTS)
def test_the_written_message_reads_back_as_written(name, subject, text):
    """What wire() writes, the email package reads back: names, subject, both bodies, and
    no header a person's input could add."""
    html = "<p>" + text.replace("\r\n", "\n").replace("\n", "<br>\r\n") + "</p>"
    draft = Draft(
        context={"s": subject, "h": html, "t": text,
                 "unsubscribe_url": "https://crm.example.fi/unsubscribe/t0k"},
        sender=address(name, "olli@example.fi"), to=address(name, "aino@example.fi"),
        marketing=True, idstring="kohde.1",
    )
    payload, message_id = wire(draft, CompiledTemplate("{{ s }}", "{{ h|safe }}", "{{ t }}"))
    assert payload.isascii() and all(len(line) <= 998 for line in payload.split(b"\r\n"))
    assert b"\n" not in payload.replace(b"\r\n", b"")  # CRLF only
    message = message_from_bytes(payload, policy=policy.default)
    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
         "List-Unsubscribe-Post", "MIME-Version", "Content-Type"])
    one_line = name.replace("\r\n", " ").strip()
    for header, addr in (("From", "olli@example.fi"), ("To", "aino@example.fi")):
        (parsed,) = message[header].addresses
        assert (parsed.display_name, parsed.addr_spec) == (one_line, addr)
    assert message["Subject"] == " ".join(subject.split())  # as rendering leaves it
    assert message["Message-ID"] == message_id and "kohde.1" in message_id
    assert message.get_content_type() == "multipart/alternative"

    def lines(body: str) -> list[str]:  # the wire's CRLF stays in the parsed parts
        return body.replace("\r\n", "\n").rstrip("\n").split("\n")

    assert lines(message.get_body(("plain",)).get_content()) == lines(text)
    assert lines(message.get_body(("html",)).get_content()) == lines(html)


def test_lines_starting_with_a_dot_arrive_intact(ctx, mailbox):
    template = EmailTemplate(name="T", subject="Hei", body_html=BODY,
                             body_text=".\n..two\n. one\nend")
    db.session.add(template)
    queue(template, "dots@example.fi")
    assert send_outbox()["sent"] == 1
    ((_rcpts, message),) = mailbox.messages
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.rstrip("\n") == ".\n..two\n. one\nend"


class LockingSink(sink.MemorySink):
    """Accepts the first message, then keeps its outbox row locked for a moment (as a slow
    database would be), and notes when each message's data ended."""

    HOLD = 1.0  # seconds the first message's row stays locked

    def __init__(self, app):
        super().__init__()
        self.app = app
        self.arrived: list[float] = []
        self.released_at: float | None = None

    def _hold_lock(self, locked: threading.Event) -> None:
        with self.app.app_context(), db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                first = select(OutboxMessage.id).order_by(OutboxMessage.id).limit(1)
                conn.execute(first.with_for_update())
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite: nobody else may write
            locked.set()
            time.sleep(self.HOLD)
            self.released_at = time.monotonic()
            conn.rollback()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.arrived.append(time.monotonic())
        if len(self.arrived) == 1:
            locked = threading.Event()
            threading.Thread(target=self._hold_lock, args=(locked,), daemon=True).start()
            locked.wait(10)
        return await super().handle_DATA(server, session, envelope)


def test_a_message_is_on_record_before_the_next_one_is_delivered(app, ctx):
    """The first message's "sent" cannot be committed while its row is locked; the second
    message must not be delivered until it is (the window holds at most one message)."""
    locking = LockingSink(app)
    port = free_port()
    controller = sink.start(locking, port)
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    try:
        template = EmailTemplate(name="T", subject="Hei", body_html=BODY)
        db.session.add(template)
        queue(template, "first@example.fi", "second@example.fi")
        assert send_outbox()["sent"] == 2
    finally:
        controller.stop()
        app.config["SMTP_URL"] = None
    first, second = locking.arrived
    assert locking.released_at is not None and second >= locking.released_at
    assert second - first >= LockingSink.HOLD * 0.9
