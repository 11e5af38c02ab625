"""A development SMTP sink (aiosmtpd): receives everything, sends nothing on.

``kohde mailsink`` keeps what it receives in the database for the Mailbox
screen; tests use :class:`MemorySink` to look at exactly what was delivered.
"""

from __future__ import annotations

import threading
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from flask import Flask

from models import MailboxMessage, db


class MemorySink:
    """Keeps every received message in a list (thread-safe), with its envelope recipients."""

    def __init__(self):
        self.messages: list[tuple[list[str], object]] = []
        self._lock = threading.Lock()
        self.reply: str | None = None  # e.g. "451 try later": answer that instead of 250

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        """aiosmtpd hook: keep the message, or refuse it with ``reply``."""
        if self.reply:
            return self.reply
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def recipients(self) -> list[str]:
        """Every envelope recipient of every message, one entry per delivery."""
        with self._lock:
            return [rcpt for rcpts, _ in self.messages for rcpt in rcpts]


class MailboxSink:
    """Stores received messages as MailboxMessage rows for the Mailbox screen."""

    def __init__(self, app: Flask):
        self.app = app

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        """aiosmtpd hook: one row per message."""
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.app.app_context():
            db.session.add(MailboxMessage(
                mail_from=envelope.mail_from or "",
                recipients=", ".join(envelope.rcpt_tos),
                subject=str(parsed.get("Subject", ""))[:500],
                message_id=str(parsed.get("Message-ID", ""))[:255] or None,
                raw=envelope.content.decode("utf-8", errors="replace"),
            ))
            db.session.commit()
            db.session.remove()
        return "250 OK"


def start(handler, port: int) -> Controller:
    """Listen on 127.0.0.1:``port`` (aiosmtpd's default host would be ::1)."""
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller
