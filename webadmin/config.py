"""Configuration read from the environment (secrets never live in the code)."""

from __future__ import annotations

import os


def database_url(raw: str | None) -> str:
    """The SQLAlchemy URL for DATABASE_URL, defaulting to SQLite in instance/.

    Plain ``postgres://`` / ``postgresql://`` URLs (as hosting platforms hand
    them out) are pointed at psycopg 3, the driver we ship.
    """
    if not raw:
        return "sqlite:///kohde.db"  # Flask-SQLAlchemy puts a relative path in instance/
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


class Config:
    """Defaults for a running installation; every value can come from the environment."""

    # Unset: a key is made once and kept in instance/secret_key (see create_app).
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Unset: `make run` / the CLI start an embedded redis-server (jobs.embedded_redis).
    REDIS_URL = os.environ.get("REDIS_URL")
    KOHDE_QUEUE = os.environ.get("KOHDE_QUEUE", "kohde")
    SMTP_URL = os.environ.get("SMTP_URL")
    KOHDE_TIMEZONE = os.environ.get("KOHDE_TIMEZONE", "Europe/Helsinki")
    # The public address of the back office: unsubscribe links in emails point here.
    KOHDE_BASE_URL = os.environ.get("KOHDE_BASE_URL", "http://127.0.0.1:5000")
    KOHDE_MAIL_FROM = os.environ.get("KOHDE_MAIL_FROM", "noreply@kohde.invalid")
    KOHDE_MAIL_FROM_NAME = os.environ.get("KOHDE_MAIL_FROM_NAME", "Kohde")
    # `kohde scheduler`: seconds between ticks, and how long a message may stay in "sending"
    # before the tick (or a starting sender) takes it for a crashed sender's and requeues it.
    KOHDE_SCHEDULER_INTERVAL = float(os.environ.get("KOHDE_SCHEDULER_INTERVAL", "60"))
    KOHDE_OUTBOX_STUCK_SECONDS = int(os.environ.get("KOHDE_OUTBOX_STUCK_SECONDS", "600"))
    # Sending (issue 17): SMTP connections per sender, used side by side (a relay's answer
    # takes tens of ms), and a per-recipient-domain rate on top of the installation's
    # messages per second (Admin → Settings); both rates hold across every sender (Redis).
    KOHDE_SMTP_CONNECTIONS = max(1, int(os.environ.get("KOHDE_SMTP_CONNECTIONS", "1")))
    KOHDE_EMAIL_DOMAIN_PER_SECOND = float(os.environ.get("KOHDE_EMAIL_DOMAIN_PER_SECOND", "0"))
    # Liveness (docs/architecture.md, rule 9): a running job renews its lease every third of it; the
    # scheduler's reaper pass (every KOHDE_REAPER_INTERVAL seconds, besides each tick) fails
    # a run whose lease expired and retries it: at most KOHDE_JOB_ATTEMPTS attempts, attempt
    # n + 1 waiting KOHDE_JOB_RETRY_SECONDS * 2 ** (n - 1). Bookkeeping writes (progress,
    # heartbeat, the final status) retry a lost database connection for KOHDE_DB_RETRY_SECONDS.
    KOHDE_JOB_LEASE_SECONDS = float(os.environ.get("KOHDE_JOB_LEASE_SECONDS", "30"))
    KOHDE_REAPER_INTERVAL = float(os.environ.get("KOHDE_REAPER_INTERVAL", "10"))
    KOHDE_JOB_ATTEMPTS = int(os.environ.get("KOHDE_JOB_ATTEMPTS", "3"))
    KOHDE_JOB_RETRY_SECONDS = float(os.environ.get("KOHDE_JOB_RETRY_SECONDS", "5"))
    # Big jobs split (rule 4): an import of more rows, or a campaign email queue for more new
    # members, than this is fanned out to chunk runs of this many rows, run by any worker.
    KOHDE_CHUNK_ROWS = max(1, int(os.environ.get("KOHDE_CHUNK_ROWS", "50000")))
    KOHDE_DB_RETRY_SECONDS = float(os.environ.get("KOHDE_DB_RETRY_SECONDS", "60"))
    # Where uploaded CSV files and import reports are kept (default: instance/).
    KOHDE_DATA_DIR = os.environ.get("KOHDE_DATA_DIR")
    # Seconds one render of a user's email template may take (preview, test send, sender).
    KOHDE_TEMPLATE_TIME_BUDGET = float(os.environ.get("KOHDE_TEMPLATE_TIME_BUDGET", "2"))
    MAX_CONTENT_LENGTH = 200 * 1024 * 1024  # CSV uploads
    WTF_CSRF_TIME_LIMIT = None  # a token lives as long as the session
    FLASK_ADMIN_FLUID_LAYOUT = True
