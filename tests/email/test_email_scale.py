"""Sending scales out (issue 17): several SMTP connections per sender deliver every
message once, and the installation's rate limit (a token bucket in the real Redis) holds
across senders, per installation and per recipient domain."""

import threading
import time

from flask import current_app
from sqlalchemy import select

from jobs.email.ratelimit import LocalPace, RateLimit, domain_of, rate_limit
from jobs.email.sender import send_outbox
from jobs.queue import get_redis
from models import EmailTemplate, OutboxMessage, OutboxState, db
from models.email.claims import mark_sent

from .test_email_sender import BODY, mailbox, queue  # noqa: F401 (mailbox is a fixture)


def _takes(limits: list, addresses: list[str]) -> float:
    """Every limiter (a sender each) takes a token per address, all at once; seconds."""
    began = time.monotonic()
    threads = [threading.Thread(target=lambda lim=lim: [lim.take(a) for a in addresses])
               for lim in limits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - began


def test_the_installation_rate_holds_across_senders(ctx):
    redis = get_redis()
    senders = [RateLimit(redis, "kohde:test:email-rate", per_second=20) for _ in range(3)]
    seconds = _takes(senders, [f"p{n}@example.fi" for n in range(10)])
    # 30 messages at 20 a second: 1.5 s whether one sender takes them or three do.
    assert 1.4 <= seconds < 4.0, seconds


def test_a_domain_rate_holds_while_other_domains_go(ctx):
    redis = get_redis()
    senders = [RateLimit(redis, "kohde:test:email-rate", per_second=1000, per_domain=10)
               for _ in range(2)]
    slow = _takes(senders, ["a@slow.example", "b@slow.example", "c@SLOW.example",
                            "d@slow.example", "e@Slow.Example"])
    assert slow >= 0.95, slow  # ten to one domain at 10/s: the tenth a second on
    # Six to three domains: two each, the second 0.2 s on (a loaded machine adds some).
    fast = _takes(senders, [f"x@d{n}.example" for n in range(3)])
    assert fast < slow, (fast, slow)


def test_without_redis_each_process_keeps_the_rate_alone(app, ctx):
    app.extensions["kohde_redis"], kept = None, app.extensions.get("kohde_redis")
    app.config["REDIS_URL"], url = "redis://127.0.0.1:1/0", app.config.get("REDIS_URL")
    try:
        assert isinstance(rate_limit(5), LocalPace)
    finally:
        app.config["REDIS_URL"], app.extensions["kohde_redis"] = url, kept
    assert isinstance(rate_limit(5), RateLimit)
    assert domain_of("Anna@Bücher.Example") == "bücher.example"


def test_several_connections_deliver_every_message_once(app, ctx, mailbox):  # noqa: F811
    template = EmailTemplate(name="T", subject="Hei", body_html=BODY)
    db.session.add(template)
    people = [f"p{n}@example.fi" for n in range(23)]
    queue(template, *people, per_second=1000)
    current_app.config["KOHDE_SMTP_CONNECTIONS"] = 4
    try:
        assert send_outbox()["sent"] == len(people)
    finally:
        current_app.config["KOHDE_SMTP_CONNECTIONS"] = 1
    delivered = sorted(rcpts[0] for rcpts, _message in mailbox.messages)
    assert delivered == sorted(people)
    db.session.rollback()
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert {row.state for row in rows} == {OutboxState.SENT}


def test_one_statement_records_a_group_of_sent_messages(ctx):
    """What several connections hand the recorder at once is one UPDATE; each row still
    gets its own Message-ID and language."""
    template = EmailTemplate(name="T", subject="Hei", body_html=BODY)
    db.session.add(template)
    queue(template, "a@example.fi", "b@example.fi", "c@example.fi", "d@example.fi")
    ids = db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
    group = [(ids[0], "<1@x>", "fi"), (ids[1], "<2@x>", None), (ids[2], "<3@x>", "sv")]
    db.session.execute(mark_sent(group))
    db.session.execute(mark_sent([(ids[3], "<4@x>", None)]))
    db.session.commit()
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.state, OutboxMessage.message_id,
               OutboxMessage.language, OutboxMessage.sent_at).order_by(OutboxMessage.id)).all()
    assert [(r.id, r.message_id, r.language) for r in rows] == [
        *group, (ids[3], "<4@x>", None)]
    assert {r.state for r in rows} == {OutboxState.SENT}
    assert all(r.sent_at is not None for r in rows)
