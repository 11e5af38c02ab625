"""`kohde automations …`: list, show, create, add steps, dry run, activate, deactivate."""

from __future__ import annotations

import json
from datetime import time

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from models import Automation, AutomationStep, EmailTemplate, SavedFilter, User, clock, db
from models.automations import (
    Mode,
    Recipient,
    StepKind,
    Trigger,
    activate,
    deactivate,
    dry_run,
    enrolled_now,
    parse_weekdays,
    schedule,
    step_counts,
)
from models.settings import installation_tz
from models.users import user_by_email

from .lookup import by_id_or_name


def _automation(ident: str) -> Automation:
    return by_id_or_name(Automation, ident, Automation.name, "automation")


def _template(name: str) -> EmailTemplate:
    return by_id_or_name(EmailTemplate, name, EmailTemplate.name, "template")


def _user(email: str) -> User:
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user {email!r}")
    return user


def as_dict(automation: Automation) -> dict:
    """An automation as plain data (--json)."""
    counts = step_counts(automation)
    return {
        "id": automation.id, "name": automation.name, "trigger": automation.trigger_words,
        "mode": automation.mode, "only_new": automation.only_new,
        "reentry": automation.reentry, "reentry_days": automation.reentry_days,
        "active": automation.active, "activated_at": automation.activated_at,
        "enrolled_now": enrolled_now(automation.id),
        "steps": [{"position": s.position, "kind": s.kind, "what": s.what_words,
                   "timing": s.timing_words, "counts": counts.get(s.id, {})}
                  for s in automation.steps],
    }


@click.group("automations")
def automations_group():
    """Automations: contacts move through timed steps (Admin → Automations)."""


@automations_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def list_automations(as_json: bool):
    """Every automation: active or not, how many are in it now."""
    rows = db.session.scalars(select(Automation).order_by(Automation.id)).all()
    if as_json:
        click.echo(json.dumps([as_dict(a) for a in rows], indent=2, default=str))
        return
    for a in rows:
        state = "active" if a.active else "off"
        click.echo(f"{a.id:>4}  {a.name:<40} {state:<6} {a.mode:<10} "
                   f"{enrolled_now(a.id):>8} in it  {len(a.steps)} steps  {a.trigger_words}")


@automations_group.command("show")
@click.argument("automation")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def show_automation(automation: str, as_json: bool):
    """One automation with its steps and who is at which step."""
    data = as_dict(_automation(automation))
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"{data['name']}: {data['trigger']}, {data['mode']}, "
               f"{'active' if data['active'] else 'off'}, {data['enrolled_now']} in it now")
    for step in data["steps"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(step["counts"].items())) or "nobody yet"
        click.echo(f"  {step['position']}. {step['what']} — {step['timing']}  [{counts}]")


@automations_group.command("create")
@click.argument("name")
@click.option("--status", help="Contacts in this status.")
@click.option("--filter", "filter_name", help="Contacts matching this saved filter.")
@click.option("--mode", type=click.Choice(["continuous", "one-time"]), default="continuous")
@click.option("--only-new", is_flag=True, help="Only contacts who start matching after activation.")
@click.option("--reentry", type=click.Choice(["never", "after-leaving", "after-days"]),
              default="never")
@click.option("--reentry-days", type=int, default=0)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def create_automation(name, status, filter_name, mode, only_new, reentry, reentry_days, as_json):
    """A new automation (switched off: add steps, dry-run, then activate)."""
    if bool(status) == bool(filter_name):
        raise click.UsageError("give --status S or --filter F")
    row = Automation(name=name, mode=Mode(mode.replace("-", "_")), only_new=only_new,
                     reentry=reentry.replace("-", "_"), reentry_days=reentry_days)
    if status:
        row.trigger, row.status_value = Trigger.STATUS, status
    else:
        row.trigger = Trigger.FILTER
        row.saved_filter = by_id_or_name(SavedFilter, filter_name, SavedFilter.name, "saved filter")
    problems = {k: v for k, v in row.problems().items() if k != "steps"}
    if problems:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in problems.items()))
    db.session.add(row)
    db.session.commit()
    click.echo(json.dumps(as_dict(row), default=str) if as_json
               else f"automation {row.id} '{row.name}' created (off)")


@automations_group.command("add-step")
@click.argument("automation")
@click.option("--email-contact", "email_contact", help="Template to send to the contact.")
@click.option("--email-user", "email_user", help="Template to send to a user about the contact.")
@click.option("--task", help="Subject of a task for a user.")
@click.option("--user", "user_email", help="The user (default: the contact's owner).")
@click.option("--delay-days", type=int, required=True)
@click.option("--weekdays", default="1-7", help="ISO weekdays, e.g. 1-5 or 1,3,5.")
@click.option("--at", "at", default=None, help="Local time HH:MM.")
@with_appcontext
def add_step(automation, email_contact, email_user, task, user_email, delay_days, weekdays, at):
    """Add a step at the end (an active automation's contacts get it scheduled at once)."""
    if sum(bool(x) for x in (email_contact, email_user, task)) != 1:
        raise click.UsageError("give one of --email-contact, --email-user, --task")
    row = _automation(automation)
    step = AutomationStep(position=len(row.steps) + 1, delay_days=delay_days, weekdays=weekdays)
    try:
        parse_weekdays(weekdays)
        step.at_time = time.fromisoformat(at) if at else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if email_contact:
        step.kind, step.template = StepKind.EMAIL_CONTACT, _template(email_contact)
    elif email_user:
        step.kind, step.template = StepKind.EMAIL_USER, _template(email_user)
    else:
        step.kind, step.subject = StepKind.TASK, task
    if user_email:
        step.recipient, step.user = Recipient.USER, _user(user_email)
    row.steps.append(step)
    problems = step.problems()
    if problems:
        db.session.rollback()
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in problems.items()))
    db.session.flush()
    if row.active:
        schedule(row, tz=installation_tz())
    db.session.commit()
    click.echo(f"step {step.position} added: {step.what_words}, {step.timing_words}")


@automations_group.command("dry-run")
@click.argument("automation")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def dry_run_command(automation: str, as_json: bool):
    """Who would enter now, when their steps happen, what each email holds back."""
    row = _automation(automation)
    tz = installation_tz()
    result = dry_run(row, clock.now(), tz)
    held = {e["step"].id: e["held_back"] for e in result["emails"]}
    data = {
        "entering": result["entering"],
        "sample": [{"id": r.id, "name": f"{r.first_name} {r.last_name}".strip(),
                    "email": r.email} for r in result["sample"]],
        "steps": [{"position": t["step"].position, "what": t["step"].what_words,
                   "due_at": t["due_at"].astimezone(tz).isoformat(timespec="minutes"),
                   **({"held_back": held[t["step"].id]} if t["step"].id in held else {})}
                  for t in result["timeline"]],
        "held_back": result["held_back"],  # the first email's (as before per-step counts)
    }
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"{data['entering']} contacts would enter now")
    for step in data["steps"]:
        click.echo(f"  {step['position']}. {step['what']} at {step['due_at']}")
        for reason, n in sorted(step.get("held_back", {}).items()):
            click.echo(f"     held back: {n} {reason}")


@automations_group.command("activate")
@click.argument("automation")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def activate_command(automation: str, as_json: bool):
    """Switch it on (the scheduler tick does the rest)."""
    row = _automation(automation)
    problems = row.problems()
    if problems:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in problems.items()))
    done = activate(row, clock.now())
    db.session.commit()
    click.echo(json.dumps({"id": row.id, "active": True, **done}) if as_json
               else f"automation '{row.name}' active {done or ''}".rstrip())


@automations_group.command("deactivate")
@click.argument("automation")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@with_appcontext
def deactivate_command(automation: str, as_json: bool):
    """Switch it off: nothing happens until it is activated again."""
    row = _automation(automation)
    deactivate(row, clock.now())
    db.session.commit()
    click.echo(json.dumps({"id": row.id, "active": False}) if as_json
               else f"automation '{row.name}' off")
