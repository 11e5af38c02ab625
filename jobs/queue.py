"""The Redis connection and the RQ queue, per app."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue

from . import embedded_redis


def redis_url(app: Flask | None = None) -> str:
    """REDIS_URL, or the embedded server's: the one ``kohde dev`` noted in the instance
    folder, else the usual port."""
    app = app or current_app
    return (app.config.get("REDIS_URL") or embedded_redis.remembered(app.instance_path)
            or embedded_redis.url(embedded_redis.DEFAULT_PORT))


def get_redis(app: Flask | None = None) -> Redis:
    """The app's Redis connection (one per app, made on first use)."""
    app = app or current_app
    conn = app.extensions.get("kohde_redis")
    if conn is None:
        conn = Redis.from_url(redis_url(app))
        app.extensions["kohde_redis"] = conn
    return conn


def get_queue(app: Flask | None = None) -> Queue:
    """The RQ queue every Kohde job goes through."""
    app = app or current_app
    return Queue(app.config["KOHDE_QUEUE"], connection=get_redis(app))
