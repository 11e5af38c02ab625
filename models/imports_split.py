"""A big CSV import cut into line ranges that several workers import side by side.

Parsing and validating are Python work, so an import of more rows than KOHDE_CHUNK_ROWS
is split (jobs/imports.py fans the ranges out, docs/architecture.md rule 4). One pass over
the file (:func:`plan_split`) finds where each range starts (line number and byte offset,
on a record boundary, so a quoted field over several lines is never cut) and which emails
the file repeats; each range is then imported on its own (:func:`import_range`) with the
same checks and writes as a whole-file import, its rejected rows in a report part that
:func:`merge_reports` puts together in line order.

One rule differs from a whole-file import, because a range cannot see the rows before
it: of an email the file repeats, the first line that has it is the one imported (if it
is valid); every later line is rejected as "already on line N", even when line N was
itself rejected for another reason.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _

from . import csv_cells
from .imports import (
    COLUMNS,
    NOT_CSV,
    ImportFileError,
    Outcome,
    RowValidator,
    _dialect,
    _import_records,
    _normalise_header,
    _owners,
    _result,
    check_file,
    each_record,
)

BOM = b"\xef\xbb\xbf"


@dataclass
class SplitPlan:
    """Where each range starts, how many data lines there are, the report's header."""

    ranges: list[dict]  # {"first_line", "end_line", "offset"}: lines first…end-1
    rows: int
    header: list[str]


def _lines_from(fh, offset: int, first_line: int, counter: list[int]):
    """Text lines of a binary file from ``offset``; ``counter`` holds [next line number,
    byte offset after the lines handed out], so a CSV reader's record boundaries are
    known exactly (csv.reader asks for one line at a time and never reads ahead)."""
    fh.seek(offset)
    counter[:] = [first_line, offset]
    for raw in fh:
        if counter[1] == 0 and raw.startswith(BOM):
            raw = raw[len(BOM):]
            counter[1] = len(BOM)
        counter[0] += 1
        counter[1] += len(raw)
        yield raw.decode("utf-8", "surrogateescape")


def _records(fh, dialect, offset: int, first_line: int, counter: list[int]
             ) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(line the record starts on, fields or the CSV error) from ``offset`` on."""
    reader = csv.reader(_lines_from(fh, offset, first_line, counter), dialect)
    return each_record(reader, first_line, lambda: counter[0])


def plan_split(path: Path, size: int, duplicates_path: Path) -> SplitPlan | None:
    """Cut the file into ranges of ``size`` records; None when it has no more than
    ``size`` records (it is imported whole, as always). Writes the repeated emails
    (email key → the first line that has it) to ``duplicates_path`` for the ranges."""
    check_file(path)
    with path.open("rb") as fh:
        data_lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) - 1
    if data_lines <= size:
        return None
    dialect = _dialect(path)
    counter: list[int] = [1, 0]
    with path.open("rb") as fh:
        records = _records(fh, dialect, 0, 1, counter)
        try:
            _line, header = next(records)
        except StopIteration:
            raise ImportFileError(f"{path.name}: " + _("no header row")) from None
        if isinstance(header, csv.Error):
            raise ImportFileError(f"{path.name}: " + _(
                "the header row is not CSV (%(problem)s); %(advice)s", problem=header,
                advice=NOT_CSV)) from None
        header = [_normalise_header(h) for h in header]
        if "email" not in header:
            return None  # the whole-file import refuses it with the full message
        column = header.index("email")
        first: dict[str, int] = {}
        repeated: dict[str, int] = {}
        ranges = [{"first_line": counter[0]}]
        count = 0
        for line, fields in records:
            if count == size:  # this record starts the next range
                ranges[-1]["end_line"] = line
                ranges.append({"first_line": line})
                count = 0
            count += 1
            if isinstance(fields, csv.Error) or column >= len(fields):
                continue
            key = fields[column].strip().lower()
            if key:
                seen = first.setdefault(key, line)
                if seen != line:
                    repeated[key] = seen
        ranges[-1]["end_line"] = counter[0]
    if len(ranges) == 1:  # more lines than records (quoted line breaks): one range after all
        return None
    _offsets(ranges, path)
    duplicates_path.write_text(json.dumps(repeated), encoding="utf-8")
    return SplitPlan(ranges=ranges, rows=max(data_lines, 0), header=header)


def _offsets(ranges: list[dict], path: Path) -> None:
    """Each range's byte offset: where its first line begins (a range starts on a record's
    first line, so counting lines finds it)."""
    wanted = {r["first_line"]: r for r in ranges}
    line, offset = 1, 0
    with path.open("rb") as fh:
        for raw in fh:
            if line in wanted:
                wanted[line]["offset"] = offset
            line += 1
            offset += len(raw)


def import_range(path: Path, first_line: int, end_line: int, offset: int,
                 duplicates_path: Path, part_path: Path, update_existing: bool,
                 progress: Callable[[int, int], None]) -> dict:
    """Import the records starting on lines ``first_line`` … ``end_line - 1`` (from byte
    ``offset``): rejected rows to ``part_path`` (no header), ``progress(done, total)`` in
    lines after each chunk (it commits). Repeating it is harmless: contacts are matched
    on their email, and the part is written anew."""
    dialect = _dialect(path)
    with path.open("rb") as fh:
        header = next(_records(fh, dialect, 0, 1, [1, 0]))[1]
    header = [_normalise_header(h) for h in header]
    validator = RowValidator(header, _owners())
    repeated = json.loads(duplicates_path.read_text(encoding="utf-8"))
    validator.seen.update({key: line for key, line in repeated.items() if line < first_line})
    outcome = Outcome(ignored_columns=[h for h in header if h not in COLUMNS])
    total = end_line - first_line
    counter: list[int] = [first_line, offset]
    with path.open("rb") as fh, part_path.open("w", encoding="utf-8", errors="replace",
                                               newline="") as part:
        report = csv_cells.writer(part)
        records = _until(_records(fh, dialect, offset, first_line, counter), end_line)
        _import_records(records, validator, report, outcome, update_existing,
                        lambda line: progress(total if line is None else line - first_line + 1,
                                              total))
    result = _result(outcome, update_existing)
    result.pop("ignored_columns", None)  # the parent has them once
    return result


def _until(records, end_line: int):
    """Stop at the first record of the next range (never read it)."""
    for line, fields in records:
        if line >= end_line:
            return
        yield line, fields


def write_report_header(report_path: Path, header: list[str]) -> None:
    """The report's first row; the ranges' parts follow it (:func:`merge_reports`)."""
    with report_path.open("w", encoding="utf-8", newline="") as fh:
        csv_cells.writer(fh).writerow(["line", "reason", *header])


def part_path(report_path: Path, seq: int) -> Path:
    """Where range ``seq`` writes its rejected rows."""
    return report_path.with_name(f"{report_path.name}.part{seq}")


def merge_reports(report_path: Path, ranges: int, left_out: Iterable[int] = ()) -> None:
    """Put the ranges' parts after the report's header row, in line order, and remove them
    (``left_out``: ranges whose part is not to be trusted, removed unread). A part that is
    missing (its range failed before it began one) adds nothing. Harmless to repeat: a
    report that already has rows after its header was merged before, so its parts are
    only removed (and with no rows anywhere, merging again adds none)."""
    skipped = set(left_out)
    parts = [part_path(report_path, seq) for seq in range(ranges)]
    if not _has_rows(report_path):
        merged = report_path.with_name(report_path.name + ".merging")
        with report_path.open("rb") as head, merged.open("wb") as out:
            out.write(head.readline())
            for seq, part in enumerate(parts):
                if seq in skipped or not part.exists():
                    continue
                with part.open("rb") as fh:
                    while block := fh.read(1 << 20):
                        out.write(block)
        os.replace(merged, report_path)
    for part in parts:
        part.unlink(missing_ok=True)


def _has_rows(report_path: Path) -> bool:
    with report_path.open("rb") as fh:
        fh.readline()
        return bool(fh.read(1))
