"""Jobs tell the truth: a row per run, one job per double click, failures recorded."""

import threading

import pytest
from redis import Redis
from rq import Queue

from jobs.embedded_redis import free_port
from jobs.queue import get_queue, get_redis
from jobs.runs import dedupe_key, enqueue, job, requeue_lost
from models import JobRun, JobStatus, db


@job("test_count")
def count_job(ctx, upto: int) -> dict:
    """A job that reports progress in steps and returns a count."""
    for n in range(1, upto + 1):
        ctx.progress(n, upto)
    return {"counted": upto}


@job("test_fail")
def failing_job(ctx, message: str) -> dict:
    """A job that gets half way and raises."""
    ctx.progress(1, 2)
    raise RuntimeError(message)


def _reload(run_id: str) -> JobRun:
    db.session.expire_all()
    return db.session.get(JobRun, run_id)


def test_enqueue_writes_the_row_before_the_queue_entry(ctx, admin_user):
    run = enqueue("test_count", {"upto": 3}, user_id=admin_user.id)
    assert run.status == JobStatus.QUEUED
    assert run.user_id == admin_user.id
    assert run.params == {"upto": 3}
    assert get_queue().job_ids == [run.id]  # the RQ job id is the row's key


def test_a_job_runs_to_done_with_progress_and_result(ctx, run_jobs):
    run = enqueue("test_count", {"upto": 4})
    run_jobs()
    run = _reload(run.id)
    assert run.status == JobStatus.DONE
    assert (run.progress_done, run.progress_total, run.percent) == (4, 4, 100)
    assert run.result == {"counted": 4}
    assert run.started_at <= run.finished_at
    assert run.error is None


def test_a_failing_job_ends_failed_with_its_message(ctx, run_jobs):
    run = enqueue("test_fail", {"message": "the CSV was on fire"})
    run_jobs()
    run = _reload(run.id)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("RuntimeError: the CSV was on fire")
    assert "Traceback" in run.error
    assert run.progress_done == 1  # how far it got stays visible
    assert run.finished_at is not None
    # RQ agrees: the job is in its failed registry, not reported as a success.
    assert run.id in get_queue().failed_job_registry.get_job_ids()


def test_a_double_click_starts_one_job(ctx):
    first = enqueue("test_count", {"upto": 2})
    second = enqueue("test_count", {"upto": 2})
    assert second.id == first.id
    assert db.session.query(JobRun).count() == 1
    assert get_queue().count == 1


def test_simultaneous_clicks_start_one_job(app):
    """Threads race through enqueue at once; the primary key lets one in."""
    barrier = threading.Barrier(4)
    ids = []

    def click():
        with app.app_context():
            barrier.wait()
            ids.append(enqueue("test_count", {"upto": 5}).id)
            db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        assert len(set(ids)) == 1
        assert db.session.query(JobRun).count() == 1
        assert get_queue(app).count == 1


def test_after_a_run_finishes_the_same_request_starts_a_new_run(ctx, run_jobs):
    first = enqueue("test_count", {"upto": 1})
    run_jobs()
    second = enqueue("test_count", {"upto": 1})
    assert second.id != first.id
    assert second.dedupe_key == first.dedupe_key == dedupe_key("test_count", {"upto": 1})


def test_different_parameters_are_different_jobs(ctx):
    assert enqueue("test_count", {"upto": 1}).id != enqueue("test_count", {"upto": 2}).id


def test_unknown_job_kind_is_refused(ctx):
    with pytest.raises(KeyError, match="no_such_job"):
        enqueue("no_such_job", {})


def test_a_flushed_redis_loses_no_queued_job(ctx, run_jobs):
    run = enqueue("test_count", {"upto": 2})
    get_redis().flushdb()
    assert requeue_lost() == [run.id]
    assert requeue_lost() == []  # already back on the queue
    run_jobs()
    assert _reload(run.id).status == JobStatus.DONE


def test_a_run_that_already_finished_is_not_run_again(ctx, run_jobs):
    run = enqueue("test_count", {"upto": 1})
    run_jobs()
    # The same RQ job delivered again (at-least-once): the executor sees the row and skips.
    Queue(get_queue().name, connection=get_redis()).enqueue(
        "jobs.runs.execute", run.id, job_id=run.id + "-again"
    )
    run_jobs()
    assert _reload(run.id).result == {"counted": 1}


def test_jobs_screen_and_progress_partial(admin_client, ctx, run_jobs):
    run = enqueue("test_count", {"upto": 3})
    page = admin_client.get(f"/admin/jobrun/details/?id={run.id}").get_data(as_text=True)
    assert 'hx-get="/admin/jobrun/progress/' in page  # polls while queued
    run_jobs()
    partial = admin_client.get(f"/admin/jobrun/progress/{run.id}").get_data(as_text=True)
    assert 'data-status="done"' in partial
    assert "hx-trigger" not in partial  # a finished job stops the polling
    listing = admin_client.get("/admin/jobrun/").get_data(as_text=True)
    assert run.id in listing and "done" in listing


def test_jobs_cli_list_and_show(app, ctx, run_jobs):
    run = enqueue("test_fail", {"message": "boom"})
    run_jobs()
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list"])
    assert listed.exit_code == 0 and run.id in listed.output and "failed" in listed.output
    shown = runner.invoke(args=["jobs", "show", run.id])
    assert shown.exit_code == 0 and "RuntimeError: boom" in shown.output
    missing = runner.invoke(args=["jobs", "show", "nope"])
    assert missing.exit_code != 0 and "no job run 'nope'" in missing.output


def test_a_job_recorded_while_redis_is_down_is_queued_later(app, ctx, run_jobs):
    """The database row comes first; a worker starting later puts it on the queue."""
    app.extensions["kohde_redis"] = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        run = enqueue("test_count", {"upto": 1})
    finally:
        del app.extensions["kohde_redis"]
    assert _reload(run.id).status == JobStatus.QUEUED
    assert requeue_lost() == [run.id]
    run_jobs()
    assert _reload(run.id).status == JobStatus.DONE
