"""Demo data at scale: Finnish, Swedish and Hungarian contacts with realistic flaws.

Faker makes small pools of names once; rows are then combined from the pools
with a seeded ``random.Random``, so a million contacts cost seconds, and the
same seed gives the same data. About 3 % of the emails repeat an earlier one
with different case or stray spaces (the duplicates campaigns must clean),
about 5 % are opted out. Rows go in with COPY on PostgreSQL and multi-row
executemany on SQLite.
"""

from __future__ import annotations

import random
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from faker import Faker
from sqlalchemy import insert, select

from models import Company, Role, User, db
from models.contacts import search_text

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
                "first": [(n, ascii_fold(n)) for n in firsts],
                "last": [(n, ascii_fold(n)) for n in lasts],
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


def _seed_companies(rng: random.Random, pools: Pools, count: int, owners: list[int]) -> list[int]:
    now = datetime.now(UTC)
    rows = []
    locales = list(LOCALES)
    weights = [LOCALES[loc][0] for loc in locales]
    for n in range(count):
        pool = pools.by_locale[rng.choices(locales, weights)[0]]
        name = rng.choice(pool["company"])
        rows.append({
            "name": name if n < len(pool["company"]) else f"{name} {n}",
            "city": rng.choice(pool["city"]),
            "industry": rng.choice(INDUSTRIES),
            "size": rng.choice([5, 12, 40, 120, 300, 1500]),
            "owner_id": rng.choice(owners) if owners else None,
            "created_at": now,
            "updated_at": now,
        })
    first = db.session.scalar(select(db.func.coalesce(db.func.max(Company.id), 0)))
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(Company), rows[start : start + CHUNK])
    db.session.commit()
    # In id order: rng.choice over this list must see the same list every run.
    added = select(Company.id).where(Company.id > first).order_by(Company.id)
    return list(db.session.scalars(added))


def _contact_rows(rng, pools, start, count, companies, owners, emails_so_far, now):
    locales = list(LOCALES)
    weights = [LOCALES[loc][0] for loc in locales]
    two_years = 2 * 365 * 24 * 3600
    for n in range(start, start + count):
        locale = rng.choices(locales, weights)[0]
        _, language, domains = LOCALES[locale]
        pool = pools.by_locale[locale]
        first, first_ascii = rng.choice(pool["first"])
        last, last_ascii = rng.choice(pool["last"])
        if emails_so_far and rng.random() < 0.03:
            email = _variant(rng, rng.choice(emails_so_far))
        else:
            email = f"{first_ascii}.{last_ascii}{n}@{rng.choice(domains)}"
            if len(emails_so_far) < 200_000:
                emails_so_far.append(email)
        created = now - timedelta(seconds=rng.randrange(two_years))
        yield (
            "lead" if rng.random() < 0.15 else "contact",
            first,
            last,
            email,
            f"+{rng.randrange(10**9, 10**10)}",
            language,
            rng.choice(pool["city"]),
            rng.choice(STATUSES),
            rng.random() < 0.05,
            rng.choice(companies) if companies and rng.random() < 0.9 else None,
            rng.choice(owners) if owners else None,
            search_text(first, last, email),
            created,
            created,
        )


def _copy_postgres(rows) -> None:
    conn = db.session.connection().connection.driver_connection  # the psycopg connection
    with conn.cursor() as cur:
        with cur.copy(f"COPY contacts ({', '.join(CONTACT_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _insert_sqlite(rows) -> None:
    cursor = db.session.connection().connection.driver_connection.cursor()
    marks = ", ".join("?" for _ in CONTACT_COLUMNS)
    # UTCDateTime stores naive UTC text on SQLite; write the same form.
    cursor.executemany(
        f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) VALUES ({marks})",
        (r[:-2] + (r[-2].strftime("%Y-%m-%d %H:%M:%S.%f"),) * 2 for r in rows),
    )


def seed_demo(
    contacts: int,
    companies: int | None = None,
    users: int = 10,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Add ``contacts`` contacts, ``companies`` companies and ``users`` owners; return counts."""
    began = time.perf_counter()
    rng = random.Random(seed)
    pools = Pools(seed)
    owner_ids = _seed_users(users)
    company_ids = _seed_companies(
        rng, pools, contacts // 20 if companies is None else companies, owner_ids
    )
    write = _copy_postgres if db.engine.dialect.name == "postgresql" else _insert_sqlite
    now = datetime.now(UTC).replace(microsecond=0)
    emails: list[str] = []
    for start in range(0, contacts, CHUNK):
        count = min(CHUNK, contacts - start)
        write(_contact_rows(rng, pools, start, count, company_ids, owner_ids, emails, now))
        db.session.commit()
        if progress:
            progress(start + count, contacts)
    return {
        "contacts": contacts,
        "companies": len(company_ids),
        "users": len(owner_ids),
        "seconds": time.perf_counter() - began,
    }
