"""CSV import of contacts: every good row imported, every bad row reported with its line.

Rows are validated one by one (that is what validation is), then written a
chunk at a time with multi-row statements: companies created set-based,
contacts matched on their normalised email (updated) or inserted. Each chunk
commits with the job's progress, so a crash loses at most the chunk under way
and a rerun of the same file updates what already landed.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from . import csv_cells
from .base import db, utcnow
from .companies import Company
from .contacts import Contact, ContactKind, search_text
from .dialect import one_writer
from .text import name_key
from .users import User

COLUMNS = (
    "first_name", "last_name", "email", "company", "owner_email", "status", "email_opt_out",
    "kind", "phone", "language", "city", "title",
)
REQUIRED = ("email",)
# File column → contact column, for the plain text fields.
TEXT_FIELDS = ("first_name", "last_name", "phone", "language", "city", "title", "status")
TRUE_WORDS = {"1", "true", "yes", "y", "x", "kyllä", "k", "ja", "j", "igen", "i"}
FALSE_WORDS = {"0", "false", "no", "n", "ei", "e", "nej", "nem", ""}
CHUNK_ROWS = 5000
SNIFF_BYTES = 64 * 1024


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (missing, empty, not CSV, no email column)."""


def _max_length(column: str) -> int:
    return Contact.__table__.c[column].type.length


def _company_max_length() -> int:
    return Company.__table__.c["name"].type.length


@dataclass
class ParsedRow:
    """One valid row, ready to write."""

    line: int
    email_key: str
    values: dict


@dataclass
class Outcome:
    """What the import did, for the job result and the CLI's last line."""

    imported: int = 0
    updated: int = 0
    rejected: int = 0
    companies_created: int = 0
    lines: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    kept_existing: int = 0  # rows naming a contact the import may not update


def data_dir(sub: str) -> Path:
    """A folder under the installation's data directory (created when missing)."""
    path = Path(current_app.config["KOHDE_DATA_DIR"]) / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


NOT_CSV = _l("save it from your spreadsheet as CSV UTF-8")
# Zip (xlsx, ods), OLE (xls), PDF, PNG, JPEG, GIF: files people pick by mistake.
BINARY_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")


def check_file(path: Path) -> None:
    """Refuse a missing, empty or binary file with a message a person understands.

    Only the first line decides: a NUL or bad bytes further down are that row's problem
    (the row is rejected with its line), not the file's.
    """
    if not path.is_file():
        raise ImportFileError(f"{path.name}: " + _("no such file"))
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise ImportFileError(f"{path.name}: " + _("the file is empty"))
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(f"{path.name}: " + _("this file is UTF-16 text, not UTF-8; "
                                                   "%(advice)s", advice=NOT_CSV))
    first_line = head.split(b"\n", 1)[0]
    # A binary file has NULs on many of its "lines"; a text file with one broken row has
    # them on that row only, and that row is rejected on its own (the docstring's rule).
    lines = head.split(b"\n")
    with_nul = sum(1 for line in lines if b"\x00" in line)
    binary = b"\x00" in first_line or with_nul > max(3, len(lines) // 10)
    if binary or head.startswith(BINARY_MAGIC):
        raise ImportFileError(
            f"{path.name}: " + _("this is not a CSV file (it contains binary data, e.g. a "
                                 "spreadsheet); %(advice)s", advice=NOT_CSV)
        )


def store_upload(stream, filename: str | None) -> Path:
    """Keep an uploaded file under uploads/ for the job; refuse what cannot be a CSV."""
    name = filename or "upload.csv"
    if not name.lower().endswith((".csv", ".txt")):
        raise ImportFileError(f"{name}: " + _("only .csv files can be imported"))
    path = data_dir("uploads") / f"{uuid.uuid4().hex}.csv"
    with path.open("wb") as out:
        while chunk := stream.read(1024 * 1024):
            out.write(chunk)
    try:
        check_file(path)
    except ImportFileError as exc:
        path.unlink()
        raise ImportFileError(str(exc).replace(path.name, name)) from None
    return path


def _readable(value: str) -> str:
    """A field as a person can read it: bytes that were not UTF-8 shown as \ufffd."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")


def _normalise_header(name: str) -> str:
    return _readable(name).strip().strip("\ufeff").lower().replace(" ", "_").replace("-", "_")


def _dialect(path: Path):
    """The CSV dialect of the file, sniffed from its first line (comma by default)."""
    with path.open("rb") as fh:
        sample = fh.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    try:
        return csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _open_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of (line number, fields) for each data record."""
    check_file(path)
    dialect = _dialect(path)
    # surrogateescape keeps undecodable bytes visible, so a bad row (not the file) is refused.
    fh = path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(fh, dialect)
    try:
        header = next(reader)
    except StopIteration:
        fh.close()
        raise ImportFileError(f"{path.name}: " + _("no header row")) from None
    except csv.Error as exc:
        fh.close()
        raise ImportFileError(
            f"{path.name}: " + _("the header row is not CSV (%(problem)s); %(advice)s",
                                 problem=exc, advice=NOT_CSV)
        ) from None

    def records():
        with fh:
            yield from each_record(reader, reader.line_num + 1, lambda: reader.line_num + 1)

    return [_normalise_header(h) for h in header], records()


def each_record(reader, start: int, next_start: Callable[[], int]
                ) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(line the record starts on, its fields or the CSV error) for each record of
    ``reader``; ``next_start()`` answers where the next one starts."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, exc
        else:
            yield start, fields
        start = next_start()


def _bad_bytes(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _unreadable_cell(header: list[str], fields: list[str]) -> str | None:
    """Why the record cannot be read as text (None when it can): a cell with bytes that
    are not UTF-8, or with a NUL character (PostgreSQL stores neither)."""
    for i, value in enumerate(fields):
        column = header[i] if i < len(header) else _("column %(n)s", n=i + 1)
        if _bad_bytes(value):
            return f"{column}: " + _("not valid UTF-8 text; save the file as CSV UTF-8")
        if "\x00" in value:
            return f"{column}: " + _("contains a NUL character (binary data), which cannot be "
                                     "stored")
    return None


def _parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(_("email_opt_out must be yes/no, true/false or 1/0, not %(value)s",
                       value=repr(raw)))


def _too_long(length: int, limit: int) -> str:
    return _("%(length)s characters, at most %(limit)s fit", length=length, limit=limit)


class RowValidator:
    """Turns one record into a ParsedRow or raises ValueError with the reason."""

    def __init__(self, header: list[str], owners: dict[str, int]):
        self.header = header
        self.owners = owners
        self.seen: dict[str, int] = {}  # email key → first line, for duplicates in one file

    def parse(self, line: int, fields: list[str]) -> ParsedRow:
        """Validate one record; the error message names the column and the problem."""
        if len(fields) > len(self.header):
            raise ValueError(_("%(fields)s fields, but the header has %(header)s",
                               fields=len(fields), header=len(self.header)))
        if problem := _unreadable_cell(self.header, fields):
            raise ValueError(problem)
        raw = dict(zip(self.header, fields + [""] * (len(self.header) - len(fields)), strict=True))
        email = raw.get("email", "").strip()
        if not email:
            raise ValueError("email: " + _("required, but empty"))
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError("email: " + _("%(email)s is not a valid address (%(problem)s)",
                                           email=repr(email), problem=exc)) from None
        if len(email) > _max_length("email"):
            raise ValueError("email: " + _too_long(len(email), _max_length("email")))
        key = email.lower()
        if key in self.seen:
            raise ValueError("email: " + _("%(email)s is already on line %(line)s of this file",
                                           email=email, line=self.seen[key]))
        values: dict = {"email": email}
        for column in TEXT_FIELDS:
            if column in raw:
                value = raw[column].strip()
                if len(value) > _max_length(column):
                    raise ValueError(f"{column}: " + _too_long(len(value), _max_length(column)))
                values[column] = value or None
        if "kind" in raw:
            kind = raw["kind"].strip().lower()
            if kind and kind not in set(ContactKind):
                raise ValueError("kind: " + _("must be contact or lead, not %(value)s",
                                              value=repr(raw["kind"])))
            values["kind"] = kind or None
        if "email_opt_out" in raw:
            opt_out = raw["email_opt_out"].strip()
            values["email_opt_out"] = _parse_bool(opt_out) if opt_out else None
        if "owner_email" in raw:
            owner = raw["owner_email"].strip().lower()
            if owner and owner not in self.owners:
                raise ValueError("owner_email: " + _("no CRM user has the email %(email)s",
                                                     email=repr(owner)))
            values["owner_id"] = self.owners.get(owner)
        if "company" in raw:
            company = raw["company"].strip()
            if len(company) > _company_max_length():
                raise ValueError("company: " + _too_long(len(company), _company_max_length()))
            values["company"] = company or None
        self.seen[key] = line
        return ParsedRow(line=line, email_key=key, values=values)


def _company_ids(names: list[str]) -> tuple[dict[str, int], int]:
    """Ids by name key (models.text.name_key) for ``names``, creating the missing companies
    set-based. The one place the import matches companies: the key is computed in Python
    for the file and stored for the table, so "Ääni Oy" and "ÄÄNI  OY" are one company."""
    if not names:
        return {}, 0
    by_key: dict[str, str] = {}
    for name in names:  # in file order: the first spelling of a new company is kept
        by_key.setdefault(name_key(name), " ".join(name.split()))

    def lookup() -> dict[str, int]:
        rows = db.session.execute(
            select(Company.name_key, func.min(Company.id))
            .where(Company.name_key.in_(list(by_key)))
            .group_by(Company.name_key)
        )
        return dict(rows.all())

    found = lookup()
    if len(found) == len(by_key):
        return found, 0
    # Chunks of a split import run side by side: one at a time may look again and create
    # what is still missing, committed at once (before the chunk's contacts), so the lock
    # is held for this step only and the next chunk finds them.
    one_writer(Company.__table__)
    found = lookup()
    missing = [{"name": by_key[k]} for k in by_key if k not in found]
    if missing:
        db.session.execute(insert(Company), missing)  # name_key: the column's default
        found = lookup()
    db.session.commit()
    return found, len(missing)


KEPT_EXISTING = ("already a contact: this import may only add new contacts (only an admin's "
                 "import updates existing ones)")


def _write_chunk(rows: list[ParsedRow], outcome: Outcome, update_existing: bool = True,
                 report=None) -> None:
    """Insert the new contacts and update the known ones (or, with ``update_existing``
    off, report them and leave them as they are), a few statements per chunk."""
    names = list(dict.fromkeys(r.values["company"] for r in rows if r.values.get("company")))
    companies, created = _company_ids(names)
    existing = set(
        db.session.scalars(
            select(Contact.email_key)
            .where(Contact.email_key.in_([r.email_key for r in rows]))
            .distinct()
        )
    )
    now = utcnow()
    inserts, updates = [], []
    for row in rows:
        values = dict(row.values)
        if "company" in values:
            name = values.pop("company")
            values["company_id"] = companies[name_key(name)] if name else None
        if row.email_key in existing and not update_existing:
            report.writerow([row.line, KEPT_EXISTING])
            outcome.kept_existing += 1
        elif row.email_key in existing:
            updates.append({"key": row.email_key, **values})
        else:
            # New contacts take the model defaults for what the file leaves empty.
            inserts.append({k: v for k, v in values.items() if v is not None})
    if inserts:
        # One column set for the whole batch (executemany needs it), defaults filled in.
        columns = {k for row in inserts for k in row}
        defaults = {c.key: c.default.arg for c in Contact.__table__.c if c.key in columns
                    and c.default is not None and not callable(c.default.arg)}
        batch = [{c: row.get(c, defaults.get(c)) for c in columns} for row in inserts]
        for row in batch:
            row.update(created_at=now, updated_at=now)
        db.session.execute(insert(Contact), batch)
    if updates:
        # Empty cells keep the stored value: an import never blanks out data.
        columns = [c for c in updates[0] if c != "key"]
        stmt = (
            update(Contact.__table__)
            .where(Contact.__table__.c.email_key == bindparam("key"))
            .values(
                updated_at=now,
                **{c: func.coalesce(bindparam(c), Contact.__table__.c[c]) for c in columns},
            )
        )
        db.session.connection().execute(stmt, updates)
        _refresh_search_text([u["key"] for u in updates])
    outcome.companies_created += created
    outcome.imported += len(inserts)
    outcome.updated += len(updates)


def _refresh_search_text(keys: list[str]) -> None:
    """Recompute the search column of updated contacts from what they hold now (an empty
    cell kept the stored name, so only the database knows the final one)."""
    table = Contact.__table__
    rows = db.session.execute(
        select(table.c.id, table.c.first_name, table.c.last_name, table.c.email)
        .where(table.c.email_key.in_(keys))
    ).all()
    if rows:
        db.session.connection().execute(
            update(table).where(table.c.id == bindparam("key"))
            .values(search_text=bindparam("text")),
            [{"key": r.id, "text": search_text(r.first_name, r.last_name, r.email)} for r in rows],
        )


def _write_or_isolate(rows: list[ParsedRow], outcome: Outcome, report,
                      update_existing: bool = True) -> None:
    """Write a chunk; if the database refuses it, write its rows one by one so that only
    the refused rows are lost (each reported with its line and the database's reason)."""
    kept_before = outcome.kept_existing
    try:
        _write_chunk(rows, outcome, update_existing, report)
        return
    except (DataError, IntegrityError):
        db.session.rollback()  # the chunk before this one is committed: nothing else is lost
        outcome.kept_existing = kept_before  # counted again row by row
    for row in rows:
        try:
            _write_chunk([row], outcome, update_existing, report)
            db.session.commit()
        except (DataError, IntegrityError) as exc:
            db.session.rollback()
            reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else "refused"
            report.writerow([row.line, _("the database refused this row: %(reason)s",
                                         reason=reason)])
            outcome.rejected += 1


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))


def run_import(path: Path, progress: Callable[[int, int], None] | None = None,
               report_path: Path | None = None, update_existing: bool = True) -> dict:
    """Import ``path``; return counts and where the report of rejected rows is.
    ``update_existing`` off (a user's import): contacts already there are left as they are
    and listed in the report.

    ``progress(done, total)`` (a job's) commits each chunk with its progress; without it
    each chunk is committed plainly.
    """
    header, records = _open_rows(path)
    if "email" not in header:
        raise ImportFileError(
            f"{path.name}: " + _("the header has no 'email' column (found: %(found)s); is this "
                                 "a CSV of contacts with a header row?", found=", ".join(header))
        )
    outcome = Outcome(ignored_columns=[h for h in header if h not in COLUMNS])
    total = max(_count_lines(path) - 1, 0)
    validator = RowValidator(header, _owners())
    report_path = report_path or data_dir("reports") / f"import-{uuid.uuid4().hex[:12]}.csv"
    with report_path.open("w", encoding="utf-8", errors="replace", newline="") as report_fh:
        report = csv_cells.writer(report_fh)
        report.writerow(["line", "reason", *header])
        _import_records(records, validator, report, outcome, update_existing,
                        lambda line: _commit(progress, total if line is None else line, total))
    return _result(outcome, update_existing, report_path=str(report_path))


def _owners() -> dict[str, int]:
    """CRM users by lower-case email: who an ``owner_email`` cell may name."""
    return {email.lower(): uid
            for email, uid in db.session.execute(select(User.email, User.id)).all()}


def _import_records(records, validator: RowValidator, report, outcome: Outcome,
                    update_existing: bool, step: Callable[[int | None], None]) -> None:
    """Validate and write ``records`` a chunk of CHUNK_ROWS at a time; ``step(last line)``
    after each chunk written and ``step(None)`` at the end commit (with progress)."""
    chunk: list[ParsedRow] = []
    for line, fields in records:
        if isinstance(fields, csv.Error):
            report.writerow([line, _("unreadable CSV: %(problem)s", problem=fields)])
            outcome.rejected += 1
            continue
        if not any(f.strip() for f in fields):
            continue  # blank lines are not rows
        outcome.lines += 1
        try:
            chunk.append(validator.parse(line, fields))
        except ValueError as exc:
            report.writerow([line, _readable(str(exc)), *map(_readable, fields)])
            outcome.rejected += 1
        if len(chunk) >= CHUNK_ROWS:
            _write_or_isolate(chunk, outcome, report, update_existing)
            chunk = []
            step(line)
    if chunk:
        _write_or_isolate(chunk, outcome, report, update_existing)
    step(None)


def _result(outcome: Outcome, update_existing: bool, **more) -> dict:
    result = {
        "imported": outcome.imported,
        "updated": outcome.updated,
        "rejected": outcome.rejected,
        "companies_created": outcome.companies_created,
        "rows": outcome.lines,
        **more,
    }
    if outcome.ignored_columns:
        result["ignored_columns"] = outcome.ignored_columns
    if not update_existing:
        result["kept_existing"] = outcome.kept_existing
    return result


def _commit(progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if progress is None:
        db.session.commit()
    else:
        progress(done, total)  # commits the chunk together with the progress


def read_report(path: str | Path) -> list[dict]:
    """The rejected rows of a finished import, as dicts (line, reason, original columns)."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))
