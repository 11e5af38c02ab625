"""CSV the product writes: cells a spreadsheet would run as a formula are neutralised.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return,
which some spreadsheets skip before looking) is a formula to Excel, LibreOffice
and Google Sheets: ``=HYPERLINK(...)`` in a contact's name would run on the
machine of whoever opens the export. Every CSV Kohde writes (the list exports,
``kohde campaigns members``, the import report, the wizard's report) goes through
:func:`safe_cell`, which prefixes such a cell with ``'`` (OWASP's advice): the
spreadsheet then shows the text as typed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value`` for a CSV cell: text that a spreadsheet would take for a formula gets a
    leading ``'``; numbers, dates and everything else are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable) -> list:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(v) for v in values]


class SafeWriter:
    """``csv.writer`` whose rows are neutralised cell by cell (same ``writerow`` API)."""

    def __init__(self, fh, *args, **kwargs):
        self._writer = csv.writer(fh, *args, **kwargs)

    def writerow(self, row: Iterable):  # noqa: D102
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable]) -> None:  # noqa: D102
        for row in rows:
            self.writerow(row)


def writer(fh, *args, **kwargs) -> SafeWriter:
    """A CSV writer for files people open in a spreadsheet (see the module's doc)."""
    return SafeWriter(fh, *args, **kwargs)
