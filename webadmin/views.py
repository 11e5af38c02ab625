"""Plain routes outside the admin: a health check for load balancers, the favicon."""

from __future__ import annotations

from flask import Flask, jsonify, redirect, request, url_for
from sqlalchemy import text

from jobs.queue import get_redis
from models import utcnow
from models.email.outbox import oldest_due
from models.jobs import retries_in_progress, stuck_runs

from .extensions import db


def job_health() -> dict:
    """Runs whose lease expired (their worker is gone; the reaper fails them soon), retries
    on their way, and how long the oldest due message has waited (None: none is due)."""
    now = utcnow()
    stuck = stuck_runs(now)
    retries = retries_in_progress()
    oldest = oldest_due(now)
    return {
        "stuck_runs": len(stuck),
        "stuck": [{"id": r.id, "kind": r.kind, "worker": r.worker_name,
                   "expired_seconds_ago": round((now - r.lease_expires_at).total_seconds(), 1)}
                  for r in stuck],
        "retries_in_progress": retries,
        "oldest_due_message_seconds": (
            round(max((now - oldest).total_seconds(), 0.0), 1) if oldest else None),
    }


def healthz():
    """200 when the database and Redis answer, 503 (with which one failed) otherwise;
    ``?deep=1`` adds ``jobs``: stuck runs, retries in progress, the oldest due message."""
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
    if request.args.get("deep") and checks["database"] == "ok":
        try:
            checks["jobs"] = job_health()
        except Exception as exc:
            db.session.rollback()
            checks["jobs"] = f"error: {exc.__class__.__name__}"
    return jsonify(checks), 200 if healthy else 503


def favicon():
    """Browsers ask for /favicon.ico where a page names no icon (a CSV download, a JSON
    answer): the same icon the pages name."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


def init_app(app: Flask) -> None:
    """Register the plain routes."""
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/favicon.ico", view_func=favicon)
