"""A sender's SMTP connections (``KOHDE_SMTP_CONNECTIONS``), fed from one queue (issue 17).

A relay answers each message after tens of milliseconds (it queues, checks, signs); one
connection spends that time waiting, so one connection delivers ~25 messages a second
however fast the rest is. A sender keeps C connections open for its whole run, each in
a thread of its own taking the next message from one queue, which the sender's main
thread tops up a batch at a time (claim, check again, load: sender.py) while they send.
So C answers are awaited at once, no connection idles while the next batch is loaded,
and none waits for a slower one to finish its share of a batch.

Each connection ends a message (its final ".") only once its previous message is on
record, so a crash leaves at most one delivered-but-unrecorded message per connection:
that one is sent again (the sweep puts its row back to queued), nothing else is. The
installation's rate limit (ratelimit.py) still holds: every connection reserves its
slots in the same schedules.
"""

from __future__ import annotations

import smtplib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from flask import current_app

from models import OutboxState
from models.email.claims import deferred_or_failed

from ..liveness import RunLost
from . import smtp
from .recorder import Recorder

DONE = object()  # what a connection takes once the queue is closed and empty


class Pool:
    """C connection threads sending what ``put`` queues; ``finish`` ends them."""

    def __init__(self, connections: int, recorder: Recorder, pace, build: Callable,
                 lost: threading.Event | None = None, low: int = 0):
        self.recorder, self.pace, self.build, self.lost = recorder, pace, build, lost
        self.settings = smtp.parse_smtp_url(current_app.config.get("SMTP_URL"))
        self.low = low  # top the queue up once no more than this many wait
        self.items: deque = deque()
        self.cond = threading.Condition()
        self.closed = False
        # Why the queue is no longer sent: the server went away (the rest is deferred), or
        # an error (the run was lost, the database is gone: the rest stays claimed).
        self.broken: str | None = None
        self.errors: list[BaseException] = []
        app = current_app._get_current_object()
        self.connections = [Connection(self) for _ in range(connections)]
        self.threads = [threading.Thread(target=self._run, args=(app, conn), daemon=True,
                                         name=f"kohde-smtp-{n}")
                        for n, conn in enumerate(self.connections)]
        for thread in self.threads:
            thread.start()

    @property
    def stopped(self) -> bool:
        """Nothing more should be claimed: the server went away or a connection failed."""
        return self.broken is not None or bool(self.errors)

    def counts(self) -> dict:
        """The outcomes so far, summed over the connections."""
        total = dict.fromkeys(("sent", "deferred", "failed"), 0)
        for conn in self.connections:
            for key, value in conn.counts.items():
                total[key] += value
        return total

    def wait_for_room(self) -> None:
        """Return once no more than ``low`` messages wait (or sending has stopped)."""
        with self.cond:
            while len(self.items) > self.low and not self.stopped:
                self.cond.wait()

    def put(self, items: list) -> None:
        """Queue messages for the connections."""
        with self.cond:
            self.items.extend(items)
            self.cond.notify_all()

    def take(self, block: bool = True):
        """The next message; None when none waits and ``block`` is false; DONE once the
        queue is closed and empty."""
        with self.cond:
            while not self.items and not self.closed:
                if not block:
                    return None
                self.cond.wait()
            if not self.items:
                return DONE
            item = self.items.popleft()
            self.cond.notify_all()  # the main thread may be waiting for room
            return item

    def finish(self) -> None:
        """Close the queue, let the connections send what is in it and end; then raise
        the first error a connection met."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]

    def _run(self, app, conn: Connection) -> None:
        with app.app_context():
            try:
                conn.run()
            except BaseException as exc:  # noqa: BLE001 (raised again by finish)
                with self.cond:
                    self.errors.append(exc)
                    self.cond.notify_all()
            finally:
                conn.close()


class Connection:
    """One SMTP connection and what it has in hand: the message it looked ahead to and
    the commit of the last message it delivered."""

    def __init__(self, pool: Pool):
        self.pool = pool
        self.client: smtplib.SMTP | None = None
        self.pending: Future | None = None  # the last "sent", until it is committed
        self.ahead = None  # taken from the queue (and built) while a reply was awaited
        self.counts = dict.fromkeys(("sent", "deferred", "failed"), 0)

    def run(self) -> None:
        """Send until the queue is closed and empty."""
        pool = self.pool
        while True:
            item, self.ahead = (self.ahead, None) if self.ahead is not None else (pool.take(),
                                                                                None)
            if item is DONE:
                break
            if pool.errors:
                continue  # the run failed: what is left stays claimed for the sweep
            if pool.lost is not None and pool.lost.is_set():
                # The reaper gave this batch to another sender: sending on would send twice.
                raise RunLost("the sender's run was failed by the reaper; stopping")
            if pool.broken is not None:
                self._defer(item, pool.broken)
                continue
            try:
                self._send(item)
            except (OSError, smtplib.SMTPException) as exc:
                # The server went away: this message and what is left wait for a later run.
                pool.broken = f"{type(exc).__name__}: {exc}"
                self._drop()
                self._defer(item, pool.broken)
        self.settled()

    def _send(self, item) -> None:
        pool = self.pool
        pool.build(item)  # usually done already, while the previous reply was awaited
        if item.problem:
            pool.recorder(item.id, state=OutboxState.FAILED, last_error=item.problem)
            self.counts["failed"] += 1
            return
        if self.client is None:
            self.client = smtp.connect(pool.settings)
        pool.pace.take(item.to)  # the installation's rate (and the recipient domain's)
        try:
            # The previous message's commit overlaps this one's envelope and data; its final
            # "." waits for that commit (settled).
            smtp.deliver(self.client, item.draft.sender.addr_spec, item.to, item.payload,
                         before_end=self.settled, meanwhile=self._look_ahead)
        except smtplib.SMTPRecipientsRefused as exc:
            code, detail = next(iter(exc.recipients.values()))
            self._refused(item, code, detail)
        except smtplib.SMTPResponseException as exc:
            self._refused(item, exc.smtp_code, exc.smtp_error)
        else:
            self.pending = pool.recorder.sent(item.id, item.message_id,
                                              item.template.language)
            self.counts["sent"] += 1

    def settled(self) -> None:
        """Wait until the last message this connection delivered is on record (raises if it
        could not be)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def _look_ahead(self) -> None:
        # While the server digests a message: take the next one and build it.
        if self.ahead is None:
            self.ahead = self.pool.take(block=False)
            if self.ahead is not None and self.ahead is not DONE:
                self.pool.build(self.ahead)

    def _refused(self, item, code: int, detail) -> None:
        error = f"{code} {detail.decode(errors='replace') if isinstance(detail, bytes) else detail}"
        if self.client is not None and self.client.sock is None:
            self.client = None  # 421: the server closed the connection; the next one opens anew
        if 400 <= code < 500:
            self._defer(item, error)
            return
        # 5xx: the address does not work; never try it again for anyone's campaign.
        self.pool.recorder.bounced(item.id, item.email_key, error)
        self.counts["failed"] += 1

    def _defer(self, item, error: str) -> None:
        values = deferred_or_failed(item.attempts, error)
        self.pool.recorder(item.id, **values)
        self.counts["deferred" if values["state"] == OutboxState.DEFERRED else "failed"] += 1

    def _drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def close(self) -> None:
        """Say goodbye to the server (or just hang up when it is gone)."""
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()
            self.client = None

