"""A big import is split into line ranges run as chunk runs (rule 4): the same contacts,
counts and report as the whole-file import, one progress bar, and a chunk lost to Redis
or to bad luck never lost from the database."""

from __future__ import annotations

import csv
import io

from sqlalchemy import delete, func, select, update

from jobs.imports import start_import_contacts
from jobs.queue import get_redis
from jobs.runs import reap_expired, requeue_lost
from jobs.worker import make_worker
from models import Company, Contact, JobRun, JobStatus, db, utcnow
from models.imports import read_report, run_import
from tests.conftest import process_env

ROWS = 1000
CHUNK = 100  # the chunked fixture's KOHDE_CHUNK_ROWS
HEADER = ["first_name", "last_name", "email", "company", "title"]


def big_csv(rows: int = ROWS) -> str:
    """``rows`` records with what a range must handle like the whole file does: bad emails
    here and there, an email repeated in the same range and in a later one, the same
    companies in every range, and a quoted field over two lines near a range's end."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for n in range(rows):
        email = f"person{n}@example.fi"
        if n % 97 == 5:
            email = f"not-an-email-{n}"
        if n in (31, 450):
            email = "person30@example.fi"  # line 33 repeats line 32 in its range, 453 later
        company = "Kone Oy" if n % 7 == 0 else f"Yritys {n % 13}"
        title = "Head\nof sales" if n == 98 else "Seller"
        writer.writerow([f"First{n}", f"Last{n}", email, company, title])
    return out.getvalue()


def the_import(path) -> JobRun:
    """The latest import run."""
    db.session.rollback()
    return db.session.scalars(select(JobRun).where(JobRun.kind == "import_contacts")
                              .order_by(JobRun.enqueued_at.desc())).first()


def chunks_of(run: JobRun) -> list[JobRun]:
    return list(db.session.scalars(select(JobRun).where(JobRun.parent_id == run.id)
                                   .order_by(JobRun.enqueued_at)))


def snapshot() -> dict:
    return {c.email_key: (c.first_name, c.title, c.company.name if c.company else None)
            for c in db.session.scalars(select(Contact))}


def report_lines(path: str) -> list[tuple[str, str]]:
    return [(row["line"], row["reason"]) for row in read_report(path)]


def test_a_split_import_does_what_the_whole_file_import_does(ctx, chunked, run_jobs, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(big_csv())
    start_import_contacts(path)
    run_jobs()
    run = the_import(path)
    assert run.status == JobStatus.DONE, run.error
    chunks = chunks_of(run)
    assert len(chunks) == ROWS // CHUNK and all(c.status == JobStatus.DONE for c in chunks)
    assert run.progress_done == run.progress_total == ROWS + 1  # the two-line record's line
    split, split_contacts = run.result, snapshot()
    split_report = report_lines(split["report_path"])
    companies = db.session.scalars(select(Company.name).order_by(Company.name)).all()
    assert len(companies) == len(set(companies)) == 14  # one per name, however many ranges

    db.session.execute(delete(Contact))
    db.session.execute(delete(Company))
    db.session.commit()
    whole = run_import(path)
    assert {k: split[k] for k in ("imported", "updated", "rejected", "companies_created",
                                  "rows")} == {
        k: whole[k] for k in ("imported", "updated", "rejected", "companies_created", "rows")}
    assert split["imported"] == ROWS - 11 - 2  # 11 bad emails, 2 repeats
    assert split_report == report_lines(whole["report_path"])
    assert ("453", "email: person30@example.fi is already on line 32 of this file") in \
        split_report
    assert snapshot() == split_contacts
    assert split_contacts["person98@example.fi"][1] == "Head\nof sales"


def test_a_repeated_split_import_updates_what_landed(ctx, chunked, run_jobs, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(big_csv())
    start_import_contacts(path)
    run_jobs()
    first = the_import(path).result
    start_import_contacts(path)
    run_jobs()
    runs = db.session.scalars(select(JobRun).where(JobRun.kind == "import_contacts")
                              .order_by(JobRun.enqueued_at)).all()
    again = runs[-1].result
    assert (again["imported"], again["updated"]) == (0, first["imported"])
    assert db.session.scalar(select(func.count()).select_from(Contact)) == first["imported"]


def test_a_small_import_stays_one_run(ctx, chunked, run_jobs, tmp_path):
    path = tmp_path / "small.csv"
    path.write_text(big_csv(CHUNK))
    start_import_contacts(path)
    run_jobs()
    run = the_import(path)
    assert run.status == JobStatus.DONE and chunks_of(run) == []
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 1


def run_one_job(app) -> None:
    """Run exactly one queued job (the parent: it fans out and returns)."""
    make_worker(app, simple=True).work(burst=True, max_jobs=1, logging_level="WARNING")
    db.session.rollback()


def fanned_out(app, tmp_path) -> JobRun:
    """A big import whose parent has run (its chunks queued, none run yet)."""
    path = tmp_path / "big.csv"
    path.write_text(big_csv())
    start_import_contacts(path)
    run_one_job(app)
    return the_import(path)


def test_redis_flushed_after_the_fan_out_loses_no_chunk(app, ctx, chunked, run_jobs, tmp_path):
    path = tmp_path / "big.csv"
    run = fanned_out(app, tmp_path)
    assert run.status == JobStatus.RUNNING and len(chunks_of(run)) == ROWS // CHUNK
    get_redis(app).flushdb()
    assert len(requeue_lost()) == ROWS // CHUNK  # the database knew every chunk
    run_jobs()
    run = the_import(path)
    assert run.status == JobStatus.DONE
    assert run.result["imported"] == ROWS - 13


def test_a_waiting_parent_lives_through_its_chunks(app, ctx, chunked, run_jobs, tmp_path):
    path = tmp_path / "big.csv"
    run = fanned_out(app, tmp_path)
    db.session.execute(update(JobRun).where(JobRun.id == run.id)
                       .values(lease_expires_at=utcnow()))
    db.session.commit()
    assert reap_expired() == []  # its chunks are queued: not lost, its lease renewed
    db.session.rollback()
    run = the_import(path)
    assert run.status == JobStatus.RUNNING and run.lease_expires_at > utcnow()
    run_jobs()
    assert the_import(path).status == JobStatus.DONE


def test_a_chunk_that_fails_for_good_fails_its_parent(app, ctx, chunked, run_jobs, tmp_path):
    path = tmp_path / "big.csv"
    fanned_out(app, tmp_path)
    path.unlink()  # every range now fails on its own (not the machinery's fault: no retry)
    run_jobs()
    run = the_import(path)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith(f"{ROWS // CHUNK} of {ROWS // CHUNK} chunks failed; chunk 1 "
                                "(first_line 2, ")
    assert "FileNotFoundError" in run.error
    assert all(c.attempt == 1 for c in chunks_of(run))


def test_the_jobs_list_shows_the_parent_not_its_chunks(app, chunked, run_jobs, admin_client,
                                                       tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(big_csv())
    with app.app_context():
        start_import_contacts(path)
        run_jobs()
        run = the_import(path)
        chunk_ids = [c.id for c in chunks_of(run)]
    page = admin_client.get("/admin/jobrun/?exact_count=1").get_data(as_text=True)
    assert run.id in page
    assert not any(chunk_id in page for chunk_id in chunk_ids)


def test_the_cli_waits_for_a_split_import(app, ctx, chunked, tmp_path, monkeypatch):
    """`kohde import contacts FILE` with no worker running: the worker it starts runs the
    parent and every chunk, and the wait ends with the parent."""
    for name, value in {**process_env(app), "KOHDE_CHUNK_ROWS": str(CHUNK)}.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "big.csv"
    path.write_text(big_csv())
    result = app.test_cli_runner().invoke(args=["import", "contacts", str(path)],
                                          catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"imported {ROWS - 13}, updated 0, rejected 13" in result.output
    assert len(chunks_of(the_import(path))) == ROWS // CHUNK
