"""`kohde mailsink`, `kohde outbox …` and `kohde templates …`."""

from __future__ import annotations

import json
import signal
import threading
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from jobs.email import sink
from jobs.email.sender import send_outbox
from jobs.email.smtp import sink_port
from models import CAMPAIGN_FOLDER, Campaign, EmailTemplate, SenderMode, db
from models.email.message import render_for
from models.email.outbox import counts_by_state, requeue_stuck
from models.email.render import TemplateProblem, check_template

from ..auth import find_user
from .lookup import by_id_or_name, contact_by_id_or_email


@click.command("mailsink")
@click.option("--port", type=int, default=sink_port, show_default="KOHDE_MAIL_SINK_PORT or 8025")
@with_appcontext
def mailsink_command(port: int):
    """Run the development mail sink: every message lands on the Mailbox screen."""
    controller = sink.start(sink.MailboxSink(current_app._get_current_object()), port)
    click.echo(f"mail sink listening on 127.0.0.1:{port}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()


@click.group("outbox")
def outbox_group():
    """The outbox: status, sending, and re-claiming messages a crash left behind."""


@outbox_group.command("status")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def outbox_status(as_json: bool):
    """Messages by state (and suppressed ones by reason)."""
    data = counts_by_state()
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, n in data.items() or {"empty": 0}.items():
        click.echo(f"{key:>28}: {n:,}")


@outbox_group.command("send")
@click.option("--limit", type=int, help="Send at most this many.")
@with_appcontext
def outbox_send(limit: int | None):
    """Send due messages now, in this process."""
    counts = send_outbox(limit)
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@outbox_group.command("requeue")
@click.option("--older-than", "seconds", default=600, show_default=True,
              help="Seconds a message may stay in 'sending' before it is re-claimed.")
@with_appcontext
def outbox_requeue(seconds: int):
    """Put messages left in 'sending' by a crashed worker back in the queue."""
    click.echo(f"requeued {requeue_stuck(timedelta(seconds=seconds))} message(s)")


@click.group("templates")
def templates_group():
    """Email templates."""


@templates_group.command("create")
@click.argument("name")
@click.option("--subject", required=True)
@click.option("--html", "html_file", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--text", "text_file", type=click.Path(exists=True, path_type=Path))
@click.option("--folder", default=CAMPAIGN_FOLDER, show_default=True)
@click.option("--sender", default="", help="'owner' (the contact's owner) or an email address.")
@click.option("--not-marketing", is_flag=True, help="A service message (no unsubscribe needed).")
@with_appcontext
def create_template(name, subject, html_file, text_file, folder, sender, not_marketing):
    """Create a template; a syntax error or a missing {{ unsubscribe_url }} is refused."""
    body_html = html_file.read_text(encoding="utf-8")
    body_text = text_file.read_text(encoding="utf-8") if text_file else ""
    try:
        checked = check_template(subject, body_html, body_text, not not_marketing)
    except TemplateProblem as exc:
        raise click.ClickException(str(exc)) from None
    template = EmailTemplate(name=name, subject=subject, body_html=body_html,
                             body_text=body_text, folder=folder, marketing=not not_marketing)
    if sender == "owner":
        template.sender_mode = SenderMode.OWNER
    elif sender:
        user = find_user(sender)
        template.sender_mode = SenderMode.USER if user else SenderMode.FIXED
        template.sender_user = user
        template.sender_email = None if user else sender
    db.session.add(template)
    db.session.commit()
    for warning in checked.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"created template {template.id} {name!r}")


@templates_group.command("preview")
@click.argument("template")
@click.argument("contact")
@with_appcontext
def preview_template(template, contact):
    """Render TEMPLATE for CONTACT (id or email): subject, text and HTML."""
    found = by_id_or_name(EmailTemplate, template, EmailTemplate.name, "email template")
    try:
        rendered = render_for(found, contact_by_id_or_email(contact))
    except TemplateProblem as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Subject: {rendered.subject}\n\n{rendered.text}\n\n--- HTML ---\n{rendered.html}")


@click.command("set-template")
@click.argument("campaign")
@click.argument("template")
@with_appcontext
def set_campaign_template(campaign, template):
    """Attach TEMPLATE to CAMPAIGN: members who join from now on get it."""
    found = by_id_or_name(Campaign, campaign, Campaign.name, "campaign")
    chosen = by_id_or_name(EmailTemplate, template, EmailTemplate.name, "email template")
    if chosen.folder != CAMPAIGN_FOLDER:
        raise click.ClickException(
            f"template {chosen.name!r} is in folder {chosen.folder!r}; only "
            f"{CAMPAIGN_FOLDER!r} templates attach to campaigns"
        )
    found.email_template = chosen
    db.session.commit()
    click.echo(f"{found.name}: members who join from now on get {chosen.name!r}")
