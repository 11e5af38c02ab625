"""A split job on two real `kohde worker` processes, one chunk's work horse killed with
SIGKILL before its commit: the chunk is failed and retried like any run, the parent ends
when the retry has, and the result is complete with every row written exactly once."""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
from sqlalchemy import func, select

from jobs.campaigns import start_audience_change
from jobs.imports import start_import_contacts
from models import (
    WORKER_LOST,
    Company,
    Contact,
    JobRun,
    JobStatus,
    OutboxMessage,
    db,
)
from models.campaigns.audience import Action
from tests.campaigns.test_email_split import PEOPLE, source_and_targets
from tests.imports.test_import_split import ROWS, big_csv
from tests.jobs.test_jobs_crash import procs, wait_for  # noqa: F401  (procs: a fixture)

CHUNK = 100


def latest(kind: str) -> JobRun:
    db.session.rollback()
    return db.session.scalars(select(JobRun).where(JobRun.kind == kind)
                              .order_by(JobRun.enqueued_at.desc())).first()


def start_import(tmp_path) -> str:
    path = tmp_path / "big.csv"
    path.write_text(big_csv())
    start_import_contacts(path)
    return "import_contacts"


def start_copy(tmp_path) -> str:
    source, target, _ = source_and_targets()
    start_audience_change(target.id, Action.COPY_CAMPAIGN, source.id)
    return "campaign_audience"


def check_import(run: JobRun, mailbox) -> None:
    assert (run.result["imported"], run.result["updated"]) == (ROWS - 13, 0)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == ROWS - 13
    names = db.session.scalars(select(Company.name)).all()
    assert len(names) == len(set(names)) == 14  # two workers, no company made twice


def check_copy(run: JobRun, mailbox) -> None:
    assert run.result["email"] == {"queued": 900, "suppressed": 100}
    rows = db.session.scalars(select(OutboxMessage.contact_id)).all()
    assert len(rows) == len(set(rows)) == PEOPLE
    wait_for(lambda: len(mailbox.messages) >= 900, 60, "every message sent")
    assert set(Counter(mailbox.recipients()).values()) == {1}


@pytest.mark.parametrize(("start", "chunk_kind", "check"), [
    (start_import, "import_chunk", check_import),
    (start_copy, "campaign_email_chunk", check_copy),
], ids=["import", "campaign_email"])
def test_a_killed_chunk_is_retried_and_the_split_job_completes_once(
        procs, ctx, mailbox, tmp_path, start, chunk_kind, check):  # noqa: F811
    hold = tmp_path / "hold"
    hold.touch()
    kind = start(tmp_path)
    chunked = {"KOHDE_CHUNK_ROWS": str(CHUNK)}
    procs.start("worker", env={**chunked, "KOHDE_PAUSE_AT": f"{chunk_kind}.before_commit",
                               "KOHDE_PAUSE_FILE": str(hold)})
    procs.start("worker", env=chunked)
    procs.start("scheduler", env=chunked)
    reached = tmp_path / "hold.reached"
    wait_for(reached.exists, 60, "a chunk reached its commit")
    os.kill(int(reached.read_text()), signal.SIGKILL)
    hold.unlink()  # the retry passes straight through
    wait_for(lambda: latest(kind).finished, 120, "the split job ended")
    run = latest(kind)
    assert run.status == JobStatus.DONE, run.error
    chunks = db.session.scalars(select(JobRun).where(JobRun.parent_id == run.id)).all()
    killed = [c for c in chunks if c.status == JobStatus.FAILED]
    assert len(killed) == 1 and killed[0].error.startswith(WORKER_LOST), killed
    retries = [c for c in chunks if c.retry_of_id == killed[0].id]
    assert [(r.attempt, r.status) for r in retries] == [(2, JobStatus.DONE)]
    assert len({c.dedupe_key for c in chunks}) == len(chunks) - 1 == 10
    assert run.progress_done == run.progress_total
    check(run, mailbox)
