"""Demo data at scale: Finnish, Swedish and Hungarian contacts with realistic flaws.

Faker makes small pools of names once; rows are then combined from the pools
with a seeded ``random.Random``, so a million contacts cost seconds, and the
same seed gives the same data. About 3 % of the emails repeat an earlier one
with different case or stray spaces (the duplicates campaigns must clean),
about 5 % are opted out. Every company name is distinct (a pool name, then the
same with a number), every generated email too. Rows are generated in chunks and go
in with COPY on PostgreSQL and multi-row executemany on SQLite, companies and
contacts both.
"""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from faker import Faker
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import select, text

from models import Company, Role, User, db
from models.contacts import search_text
from models.text import fold, name_key

LOCALES = {  # locale: (share of contacts, language code, email domains)
    "fi_FI": (0.60, "fi", ["example.fi", "posti.example.fi", "yritys.example.fi"]),
    "sv_SE": (0.25, "sv", ["example.se", "foretag.example.se"]),
    "hu_HU": (0.15, "hu", ["example.hu", "ceg.example.hu"]),
}
STATUSES = ["active"] * 14 + ["prospect"] * 4 + ["customer"] * 3 + ["inactive"]
INDUSTRIES = ["Retail", "Manufacturing", "IT", "Health care", "Education", "Logistics",
              "Construction", "Finance", "Public sector", "Energy"]
CONTACT_COLUMNS = [
    "kind", "first_name", "last_name", "email", "phone", "language", "city", "status",
    "email_opt_out", "company_id", "owner_id", "search_text", "created_at", "updated_at",
]
COMPANY_COLUMNS = ["name", "name_key", "city", "industry", "size", "owner_id", "created_at",
                   "updated_at"]
COMPANY_SIZES = [5, 12, 40, 120, 300, 1500]
CHUNK = 50_000
POOL = 400


def ascii_fold(text: str) -> str:
    """Lower-case ASCII for an email local part: 'Väinö Öberg' → 'vaino oberg'."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).lower().replace(" ", "")


def _unique(names) -> list[str]:
    """Distinct names in the order Faker made them.

    Not ``list(set(...))``: a set's order follows string hashes, which Python
    randomises per process, so the same seed would give other data next run.
    """
    return list(dict.fromkeys(names))


class Pools:
    """Names, cities and companies per locale, made once by Faker."""

    def __init__(self, seed: int):
        self.by_locale = {}
        for index, locale in enumerate(LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed + index)
            firsts = _unique(fake.first_name() for _ in range(POOL))
            lasts = _unique(fake.last_name() for _ in range(POOL))
            self.by_locale[locale] = {
                "first": [(n, ascii_fold(n), fold(n)) for n in firsts],
                "last": [(n, ascii_fold(n), fold(n)) for n in lasts],
                "city": _unique(fake.city() for _ in range(POOL // 4)),
                "company": _unique(fake.company() for _ in range(POOL)),
            }


def _variant(rng: random.Random, email: str) -> str:
    # The same address as a person would mistype it: other case, stray spaces.
    choice = rng.randrange(3)
    if choice == 0:
        return email.upper()
    if choice == 1:
        return email.capitalize() + " "
    return " " + email


def _seed_users(count: int) -> list[int]:
    existing = db.session.scalars(
        select(User.id).where(User.email.like("owner%@example.com")).order_by(User.id)
    )
    ids = list(existing)
    for n in range(len(ids) + 1, count + 1):
        user = User(email=f"owner{n}@example.com", name=f"Owner {n}", role=Role.USER)
        db.session.add(user)
        db.session.flush()
        ids.append(user.id)
    db.session.commit()
    return ids[:count]


def _company_rows(rng: random.Random, pools: Pools, count: int, owners: list[int],
                  stamp: str):
    # (name, name_key, city, industry, size, owner_id, created_at, updated_at); a pool name
    # is used once as it is, then with a number, so every company name is distinct.
    locales = list(LOCALES)
    chosen = rng.choices(range(len(locales)), [LOCALES[loc][0] for loc in locales], k=count)
    by_index = [pools.by_locale[loc] for loc in locales]
    used: set[str] = set()
    for n, index in enumerate(chosen):
        pool = by_index[index]
        name = rng.choice(pool["company"])
        if name in used:
            name = f"{name} {n}"
        used.add(name)
        yield (name, name_key(name), rng.choice(pool["city"]), rng.choice(INDUSTRIES),
               rng.choice(COMPANY_SIZES), rng.choice(owners) if owners else None, stamp, stamp)


def _contact_rows(rng, pools, start, count, companies, owners, emails_so_far, now, marks):
    # One chunk of contact rows as tuples in CONTACT_COLUMNS order, drawn column by column
    # (``choices(k=…)`` draws a whole column in one call, several times faster than a
    # choice per row); per row only the names, the email and its search text. The names'
    # folded forms come from the pools. ``marks``: the database's true, false and NULL.
    true, false, null = marks
    postgres = true == "t"  # the marks say which database the rows are for
    locales = list(LOCALES)
    picks = rng.choices(range(len(locales)), [LOCALES[loc][0] for loc in locales], k=count)
    by_index = [(LOCALES[loc][1], LOCALES[loc][2], pools.by_locale[loc]) for loc in locales]
    rand = rng.random
    remembered = len(emails_so_far)
    firsts, lasts, emails, searched, languages, cities = [], [], [], [], [], []
    for n, index in zip(range(start, start + count), picks, strict=True):
        language, domains, pool = by_index[index]
        names = pool["first"]
        first, first_ascii, first_fold = names[int(rand() * len(names))]
        names = pool["last"]
        last, last_ascii, last_fold = names[int(rand() * len(names))]
        if remembered and rand() < 0.03:
            email = _variant(rng, emails_so_far[int(rand() * remembered)])
            searched.append(search_text(first, last, email))
        else:
            email = f"{first_ascii}.{last_ascii}{n}@{domains[int(rand() * len(domains))]}"
            searched.append(f"{first_fold} {last_fold} {email}")
            if remembered < 200_000:
                emails_so_far.append(email)
                remembered += 1
        firsts.append(first)
        lasts.append(last)
        emails.append(email)
        languages.append(language)
        cities.append(pool["city"][int(rand() * len(pool["city"]))])
    created = _stamps(rng, now, count, postgres)
    with_company = ([c if rand() < 0.9 else null for c in rng.choices(companies, k=count)]
                    if companies else [null] * count)
    return zip(
        rng.choices(["lead", "contact"], [15, 85], k=count), firsts, lasts, emails,
        [f"+{p}" for p in rng.choices(range(10**9, 10**10), k=count)], languages, cities,
        rng.choices(STATUSES, k=count), rng.choices([true, false], [5, 95], k=count),
        with_company, rng.choices(owners, k=count) if owners else [null] * count, searched,
        created, created, strict=True,
    )


def _stamps(rng: random.Random, now: datetime, count: int, postgres: bool) -> list[str]:
    # ``count`` creation moments over the two years before today, written the way each
    # database stores them (UTCDateTime: naive UTC text on SQLite): a day and a time of
    # day drawn apart (formatting a million datetimes would cost seconds).
    suffix = "+00" if postgres else ".000000"
    days = [(now.date() - timedelta(days=d)).isoformat() for d in range(1, 2 * 365 + 1)]
    times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}"
             for s in range(0, 24 * 3600, 36)]
    return [f"{day} {moment}" for day, moment in zip(rng.choices(days, k=count),
                                                     rng.choices(times, k=count), strict=True)]


@contextmanager
def _loader(table: str, columns: list[str]):
    """A function that loads a chunk of row tuples into ``table``, for as long as the block
    runs; the caller commits after it.

    PostgreSQL: one COPY in text form for every chunk, written from a queue by psycopg's
    writer thread, so the server ingests one chunk while Python makes the next. Our
    values hold no tab, newline or backslash (names from Faker's pools, generated
    emails), so nothing needs escaping. SQLite: a multi-row executemany per chunk (its
    type affinity turns the text marks into its integers).
    """
    connection = db.session.connection().connection.driver_connection
    names = ", ".join(columns)
    if db.engine.dialect.name != "postgresql":
        marks = ", ".join("?" for _ in columns)
        cursor = connection.cursor()
        yield lambda rows: cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        return
    line = "\t".join(["%s"] * len(columns)) + "\n"
    with connection.cursor() as cur:
        with cur.copy(f"COPY {table} ({names}) FROM STDIN",
                      writer=QueuedLibpqWriter(cur)) as copy:
            yield lambda rows: copy.write("".join([line % row for row in rows]))


# Below this many new rows the indexes stay: keeping them up costs less than a rebuild.
REBUILD_AT = 100_000


@contextmanager
def indexes_built_after(connection, table: str, adding: int):
    """Load ``adding`` rows into ``table`` inside this block; on PostgreSQL, when they are
    at least ``REBUILD_AT`` and at least as many as the table holds, its secondary indexes
    are dropped first and built again after the load, in the same transaction.

    Why: keeping four trigram GIN indexes up row by row made a million contacts take
    ~100 s; loading bare and building each index once takes a third of that. Unique
    indexes and the primary key stay (they guard the load). The definitions are read
    from the catalogue, so the rebuilt indexes are the migrations' own. The drop locks
    the table until the commit, as a seed of a fresh installation can afford; the caller
    commits.
    """
    if connection.dialect.name != "postgresql" or adding < REBUILD_AT:
        yield
        return
    held = connection.execute(text(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT :adding) AS held"),
        {"adding": adding}).scalar_one()
    if held >= adding:
        yield
        return
    indexes = connection.execute(text(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
        "JOIN pg_class AS c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisunique "
        "ORDER BY c.relname"), {"table": table}).all()
    for name, _definition in indexes:
        connection.execute(text(f'DROP INDEX "{name}"'))
    yield
    for _name, definition in indexes:
        connection.execute(text(definition))


def _last_id(model) -> int:
    return db.session.scalar(select(db.func.coalesce(db.func.max(model.id), 0)))


def seed_demo(
    contacts: int,
    companies: int | None = None,
    users: int = 10,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Add ``contacts`` contacts, ``companies`` companies and ``users`` owners; return counts.

    Generated in chunks of ``CHUNK`` rows and loaded with COPY on PostgreSQL (one per
    table, fed chunk by chunk), multi-row inserts on SQLite; ``progress`` is told after
    each chunk, the commit comes at the end.
    """
    began = time.perf_counter()
    rng = random.Random(seed)
    pools = Pools(seed)
    owner_ids = _seed_users(users)
    postgres = db.engine.dialect.name == "postgresql"
    now = datetime.now(UTC).replace(microsecond=0)
    marks = ("t", "f", "\\N") if postgres else (1, 0, None)
    company_count = contacts // 20 if companies is None else companies
    first_company = _last_id(Company)
    rows = list(_company_rows(rng, pools, company_count, owner_ids,
                              _stamps(rng, now, 1, postgres)[0]))
    connection = db.session.connection()
    with (indexes_built_after(connection, "companies", len(rows)),
          _loader("companies", COMPANY_COLUMNS) as load):
        for start in range(0, len(rows), CHUNK):
            load([row[:5] + (marks[2] if row[5] is None else row[5],) + row[6:]
                  for row in rows[start : start + CHUNK]])
    db.session.commit()
    # In id order: rng.choices over this list must see the same list every run.
    company_ids = list(db.session.scalars(
        select(Company.id).where(Company.id > first_company).order_by(Company.id)))
    emails: list[str] = []
    with (indexes_built_after(db.session.connection(), "contacts", contacts),
          _loader("contacts", CONTACT_COLUMNS) as load):
        for start in range(0, contacts, CHUNK):
            count = min(CHUNK, contacts - start)
            load(_contact_rows(rng, pools, start, count, company_ids, owner_ids, emails, now,
                               marks))
            if progress:
                progress(start + count, contacts)
    db.session.commit()
    return {
        "contacts": contacts,
        "companies": len(company_ids),
        "users": len(owner_ids),
        "seconds": time.perf_counter() - began,
    }
