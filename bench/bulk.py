"""How fast a bulk change of owner runs on "all contacts that match a filter", next to the
raw-SQL floor and a naive ORM loop.

One run, one fresh schema, seeded contacts (`kohde seed`'s data: created over two years,
owners spread over ten users). The selection is the contact list's filter "Created at
greater than <a year ago>" (about half of them), as "select all N that match" stores it.
Then, alternating so every round changes every selected row (each round gives them to a
user who owns none of them):

* floor — the same work by hand in one transaction: ``INSERT INTO bulk_undo … SELECT``
  of the matching rows with their old owner, ``UPDATE contacts … WHERE id IN`` the
  recorded rows, ``INSERT INTO audit_log … SELECT`` one entry per row with
  ``{"owner_id": [old, new]}`` (json_build_object / json_object): the same undo and audit
  records the job writes;
* job   — ``jobs.runs.execute`` of a ``bulk_set`` run row, as a worker runs it (minus
  Redis): the bounds query, chunks of 50,000 ids, per chunk the three statements and a
  progress commit;
* naive — the ORM loop a first attempt would write (load each matching contact, add its
  undo row, set the owner; the session's audit hook writes the audit entries) on at most
  20,000 contacts; its rows/s extrapolates.

It wipes its database like bench/seed.py: PostgreSQL only in a database named
``kohde_bench…`` or with --force. See bench/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Not this folder on the path (bench/email.py would shadow the standard library), and
# this checkout's code first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, func, select, text  # noqa: E402

from bench.campaigns import settle  # noqa: E402
from bench.seed import NAIVE_MAX, SEED, USERS, bench_database, database_arguments  # noqa: E402
from bench.table import Line, print_table  # noqa: E402
from jobs.runs import dedupe_key, execute  # noqa: E402
from models import (  # noqa: E402
    BulkUndo,
    Contact,
    JobRun,
    JobStatus,
    Role,
    User,
    UTCDateTime,
    db,
    utcnow,
)
from models.seed import seed_demo  # noqa: E402
from models.selections import Selection, count  # noqa: E402

ROUNDS = 2  # per way; the table shows the median
JSON = {"postgresql": "json_build_object('owner_id', json_build_array(u.old_int, :new))",
        "sqlite": "json_object('owner_id', json_array(u.old_int, :new))"}
FLOOR = [
    "INSERT INTO bulk_undo (job_id, row_id, old_int) "
    "SELECT :job, c.id, c.owner_id FROM contacts c "
    "WHERE c.created_at > :since AND c.owner_id IS DISTINCT FROM :new",
    "UPDATE contacts SET owner_id = :new, updated_at = :now "
    "WHERE id IN (SELECT row_id FROM bulk_undo WHERE job_id = :job)",
    "INSERT INTO audit_log (at, user_id, action, table_name, record_id, summary, changes) "
    "SELECT :now, :user, 'update', 'contacts', CAST(u.row_id AS VARCHAR), :summary, {json} "
    "FROM bulk_undo u WHERE u.job_id = :job",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: size, database and what may be wiped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to seed (N)")
    return database_arguments(parser).parse_args(argv)


def sql(statement: str):
    """text() whose :now and :since bind as UTC timestamps on both databases."""
    query = text(statement.format(json=JSON[db.engine.dialect.name]))
    for name in ("now", "since"):
        if f":{name}" in statement:
            query = query.bindparams(bindparam(name, type_=UTCDateTime()))
    return query


class Bench:
    """The users each round gives the selection to, and the runs made so far."""

    def __init__(self, since, acting_user: int, dialect: str):
        self.since, self.acting_user, self.dialect = since, acting_user, dialect
        self.runs = 0
        self.selection = Selection.from_params({
            "area": "contacts",
            "filters": [["created_at", "gt", since.replace(tzinfo=None).isoformat(" ")]]})

    def new_owner(self) -> int:
        """A user who owns nothing yet: every round changes every selected row."""
        self.runs += 1
        user = User(email=f"bulk-owner{self.runs}@example.com", name=f"Owner {self.runs}",
                    role=Role.USER)
        db.session.add(user)
        db.session.commit()
        return user.id

    def floor(self) -> tuple[float, int]:
        """The three statements by hand, one transaction; seconds and rows changed."""
        new = self.new_owner()
        params = {"job": f"bulk_set-floor-{self.runs}", "since": self.since, "new": new,
                  "now": utcnow(), "user": self.acting_user,
                  "summary": f"owner changed in bulk (job bulk_set-floor-{self.runs})"}
        settle()
        began = time.perf_counter()
        changed = db.session.execute(sql(FLOOR[0]), params).rowcount
        for statement in FLOOR[1:]:
            db.session.execute(sql(statement), params)
        db.session.commit()
        return time.perf_counter() - began, changed

    def job(self) -> tuple[float, int]:
        """One bulk_set run as a worker runs it; seconds and rows changed."""
        new = self.new_owner()
        params = {"selection": self.selection.to_params(), "change": "contacts.owner_id",
                  "value": new, "note": ""}
        key = dedupe_key("bulk_set", params)
        run = JobRun(id=f"{key.replace(':', '-')}-{self.runs}", kind="bulk_set", dedupe_key=key,
                     params=params, user_id=self.acting_user, status=JobStatus.QUEUED)
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        settle()
        db.session.remove()  # the worker starts with an empty session
        began = time.perf_counter()
        execute(run_id)
        seconds = time.perf_counter() - began
        run = db.session.get(JobRun, run_id)
        assert run.status == JobStatus.DONE, run.error
        return seconds, run.result["changed"]

    def naive(self, rows: int) -> tuple[float, int]:
        """Each matching contact as an object: its undo row added, its owner set; the
        session's audit hook writes one entry per contact. Seconds and rows changed."""
        new, job_id = self.new_owner(), f"bulk_set-naive-{self.runs}"
        session = db.session
        settle()
        began = time.perf_counter()
        contacts = session.scalars(select(Contact).where(Contact.created_at > self.since)
                                   .order_by(Contact.id).limit(rows)).all()
        for contact in contacts:
            session.add(BulkUndo(job_id=job_id, row_id=contact.id, old_int=contact.owner_id))
            contact.owner_id = new
        session.commit()
        seconds = time.perf_counter() - began
        db.session.remove()
        return seconds, len(contacts)


def main(argv: list[str] | None = None) -> None:
    """Fresh schema, seed, the rounds, the table; clean up unless --keep."""
    args = parse_args(argv)
    with bench_database(args):
        dialect = db.engine.dialect.name
        began = time.perf_counter()
        seed_demo(args.contacts, None, USERS, SEED)
        acting = User(email="bench@example.com", name="Bench", role=Role.ADMIN)
        db.session.add(acting)
        db.session.commit()
        if dialect == "postgresql":
            db.session.execute(text("ANALYZE"))  # an installed database has statistics
            db.session.commit()
        since = db.session.scalar(select(func.max(Contact.created_at))) - timedelta(days=365)
        bench = Bench(since, acting.id, dialect)
        selected = count(bench.selection)
        print(f"seeded {args.contacts:,} contacts in {time.perf_counter() - began:.0f} s; the "
              f"filter selects {selected:,} ({selected / args.contacts:.0%})\n")
        floors, jobs = [], []
        for number in range(ROUNDS):
            # Taking turns at going first: the second of a pair meets the first's dead rows
            # (and autovacuum busy with them).
            pair = (bench.floor, bench.job) if number % 2 == 0 else (bench.job, bench.floor)
            first, second = pair[0](), pair[1]()
            floor, job = (first, second) if number % 2 == 0 else (second, first)
            floors.append(floor)
            jobs.append(job)
            assert floor[1] == job[1] == selected, (floor, job, selected)
        naive_seconds, naive_rows = bench.naive(min(NAIVE_MAX, selected))
        floor_s = statistics.median(s for s, _ in floors)
        job_s = statistics.median(s for s, _ in jobs)
        floor_line, naive_line = ("floor: undo INSERT, UPDATE, audit INSERT",
                                  "naive: ORM object per contact")
        print_table("bulk", dialect, [
            Line(floor_line, selected, floor_s, naive=naive_line),
            Line(naive_line, naive_rows, naive_seconds, floor_line, naive_line),
            Line("job: bulk_set, chunks of 50,000 ids", selected, job_s, floor_line, naive_line),
        ])
        print(f"(naive loop extrapolated to {selected:,} rows: "
              f"{naive_seconds / max(naive_rows, 1) * selected:,.0f} s)")
        print(f"(floor and job: the median of {ROUNDS} rounds each; rounds: floor "
              f"{', '.join(f'{s:.1f}' for s, _ in floors)} s, job "
              f"{', '.join(f'{s:.1f}' for s, _ in jobs)} s)")


if __name__ == "__main__":
    main()
