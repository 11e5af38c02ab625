"""`kohde bootstrap` (first-run set-up) and `kohde dev` (everything in one terminal)."""

from __future__ import annotations

import os
import secrets
import shlex
import sys
import threading
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from honcho.manager import Manager
from sqlalchemy import func, select

from jobs import embedded_redis
from jobs.email.smtp import DEV_SINK_PORT
from models import Contact, Role, Settings, User, db
from models.seed import seed_demo

ADMIN_EMAIL = "admin@example.com"


def _login_file() -> Path:
    return Path(current_app.instance_path) / "admin-login.txt"


@click.command("bootstrap")
@click.option("--demo-contacts", default=10_000, show_default=True,
              help="Demo contacts to create on first run (0 for none).")
@with_appcontext
def bootstrap_command(demo_contacts: int):
    """First run only: an admin user, the settings row and demo data. Safe to repeat."""
    Settings.get()
    if db.session.scalar(select(func.count()).select_from(User)) == 0:
        password = os.environ.get("KOHDE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        admin = User(email=ADMIN_EMAIL, name="Admin", role=Role.ADMIN)
        admin.set_password(password)
        db.session.add(admin)
        db.session.commit()
        path = _login_file()
        path.write_text(f"{ADMIN_EMAIL}\n{password}\n")
        path.chmod(0o600)
        click.echo(f"created the admin user {ADMIN_EMAIL}")
    db.session.commit()
    if demo_contacts and db.session.scalar(select(func.count()).select_from(Contact)) == 0:
        click.echo(f"creating {demo_contacts:,} demo contacts …")
        result = seed_demo(contacts=demo_contacts, companies=max(demo_contacts // 20, 1), users=8)
        click.echo(f"created {result['contacts']:,} contacts, {result['companies']:,} companies "
                   f"and {result['users']} users in {result['seconds']:.1f} s")


def _banner(url: str, login: str) -> None:
    click.secho(f"\n  Kohde is running at {url}\n  {login}\n  Ctrl-C stops everything.\n",
                fg="green", bold=True)


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True, envvar="PORT")
@click.option("--workers", default=1, show_default=True, help="RQ workers to start.")
@with_appcontext
def dev_command(host: str, port: int, workers: int):
    """Run web + worker + scheduler (+ an embedded Redis when REDIS_URL is unset, + a mail
    sink when SMTP_URL is unset) until Ctrl-C."""
    env = dict(os.environ)
    manager = Manager()
    if not embedded_redis.port_is_free(port):
        raise click.ClickException(f"port {port} is taken; choose another: make run PORT=5001")
    # Unsubscribe links point at this server unless the installation says otherwise.
    env.setdefault("KOHDE_BASE_URL", f"http://{host}:{port}")
    if not current_app.config.get("REDIS_URL"):
        # The usual port when free, else any free one: two people on one machine don't meet.
        redis_port = int(os.environ.get("KOHDE_REDIS_PORT") or
                         embedded_redis.pick_port(embedded_redis.DEFAULT_PORT))
        workdir = Path(current_app.instance_path)
        manager.add_process("redis", shlex.join(embedded_redis.command(redis_port, workdir)),
                            env=env)
        env["REDIS_URL"] = embedded_redis.url(redis_port)
        embedded_redis.remember(workdir, env["REDIS_URL"])
    kohde = shlex.join([sys.executable, "-m", "webadmin.cli"])
    gunicorn = shlex.join([sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}",
                           "--workers", "2", "--threads", "4", "--access-logfile", "-",
                           "wsgi:app"])
    root = str(Path(current_app.root_path).parent)
    manager.add_process("web", gunicorn, env=env, cwd=root)
    if not current_app.config.get("SMTP_URL"):
        # Nothing leaves the machine: the dev sink keeps every message for Email → Mailbox.
        # Workers find it through KOHDE_MAIL_SINK_PORT (jobs.email.smtp.sink_port).
        env["KOHDE_MAIL_SINK_PORT"] = str(
            os.environ.get("KOHDE_MAIL_SINK_PORT") or embedded_redis.pick_port(DEV_SINK_PORT))
        manager.add_process("mail", f"{kohde} mailsink --port {env['KOHDE_MAIL_SINK_PORT']}",
                            env=env, cwd=root)
    for n in range(workers):
        manager.add_process(f"worker.{n + 1}", f"{kohde} worker", env=env, cwd=root)
    # Requeues what crashes and Redis flushes leave behind, restarts deferred email.
    manager.add_process("scheduler", f"{kohde} scheduler", env=env, cwd=root)
    login_file = _login_file()
    if login_file.exists():
        email, password = login_file.read_text().split()[:2]
        login = f"Log in as {email} with password {password}"
    else:
        login = "Log in with a user made by `kohde users create EMAIL --role admin`"
    url = f"http://{host}:{port}/"
    threading.Timer(3.0, _banner, args=(url, login)).start()
    manager.loop()
    sys.exit(manager.returncode)
