"""SMTP_URL → a connected smtplib client (smtp://, smtp+starttls://, smtps://, optional login)."""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import current_app

DEV_SINK_PORT = 8025  # the development mail sink's usual port


def sink_port() -> int:
    """Where the development mail sink listens: KOHDE_MAIL_SINK_PORT (``kohde dev`` sets it
    to a free port when 8025 is taken), else 8025."""
    return int(os.environ.get("KOHDE_MAIL_SINK_PORT") or DEV_SINK_PORT)
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to deliver."""

    host: str
    port: int
    tls: str  # "none", "starttls" or "implicit"
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str | None) -> SmtpSettings:
    """Settings from SMTP_URL; unset means the development sink on 127.0.0.1."""
    if not url:
        return SmtpSettings("127.0.0.1", sink_port(), "none")
    parts = urlsplit(url)
    schemes = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("implicit", 465)}
    if parts.scheme not in schemes:
        raise ValueError(f"SMTP_URL must start with smtp://, smtp+starttls:// or smtps://: {url!r}")
    tls, default_port = schemes[parts.scheme]
    return SmtpSettings(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or default_port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def connect(settings: SmtpSettings | None = None) -> smtplib.SMTP:
    """An open, logged-in SMTP connection (reused for a whole batch)."""
    settings = settings or parse_smtp_url(current_app.config.get("SMTP_URL"))
    if settings.tls == "implicit":
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT_SECONDS,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
        if settings.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
    if settings.username:
        client.login(settings.username, settings.password or "")
    # deliver() writes a message's data and its final "." apart; with Nagle's algorithm the
    # "." would wait for the server's delayed ACK of the data (~40 ms a message).
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def deliver(client: smtplib.SMTP, sender: str, recipient: str, payload: bytes,
            options: list[str] | None = None, *, before_end: Callable[[], None] | None = None,
            meanwhile: Callable[[], None] | None = None) -> None:
    """``SMTP.sendmail`` for one recipient and a message already flattened with CRLF line
    ends, with two hooks around the final "." (the moment the message becomes delivered).

    ``before_end()`` runs before the "." is sent: the outbox waits there for the previous
    message's commit, so at most one delivered message is ever not yet on record; if it
    raises, the connection is dropped and this message is not delivered. ``meanwhile()``
    runs while the server digests the data (the longest wait of a delivery: a real MTA
    writes its queue file then); the outbox builds the next message there. Raises what
    sendmail raises for one recipient: SMTPSenderRefused, SMTPRecipientsRefused,
    SMTPDataError, SMTPServerDisconnected or OSError.
    """
    client.ehlo_or_helo_if_needed()
    mail_options = []
    if client.does_esmtp:
        if client.has_extn("size"):
            mail_options.append(f"size={len(payload)}")
        mail_options.extend(options or [])
    code, reply = client.mail(sender, mail_options)
    if code != 250:
        _reset(client, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = client.rcpt(recipient)
    if code not in (250, 251):
        _reset(client, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    client.putcmd("data")
    code, reply = client.getreply()
    if code != 354:
        _reset(client, code)
        raise smtplib.SMTPDataError(code, reply)
    # As SMTP.data: a line starting with "." gets another one; the message ends in CRLF.CRLF.
    data = re.sub(rb"(?m)^\.", b"..", payload)
    client.send(data if data.endswith(b"\r\n") else data + b"\r\n")
    if before_end is not None:
        try:
            before_end()
        except BaseException:
            client.close()  # mid-data: the server drops the unfinished message
            raise
    client.send(b".\r\n")
    if meanwhile is not None:
        meanwhile()
    code, reply = client.getreply()
    if code != 250:
        _reset(client, code)
        raise smtplib.SMTPDataError(code, reply)


def _reset(client: smtplib.SMTP, code: int) -> None:
    # As sendmail: 421 means the server is closing the connection; otherwise start over.
    if code == 421:
        client.close()
        return
    try:
        client.rset()
    except smtplib.SMTPServerDisconnected:
        pass
