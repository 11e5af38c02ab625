"""How fast `kohde seed` fills companies and contacts, next to the database's floor and a
naive loop.

One run, one fresh schema, three ways into the same tables (same indexes, same foreign
keys, the same owners), each starting empty:

* floor  — two ``INSERT … SELECT`` (N/20 companies, N contacts) from generate_series
  (PostgreSQL) or a recursive CTE (SQLite) with the seed's Faker name pools, distinct
  company names and emails, the same search text and spread creation times: what the
  database ingests into these tables with their indexes (dropped before a big load and
  built after it, as the seed does), with no Python in the way;
* naive  — ``session.add(Contact(...))`` per row and one commit, on at most
  20,000 rows (it is slow; rows/s is what extrapolates);
* seed   — ``models.seed.seed_demo`` of N contacts, timed whole as a person
  running `kohde seed` waits for it (Faker pools, N/20 companies and the contacts,
  generated in chunks and loaded with COPY / multi-row inserts).

It wipes the database it runs on, so on PostgreSQL it only runs on a database
named ``kohde_bench`` (``createdb -h 127.0.0.1 -U postgres kohde_bench``) or
with --force. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Measure this checkout's code even when the installed package is another copy.
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.table import Line, print_table  # noqa: E402
from models import Company, Contact, User, db  # noqa: E402
from models.seed import Pools, indexes_built_after, seed_demo  # noqa: E402
from webadmin import create_app  # noqa: E402
from webadmin.config import database_url  # noqa: E402

BENCH_DATABASE = "kohde_bench"
NAIVE_MAX = 20_000
USERS = 10
SEED = 1

# The floor writes what the seed writes, into the same tables with the same indexes
# (four trigram GIN indexes on contacts among them, whose cost grows with the variety of
# the text), kept up the same way (a big load drops them and builds them once after:
# ``indexes_built_after``): the same Faker pools of names, distinct company names and
# emails, the same search text, creation times spread over two years, every foreign key
# real. Only the choosing is simpler (n modulo the pool sizes instead of a random
# generator), and it all happens in the database, with no Python in the way.
# PostgreSQL: pools as arrays; SQLite: pools as JSON arrays, rows from a recursive CTE.
ARRAY = {"postgresql": "(CAST(:{name} AS text[]))[{index} + 1]",
         "sqlite": "json_extract(:{name}, '$[' || ({index}) || ']')"}
SERIES = {"postgresql": "generate_series(1, :rows) AS n",
          "sqlite": "seq"}
RECURSIVE = {"postgresql": "",
             "sqlite": "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq "
                       "WHERE n < :rows) "}
AGO = {"postgresql": "now() - make_interval(secs => {seconds})",
       "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ({seconds}) || ' seconds')"}
SPREAD = "(CAST(n AS BIGINT) * 7919) % 63072000"  # seconds within two years, scattered over n


def floor_sql(dialect: str, table: str) -> str:
    """The floor's INSERT … SELECT of ``table`` (companies or contacts) for ``dialect``."""
    def pick(name: str, index: str) -> str:
        return ARRAY[dialect].format(name=name, index=index)

    ago = AGO[dialect].format(seconds=SPREAD)
    if table == "companies":
        name = f"{pick('company_names', 'n % :n_company_names')} || ' ' || n"
        return (RECURSIVE[dialect] + "INSERT INTO companies (name, name_key, city, industry, "
                "size, owner_id, created_at, updated_at) "
                f"SELECT {name}, lower({name}), {pick('cities', 'n % :n_cities')}, 'IT', 40, "
                f":first_owner + n % :owners, {ago}, {ago} FROM {SERIES[dialect]}")
    first, last = "n % :n_first", "(n / :n_first) % :n_last"
    false = "false" if dialect == "postgresql" else "0"
    email = (f"{pick('first_ascii', first)} || '.' || {pick('last_ascii', last)} || n || "
             "'@example.fi'")
    return (RECURSIVE[dialect] + f"INSERT INTO contacts ({FLOOR_COLUMNS}) "
            f"SELECT 'contact', {pick('first', first)}, {pick('last', last)}, {email}, "
            "'+' || (1000000000 + (CAST(n AS BIGINT) * 7919) % 9000000000), 'fi', "
            f"{pick('cities', 'n % :n_cities')}, 'active', {false}, "
            ":first_company + n % :companies, :first_owner + n % :owners, "
            f"{pick('first_fold', first)} || ' ' || {pick('last_fold', last)} || ' ' || {email}, "
            f"{ago}, {ago} FROM {SERIES[dialect]}")


FLOOR_COLUMNS = (
    "kind, first_name, last_name, email, phone, language, city, status, email_opt_out, "
    "company_id, owner_id, search_text, created_at, updated_at"
)


def pool_params(dialect: str) -> dict:
    """The seed's Faker pools (Finnish), as the floor's array parameters."""
    pool = Pools(SEED).by_locale["fi_FI"]
    arrays = {
        "first": [f[0] for f in pool["first"]], "first_ascii": [f[1] for f in pool["first"]],
        "first_fold": [f[2] for f in pool["first"]], "last": [v[0] for v in pool["last"]],
        "last_ascii": [v[1] for v in pool["last"]], "last_fold": [v[2] for v in pool["last"]],
        "cities": pool["city"], "company_names": pool["company"],
    }
    sizes = {"n_first": len(arrays["first"]), "n_last": len(arrays["last"]),
             "n_cities": len(arrays["cities"]), "n_company_names": len(arrays["company_names"])}
    if dialect == "sqlite":
        arrays = {k: json.dumps(v) for k, v in arrays.items()}
    return {**arrays, **sizes}


def database_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every bench shares: which database, whether to keep it, what may be wiped."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="database to wipe and fill [default: DATABASE_URL, else a temporary SQLite file]",
    )
    parser.add_argument("--keep", action="store_true", help="leave the data in place")
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"wipe a PostgreSQL database not named {BENCH_DATABASE}…, or an existing SQLite file",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: size, database and what may be wiped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to seed (N)")
    return database_arguments(parser).parse_args(argv)


def prepare(url: str, force: bool) -> None:
    """Refuse to wipe what might be real data; otherwise leave an empty database behind."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # kohde_bench, kohde_bench2, …: one per bench running at the same time
        if not (parsed.database or "").startswith(BENCH_DATABASE) and not force:
            sys.exit(
                f"refusing to wipe PostgreSQL database {parsed.database!r}: the benchmark drops "
                f"its public schema. Use a database named {BENCH_DATABASE} "
                f"(createdb -h 127.0.0.1 -U postgres {BENCH_DATABASE}) or pass --force."
            )
        return  # the schema is dropped once the app is up (drop_schema)
    path = sqlite_path(url)
    if path and path.exists():
        if not force:
            sys.exit(f"refusing to overwrite the existing SQLite file {path}; pass --force.")
        remove_sqlite(path)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; a relative one lives in instance/ (Flask-SQLAlchemy)."""
    name = make_url(url).database
    if not name or name == ":memory:":
        return None
    instance = os.environ.get("KOHDE_INSTANCE_PATH") or ROOT / "instance"
    return Path(instance) / name if not Path(name).is_absolute() else Path(name)


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite database with its WAL files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def drop_schema() -> None:
    """PostgreSQL: an empty public schema (everything in it goes)."""
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def empty_contacts(companies: bool = False) -> None:
    """Every operation starts from an empty contacts table (and, with ``companies``, no
    companies either; owners stay)."""
    db.session.remove()
    tables = "contacts, companies" if companies else "contacts"
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Fresh table and index files, so no run inherits another's dead rows.
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in tables.split(", "):
                conn.execute(text(f"DELETE FROM {table}"))


def count_contacts() -> int:
    """Rows in the contacts table (each operation is checked to have written its rows)."""
    return db.session.scalar(select(func.count()).select_from(Contact))


def references() -> dict[str, int]:
    """First id and count of the companies and owners the floor and naive rows point at.

    The schema is fresh, so the ids are contiguous from the first one.
    """
    companies = db.session.execute(select(func.min(Company.id), func.count(Company.id))).one()
    owners = db.session.execute(select(func.min(User.id), func.count(User.id))).one()
    return {
        "first_company": companies[0],
        "companies": companies[1],
        "first_owner": owners[0],
        "owners": owners[1],
    }


def run_floor(rows: int, refs: dict[str, int], table: str = "contacts") -> float:
    """One INSERT … SELECT of ``rows`` contacts (or companies, with distinct names, given
    the owners' ``refs``); seconds taken."""
    sql = text(floor_sql(db.engine.dialect.name, table))
    params = {"rows": rows, **refs, **pool_params(db.engine.dialect.name)}
    began = time.perf_counter()
    with db.engine.begin() as conn, indexes_built_after(conn, table, rows):
        conn.execute(sql, params)
    return time.perf_counter() - began


def run_naive(rows: int, refs: dict[str, int]) -> float:
    """An ORM object per row and one commit, as a first attempt would do it; seconds taken."""
    session = db.session
    began = time.perf_counter()
    for n in range(1, rows + 1):
        session.add(
            Contact(
                kind="contact",
                first_name="Matti",
                last_name="Virtanen",
                email=f"naive{n}@example.fi",
                phone="+358401234567",
                language="fi",
                city="Helsinki",
                status="active",
                email_opt_out=False,
                company_id=refs["first_company"] + n % refs["companies"],
                owner_id=refs["first_owner"] + n % refs["owners"],
            )
        )
    session.commit()
    return time.perf_counter() - began


@contextmanager
def bench_database(args: argparse.Namespace, **config):
    """A fresh, migrated database for one bench run, yielding (app, url); ``config`` goes
    to the app as well.

    Prints what it runs on; afterwards drops the schema (PostgreSQL) or the file (SQLite)
    unless ``--keep``. No REDIS_URL: nothing in a bench enqueues work. A fixed SECRET_KEY
    keeps create_app from writing one into instance/.
    """
    temp_dir = None
    if args.database_url:
        url = database_url(args.database_url)
    else:
        temp_dir = tempfile.mkdtemp(prefix="kohde-bench-")
        url = f"sqlite:///{temp_dir}/bench.db"
    prepare(url, args.force)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", **config})
    shown = make_url(url).render_as_string(hide_password=True)
    with app.app_context():
        dialect = db.engine.dialect.name
        if dialect == "postgresql":
            drop_schema()
        flask_migrate.upgrade()
        version = db.session.scalar(
            text("SELECT version()" if dialect == "postgresql" else "SELECT sqlite_version()")
        )
        print(f"\n{shown}: {version}")
        yield app, url
        if args.keep:
            print(f"\nkept the data in {shown}")
        elif dialect == "postgresql":
            drop_schema()
        db.session.remove()
        db.engine.dispose()
    if not args.keep and dialect == "sqlite":
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        elif sqlite_path(url):
            remove_sqlite(sqlite_path(url))


def main(argv: list[str] | None = None) -> None:
    """Fresh schema, the three measurements, the table; then clean up unless --keep."""
    args = parse_args(argv)
    naive_rows = min(args.contacts, NAIVE_MAX)
    with bench_database(args):
        companies = args.contacts // 20
        seed_demo(0, 0, USERS, SEED)  # the owners, before any clock starts
        owners = {k: v for k, v in references().items() if k in ("first_owner", "owners")}

        floor_seconds = run_floor(companies, owners, "companies")
        refs = references()
        floor_seconds += run_floor(args.contacts, refs)
        assert count_contacts() == args.contacts
        empty_contacts()

        naive_seconds = run_naive(naive_rows, refs)
        assert count_contacts() == naive_rows
        empty_contacts(companies=True)

        # The seed runs as `kohde seed` would: its companies and its contacts.
        seed_seconds = seed_demo(args.contacts, None, USERS, SEED)["seconds"]
        assert count_contacts() == args.contacts

        print(f"contacts: {args.contacts:,}; companies: {companies:,}; owners: {USERS}\n")
        floor, naive = "floor: INSERT … SELECT, companies + contacts", "naive: session.add per row"
        print_table("seed", db.engine.dialect.name, [
            Line(floor, args.contacts, floor_seconds, naive=naive),
            Line(naive, naive_rows, naive_seconds, floor, naive),
            Line("seed: seed_demo, companies + contacts", args.contacts, seed_seconds, floor,
                 naive),
        ])
        print(f"(naive loop extrapolated to {args.contacts:,} rows: "
              f"{naive_seconds / naive_rows * args.contacts:,.0f} s)")

if __name__ == "__main__":
    main()
