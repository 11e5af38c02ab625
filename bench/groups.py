"""How fast a target group refreshes and counts, next to the raw-SQL floor and a naive ORM loop.

One run, one fresh schema, N seeded contacts (`kohde seed`'s data) and one group,
"language is fi" (about 60 % of the seed). On the same data, in order:

* floor, first fill — ``INSERT INTO target_group_members SELECT :g, id, :now
  FROM contacts WHERE language = 'fi'`` into an empty table: what the database
  needs to write the members, with nothing checked;
* floor, no change — the cheapest SQL that proves nothing changed: the anti-join
  ``DELETE`` (members that no longer match) and the anti-join ``INSERT`` (matches
  not yet members) as hand-written text, both touching no row;
* refresh, first fill / no change — ``models.groups.refresh.refresh(group)`` into an empty
  table, then again on unchanged data: compiled conditions, the two anti-joins,
  the counts, the group's row, the commit;
* naive — the loop a first attempt would write: load the matching contacts as
  objects, ``session.add(TargetGroupMember(...))`` per one, one commit; on at
  most 20,000 rows, its rows/s extrapolates;
* live counts — ``count_matches`` (what the group editor shows as you type) for
  three simple trees, each next to a hand-written ``SELECT count(*)``.

Each of these but the naive loop runs --rounds times (floor and refresh taking
turns) and the fastest run counts.

Before each "no change" run the members table is vacuumed and analysed (on
PostgreSQL) as autovacuum would have done by the time anyone refreshes again.

It wipes its database like bench/seed.py: PostgreSQL only in a database named
``kohde_bench…`` or with --force. See bench/README.md.
"""

from __future__ import annotations

import argparse
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
    count_contacts,
    database_arguments,
)
from bench.table import Line, print_table  # noqa: E402
from models import Contact, TargetGroup, TargetGroupMember, UTCDateTime, db, utcnow  # noqa: E402
from models.groups.queries import count_matches  # noqa: E402
from models.groups.refresh import refresh  # noqa: E402
from models.seed import seed_demo  # noqa: E402

NAIVE = "naive: session.add per member"
LANGUAGE_FI = {"all": [{"field": "language", "op": "eq", "value": "fi"}]}
FLOOR_FILL = """
INSERT INTO target_group_members (group_id, contact_id, added_at)
SELECT :g, id, :now FROM contacts WHERE language = 'fi'
"""
FLOOR_UNCHANGED = (
    """DELETE FROM target_group_members
       WHERE group_id = :g AND NOT EXISTS (
         SELECT 1 FROM contacts c WHERE c.id = target_group_members.contact_id
                                    AND c.language = 'fi')""",
    """INSERT INTO target_group_members (group_id, contact_id, added_at)
       SELECT :g, c.id, :now FROM contacts c
       WHERE c.language = 'fi' AND NOT EXISTS (
         SELECT 1 FROM target_group_members m WHERE m.group_id = :g AND m.contact_id = c.id)""",
)
# Live counts: (label, tree, hand-written count per dialect).
FIND = {"postgresql": "strpos", "sqlite": "instr"}
COUNTS = [
    ("language is fi", LANGUAGE_FI, "SELECT count(*) FROM contacts WHERE language = 'fi'"),
    (
        "company size ≥ 100",
        {"all": [{"field": "company.size", "op": "gte", "value": 100}]},
        "SELECT count(*) FROM contacts c JOIN companies co ON co.id = c.company_id "
        "WHERE co.size >= 100",
    ),
    (
        "email domain is example.fi",
        {"all": [{"field": "email_domain", "op": "eq", "value": "example.fi"}]},
        "SELECT count(*) FROM contacts "
        "WHERE substr(email_key, {find}(email_key, '@') + 1) = 'example.fi'",
    ),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: size, database and what may be wiped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to seed (N)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each measurement; the fastest counts"
    )
    return database_arguments(parser).parse_args(argv)


def run_sql(*statements: str, **params) -> tuple[float, list[int]]:
    """Run statements in one transaction; seconds taken and each statement's rowcount."""
    began = time.perf_counter()
    counts = []
    for statement in statements:
        query = text(statement)
        if ":now" in statement:  # a UTC timestamp in the form each database stores
            query = query.bindparams(bindparam("now", type_=UTCDateTime()))
        counts.append(db.session.execute(query, params).rowcount)
    db.session.commit()
    return time.perf_counter() - began, counts


def member_count(group_id: int) -> int:
    """Stored members of the group."""
    return db.session.scalar(
        select(func.count()).select_from(TargetGroupMember)
        .where(TargetGroupMember.group_id == group_id)
    )


def empty_members() -> None:
    """Every fill starts from an empty members table (fresh files on PostgreSQL)."""
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE target_group_members"))
        else:
            conn.execute(text("DELETE FROM target_group_members"))


def settle() -> None:
    """What autovacuum does between two refreshes: visibility map and statistics (PostgreSQL)."""
    db.session.remove()
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE target_group_members"))


def timed_refresh(group_id: int) -> tuple[float, dict]:
    """``refresh`` as the job calls it (minus Redis and the run row); seconds, result."""
    db.session.remove()
    group = db.session.get(TargetGroup, group_id)
    began = time.perf_counter()
    result = refresh(group)
    return time.perf_counter() - began, result


def naive_fill(group_id: int, rows: int) -> float:
    """Matching contacts as objects, a TargetGroupMember per one, one commit; seconds."""
    session = db.session
    began = time.perf_counter()
    now = utcnow()
    contacts = session.scalars(
        select(Contact).where(Contact.language == "fi").order_by(Contact.id).limit(rows)
    ).all()
    for contact in contacts:
        session.add(TargetGroupMember(group_id=group_id, contact_id=contact.id, added_at=now))
    session.commit()
    seconds = time.perf_counter() - began
    session.remove()
    return seconds


def best_of(runs: int, measure) -> tuple[float, int]:
    """The fastest of ``runs`` timings of ``measure()`` (a count) and the count it gave."""
    best, value = float("inf"), None
    for _ in range(runs):
        began = time.perf_counter()
        value = measure()
        best = min(best, time.perf_counter() - began)
    return best, value


def measure(group_id: int, naive_rows: int, dialect: str, rounds: int) -> list[Line]:
    """Every line of the table.

    Fills and refreshes run ``rounds`` times, floor and refresh taking turns, and the
    fastest time of each counts: on a shared machine a single run measures the neighbours.
    """
    db.session.execute(text("SELECT count(*), count(language) FROM contacts"))  # warm the cache
    db.session.commit()
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(seconds, best.get(name, float("inf")))

    members = None
    for _ in range(rounds):
        empty_members()
        seconds, (members,) = run_sql(FLOOR_FILL, g=group_id, now=utcnow())
        keep("floor fill", seconds)
        settle()
        seconds, changed = run_sql(*FLOOR_UNCHANGED, g=group_id, now=utcnow())
        assert changed == [0, 0], changed
        keep("floor unchanged", seconds)

        empty_members()
        seconds, result = timed_refresh(group_id)
        assert result == {"added": members, "removed": 0, "members": members}, result
        keep("refresh fill", seconds)
        settle()
        seconds, result = timed_refresh(group_id)
        assert result == {"added": 0, "removed": 0, "members": members}, result
        keep("refresh unchanged", seconds)

    empty_members()
    rows = min(naive_rows, members)
    naive_seconds = naive_fill(group_id, rows)
    assert member_count(group_id) == rows
    empty_members()

    fill, unchanged = "floor: INSERT … SELECT", "floor: anti-join DELETE + INSERT"
    lines = [
        Line(fill, members, best["floor fill"], naive=NAIVE),
        Line(unchanged, members, best["floor unchanged"], naive=NAIVE),
        Line("refresh: first fill", members, best["refresh fill"], fill, NAIVE),
        Line("refresh: no change", members, best["refresh unchanged"], unchanged, NAIVE),
        Line(NAIVE, rows, naive_seconds, fill, NAIVE),
    ]
    for label, tree, raw in COUNTS:
        raw_sql = text(raw.format(find=FIND[dialect]))
        floor_seconds, floor_count = best_of(rounds, lambda q=raw_sql: db.session.scalar(q))
        seconds, count = best_of(rounds, lambda t=tree: count_matches(t))
        assert count == floor_count, (label, count, floor_count)
        floor_label = f"floor: count {label}"
        lines.append(Line(floor_label, count, floor_seconds))
        lines.append(Line(f"count_matches: {label}", count, seconds, floor_label))
    return lines


def main(argv: list[str] | None = None) -> None:
    """Fresh schema, seed, the group, the measurements, the table; clean up unless --keep."""
    args = parse_args(argv)
    with bench_database(args) as (app, url):
        dialect = db.engine.dialect.name

        began = time.perf_counter()
        seed_demo(args.contacts, None, USERS, SEED)
        # Someone else's run in the same database would double the data unnoticed.
        assert count_contacts() == args.contacts, "another process is writing this database"
        group = TargetGroup(name="half", criteria=LANGUAGE_FI)
        db.session.add(group)
        db.session.commit()
        group_id = group.id
        if dialect == "postgresql":
            # An installed database has statistics (autovacuum); a just-seeded one has none.
            db.session.remove()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        print(f"seeded {args.contacts:,} contacts in {time.perf_counter() - began:.0f} s; "
              f"group: language is fi\n")

        lines = measure(group_id, min(args.contacts, NAIVE_MAX), dialect, args.rounds)
        print_table("groups", dialect, lines)
        naive = next(line for line in lines if line.operation == NAIVE)
        members = lines[0].rows
        print(f"\n{members:,} members of {args.contacts:,} contacts "
              f"({members / args.contacts:.0%}); the naive loop extrapolated to {members:,} "
              f"members: {naive.per_row * members:,.0f} s.")


if __name__ == "__main__":
    main()
