"""The outbox's recorder: one thread and one database connection per sender process that
write what the SMTP connections report, grouped.

The connections hand in outcomes as the server answers. The recorder's thread takes
whatever waits when it comes round and writes it at once: every "sent" among it as one
UPDATE (models/email/claims.py: ``mark_sent``), on an autocommit connection — one
statement and one commit for as many messages as were waiting, however many connections
send. A connection waits for its last "sent" to be on record before it ends its next
message (jobs/email/pool.py), so the group a commit covers is never larger than the
number of connections, and neither is what a crash can leave delivered but unrecorded.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue

from flask import current_app

from models import db
from models.email.claims import bounce, mark_sent, set_state

from ..liveness import connection_error

log = logging.getLogger(__name__)


@dataclass
class _Outcome:
    """One message's outcome waiting to be written: statements, or a "sent" (id, Message-ID,
    language) that joins its group's UPDATE."""

    statements: tuple = ()
    sent: tuple[int, str | None, str | None] | None = None
    done: Future = field(default_factory=Future)


class Recorder:
    """Writes outcomes in a thread of its own on one autocommit connection. Made in the
    app context (it reads the config); its methods may be called from any thread."""

    def __init__(self):
        self.engine = db.engine  # the thread has no app context
        self.retry_seconds = current_app.config["KOHDE_DB_RETRY_SECONDS"]
        self.conn = None
        self.waiting: SimpleQueue[_Outcome | None] = SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="kohde-outbox-recorder",
                                       daemon=True)
        self.thread.start()

    def sent(self, row_id: int, message_id: str | None, language: str | None) -> Future:
        """The server said 250: record it with the next group; the future is done once it
        is committed (or holds the error that kept it from being)."""
        return self._hand_in(_Outcome(sent=(row_id, message_id, language)))

    def __call__(self, row_id: int, **values) -> None:
        """Record an outcome (state, error, …) and wait until it is committed."""
        self._hand_in(_Outcome(statements=(set_state(row_id, **values),))).result()

    def bounced(self, row_id: int, email_key: str, error: str) -> None:
        """5xx: the address goes on the suppression list, then the row is marked failed
        (in that order); waits until both are committed."""
        self._hand_in(_Outcome(statements=bounce(row_id, email_key, error))).result()

    def close(self) -> None:
        """Write what is waiting, give the connection back and end the thread."""
        self.waiting.put(None)
        self.thread.join()

    def _hand_in(self, outcome: _Outcome) -> Future:
        if not self.thread.is_alive():
            raise RuntimeError("the outbox recorder has been closed")
        self.waiting.put(outcome)
        return outcome.done

    def _run(self) -> None:
        try:
            while True:
                group = [self.waiting.get()]
                while group[-1] is not None:  # take what else waits, without waiting
                    try:
                        group.append(self.waiting.get_nowait())
                    except Empty:
                        break
                outcomes = [o for o in group if o is not None]
                if outcomes:
                    self._write(outcomes)
                if group[-1] is None:
                    return
        finally:
            if self.conn is not None:
                self.conn.close()

    def _write(self, outcomes: list[_Outcome]) -> None:
        sent = [o.sent for o in outcomes if o.sent is not None]
        statements = [mark_sent(sent)] if sent else []
        for outcome in outcomes:
            statements.extend(outcome.statements)
        try:
            self._execute(statements)
        except BaseException as exc:  # noqa: BLE001 (handed to every waiting connection)
            for outcome in outcomes:
                outcome.done.set_exception(exc)
        else:
            for outcome in outcomes:
                outcome.done.set_result(None)

    def _execute(self, statements: list) -> None:
        # A lost connection (database restart, pg_terminate_backend) is not a lost outcome:
        # reconnect and write it again, with backoff, for KOHDE_DB_RETRY_SECONDS. Each
        # statement sets a final state, so writing one twice changes nothing.
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.25
        while True:
            try:
                if self.conn is None:
                    self.conn = self.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT")
                for statement in statements:
                    self.conn.execute(statement)
                return
            except Exception as exc:
                if not connection_error(exc):
                    raise
                self._drop_connection()
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("recording %d outcome(s) failed (%s); retrying in %.1f s",
                            len(statements), type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _drop_connection(self) -> None:
        if self.conn is not None:
            try:
                self.conn.invalidate()
                self.conn.close()
            except Exception:
                pass
            self.conn = None

