"""Leases, the reaper, retries, unique ids, safe error texts, a wait that never hangs and
what the screens report (in this process; test_jobs_crash.py kills real workers)."""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from rq import Worker
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from jobs.liveness import retry_db
from jobs.queue import get_queue, get_redis
from jobs.runs import enqueue, job, reap_expired, requeue_lost
from jobs.scheduler import QUICK, KohdeScheduler, tick
from jobs.worker import make_worker
from models import (
    WORKER_LOST,
    Contact,
    EmailTemplate,
    JobRun,
    JobStatus,
    OutboxMessage,
    OutboxState,
    db,
    utcnow,
)
from webadmin import create_app

RUN_ID = re.compile(r"^[a-z_]+-[0-9a-f]{16}-[0-9a-f]{10}$")


@job("test_sleep")
def sleeping_job(ctx, seconds: float) -> dict:
    """Sleeps (no progress calls: only the heartbeat thread keeps the lease)."""
    time.sleep(seconds)
    return {"slept": seconds}


@job("test_ok")
def ok_job(ctx, n: int) -> dict:
    """Does nothing, successfully."""
    return {"n": n}


@job("test_bad_input")
def bad_input_job(ctx, text: str) -> dict:
    """Fails on its input (a non-UTF-8 file's bytes, decoded with surrogateescape)."""
    raise ValueError(f"cannot read {text}")


@job("test_surrogates")
def surrogates_job(ctx) -> dict:
    """Fails with a message holding lone surrogates (a non-UTF-8 file read leniently)."""
    broken = b"Nimi;S\xe4hk\xf6posti".decode("utf-8", "surrogateescape")
    raise ValueError(f"cannot read {broken}")


FLAKY_CALLS: list[int] = []


@job("test_db_down")
def db_down_job(ctx, fail_times: int) -> dict:
    """Fails like a lost database connection the first ``fail_times`` calls."""
    FLAKY_CALLS.append(1)
    if len(FLAKY_CALLS) <= fail_times:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    return {"calls": len(FLAKY_CALLS)}


@contextmanager
def config(app, **values):
    """Set app config values for the block."""
    old = {key: app.config[key] for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(old)


def reload(run_id: str) -> JobRun:
    db.session.rollback()
    return db.session.get(JobRun, run_id, populate_existing=True)


def runs_of(kind: str) -> list[JobRun]:
    db.session.rollback()
    return db.session.scalars(select(JobRun).where(JobRun.kind == kind)
                              .order_by(JobRun.attempt)).all()


def dead(run: JobRun, seconds_ago: float = 5) -> None:
    """Make ``run`` look like a run whose worker was SIGKILLed: running, lease expired."""
    now = utcnow()
    db.session.execute(update(JobRun).where(JobRun.id == run.id).values(
        status=JobStatus.RUNNING, started_at=now - timedelta(seconds=60), worker_name="gone",
        worker_pid=999999, worker_host="nowhere", heartbeat_at=now - timedelta(seconds=40),
        lease_expires_at=now - timedelta(seconds=seconds_ago)))
    db.session.commit()


def test_a_running_job_holds_a_lease_its_heartbeat_renews(app, ctx, run_jobs):
    run = enqueue("test_sleep", {"seconds": 1.6})
    reaped = []
    stop = threading.Event()

    def reaper():
        with app.app_context():
            while not stop.wait(0.1):
                reaped.extend(reap_expired())
            db.session.remove()

    thread = threading.Thread(target=reaper)
    with config(app, KOHDE_JOB_LEASE_SECONDS=0.6):
        thread.start()
        try:
            run_jobs()
        finally:
            stop.set()
            thread.join()
    run = reload(run.id)
    assert reaped == [] and run.status == JobStatus.DONE, run.error
    assert run.worker_name and run.worker_host and run.worker_pid
    # The heartbeat renewed the lease while the job slept (the start alone would be 0.6 s).
    assert run.heartbeat_at - run.started_at >= timedelta(seconds=0.8)


def test_the_reaper_fails_a_dead_run_and_retries_it(app, ctx, run_jobs):
    first = enqueue("test_ok", {"n": 1})
    get_redis().flushdb()  # the dead worker had taken it off the queue
    dead(first)
    with config(app, KOHDE_JOB_RETRY_SECONDS=0.5):
        assert reap_expired() == [first.id]
        assert reap_expired() == []  # once
        failed = reload(first.id)
        assert failed.status == JobStatus.FAILED
        assert failed.error.startswith(f"{WORKER_LOST}: no heartbeat from gone (pid 999999")
        second = runs_of("test_ok")[-1]
        assert (second.attempt, second.retry_of_id, second.status) == (2, first.id, "queued")
        assert RUN_ID.match(second.id) and second.id != first.id
        assert requeue_lost() == []  # not before its backoff
        time.sleep(0.6)
        assert requeue_lost() == [second.id]
    run_jobs()
    assert reload(second.id).status == JobStatus.DONE


def test_a_live_lease_is_not_reaped(ctx):
    run = enqueue("test_ok", {"n": 2})
    dead(run, seconds_ago=-30)  # expires in 30 s
    assert reap_expired() == []
    assert reload(run.id).status == JobStatus.RUNNING


def test_infrastructure_failures_are_retried_up_to_the_limit(app, ctx, run_jobs):
    FLAKY_CALLS.clear()
    with config(app, KOHDE_JOB_RETRY_SECONDS=0):  # the retry goes on the queue at once
        enqueue("test_db_down", {"fail_times": 5})
        run_jobs()
    runs = runs_of("test_db_down")
    assert [(r.attempt, r.status) for r in runs] == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert all(r.error.startswith("OperationalError") for r in runs)
    assert [r.retry_of_id for r in runs] == [None, runs[0].id, runs[1].id]


def test_a_retry_that_succeeds_ends_the_chain(app, ctx, run_jobs):
    FLAKY_CALLS.clear()
    with config(app, KOHDE_JOB_RETRY_SECONDS=0):
        enqueue("test_db_down", {"fail_times": 1})
        run_jobs()
    assert [(r.attempt, r.status) for r in runs_of("test_db_down")] == [(1, "failed"), (2, "done")]


def test_a_failure_of_the_jobs_own_logic_is_not_retried(app, ctx, run_jobs):
    with config(app, KOHDE_JOB_RETRY_SECONDS=0):
        enqueue("test_bad_input", {"text": "x"})
        run_jobs()
    assert [(r.attempt, r.status) for r in runs_of("test_bad_input")] == [(1, "failed")]


def test_surrogates_in_an_error_reach_neither_redis_nor_the_database_and_the_worker_goes_on(
    ctx, run_jobs
):
    failing = enqueue("test_surrogates", {})
    after = enqueue("test_ok", {"n": 3})  # queued behind it: must still run
    run_jobs()
    failed = reload(failing.id)
    assert failed.status == JobStatus.FAILED
    assert failed.error.startswith("ValueError: cannot read Nimi;S\\udce4hk\\udcf6posti")
    assert reload(after.id).status == JobStatus.DONE
    assert failing.id in get_queue().failed_job_registry.get_job_ids()
    assert "\\udce4" in get_queue().fetch_job(failing.id).latest_result().exc_string


def test_run_ids_are_random_and_unique(ctx, run_jobs):
    first = enqueue("test_ok", {"n": 4})
    run_jobs()
    second = enqueue("test_ok", {"n": 4})
    assert RUN_ID.match(first.id) and RUN_ID.match(second.id) and first.id != second.id
    assert first.dedupe_key == second.dedupe_key


def test_the_database_refuses_two_active_runs_of_one_request(ctx):
    run = enqueue("test_ok", {"n": 5})
    db.session.add(JobRun(id="test_ok-other", kind="test_ok", dedupe_key=run.dedupe_key,
                          params={"n": 5}, status=JobStatus.RUNNING))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(JobRun(id="test_ok-old", kind="test_ok", dedupe_key=run.dedupe_key,
                          params={"n": 5}, status=JobStatus.DONE))
    db.session.commit()  # finished runs of the same request are fine


def test_a_repeat_request_never_hands_back_a_dead_run(ctx, run_jobs):
    first = enqueue("test_ok", {"n": 6})
    dead(first)
    second = enqueue("test_ok", {"n": 6})
    assert second.id != first.id and second.status == JobStatus.QUEUED
    assert reload(first.id).status == JobStatus.FAILED
    assert reload(first.id).error.startswith(WORKER_LOST)
    # A queued run RQ has already ended (its start was never recorded) is dead too.
    get_redis().hset(f"rq:job:{second.id}", "status", "failed")
    third = enqueue("test_ok", {"n": 6})
    assert third.id not in (first.id, second.id)
    assert reload(second.id).status == JobStatus.FAILED
    run_jobs()
    assert reload(third.id).status == JobStatus.DONE


def test_a_queued_run_redis_forgot_is_handed_back_and_requeued(ctx):
    first = enqueue("test_ok", {"n": 7})
    get_redis().flushdb()
    assert enqueue("test_ok", {"n": 7}).id == first.id
    assert get_queue().job_ids == [first.id]


def test_two_databases_on_one_redis_never_share_an_id(app, ctx, tmp_path, run_jobs):
    other = create_app({
        "TESTING": True, "SECRET_KEY": "other",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.db'}",
        "REDIS_URL": app.config["REDIS_URL"], "KOHDE_QUEUE": "kohde-test-other",
        "KOHDE_INSTANCE_PATH": str(tmp_path / "instance"),
    })
    with other.app_context():
        db.create_all()
    ids = set()
    for _ in range(3):
        ids.add(enqueue("test_ok", {"n": 8}).id)
        run_jobs()
        assert [r.status for r in runs_of("test_ok")] == ["done"]
        db.session.execute(JobRun.__table__.delete())  # a database reset: nothing counted
        db.session.commit()
        with other.app_context():
            ids.add(enqueue("test_ok", {"n": 8}).id)
            make_worker(other, simple=True).work(burst=True, logging_level="WARNING")
            assert db.session.scalars(select(JobRun.status)).all() == ["done"]
            db.session.execute(JobRun.__table__.delete())
            db.session.commit()
            db.session.remove()
    assert len(ids) == 6  # RQ keeps finished jobs for a day: not one new run was refused


@pytest.fixture
def worker_elsewhere(ctx):
    """A worker registered on the queue (so the CLI starts no burst worker of its own)."""
    fake = Worker([get_queue()], connection=get_redis(), name="elsewhere")
    fake.register_birth()
    yield fake
    fake.register_death()


def test_the_cli_wait_ends_when_rq_finished_a_job_the_row_did_not_record(
    app, ctx, run_jobs, worker_elsewhere
):
    run = enqueue("test_ok", {"n": 9})
    run_jobs()
    # As if the worker died between RQ's "finished" and the row's commit: the lease is live.
    db.session.execute(update(JobRun).where(JobRun.id == run.id).values(
        status=JobStatus.RUNNING, finished_at=None,
        lease_expires_at=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    began = time.monotonic()
    result = app.test_cli_runner().invoke(args=["jobs", "wait", run.id])
    assert result.exit_code == 1, result.output
    assert time.monotonic() - began < 10
    assert f"RQ reports job {run.id} finished, but the database still has it running" in (
        result.output)


def test_the_cli_wait_has_a_timeout(app, ctx, worker_elsewhere):
    run = enqueue("test_sleep", {"seconds": 30})
    # The other worker holds it: running, lease alive, RQ says started.
    db.session.execute(update(JobRun).where(JobRun.id == run.id).values(
        status=JobStatus.RUNNING, lease_expires_at=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    get_redis().hset(f"rq:job:{run.id}", "status", "started")
    began = time.monotonic()
    result = app.test_cli_runner().invoke(args=["jobs", "wait", run.id, "--timeout", "1"])
    assert result.exit_code == 2, result.output
    assert 1 <= time.monotonic() - began < 6
    assert "gave up waiting after 1 s" in result.output


def test_every_waiting_command_takes_a_timeout(app):
    runner = app.test_cli_runner()
    for args in (["import", "contacts"], ["groups", "refresh"], ["campaigns", "copy-group"],
                 ["campaigns", "undo"], ["activities", "create-for-group"]):
        shown = runner.invoke(args=[*args, "--help"])
        assert shown.exit_code == 0 and "--timeout S" in shown.output, (args, shown.output)


def test_stuck_runs_retries_and_due_mail_are_reported(app, ctx, admin_client):
    stuck = enqueue("test_ok", {"n": 10})
    dead(stuck)
    retry = JobRun(id="test_ok-retry", kind="test_ok", dedupe_key="test_ok:retry", params={},
                   status=JobStatus.QUEUED, attempt=2, retry_of_id=stuck.id,
                   not_before=utcnow() + timedelta(seconds=30))
    template = EmailTemplate(name="T", subject="S", body_html="<p>x</p>{{ unsubscribe_url }}")
    db.session.add_all([retry, OutboxMessage(
        template=template, contact=Contact(first_name="A", email="a@example.fi"),
        send_key="k", to_email="a@example.fi", state=OutboxState.QUEUED,
        created_at=utcnow() - timedelta(seconds=75))])
    db.session.commit()

    health = admin_client.get("/healthz?deep=1")
    assert health.status_code == 200
    jobs = health.get_json()["jobs"]
    assert jobs["stuck_runs"] == 1 and jobs["stuck"][0]["id"] == stuck.id
    assert jobs["retries_in_progress"] == 1
    assert 74 <= jobs["oldest_due_message_seconds"] < 120
    assert "jobs" not in admin_client.get("/healthz").get_json()

    listed = app.test_cli_runner().invoke(args=["jobs", "list", "--status", "stuck"])
    assert listed.exit_code == 0 and stuck.id in listed.output and "stuck" in listed.output
    assert "test_ok-retry" not in listed.output

    page = admin_client.get("/admin/jobrun/").get_data(as_text=True)
    assert 'data-status="stuck"' in page
    details = admin_client.get(f"/admin/jobrun/details/?id={retry.id}").get_data(as_text=True)
    assert 'id="job-attempts"' in details and stuck.id in details
    assert 'data-attempt="1"' in details and 'data-attempt="2"' in details
    stuck_page = admin_client.get(f"/admin/jobrun/details/?id={stuck.id}").get_data(as_text=True)
    assert 'data-stuck="1"' in stuck_page


def test_the_scheduler_runs_the_reaper_between_ticks(app, ctx):
    with config(app, KOHDE_REAPER_INTERVAL=0.2):
        scheduler = KohdeScheduler(app, interval=60)
    first = scheduler.enqueue_jobs() or scheduler.last_tick
    assert set(scheduler.last_tick) >= {"expired_leases", "stuck_messages", "outbox_send"}
    run = enqueue("test_ok", {"n": 11})
    get_redis().flushdb()
    dead(run)
    scheduler.enqueue_jobs()  # a reaper pass, not a tick
    assert set(scheduler.last_tick) == QUICK and scheduler.last_tick["expired_leases"] == 1
    assert reload(run.id).status == JobStatus.FAILED
    assert first is not None
    assert tick()["expired_leases"] == 0


def test_a_dead_senders_messages_are_released_at_once(ctx):
    run = enqueue("test_ok", {"n": 12})
    dead(run)
    template = EmailTemplate(name="T", subject="S", body_html="<p>x</p>{{ unsubscribe_url }}")
    claimed = [OutboxMessage(template=template, contact=Contact(first_name="A", email=f"{n}@x.fi"),
                             send_key="k", to_email=f"{n}@x.fi", state=OutboxState.SENDING,
                             claimed_at=utcnow(), claimed_by=by)
               for n, by in enumerate([run.id, None])]
    db.session.add_all(claimed)
    db.session.commit()
    assert tick()["dead_senders_messages"] == 1  # the run's claim; the other waits 600 s
    db.session.rollback()
    states = dict(db.session.execute(select(OutboxMessage.to_email, OutboxMessage.state)).all())
    assert states == {"0@x.fi": "queued", "1@x.fi": "sending"}


def test_jobs_show_tells_the_lease_and_attempt(app, ctx, run_jobs):
    run = enqueue("test_ok", {"n": 13})
    run_jobs()
    shown = app.test_cli_runner().invoke(args=["jobs", "show", run.id, "--json"])
    data = json.loads(shown.output)
    assert data["attempt"] == 1 and data["worker_pid"] and data["lease_expires_at"]


def test_bookkeeping_writes_outlast_a_dropped_connection(app, ctx):
    calls = []

    def write():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE job_runs", {}, Exception("server closed the connection"))
        return "written"

    assert retry_db(write, seconds=5) == "written" and len(calls) == 3

    def down():
        raise OperationalError("UPDATE job_runs", {}, Exception("connection refused"))

    began = time.monotonic()
    with pytest.raises(OperationalError):  # not forever: KOHDE_DB_RETRY_SECONDS
        retry_db(down, seconds=0.6)
    assert time.monotonic() - began < 2

    def broken():
        raise ValueError("not a connection problem")

    with pytest.raises(ValueError):
        retry_db(broken, seconds=5)
