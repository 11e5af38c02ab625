"""Plain routes outside the admin: a health check for load balancers."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from jobs.queue import get_redis

from .extensions import db


def healthz():
    """200 when the database and Redis answer, 503 (with which one failed) otherwise."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # a health check reports, it does not raise
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(checks), 200 if healthy else 503


def init_app(app: Flask) -> None:
    """Register the plain routes."""
    app.add_url_rule("/healthz", view_func=healthz)
