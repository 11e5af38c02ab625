"""A split import that fails (a chunk fails for good, or is cancelled before it ran)
leaves no report pieces behind (the ranges' parts, the repeated emails), and its report
still lists, by line, every row the ranges that ran rejected."""

from __future__ import annotations

from pathlib import Path

from rq.job import Job
from sqlalchemy import delete, update

from jobs.queue import get_redis
from jobs.runs import requeue_lost
from models import Company, Contact, JobRun, JobStatus, db
from models.imports import data_dir, read_report, run_import
from models.imports_split import merge_reports, part_path, write_report_header
from tests.imports.test_import_split import CHUNK, ROWS, chunks_of, fanned_out


def leftovers(run: JobRun) -> list[str]:
    """The report's pieces still on disk: anything named after the run but its report."""
    return sorted(p.name for p in data_dir("reports").glob(f"import-{run.id}.csv?*"))


def whole_file_report(path: Path) -> list[tuple[str, str]]:
    """What the whole-file import of ``path`` rejects (line, reason), on an empty database."""
    db.session.execute(delete(Contact))
    db.session.execute(delete(Company))
    db.session.commit()
    return [(r["line"], r["reason"]) for r in read_report(run_import(path)["report_path"])]


def chunk(run: JobRun, seq: int) -> JobRun:
    return next(c for c in chunks_of(run) if c.params["seq"] == seq)


def test_a_chunk_that_fails_leaves_no_pieces_and_the_report_keeps_the_other_ranges_rows(
        app, ctx, chunked, run_jobs, tmp_path, admin_client):
    run = fanned_out(app, tmp_path)
    broken = chunk(run, 3)  # lines 302 … 401: a byte offset no file has fails it for good
    db.session.execute(update(JobRun).where(JobRun.id == broken.id)
                       .values(params={**broken.params, "offset": -1}))
    db.session.commit()
    run_jobs()
    db.session.rollback()
    run = db.session.get(JobRun, run.id)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("1 of 10 chunks failed; chunk 4 (first_line ")
    assert leftovers(run) == []

    first, end = broken.params["first_line"], broken.params["end_line"]
    expected = [(line, reason) for line, reason in whole_file_report(tmp_path / "big.csv")
                if not first <= int(line) < end]
    assert len(expected) == 13 - 1  # the bad email on line 304 was never read
    assert [(r["line"], r["reason"]) for r in read_report(run.result["report_path"])] == \
        expected

    assert run.result["unfinished_lines"] == [f"{first}–{end - 1}"]

    page = admin_client.get(f"/admin/jobrun/details/?id={run.id}").get_data(as_text=True)
    assert f"/admin/jobrun/report/{run.id}" in page
    assert "Lines not fully imported" in page and f"{first}–{end - 1}" in page
    report = admin_client.get(f"/admin/jobrun/report/{run.id}").get_data(as_text=True)
    assert report.splitlines()[1].startswith("7,email: 'not-an-email-5' is not")  # line, then why


def test_a_chunk_cancelled_before_it_ran_leaves_no_pieces(app, ctx, chunked, run_jobs,
                                                          tmp_path):
    app.config["KOHDE_JOB_ATTEMPTS"], attempts = 1, app.config["KOHDE_JOB_ATTEMPTS"]
    try:
        run = fanned_out(app, tmp_path)
        cancelled = chunk(run, 0)
        Job.fetch(cancelled.id, connection=get_redis(app)).cancel()
        run_jobs()
        requeue_lost()  # a scheduler tick: RQ ended it before it started, so it failed
        db.session.rollback()
        run = db.session.get(JobRun, run.id)
    finally:
        app.config["KOHDE_JOB_ATTEMPTS"] = attempts
    assert run.status == JobStatus.FAILED and "canceled" in run.error
    assert leftovers(run) == []
    lines = [int(r["line"]) for r in read_report(run.result["report_path"])]
    assert lines and min(lines) >= CHUNK + 2 and len(lines) == 13 - 2  # lines 7 and 33 not read
    assert ROWS  # the file's size, as in the split import tests


def test_merging_leaves_out_a_cut_part_skips_a_missing_one_and_is_harmless_to_repeat(
        tmp_path):
    report = tmp_path / "import-x.csv"
    write_report_header(report, ["email"])
    part_path(report, 0).write_text("2,bad,a\r\n")
    part_path(report, 1).write_text('5,bad,"cut in')  # its worker was killed mid-row
    part_path(report, 3).write_text("9,bad,c\r\n")  # range 2 failed before it wrote a part
    for _ in range(2):
        merge_reports(report, 4, left_out=[1])
        assert report.read_bytes() == b"line,reason,email\r\n2,bad,a\r\n9,bad,c\r\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["import-x.csv"]
