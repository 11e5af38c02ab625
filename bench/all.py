"""Every bench at one size, one after the other, then one table of every operation.

``make bench-all SIZE=1000000`` (or ``python bench/all.py --size N --database-url URL``).
Each bench runs as its own process on the same database (each wipes it first) and
appends its lines to a summary file (``bench/table.py``); at the end the summary is
printed with the load average, since on a shared machine the seconds say more about
the neighbours than the ratios do.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from bench.table import SUMMARY_ENV, print_summary  # noqa: E402


def bench_arguments(size: int, postgres: bool) -> list[tuple[str, list[str]]]:
    """(script, its size options) for every bench that has a floor, in the order run.

    The contact benches take N; the email bench sends 1,200 messages per setup to a sink
    that answers like a remote relay (messages per second do not depend on N; its Redis
    is REDIS_URL, flushed); the
    scheduler bench has its own scale (actions, not contacts); the split bench imports N
    rows and queues the email of N/2 members in 20 and 10 chunks. chaos.py measures
    recovery times, not ratios, and runs by itself (``make chaos``).
    """
    benches = [
        ("seed", ["--contacts", str(size)]),
        ("groups", ["--contacts", str(size)]),
        ("campaigns", ["--contacts", str(size)]),
        ("activities", ["--contacts", str(size)]),
        ("bulk", ["--contacts", str(size)]),
        ("outbox_send", ["--messages", "1200"]),
        ("schedules", ["--actions", "10000"]),
        # its workers are `kohde worker` processes on REDIS_URL (default db 1)
        ("split", ["--rows", str(size), "--members", str(max(size // 2, 1)),
                   "--chunk", str(max(size // 20, 1))]),
    ]
    if postgres:  # its floors are PostgreSQL SQL
        benches.append(("automations", ["--contacts", str(size),
                                        "--due", str(max(1000, min(size // 10, 100_000)))]))
    return benches


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Size, database and which benches."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="contacts per bench (N)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="a kohde_bench… PostgreSQL database, wiped by every bench "
                             "[default: DATABASE_URL, else temporary SQLite files]")
    parser.add_argument("--only", help="comma-separated bench names (default: all)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benches, stream their output, print the summary; non-zero if one failed."""
    args = parse_args(argv)
    postgres = bool(args.database_url and args.database_url.startswith("postgres"))
    benches = bench_arguments(args.size, postgres)
    if args.only:
        wanted = set(args.only.split(","))
        benches = [b for b in benches if b[0] in wanted]
    failed = []
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", prefix="kohde-bench-") as summary:
        env = {**os.environ, SUMMARY_ENV: summary.name}
        began = time.perf_counter()
        print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for name, options in benches:
            command = [sys.executable, str(HERE / f"{name}.py"), *options]
            if args.database_url:
                command += ["--database-url", args.database_url]
            print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
            if subprocess.run(command, env=env).returncode != 0:
                failed.append(name)
        records = [json.loads(line) for line in summary.read().splitlines() if line]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n=== summary: {args.size:,} contacts, {time.perf_counter() - began:,.0f} s, "
          f"load average at the end {load}")
    if records:
        print_summary(records)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
