"""One table for every bench: operation, rows, seconds, rows/s, ratio, vs naive.

* ratio    — this line's time per row ÷ its floor's time per row (1.00× is the floor,
             lower is better; the issue's goal for a job is ≤ 1.3×);
* vs naive — the naive loop's time per row ÷ this line's (how many times faster than
             the loop a first attempt would write), where the bench has one.

Every bench builds a list of ``Line`` and calls ``print_table``. When the environment
names a summary file (``KOHDE_BENCH_SUMMARY``, set by ``bench/all.py``), each line is
also appended there as one JSON object, so ``make bench-all`` prints one table of every
operation of every bench.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

SUMMARY_ENV = "KOHDE_BENCH_SUMMARY"


@dataclass
class Line:
    """One measured operation.

    ``floor`` names the line it is compared with (a line whose operation starts with
    "floor" is its own floor); ``naive`` names the naive loop's line, if any. ``note``
    is printed after the numbers (e.g. the fastest of several rounds).
    """

    operation: str
    rows: int
    seconds: float
    floor: str | None = None
    naive: str | None = None
    note: str = ""

    @property
    def per_row(self) -> float:
        """Seconds per row (a line of zero rows counts as one)."""
        return self.seconds / max(self.rows, 1)


def ratios(lines: list[Line]) -> list[tuple[Line, float | None, float | None]]:
    """Each line with its ratio to its floor and how many times faster than naive it is."""
    by_name = {line.operation: line for line in lines}
    out = []
    for line in lines:
        floor = by_name.get(line.floor) if line.floor else None
        if floor is None and line.operation.startswith("floor"):
            floor = line
        naive = by_name.get(line.naive) if line.naive else None
        ratio = line.per_row / floor.per_row if floor and floor.per_row else None
        faster = naive.per_row / line.per_row if naive and line.per_row else None
        out.append((line, ratio, faster))
    return out


def print_table(bench: str, database: str, lines: list[Line], unit: str = "rows") -> None:
    """Print the bench's table; append its lines to the summary file when one is named."""
    rows = ratios(lines)
    width = max(len("operation"), *(len(line.operation) for line in lines))
    has_naive = any(faster is not None for _, _, faster in rows)
    header = (f"{'operation':<{width}} {unit:>10} {'seconds':>9} {unit + '/s':>11} "
              f"{'ratio':>8}" + (f" {'vs naive':>9}" if has_naive else ""))
    print(header)
    print("-" * len(header))
    for line, ratio, faster in rows:
        rate = line.rows / line.seconds if line.seconds else 0
        text = (f"{line.operation:<{width}} {line.rows:>10,} {line.seconds:>9.3f} "
                f"{rate:>11,.0f} {fmt_ratio(ratio):>8}")
        if has_naive:
            text += f" {fmt_ratio(faster, 1):>9}"
        print(text + (f"  {line.note}" if line.note else ""))
    print("ratio: time per row ÷ the floor's (1.00× is the floor; lower is better)"
          + ("; vs naive: how many times faster than the naive loop per row." if has_naive
             else "."))
    append_summary(bench, database, rows)


def fmt_ratio(value: float | None, digits: int = 2) -> str:
    """``1.23×``, or ``—`` where there is nothing to compare with."""
    return "—" if value is None else f"{value:,.{digits}f}×"


def append_summary(bench: str, database: str, rows) -> None:
    """One JSON object per line in the summary file named by the environment, if any."""
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for line, ratio, faster in rows:
            out.write(json.dumps({
                "bench": bench, "database": database, "operation": line.operation,
                "rows": line.rows, "seconds": line.seconds, "ratio": ratio,
                "vs_naive": faster,
            }) + "\n")


def print_summary(records: list[dict]) -> None:
    """Every operation of every bench in one table (``make bench-all``)."""
    width = max(len("operation"), *(len(r["operation"]) for r in records))
    header = (f"{'bench':<14} {'operation':<{width}} {'rows':>10} {'seconds':>9} "
              f"{'rows/s':>11} {'ratio':>8} {'vs naive':>9}")
    print(header)
    print("-" * len(header))
    for r in records:
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0
        print(f"{r['bench']:<14} {r['operation']:<{width}} {r['rows']:>10,} "
              f"{r['seconds']:>9.3f} {rate:>11,.0f} {fmt_ratio(r['ratio']):>8} "
              f"{fmt_ratio(r['vs_naive'], 1):>9}")
