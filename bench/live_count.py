"""The group editor's live count at scale: p50 / p95 per common tree (issue 17).

Runs on a database that is already seeded (``bench/admin_load.py --reuse`` leaves one,
or `kohde seed`), vacuumed and analysed as autovacuum would have it: each tree is
counted ``--rounds`` times with ``count_matches`` (what the builder's live count calls)
and the table shows the median and the 95th percentile in milliseconds. It only reads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import func, select  # noqa: E402

from models import Contact, db  # noqa: E402
from models.groups.queries import count_matches  # noqa: E402
from webadmin import create_app  # noqa: E402
from webadmin.config import database_url  # noqa: E402

TREES = {  # the conditions people combine most: one to three of them
    "language is fi": [("language", "eq", "fi")],
    "status customer, not opted out": [("status", "eq", "customer"),
                                       ("email_opt_out", "eq", False)],
    "created within 30 days, lead": [("created_at", "within_last_days", 30),
                                     ("kind", "eq", "lead")],
    "company size ≥ 100, language sv": [("company.size", "gte", 100), ("language", "eq", "sv")],
    "owner, status active, language fi": [("owner", "eq", 3), ("status", "eq", "active"),
                                          ("language", "eq", "fi")],
    "lead, not opted out, language hu": [("kind", "eq", "lead"), ("email_opt_out", "eq", False),
                                         ("language", "eq", "hu")],
    "last name starts with Vir": [("last_name", "starts_with", "Vir")],
    "email domain is example.fi": [("email_domain", "eq", "example.fi")],
}


def main(argv: list[str] | None = None) -> None:
    """Count every tree ``--rounds`` times; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.database_url:
        sys.exit("give --database-url (a seeded database)")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url(args.database_url),
                      "SECRET_KEY": "bench"})
    with app.app_context():
        contacts = db.session.scalar(select(func.count()).select_from(Contact))
        print(f"{contacts:,} contacts; {args.rounds} rounds; load average "
              f"{os.getloadavg()[0]:.2f}\n")
        header = f"{'tree':<36} {'matches':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
        print(header)
        print("-" * len(header))
        for name, conditions in TREES.items():
            tree = {"all": [{"field": f, "op": op, "value": v} for f, op, v in conditions]}
            times = []
            for _ in range(args.rounds):
                began = time.perf_counter()
                matches = count_matches(tree)
                times.append((time.perf_counter() - began) * 1000)
                db.session.rollback()
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
            print(f"{name:<36} {matches:>9,} {statistics.median(times):>8.0f} {p95:>8.0f} "
                  f"{times[-1]:>8.0f}")


if __name__ == "__main__":
    main()
