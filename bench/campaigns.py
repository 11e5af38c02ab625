"""How fast audience jobs change a campaign, next to the raw-SQL floor and a naive ORM loop.

One run, one fresh schema, seeded contacts (`kohde seed`'s data: ~3 % repeated
emails in other case or with stray spaces, ~5 % opted out, N/20 companies, 10 %
of contacts without one) and a target group matching about half of them. Then,
in order, on the same data:

1. copy the group into an empty campaign;
2. copy it again (nothing new);
3. dedupe by email (keep the earliest-added member per normalised address);
4. dedupe by company (keep the earliest-added member per company);
5. prune opted-out members.

Each step runs three ways, each on its own campaign, all three in the same state
before the step:

* floor — hand-written SQL that ends in the same rows, undo record included: an
  ``INSERT … SELECT … ON CONFLICT DO NOTHING`` for copies (with ``NOT EXISTS``
  when the campaign has members already; the job chooses the same way); for removals, one
  ``DELETE … RETURNING`` feeding ``INSERT INTO campaign_member_removals`` on
  PostgreSQL, an ``INSERT … SELECT`` and a ``DELETE … IN`` on SQLite. A second
  line shows the bare ``DELETE`` without the undo record;
* job   — ``jobs.runs.execute`` of a ``campaign_audience`` run row, exactly what
  a worker does for it (status, checks, the SQL, counts, the commit), without Redis;
* naive — the ORM loop a first attempt would write (``session.get`` +
  ``session.add`` per member; loading every member and its contact, and per
  member to go ``session.add`` of its removal record for undo and
  ``session.delete``) on at most 20,000 members, taken in the order the step
  groups them so the share of duplicates stays what it is in the big campaign;
  its rows/s extrapolates.

"rows" is what a step looks at: the group's members for copies, the campaign's
members for removals. It wipes its database like bench/seed.py: PostgreSQL only
in a database named ``kohde_bench…`` or with --force. See bench/README.md.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Not this folder on the path: bench/email.py would stand in for the standard library's
# email package. And this checkout's code, even when the installed package is another copy.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, func, select, text  # noqa: E402

from bench.seed import (  # noqa: E402
    NAIVE_MAX,
    SEED,
    USERS,
    bench_database,
    database_arguments,
)
from bench.table import Line  # noqa: E402
from bench.table import print_table as print_table_lines  # noqa: E402
from jobs.runs import dedupe_key, execute  # noqa: E402
from models import (  # noqa: E402
    Campaign,
    CampaignMember,
    CampaignMemberRemoval,
    JobRun,
    JobStatus,
    MemberSource,
    Role,
    TargetGroup,
    User,
    UTCDateTime,
    db,
    utcnow,
)
from models.campaigns.audience import Action, dry_run  # noqa: E402
from models.groups.refresh import refresh  # noqa: E402
from models.seed import seed_demo  # noqa: E402

# Contacts created in the last year: the seed spreads creation over two years, so about half.
HALF = {"all": [{"field": "created_at", "op": "within_last_days", "value": 365}]}

MEMBER_COLUMNS = "campaign_id, contact_id, added_at, added_by_id, source, source_ref, job_id"
REMOVAL_COLUMNS = ("job_id, campaign_id, contact_id, added_at, added_by_id, source, source_ref, "
                   "added_by_job_id")

# Into an empty campaign: nothing to skip, so no anti-join (planned from statistics that
# saw an empty table, an anti-join here can be a nested loop rescanning the rows it adds).
COPY_INTO_EMPTY_SQL = f"""
INSERT INTO campaign_members ({MEMBER_COLUMNS})
SELECT :campaign, g.contact_id, :now, :user, 'group', :source, :job
FROM target_group_members g
WHERE g.group_id = :source
ON CONFLICT DO NOTHING
"""
# Into a campaign that has members: skip them with an anti-join (fresh statistics, so a
# hash or merge anti-join) rather than one failed insert per member.
COPY_SQL = f"""
INSERT INTO campaign_members ({MEMBER_COLUMNS})
SELECT :campaign, g.contact_id, :now, :user, 'group', :source, :job
FROM target_group_members g
WHERE g.group_id = :source
  AND NOT EXISTS (SELECT 1 FROM campaign_members m
                  WHERE m.campaign_id = :campaign AND m.contact_id = g.contact_id)
ON CONFLICT DO NOTHING
"""

# ``SELECT contact_id`` of the members each removal takes away (:campaign's members).
LEAVING = {
    Action.DEDUPE_EMAIL: """
        SELECT contact_id FROM (
          SELECT m.contact_id, row_number() OVER (PARTITION BY c.email_key
                                                  ORDER BY m.added_at, m.contact_id) AS rn
          FROM campaign_members m JOIN contacts c ON c.id = m.contact_id
          WHERE m.campaign_id = :campaign AND c.email_key <> '') ranked
        WHERE rn > 1""",
    Action.DEDUPE_COMPANY: """
        SELECT contact_id FROM (
          SELECT m.contact_id, row_number() OVER (PARTITION BY c.company_id
                                                  ORDER BY m.added_at, m.contact_id) AS rn
          FROM campaign_members m JOIN contacts c ON c.id = m.contact_id
          WHERE m.campaign_id = :campaign AND c.company_id IS NOT NULL) ranked
        WHERE rn > 1""",
    Action.PRUNE_OPTED_OUT: """
        SELECT m.contact_id FROM campaign_members m JOIN contacts c ON c.id = m.contact_id
        WHERE m.campaign_id = :campaign AND c.email_opt_out = true""",
}

DELETE_SQL = """
DELETE FROM campaign_members
WHERE campaign_id = :campaign AND contact_id IN ({leaving})
"""
# PostgreSQL: one statement deletes and records what it deleted.
RECORD_AND_DELETE_PG = f"""
WITH gone AS ({DELETE_SQL} RETURNING {MEMBER_COLUMNS})
INSERT INTO campaign_member_removals ({REMOVAL_COLUMNS})
SELECT :job, campaign_id, contact_id, added_at, added_by_id, source, source_ref, job_id
FROM gone
"""
# SQLite has no DELETE in a WITH: record first, then delete exactly what was recorded.
RECORD_SQLITE = f"""
INSERT INTO campaign_member_removals ({REMOVAL_COLUMNS})
SELECT :job, campaign_id, contact_id, added_at, added_by_id, source, source_ref, job_id
FROM campaign_members WHERE campaign_id = :campaign AND contact_id IN ({{leaving}})
"""
DELETE_RECORDED_SQLITE = """
DELETE FROM campaign_members WHERE campaign_id = :campaign
  AND contact_id IN (SELECT contact_id FROM campaign_member_removals WHERE job_id = :job)
"""

# The order the naive loop's sample is taken in: whole emails / whole companies, so the
# sample has the big campaign's share of duplicates.
NAIVE_ORDER = {
    Action.DEDUPE_EMAIL: "c.email_key, m.contact_id",
    Action.DEDUPE_COMPANY: "c.company_id IS NULL, c.company_id, m.contact_id",
    Action.PRUNE_OPTED_OUT: "m.contact_id",
}
NAIVE_KEY = {
    Action.DEDUPE_EMAIL: lambda c: c.email_key or None,
    Action.DEDUPE_COMPANY: lambda c: c.company_id,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: size, database and what may be wiped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to seed (N)")
    return database_arguments(parser).parse_args(argv)


def sql(statement: str):
    """A text() statement whose :now binds as a UTC timestamp on both databases."""
    query = text(statement)
    if ":now" in statement:
        query = query.bindparams(bindparam("now", type_=UTCDateTime()))
    return query


def run_sql(*statements: tuple[str, dict]) -> float:
    """Run statements in one transaction; seconds taken (from a settled log)."""
    settle()
    began = time.perf_counter()
    bulk_plans()
    for statement, params in statements:
        db.session.execute(sql(statement), params)
    db.session.commit()
    return time.perf_counter() - began


def bulk_plans() -> None:
    """The job plans its bulk statements without nested loops (``no_nested_loops``); the
    floor does too, so both do the same work the same way. Without it the floor's
    dedupe and prune ran as a nested loop per member and "lost" to the job (0.41–0.51×)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL enable_nestloop = off"))


def settle() -> None:
    """Write out what the previous way left in the log before the next one is timed (not
    timed): on SQLite a WAL still holding the last copy's 500,000 rows makes every page
    read of the next statement look there first; on PostgreSQL the checkpoint of those
    dirty pages would otherwise land in the middle of whichever way runs next."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    else:
        db.session.execute(text("CHECKPOINT"))
    db.session.commit()


def run_like_id() -> str:
    """A job id shaped like a real run's (``kind-16 hex digits-n``) for the rows the floor
    and the naive loop write: every member and removal row carries its job's id, and a
    shorter one would make their rows, and the job_id index, smaller than the job's."""
    return f"campaign_audience-{secrets.token_hex(8)}-1"


def member_count(campaign_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(CampaignMember)
                             .where(CampaignMember.campaign_id == campaign_id))


def same_members(a: int, b: int) -> bool:
    """Whether two campaigns hold exactly the same contacts."""
    differ = text("""SELECT count(*) FROM (
        SELECT contact_id FROM campaign_members WHERE campaign_id = :a EXCEPT
        SELECT contact_id FROM campaign_members WHERE campaign_id = :b) d""")
    return member_count(a) == member_count(b) and db.session.scalar(differ, {"a": a, "b": b}) == 0


class Bench:
    """The data and the campaigns one run works on."""

    def __init__(self, user_id: int, group_id: int, dialect: str):
        self.user_id, self.group_id, self.dialect = user_id, group_id, dialect
        names = ("floor", "bare", "job", "naive")
        self.floor, self.bare, self.job, self.naive = (self._campaign(n) for n in names)
        self.runs = 0

    @staticmethod
    def _campaign(name: str) -> int:
        campaign = Campaign(name=f"bench {name}")
        db.session.add(campaign)
        db.session.commit()
        return campaign.id

    def copy_floor(self, campaign: int, empty: bool) -> tuple[float, int]:
        """The hand-written copy; seconds and rows added."""
        params = {"campaign": campaign, "now": utcnow(), "user": self.user_id,
                  "source": self.group_id, "job": run_like_id()}
        statement = COPY_INTO_EMPTY_SQL if empty else COPY_SQL
        settle()
        began = time.perf_counter()
        bulk_plans()
        added = db.session.execute(sql(statement), params).rowcount
        db.session.commit()
        return time.perf_counter() - began, added

    def remove_floor(self, action: Action, campaign: int, record: bool = True) -> float:
        """The hand-written removal, with or without the undo record; seconds."""
        leaving = LEAVING[action]
        params = {"campaign": campaign, "job": run_like_id()}
        if not record:
            return run_sql((DELETE_SQL.format(leaving=leaving), params))
        if self.dialect == "postgresql":
            return run_sql((RECORD_AND_DELETE_PG.format(leaving=leaving), params))
        return run_sql((RECORD_SQLITE.format(leaving=leaving), params),
                       (DELETE_RECORDED_SQLITE, params))

    def run_job(self, action: Action) -> tuple[float, dict]:
        """One audience job as a worker runs it (minus Redis); seconds and its result."""
        self.runs += 1
        params = {"campaign_id": self.job, "action": action.value,
                  "source_id": self.group_id if action == Action.COPY_GROUP else None,
                  "contact_ids": None, "refresh_group": False}
        key = dedupe_key("campaign_audience", params)
        run = JobRun(id=f"{key.replace(':', '-')}-{self.runs}", kind="campaign_audience",
                     dedupe_key=key, params=params, user_id=self.user_id,
                     status=JobStatus.QUEUED)
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
        return seconds, run.result

    def naive_copy(self, rows: int) -> tuple[float, int, int]:
        """``session.get`` to skip members, ``session.add`` per new one, one commit; seconds,
        members looked at, members added."""
        ids = list(db.session.scalars(text(
            "SELECT contact_id FROM target_group_members WHERE group_id = :g "
            "ORDER BY contact_id LIMIT :n"), {"g": self.group_id, "n": rows}))
        session, added, job_id = db.session, 0, run_like_id()
        began = time.perf_counter()
        for contact_id in ids:
            if session.get(CampaignMember, (self.naive, contact_id)) is None:
                session.add(CampaignMember(campaign_id=self.naive, contact_id=contact_id,
                                           added_at=utcnow(), added_by_id=self.user_id,
                                           source=MemberSource.GROUP,
                                           source_ref=self.group_id, job_id=job_id))
                added += 1
        session.commit()
        seconds = time.perf_counter() - began
        db.session.remove()
        return seconds, len(ids), added

    def naive_sample(self, action: Action, rows: int) -> None:
        """The naive campaign := ``rows`` of the job campaign's members, whole groups first."""
        run_sql(
            ("DELETE FROM campaign_members WHERE campaign_id = :naive", {"naive": self.naive}),
            (f"INSERT INTO campaign_members ({MEMBER_COLUMNS}) "
             "SELECT :naive, m.contact_id, m.added_at, m.added_by_id, m.source, m.source_ref, "
             "m.job_id FROM campaign_members m JOIN contacts c ON c.id = m.contact_id "
             f"WHERE m.campaign_id = :job ORDER BY {NAIVE_ORDER[action]} LIMIT :n",
             {"naive": self.naive, "job": self.job, "n": rows}),
        )

    def naive_remove(self, action: Action) -> tuple[float, int]:
        """Every member and its contact as objects; per one to go, ``session.add`` of its
        removal record (what undo puts back, as the job keeps it) and ``session.delete``."""
        session, removed, seen, job_id = db.session, 0, set(), run_like_id()
        began = time.perf_counter()
        members = session.scalars(
            select(CampaignMember).where(CampaignMember.campaign_id == self.naive)
            .order_by(CampaignMember.added_at, CampaignMember.contact_id)
        ).all()
        for member in members:
            contact = member.contact  # one SELECT per member
            if action == Action.PRUNE_OPTED_OUT:
                gone = contact.email_opt_out
            else:
                key = NAIVE_KEY[action](contact)
                gone = key is not None and key in seen
                seen.add(key)
            if gone:  # recorded for undo, as the job does: the same work, done naively
                session.add(CampaignMemberRemoval(
                    job_id=job_id, campaign_id=member.campaign_id,
                    contact_id=member.contact_id, added_at=member.added_at,
                    added_by_id=member.added_by_id, source=member.source,
                    source_ref=member.source_ref, added_by_job_id=member.job_id))
                session.delete(member)
                removed += 1
        session.commit()
        seconds = time.perf_counter() - began
        db.session.remove()
        return seconds, removed


def print_table(steps: list[dict], total: int, dialect: str) -> None:
    """Per step: floor, bare floor (removals), job and naive lines (``bench/table.py``)."""
    lines = []
    for step in steps:
        name = step["name"]
        floor, naive = f"{name}: floor", f"{name}: naive ORM loop"
        lines.append(Line(floor, step["rows"], step["floor"], floor, naive,
                          note=f"{step['changed']:,} changed"))
        if "bare" in step:
            lines.append(Line(f"{name}: floor without undo record", step["rows"], step["bare"],
                              floor, naive))
        lines.append(Line(f"{name}: job", step["rows"], step["job"], floor, naive))
        lines.append(Line(naive, step["naive_rows"], step["naive"], floor, naive,
                          note=f"{step['naive_changed']:,} changed"))
    print_table_lines("campaigns", dialect, lines)
    print(f"\n{total:,} contacts; rows: the members a step looks at.")


def warm_up(bench: Bench) -> None:
    """Fresh statistics and warm caches before a step, the same for every way.

    PostgreSQL plans from statistics, and autovacuum refreshes them a minute or more
    after a bulk change: hand-written SQL planned from stale ones can pick a nested loop
    that is hours away from its floor. Each step starts as on a database autovacuum has
    caught up with (not timed). The reads warm the cache so no way pays for it alone.
    """
    if bench.dialect == "postgresql":
        db.session.execute(text("ANALYZE campaign_members"))
        db.session.execute(text("ANALYZE campaign_member_removals"))
    db.session.execute(text("SELECT count(*) FROM target_group_members WHERE group_id = :g"),
                       {"g": bench.group_id})
    db.session.execute(text("SELECT count(*), count(email_key), count(company_id), "
                            "sum(CASE WHEN email_opt_out THEN 1 ELSE 0 END) FROM contacts"))
    db.session.commit()


def run_steps(bench: Bench, naive_rows: int) -> list[dict]:
    """The five steps, each as floor, bare floor (removals), job and naive; checked."""
    steps = []
    for empty, name in ((True, "copy the group into an empty campaign"),
                        (False, "copy it again (nothing new)")):
        step = {"name": name}
        step["rows"] = db.session.scalar(text(
            "SELECT count(*) FROM target_group_members WHERE group_id = :g"),
            {"g": bench.group_id})
        expected = dry_run(bench.job, Action.COPY_GROUP, bench.group_id)["would_add"]
        warm_up(bench)
        # The job goes right after the floor: each copy grows the table, and a way that
        # inserts into a bigger contact_id index pays for it (the job is never favoured).
        step["floor"], step["changed"] = bench.copy_floor(bench.floor, empty)
        step["job"], result = bench.run_job(Action.COPY_GROUP)
        bench.copy_floor(bench.bare, empty)  # keeps the bare-DELETE campaign in step (not timed)
        assert result["added"] == step["changed"] == expected, (result, step)
        assert same_members(bench.floor, bench.job)
        step["naive"], step["naive_rows"], step["naive_changed"] = bench.naive_copy(naive_rows)
        steps.append(step)
    for action, name in ((Action.DEDUPE_EMAIL, "dedupe by email"),
                         (Action.DEDUPE_COMPANY, "dedupe by company"),
                         (Action.PRUNE_OPTED_OUT, "prune opted-out")):
        step = {"name": name, "rows": member_count(bench.job)}
        expected = dry_run(bench.job, action)["would_remove"]
        bench.naive_sample(action, naive_rows)  # the job campaign's state before the step
        naive_expected = dry_run(bench.naive, action)["would_remove"]
        warm_up(bench)
        step["floor"] = bench.remove_floor(action, bench.floor)
        step["bare"] = bench.remove_floor(action, bench.bare, record=False)
        step["job"], result = bench.run_job(action)
        step["changed"] = result["removed"]
        assert result["removed"] == expected, (result, expected)
        assert member_count(bench.floor) == member_count(bench.bare) == member_count(bench.job)
        assert same_members(bench.floor, bench.job) and same_members(bench.bare, bench.job)
        step["naive_rows"] = member_count(bench.naive)
        step["naive"], step["naive_changed"] = bench.naive_remove(action)
        assert step["naive_changed"] == naive_expected, (step, naive_expected)
        steps.append(step)
    return steps


def main(argv: list[str] | None = None) -> None:
    """Fresh schema, seed, a half group, the five steps, the table; clean up unless --keep."""
    args = parse_args(argv)
    naive_rows = min(args.contacts, NAIVE_MAX)
    with bench_database(args) as (app, url):
        dialect = db.engine.dialect.name

        began = time.perf_counter()
        seed_demo(args.contacts, None, USERS, SEED)
        user = User(email="bench@example.com", name="Bench", role=Role.USER)
        group = TargetGroup(name="Created within a year", criteria=HALF)
        db.session.add_all([user, group])
        db.session.commit()
        members = refresh(group)["members"]
        if dialect == "postgresql":
            # An installed database has statistics (autovacuum); a just-seeded one has none.
            # (SQLite keeps none unless someone runs ANALYZE, so it gets none here either.)
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        bench = Bench(user.id, group.id, dialect)
        print(f"seeded {args.contacts:,} contacts, group of {members:,} "
              f"({members / args.contacts:.0%}) in {time.perf_counter() - began:.0f} s\n")
        print_table(run_steps(bench, naive_rows), args.contacts, dialect)


if __name__ == "__main__":
    main()
