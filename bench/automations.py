"""Automations at scale: enter, leave and "100k steps due" against raw-SQL floors.

One fresh schema (PostgreSQL: a database named ``kohde_bench…``), N contacts (default
100,000; the issue's size is 1,000,000) made by bench/seed.py's helpers (owners and
companies by ``seed_demo``, the contacts by its INSERT … SELECT floor), then half of them
made leads and one in fifty opted out; a continuous automation whose saved filter
(status = lead) matches that half, with one email-to-contact step sent as the contact's
owner. On the same data, each operation timed against a hand-written statement that
writes the same rows (same unique keys and indexes):

* enter — ``models.automations.enter`` (one INSERT … SELECT from the compiled criteria,
  the re-entry rule, the attempt number) vs. ``INSERT … SELECT … WHERE NOT EXISTS``;
* leave — a tenth of the leads become customers; ``leave`` (one UPDATE … NOT EXISTS over
  the compiled criteria) vs. the same UPDATE written by hand;
* 100k steps due — the tick's step work (``jobs.automations.run_steps``: per batch of
  2,000 one statement that claims with SKIP LOCKED, decides the suppressions in SQL,
  marks the traces and inserts their outbox rows, then a commit) vs. one hand-written
  statement (the traces marked done feeding an INSERT … SELECT into the outbox with the
  same suppression CASE, the waiting period's earlier messages read once) and one UPDATE
  of the held-back traces' outcomes; ours must have written what the floor wrote.

Prints operation, rows, seconds, rows/s and the ratio to the floor (bench/table.py).
The database is reset between the two runs of an operation. No Redis is needed. It wipes
its database like bench/seed.py. ``--contacts 20000`` is the CI-sized run (a few
seconds). See bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from bench.seed import (  # noqa: E402
    USERS,
    bench_database,
    database_arguments,
    references,
    run_floor,
)
from bench.table import Line, print_table  # noqa: E402
from jobs.automations import STEP_BATCH, run_steps  # noqa: E402
from models import (  # noqa: E402
    Automation,
    AutomationStep,
    EmailTemplate,
    SavedFilter,
    StepTrace,
    db,
)
from models.automations import enter, leave, schedule  # noqa: E402
from models.seed import seed_demo  # noqa: E402

NOW = datetime(2027, 5, 3, 6, 0, tzinfo=UTC)  # a Monday morning
DUE = 100_000

# bench/seed.py's floor rows are all 'active' and opted in: half become leads (what the
# automation's filter matches), one in fifty opts out (the step's email holds them back).
SHAPE_SQL = """
UPDATE contacts SET status = CASE WHEN id % 2 = 0 THEN 'lead' ELSE 'customer' END,
                    email_opt_out = id % 50 = 0
"""

ENTER_FLOOR = """
INSERT INTO automation_enrolments (automation_id, contact_id, attempt, entered_at)
SELECT :a, c.id, 1, :now FROM contacts c
WHERE c.status = 'lead'
  AND NOT EXISTS (SELECT 1 FROM automation_enrolments e
                  WHERE e.automation_id = :a AND e.contact_id = c.id)
ON CONFLICT DO NOTHING
"""

LEAVE_FLOOR = """
UPDATE automation_enrolments e SET left_at = :now, left_reason = 'no longer matches'
WHERE e.automation_id = :a AND e.left_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = e.contact_id AND c.status = 'lead')
"""

STEPS_FLOOR = """
WITH due AS (
  UPDATE automation_step_traces
  SET state = 'done', done_at = :now, outcome = 'queued'
  WHERE step_id = :step AND state = 'pending' AND due_at <= :now
  RETURNING enrolment_id, contact_id
),
-- The waiting period's earlier messages, read once (a probe per row would rescan every
-- row this statement inserts: its own rows are invisible to it, but in the index).
recent AS (
  SELECT DISTINCT contact_id FROM outbox_messages
  WHERE template_id = :tpl AND state IN ('queued', 'sending', 'deferred', 'sent')
    AND coalesce(sent_at, created_at) >= :since
)
INSERT INTO outbox_messages (template_id, contact_id, send_key, reason, state,
                             suppressed_reason, to_email, created_at, attempts, sender_mode)
SELECT :tpl, c.id, 'automation:' || d.enrolment_id || ':' || :step, 'automation',
       CASE WHEN w.why IS NULL THEN 'queued' ELSE 'suppressed' END, w.why, c.email, :now, 0,
       'owner'
FROM due d JOIN contacts c ON c.id = d.contact_id
LEFT JOIN recent r ON r.contact_id = c.id
CROSS JOIN LATERAL (SELECT CASE
    WHEN c.email_opt_out THEN 'opted_out'
    WHEN c.email_key IS NULL OR c.email_key = '' THEN 'no_email'
    WHEN c.email_key NOT LIKE '%_@_%._%' OR c.email_key LIKE '% %' THEN 'invalid_email'
    WHEN EXISTS (SELECT 1 FROM suppressed_addresses s WHERE s.email_key = c.email_key)
      THEN 'bounced'
    WHEN r.contact_id IS NOT NULL THEN 'waiting_period'
  END AS why) w
ON CONFLICT DO NOTHING
"""

# The held-back ones: their outcome and reason from the outbox rows just written.
STEPS_FLOOR_SUPPRESSED = """
UPDATE automation_step_traces t SET outcome = 'suppressed', reason = o.suppressed_reason
FROM outbox_messages o
WHERE t.step_id = :step AND t.done_at = :now AND o.template_id = :tpl
  AND o.contact_id = t.contact_id AND o.send_key = 'automation:' || t.enrolment_id || ':' || :step
  AND o.state = 'suppressed'
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Size and the database."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts (N)")
    parser.add_argument("--due", type=int, default=DUE, help="steps due at once")
    parser.add_argument("--batch", type=int, default=STEP_BATCH,
                        help="traces per batch (default: the tick's)")
    args = database_arguments(parser)
    args.set_defaults(database_url="postgresql://postgres@127.0.0.1:5432/kohde_bench_automations")
    return args.parse_args(argv)


def seconds(func) -> float:
    began = time.perf_counter()
    func()
    db.session.commit()
    return time.perf_counter() - began


def analyze() -> None:
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def sql(statement: str, **params) -> None:
    db.session.execute(text(statement), params)


def hashed(statement: str, **params) -> None:
    """A floor with the plan a hand-writer would insist on (no nested loop over a table the
    statistics think is empty), as ours gets it (models.dialect.no_nested_loops)."""
    sql("SET LOCAL enable_nestloop = off")
    sql(statement, **params)


def written() -> list[tuple]:
    """What a steps run wrote, to compare ours with the floor's: the traces done by outcome
    and reason, the outbox rows by state, reason and sender."""
    return [tuple(r) for r in db.session.execute(text(
        "SELECT 'trace', outcome, reason, count(*) FROM automation_step_traces "
        "WHERE state = 'done' GROUP BY outcome, reason UNION ALL "
        "SELECT 'message', state, suppressed_reason || '/' || sender_mode, count(*) "
        "FROM outbox_messages GROUP BY state, suppressed_reason, sender_mode ORDER BY 1, 2, 3"
    )).all()]


def main(argv: list[str] | None = None) -> None:
    """Fresh schema, N contacts, the measurements, the table."""
    args = parse_args(argv)
    with bench_database(args, KOHDE_QUEUE="kohde-bench") as (_app, _url):
        if db.engine.dialect.name != "postgresql":
            sys.exit("bench/automations.py measures PostgreSQL (SKIP LOCKED, the floors' SQL)")
        began = time.perf_counter()
        seed_demo(0, max(args.contacts // 20, 1), USERS, 1)  # owners and companies
        run_floor(args.contacts, references())  # bench/seed.py's INSERT … SELECT of contacts
        sql(SHAPE_SQL)
        db.session.commit()
        template = EmailTemplate(name="Welcome", subject="Hi", body_text="Hello")
        leads = SavedFilter(name="Leads", criteria={"all": [
            {"field": "status", "op": "eq", "value": "lead"}]})
        row = Automation(name="Leads", trigger="filter", saved_filter=leads, active=True,
                         started_at=NOW, activated_at=NOW)
        row.steps.append(AutomationStep(position=1, kind="email_contact", template=template,
                                        delay_days=0, weekdays="1-7",
                                        at_time=clock_time(9, 0)))
        db.session.add_all([template, leads, row])
        db.session.commit()
        analyze()
        matching = args.contacts // 2
        print(f"{args.contacts:,} contacts ({matching:,} leads) in "
              f"{time.perf_counter() - began:.1f} s\n")
        a = {"a": row.id, "now": NOW}
        lines: list[Line] = []

        def measured(name: str, rows: int, ours_s: float, floor_s: float) -> None:
            lines.extend([Line(f"floor: {name}", rows, floor_s),
                          Line(name, rows, ours_s, floor=f"floor: {name}")])

        def reset_enrolments():
            sql("TRUNCATE automation_enrolments CASCADE")
            db.session.commit()
            analyze()

        # enter
        reset_enrolments()
        floor = seconds(lambda: hashed(ENTER_FLOOR, **a))
        reset_enrolments()
        ours = seconds(lambda: enter(row, NOW))
        measured("enter", matching, ours, floor)
        analyze()

        # leave: a tenth of the leads stop matching
        sql("UPDATE contacts SET status = 'customer' WHERE id % 20 = 0")
        db.session.commit()
        analyze()
        leavers = db.session.scalar(text(
            "SELECT count(*) FROM automation_enrolments e JOIN contacts c ON c.id = e.contact_id "
            "WHERE c.status <> 'lead'"))
        floor = seconds(lambda: hashed(LEAVE_FLOOR, **a))
        sql("UPDATE automation_enrolments SET left_at = NULL, left_reason = NULL")
        db.session.commit()
        analyze()
        ours = seconds(lambda: leave(row, NOW))
        measured("leave", leavers, ours, floor)

        # steps due: traces for the open enrolments, args.due of them due now
        made_began = time.perf_counter()
        traced = schedule(row, NOW)
        db.session.commit()
        made = time.perf_counter() - made_began
        step = row.steps[0]
        first = db.session.scalar(select(func.min(StepTrace.id)))
        sql("UPDATE automation_step_traces SET due_at = :later WHERE id >= :cut",
            later=NOW + timedelta(days=30), cut=first + args.due)
        sql("UPDATE automation_step_traces SET due_at = :now WHERE id < :cut", now=NOW,
            cut=first + args.due)
        db.session.commit()
        analyze()
        due = min(args.due, traced)
        since = NOW - timedelta(days=30)

        def reset_steps():
            sql("DELETE FROM outbox_messages")
            sql("UPDATE automation_step_traces SET state = 'pending', done_at = NULL, "
                "outcome = NULL, reason = NULL WHERE state = 'done'")
            db.session.commit()
            analyze()

        def steps_floor():
            params = {"step": step.id, "tpl": template.id, "now": NOW, "since": since}
            sql(STEPS_FLOOR, **params)
            sql(STEPS_FLOOR_SUPPRESSED, **params)

        floor = seconds(steps_floor)
        floored = written()
        reset_steps()

        ours = seconds(lambda: run_steps(row, NOW, args.batch))
        # The same work, neither more nor less: the same traces done with the same outcomes
        # and reasons, the same messages.
        assert written() == floored, (written(), floored)
        assert sum(n for kind, *_rest, n in floored if kind == "message") == due
        measured(f"{due // 1000}k steps due (email)", due, ours, floor)

        print_table("automations", "postgresql", lines)
        print(f"\n(step traces for {traced:,} open enrolments made in {made:.2f} s: one "
              f"INSERT … SELECT per step and entry moment; steps in batches of {args.batch:,})")


if __name__ == "__main__":
    main()
