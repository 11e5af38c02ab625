"""Set-up that lets two people run Kohde on one machine: free ports, remembered Redis,
the mail sink's port, a favicon."""

from __future__ import annotations

import socket

from jobs import embedded_redis
from jobs.email import smtp
from jobs.queue import redis_url


def test_pick_port_keeps_the_usual_port_when_free_and_moves_when_taken():
    free = embedded_redis.free_port()
    assert embedded_redis.pick_port(free) == free
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert not embedded_redis.port_is_free(busy)
        other = embedded_redis.pick_port(busy)
        assert other != busy and embedded_redis.port_is_free(other)


def test_commands_find_the_redis_kohde_dev_remembered(app, tmp_path):
    config = dict(app.config)
    try:
        app.config["REDIS_URL"] = None
        app.instance_path, old_instance = str(tmp_path), app.instance_path
        assert redis_url(app) == embedded_redis.url(embedded_redis.DEFAULT_PORT)
        embedded_redis.remember(tmp_path, "redis://127.0.0.1:6555/0")
        assert redis_url(app) == "redis://127.0.0.1:6555/0"
    finally:
        app.instance_path = old_instance
        app.config.update(config)


def test_the_mail_sink_port_follows_the_environment(monkeypatch):
    monkeypatch.delenv("KOHDE_MAIL_SINK_PORT", raising=False)
    assert smtp.parse_smtp_url(None).port == smtp.DEV_SINK_PORT
    monkeypatch.setenv("KOHDE_MAIL_SINK_PORT", "8126")
    assert smtp.parse_smtp_url(None).port == 8126
    assert smtp.parse_smtp_url("smtp://mail.example:2525").port == 2525


def test_the_login_page_has_a_favicon(app):
    visitor = app.test_client()
    assert visitor.get("/static/favicon.svg").status_code == 200
    assert 'rel="icon"' in visitor.get("/login").get_data(as_text=True)
    icon = visitor.get("/favicon.ico")  # asked for where no page names the icon
    assert icon.status_code == 301 and icon.headers["Location"].endswith("/static/favicon.svg")


def test_back_office_pages_have_a_favicon(admin_client):
    assert 'rel="icon"' in admin_client.get("/admin/").get_data(as_text=True)
