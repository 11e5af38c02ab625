"""Helpers the automation tests share: contacts, templates, automations, ticks."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jobs.automations import run_automations
from models import (
    Automation,
    AutomationEnrolment,
    AutomationStep,
    Contact,
    EmailTemplate,
    Settings,
    StepTrace,
    User,
    clock,
    db,
)
from models.automations import activate

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(*args) -> datetime:
    """A Helsinki wall-clock time as an aware UTC instant."""
    return datetime(*args, tzinfo=HELSINKI).astimezone(UTC)


def helsinki(waiting_days: int = 30) -> None:
    settings = Settings.get()
    settings.timezone = "Europe/Helsinki"
    settings.email_waiting_period_days = waiting_days
    db.session.commit()


def owner(email: str = "owner@example.com") -> User:
    found = db.session.scalar(select(User).where(User.email == email))
    if found:
        return found
    user = User(email=email, name=email.split("@")[0].title(), role="user")
    db.session.add(user)
    db.session.commit()
    return user


def contact(name: str, status: str = "lead", email: str | None = "", **values) -> Contact:
    row = Contact(first_name=name, last_name="Test", status=status,
                  email=f"{name.lower()}@example.com" if email == "" else email,
                  owner_id=owner().id, **values)
    db.session.add(row)
    db.session.commit()
    return row


def template(name: str = "Welcome") -> EmailTemplate:
    found = db.session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
    if found:
        return found
    row = EmailTemplate(name=name, subject=f"{name} {{{{ contact.first_name }}}}",
                        body_text="Hello {{ contact.first_name }}")
    db.session.add(row)
    db.session.commit()
    return row


def automation(*steps: dict, **values) -> Automation:
    values.setdefault("name", "Leads")
    values.setdefault("trigger", "status")
    values.setdefault("status_value", "lead")
    row = Automation(**values)
    for n, step in enumerate(steps, 1):
        step.setdefault("weekdays", "1-5")
        step.setdefault("at_time", time(9, 0))
        row.steps.append(AutomationStep(position=n, **step))
    db.session.add(row)
    db.session.commit()
    assert not row.problems(), row.problems()
    return row


def email_step(delay: int = 0, name: str = "Welcome", **values) -> dict:
    return {"kind": "email_contact", "template_id": template(name).id, "delay_days": delay,
            **values}


def task_step(delay: int = 0, subject: str = "Call them", **values) -> dict:
    return {"kind": "task", "subject": subject, "delay_days": delay, **values}


def switch_on(row: Automation, moment: datetime) -> dict:
    with clock.frozen(moment):
        done = activate(row, moment)
    db.session.commit()
    return done


def tick_at(moment: datetime) -> dict:
    """The automations check of one tick as if it were ``moment``."""
    with clock.frozen(moment):
        done = run_automations(moment)
    db.session.rollback()
    return done


def traces(contact_row: Contact | None = None) -> list[StepTrace]:
    db.session.rollback()
    query = select(StepTrace).order_by(StepTrace.contact_id, StepTrace.step_id, StepTrace.id)
    if contact_row is not None:
        query = query.where(StepTrace.contact_id == contact_row.id)
    return list(db.session.scalars(query))


def enrolments(row: Automation) -> list[AutomationEnrolment]:
    db.session.rollback()
    return list(db.session.scalars(
        select(AutomationEnrolment).where(AutomationEnrolment.automation_id == row.id)
        .order_by(AutomationEnrolment.contact_id, AutomationEnrolment.attempt)))


def set_status(row: Contact, status: str) -> None:
    row = db.session.get(Contact, row.id)
    row.status = status
    db.session.commit()
