"""Fixtures: a real database (SQLite, or PostgreSQL from TEST_DATABASE_URL), a real
Redis (TEST_REDIS_URL, or an embedded redis-server), migrations applied once,
every table emptied and Redis flushed around each test."""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import flask_migrate
import pytest
from flask import has_app_context
from sqlalchemy import create_engine, insert, make_url, select, text

from jobs import embedded_redis
from jobs.email import sink
from jobs.queue import get_redis
from jobs.worker import make_worker
from models import Campaign, CampaignMember, Contact, EmailTemplate, Role, Settings, User, db
from models.email.outbox import queue_campaign_join
from webadmin import create_app
from webadmin.config import database_url
from webadmin.i18n import compile_catalogues

CSRF_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def redis_url():
    """TEST_REDIS_URL, or an embedded redis-server started for the session."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield _own_redis_database(url)
        return
    port = embedded_redis.free_port()
    proc = embedded_redis.start(port, Path(os.environ.get("TMPDIR", "/tmp")))
    yield embedded_redis.url(port)
    embedded_redis.stop(proc)


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory):
    """TEST_DATABASE_URL (PostgreSQL), or a fresh SQLite file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return _own_postgres_database(database_url(url))
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'kohde-test.db'}"


def _xdist_worker() -> int | None:
    """This process's number under pytest-xdist (gw0 → 0), None when run alone."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") else None


def _own_postgres_database(url: str) -> str:
    """Each xdist worker gets its own database (``test`` → ``test_gw1``), created here, so
    workers never truncate each other's tables."""
    worker = _xdist_worker()
    if worker is None:
        return url
    base = make_url(url)
    own = f"{base.database}_gw{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own})
        if exists.first() is None:
            conn.execute(text(f'CREATE DATABASE "{own}"'))
    engine.dispose()
    return base.set(database=own).render_as_string(hide_password=False)


def _own_redis_database(url: str) -> str:
    """Each xdist worker flushes its own Redis database: the given one counting down
    (15, 14, …), so a run never empties another worker's queue."""
    worker = _xdist_worker()
    if worker is None:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    number = base - worker if base - worker >= 0 else base + worker
    return urlunsplit(parts._replace(path=f"/{number % 16}"))


@pytest.fixture(scope="session")
def app(database_uri, redis_url, tmp_path_factory):
    """The app on an empty database brought up by the migrations (not create_all)."""
    data_dir = tmp_path_factory.mktemp("data")
    compile_catalogues()  # `pytest` run without `make install` still finds every language
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "REDIS_URL": redis_url,
            "KOHDE_QUEUE": "kohde-test",
            "KOHDE_DATA_DIR": str(data_dir),
            "KOHDE_INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
        }
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        flask_migrate.upgrade()
    return app


def _empty_tables() -> None:
    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(autouse=True)
def clean_state(app):
    """Each test starts with empty tables, an empty Redis database and no cached figures."""
    app.extensions.pop("kohde_dashboard_figures", None)
    with app.app_context():
        get_redis(app).flushdb()
        _empty_tables()
    yield
    with app.app_context():
        db.session.remove()
        get_redis(app).flushdb()


@pytest.fixture
def ctx(app):
    """An app context for tests that talk to the database directly."""
    with app.app_context():
        yield
        db.session.remove()


def make_user(email: str, role: str, password: str = PASSWORD) -> User:
    """Create and commit a user who can log in."""
    user = User(email=email, name=email.split("@")[0].title(), role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def activity_slots(minutes: int, latest: time, working_days: str = "1,2,3,4,5") -> Settings:
    """Helsinki time, ``minutes``-long activity slots from 08:00 to ``latest``; committed."""
    settings = Settings.get()
    settings.timezone = "Europe/Helsinki"
    settings.activity_duration_minutes = minutes
    settings.activity_earliest_start = time(8, 0)
    settings.activity_latest_end = latest
    settings.working_days = working_days
    db.session.commit()
    return settings


@pytest.fixture
def admin_user(ctx):
    """An admin (everything)."""
    return make_user("admin@example.com", Role.ADMIN)


@pytest.fixture
def plain_user(ctx):
    """A CRM user (no admin-only screens)."""
    return make_user("user@example.com", Role.USER)


def csrf_token(client, url: str) -> str:
    """GET a page and scrape the CSRF token its form carries."""
    page = client.get(url)
    assert page.status_code == 200, f"GET {url} answered {page.status_code}"
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def login(client, email: str, password: str = PASSWORD):
    """Log in through the real form, CSRF token included."""
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def admin_client(app, admin_user):
    """A test client logged in as the admin."""
    client = app.test_client()
    assert login(client, admin_user.email).status_code == 302
    return client


@pytest.fixture
def user_client(app, plain_user):
    """A test client logged in as a plain CRM user."""
    client = app.test_client()
    assert login(client, plain_user.email).status_code == 302
    return client


def process_env(app) -> dict[str, str]:
    """Environment for a separate `kohde` process that must see this test app's world."""
    return {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "KOHDE_QUEUE": app.config["KOHDE_QUEUE"],
        "KOHDE_DATA_DIR": app.config["KOHDE_DATA_DIR"],
        "KOHDE_INSTANCE_PATH": app.instance_path,
        "SECRET_KEY": app.config["SECRET_KEY"],
    }


@pytest.fixture
def mailbox(app):
    """A real aiosmtpd sink on loopback that keeps what it receives; SMTP_URL points at it,
    and links in messages point at an https address (as RFC 8058 unsubscribe links must)."""
    memory = sink.MemorySink()
    port = embedded_redis.free_port()
    controller = sink.start(memory, port)
    base_url = app.config.get("KOHDE_BASE_URL")
    app.config.update(SMTP_URL=f"smtp://127.0.0.1:{port}", KOHDE_BASE_URL="https://crm.example.fi")
    yield memory
    controller.stop()
    app.config.update(SMTP_URL=None, KOHDE_BASE_URL=base_url)


@pytest.fixture
def chunked(app):
    """Big jobs split at 100 rows (KOHDE_CHUNK_ROWS) in this test: 1,000 rows make 10 chunks."""
    before = app.config["KOHDE_CHUNK_ROWS"]
    app.config["KOHDE_CHUNK_ROWS"] = 100
    yield 100
    app.config["KOHDE_CHUNK_ROWS"] = before


@pytest.fixture
def run_jobs(app):
    """Run every queued job with a real RQ worker in burst mode."""

    def run() -> None:
        make_worker(app, simple=True).work(burst=True, logging_level="WARNING")
        if has_app_context():
            # The test's own session (shared with test-client requests) must see the
            # worker's commits: end its transaction, which also expires what it loaded.
            db.session.rollback()

    return run


def campaign_joined(template: EmailTemplate, contacts: list[Contact]) -> Campaign:
    """``contacts`` join a new campaign that sends ``template``: their messages are queued
    (committed), as when members are added on the Audience screen."""
    campaign = Campaign(name=f"Campaign for {template.name}", email_template=template)
    db.session.add_all([*contacts, campaign])
    db.session.commit()
    db.session.add_all(CampaignMember(campaign=campaign, contact=c) for c in contacts)
    db.session.commit()
    queue_campaign_join(campaign.id, contact_ids=[c.id for c in contacts])
    db.session.commit()
    return campaign


def campaign_with_queued_messages(count: int, per_second: int):
    """A campaign whose ``count`` members each have a queued message (no sender started),
    sent ``per_second`` a second: what the crash tests kill a sender in the middle of."""
    template = EmailTemplate(name="Crash", subject="Hello {{ contact.first_name }}",
                             body_html="<p>Hi</p>{{ unsubscribe_url }}")
    campaign = Campaign(name="Crash test", email_template=template)
    db.session.add(campaign)
    Settings.get().email_messages_per_second = per_second
    db.session.commit()
    db.session.execute(insert(Contact), [{"first_name": f"P{n}", "last_name": "X",
                                          "email": f"p{n}@example.fi"} for n in range(count)])
    ids = db.session.scalars(select(Contact.id)).all()
    db.session.execute(insert(CampaignMember), [{"campaign_id": campaign.id, "contact_id": i}
                                                for i in ids])
    db.session.commit()
    assert queue_campaign_join(campaign.id, contact_ids=ids)["queued"] == count
    db.session.commit()
    return campaign
