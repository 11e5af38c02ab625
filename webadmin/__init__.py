"""Kohde's web back office: the app factory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask
from sqlalchemy import event

from .config import Config
from .extensions import csrf, db, login_manager, migrate
from .requests import KohdeRequest

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app; ``config`` overrides the environment (tests use it)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        instance_path=(config or {}).get("KOHDE_INSTANCE_PATH")
        or os.environ.get("KOHDE_INSTANCE_PATH")
        or str(ROOT / "instance"),
    )
    app.request_class = KohdeRequest
    app.config.from_object(Config)
    if config:
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config["KOHDE_DATA_DIR"] = app.config.get("KOHDE_DATA_DIR") or app.instance_path
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    with app.app_context():
        _tune_sqlite(db.engine)

    from . import audit, auth, calendar_feed, errors, i18n, unsubscribe, views
    from .admin import init_admin
    from .cli import register_commands

    i18n.init_app(app)
    auth.init_app(app)
    unsubscribe.init_app(app)
    calendar_feed.init_app(app)
    audit.init_app(app)
    views.init_app(app)
    errors.init_app(app)
    init_admin(app)
    register_commands(app)
    return app


def _instance_secret(path: Path) -> str:
    """A secret key made once per installation, so every process signs alike."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _tune_sqlite(engine) -> None:
    """Foreign keys on, WAL and a busy timeout so the web and a worker can share the file."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
