"""The scheduler's tick (requeue stuck messages and lost runs, start a sender when mail is
due), two ticks or two schedulers at once, and the real process stopping on SIGTERM."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jobs.queue import get_queue, get_redis
from jobs.runs import enqueue
from jobs.scheduler import PERIODIC, KohdeScheduler, periodic, tick
from models import Contact, EmailTemplate, JobRun, OutboxMessage, OutboxState, db, utcnow
from tests.conftest import process_env


def message(email: str, **values) -> OutboxMessage:
    """An outbox row for a new contact (a template is made on first use)."""
    template = db.session.scalar(select(EmailTemplate)) or EmailTemplate(
        name="T", subject="Hei", body_html="<p>Hei</p>{{ unsubscribe_url }}")
    row = OutboxMessage(template=template, contact=Contact(first_name="P", email=email),
                        send_key="campaign:1", to_email=email, **values)
    db.session.add(row)
    db.session.commit()
    return row


def states() -> dict[str, str]:
    db.session.rollback()
    return dict(db.session.execute(select(OutboxMessage.to_email, OutboxMessage.state)).all())


def sender_runs() -> list[JobRun]:
    db.session.rollback()
    return db.session.scalars(select(JobRun).where(JobRun.kind == "send_outbox")).all()


def test_tick_requeues_a_message_stuck_in_sending_but_not_one_just_claimed(app, ctx):
    now = utcnow()
    message("stuck@example.fi", state=OutboxState.SENDING, claimed_at=now - timedelta(minutes=11))
    message("busy@example.fi", state=OutboxState.SENDING, claimed_at=now - timedelta(minutes=1))
    done = tick()
    assert done["stuck_messages"] == 1
    assert states() == {"stuck@example.fi": "queued", "busy@example.fi": "sending"}


def test_the_stuck_threshold_is_configuration(app, ctx):
    message("a@example.fi", state=OutboxState.SENDING, claimed_at=utcnow() - timedelta(seconds=90))
    app.config["KOHDE_OUTBOX_STUCK_SECONDS"] = 60
    try:
        tick()
    finally:
        app.config["KOHDE_OUTBOX_STUCK_SECONDS"] = 600
    assert states() == {"a@example.fi": "queued"}


def test_tick_starts_one_sender_when_messages_are_due(app, ctx, mailbox, run_jobs):
    assert tick()["outbox_send"] is False  # nothing to send, no job
    message("later@example.fi", state=OutboxState.DEFERRED,
            next_attempt_at=utcnow() + timedelta(minutes=5))
    assert tick()["outbox_send"] is False  # deferred, not due yet
    message("now@example.fi")
    assert tick()["outbox_send"] is True
    assert tick()["outbox_send"] is False  # one is queued already
    assert [run.status for run in sender_runs()] == ["queued"]
    assert len(get_queue(app)) == 1
    run_jobs()
    assert mailbox.recipients() == ["now@example.fi"]
    assert states()["later@example.fi"] == "deferred"


def test_a_deferred_message_that_comes_due_is_sent_by_the_next_tick(app, ctx, mailbox, run_jobs):
    message("retry@example.fi", state=OutboxState.DEFERRED,
            next_attempt_at=utcnow() - timedelta(seconds=1), attempts=1)
    assert tick()["outbox_send"] is True
    run_jobs()
    assert mailbox.recipients() == ["retry@example.fi"]
    assert states() == {"retry@example.fi": "sent"}


def test_two_ticks_at_once_start_one_sender(app, ctx):
    message("one@example.fi")
    message("two@example.fi", state=OutboxState.SENDING, claimed_at=utcnow() - timedelta(hours=1))
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        with app.app_context():
            start.wait()
            try:
                results.append(tick())
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 2
    assert all(not isinstance(r, str) for result in results for r in result.values()), results
    assert len(sender_runs()) == 1
    assert len(get_queue(app)) == 1
    # The stuck row was requeued by exactly one of them.
    assert sorted(result["stuck_messages"] for result in results) == [0, 1]


def test_tick_puts_back_a_run_redis_lost(app, ctx):
    run = enqueue("send_outbox", {"slot": 0})
    get_redis(app).flushdb()
    assert len(get_queue(app)) == 0
    assert tick()["lost_job_runs"] == 1
    assert get_queue(app).job_ids == [run.id]
    assert len(sender_runs()) == 1  # and no second sender beside it


def test_two_schedulers_one_lock(app):
    first, second = KohdeScheduler(app, interval=5), KohdeScheduler(app, interval=5)
    assert first.acquire_lock()
    assert not second.acquire_lock()
    assert 0 < get_redis(app).ttl(first.scheduler_lock_key) <= 15  # expires if its holder dies
    first.remove_lock()
    assert second.acquire_lock()
    second.remove_lock()


def test_sigterm_during_a_tick_lets_the_tick_finish_then_stops(app):
    finished = []

    @periodic("test_sigterm")
    def interrupted(now):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the handler has run by now; the tick carries on
        finished.append(now)

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler = KohdeScheduler(app, interval=60)
    try:
        with pytest.raises(SystemExit) as stopped:
            scheduler.run()
    finally:
        PERIODIC.pop("test_sigterm")
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert stopped.value.code == 0
    assert finished and list(scheduler.last_tick)[-1] == "test_sigterm"
    assert not get_redis(app).exists(scheduler.scheduler_lock_key)


def test_scheduler_process_ticks_and_stops_cleanly_on_sigterm(app, ctx):
    message("stuck@example.fi", state=OutboxState.SENDING, claimed_at=utcnow() - timedelta(hours=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "webadmin.cli", "scheduler", "--interval", "0.5"],
        env=process_env(app), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while states()["stuck@example.fi"] != "queued":
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the scheduler never ticked"
            time.sleep(0.2)
        # It started the sender for that message, once, however many ticks ran meanwhile.
        time.sleep(1.2)
        assert db.session.scalar(select(func.count()).select_from(JobRun)) == 1
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    lock = KohdeScheduler(app, interval=1).scheduler_lock_key
    assert not get_redis(app).exists(lock)
