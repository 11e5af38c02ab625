"""`kohde seed` / jobs.seed.seed_demo: realistic demo data with the flaws campaigns meet.

Every test reads back what the seed wrote to the real database (SQLite, or
PostgreSQL from TEST_DATABASE_URL): shares of duplicates and opt-outs, owners,
languages, names, companies, timestamps, and that a seed reproduces its data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from models import Company, Contact, User, db
from models import seed as seed_module
from models.seed import seed_demo

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 3000
COMPANIES = 120
USERS = 8
SEED = 7
NORDIC = set("äöåÄÖÅ")
HUNGARIAN = set("áéíóöőúüűÁÉÍÓÖŐÚÜŰ")


@pytest.fixture
def seeded(ctx):
    """3,000 contacts, 120 companies and 8 owners from seed 7; the seed's result dict."""
    return seed_demo(CONTACTS, COMPANIES, USERS, SEED)


def _rows() -> list[tuple]:
    """Every contact's seeded fields in id order, owner and company by name (ids may differ)."""
    query = (
        select(
            Contact.first_name,
            Contact.last_name,
            Contact.email,
            Contact.kind,
            Contact.language,
            Contact.city,
            Contact.status,
            Contact.email_opt_out,
            User.email,
            Company.name,
        )
        .outerjoin(User, Contact.owner_id == User.id)
        .outerjoin(Company, Contact.company_id == Company.id)
        .order_by(Contact.id)
    )
    return [tuple(row) for row in db.session.execute(query)]


def _empty() -> None:
    """Delete every row, children first, as if the database were new."""
    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


def test_about_three_percent_of_emails_are_case_or_space_variants(seeded):
    emails = db.session.execute(select(Contact.email, Contact.email_key)).all()
    assert len(emails) == CONTACTS
    groups: dict[str, list[str]] = defaultdict(list)
    for email, key in emails:
        groups[key].append(email)
    duplicates = len(emails) - len(groups)
    assert 0.015 <= duplicates / len(emails) <= 0.05, f"{duplicates} duplicates"
    for key, raw in groups.items():
        # The first spelling is the clean one; every repeat must be the same
        # address mistyped (case, stray spaces), never a different address.
        assert raw.count(key) == 1, f"{key}: {raw}"
        for email in raw:
            assert email.strip().lower() == key
    variants = [e for raw in groups.values() if len(raw) > 1 for e in raw if e != e.strip().lower()]
    assert len(variants) == duplicates
    assert any(e != e.strip() for e in variants), "no space variants"
    assert any(e.strip() != e.strip().lower() for e in variants), "no case variants"


def test_about_five_percent_opted_out(seeded):
    opted_out = db.session.scalar(
        select(func.count()).select_from(Contact).where(Contact.email_opt_out.is_(True))
    )
    assert 0.03 <= opted_out / CONTACTS <= 0.07, f"{opted_out} opted out"


def test_every_contact_has_a_seeded_owner_and_owners_share_fairly(seeded):
    users = set(db.session.scalars(select(User.id)))
    assert len(users) == USERS == seeded["users"]
    per_owner = dict(
        db.session.execute(select(Contact.owner_id, func.count()).group_by(Contact.owner_id)).all()
    )
    assert None not in per_owner, "contacts without an owner"
    assert set(per_owner) == users, "every contact's owner is a seeded user, every user owns"
    mean = CONTACTS / USERS
    assert max(per_owner.values()) <= 2 * mean, per_owner


def test_languages_fi_sv_hu_with_finnish_the_largest(seeded):
    languages = Counter(dict(db.session.execute(
        select(Contact.language, func.count()).group_by(Contact.language)
    ).all()))
    assert set(languages) == {"fi", "sv", "hu"}
    assert languages.most_common(1)[0][0] == "fi"


def test_names_carry_nordic_and_hungarian_letters(seeded):
    names = db.session.execute(
        select(Contact.language, Contact.first_name + " " + Contact.last_name)
    ).all()
    nordic = [n for lang, n in names if lang in ("fi", "sv") and NORDIC & set(n)]
    hungarian = [n for lang, n in names if lang == "hu" and HUNGARIAN & set(n)]
    assert nordic, "no ä, ö or å in any Finnish or Swedish name"
    assert hungarian, "no Hungarian accent in any Hungarian name"


def test_companies_as_asked_and_contacts_point_at_them(seeded):
    assert seeded["companies"] == COMPANIES
    assert db.session.scalar(select(func.count()).select_from(Company)) == COMPANIES
    orphans = db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .outerjoin(Company, Contact.company_id == Company.id)
        .where(Contact.company_id.is_not(None), Company.id.is_(None))
    )
    assert orphans == 0


def test_timestamps_come_back_aware_utc(seeded):
    contact = db.session.scalars(select(Contact).order_by(Contact.id).limit(1)).one()
    company = db.session.scalars(select(Company).order_by(Company.id).limit(1)).one()
    for stamp in (contact.created_at, contact.updated_at, company.created_at):
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
    # Raw rows, read through UTCDateTime in a Core query too (bulk code reads this way).
    stamps = db.session.scalars(select(Contact.created_at).limit(50)).all()
    assert all(s.utcoffset() == timedelta(0) for s in stamps)


def test_same_seed_same_rows(ctx):
    seed_demo(1000, 50, 5, SEED)
    first = _rows()
    _empty()
    seed_demo(1000, 50, 5, SEED)
    assert _rows() == first


def test_same_seed_same_rows_in_another_process(app, ctx, database_uri, tmp_path):
    """`kohde seed` run later must repeat the data, though Python hashes strings differently."""
    seed_demo(500, 25, 4, SEED)
    here = _rows()
    _empty()
    own = os.environ.get("PYTHONHASHSEED", "")
    env = {
        **os.environ,
        "DATABASE_URL": database_uri,
        "SECRET_KEY": "test-secret",
        "KOHDE_INSTANCE_PATH": str(tmp_path),
        # Another string-hash seed than this process: set order would differ.
        "PYTHONHASHSEED": str(int(own) + 1) if own.isdigit() else "1",
    }
    args = ["--contacts", "500", "--companies", "25", "--users", "4", "--seed", str(SEED)]
    done = subprocess.run(
        [sys.executable, "-m", "webadmin.cli", "seed", *args, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    db.session.remove()
    assert _rows() == here


def test_different_seed_different_rows(ctx):
    seed_demo(500, 25, 4, SEED)
    first = _rows()
    _empty()
    seed_demo(500, 25, 4, SEED + 1)
    second = _rows()
    assert len(second) == len(first)
    emails = sum(a[2] == b[2] for a, b in zip(first, second, strict=True))
    assert emails < len(first) // 10, "another seed should give other people"


def test_cli_prints_counts_as_json(app, ctx):
    result = app.test_cli_runner().invoke(args=["seed", "--contacts", "500", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["contacts"] == 500
    assert counts["companies"] == 25  # contacts / 20 by default
    assert counts["users"] == 10
    assert counts["seconds"] >= 0
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 500
    assert db.session.scalar(select(func.count()).select_from(Company)) == 25


def _contact_indexes() -> dict[str, object]:
    """The contacts table's indexes: name → definition (PostgreSQL: with its oid, which a
    rebuild changes)."""
    if db.engine.dialect.name == "postgresql":
        rows = db.session.execute(text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indexrelid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = CAST('contacts' AS regclass)")).all()
        return {name: (definition, oid) for name, definition, oid in rows}
    return dict(db.session.execute(text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts'")
    ).all())


def test_a_big_seed_builds_the_indexes_after_the_load_and_a_small_one_keeps_them(
        ctx, monkeypatch):
    # A "big" load is REBUILD_AT rows or more, and at least what the table holds.
    monkeypatch.setattr(seed_module, "REBUILD_AT", 500)
    before = _contact_indexes()
    seed_demo(1000, 20, USERS, SEED)
    after_big = _contact_indexes()
    assert set(after_big) == set(before) and len(after_big) > 5
    seed_demo(600, 20, USERS, SEED + 1)  # fewer rows than the table holds: indexes stay
    after_small = _contact_indexes()
    assert after_small == after_big
    if db.engine.dialect.name == "postgresql":
        secondary = [n for n in before if not n.startswith("pk_")]
        assert all(after_big[n][0] == before[n][0] for n in before)  # the same definitions
        assert all(after_big[n][1] != before[n][1] for n in secondary)  # built anew
        assert after_big["pk_contacts"][1] == before["pk_contacts"][1]  # the key stayed
    # and the search finds the seeded rows through them
    name = db.session.scalar(select(Contact.last_name).limit(1))
    assert db.session.scalar(select(func.count()).select_from(Contact)
                             .where(Contact.last_name.ilike(f"%{name[1:4]}%"))) >= 1
