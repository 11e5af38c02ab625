"""Helpers the scheduled-action tests share: actions, ticks at a frozen moment, the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jobs.scheduler import tick
from models import ScheduledAction, ScheduledActionRun, TargetGroup, clock, db

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(*args) -> datetime:
    """A Helsinki wall-clock time as an aware UTC instant (first occurrence)."""
    return datetime(*args, tzinfo=HELSINKI).astimezone(UTC)


def group(name: str = "Asiakkaat", **values) -> TargetGroup:
    """A target group (no conditions: every contact), committed."""
    found = db.session.scalar(select(TargetGroup).where(TargetGroup.name == name))
    if found:
        return found
    row = TargetGroup(name=name, criteria={"all": []}, **values)
    db.session.add(row)
    db.session.commit()
    return row


def action(now: datetime, **values) -> ScheduledAction:
    """A refresh action (unless told otherwise) whose next run is computed at ``now``."""
    values.setdefault("kind", "refresh_group")
    values.setdefault("timezone", "Europe/Helsinki")
    values.setdefault("name", f"{values['kind']} {values.get('frequency', 'daily')}")
    if "target_group" not in values and "target_group_id" not in values:
        values["target_group"] = group()
    row = ScheduledAction(**values)
    row.compute_next_run(now)
    db.session.add(row)
    db.session.commit()
    return row


def tick_at(moment: datetime) -> dict:
    """One scheduler tick as if it were ``moment``; the schedules check's result."""
    with clock.frozen(moment):
        done = tick()
    db.session.rollback()
    assert not isinstance(done["schedules"], str), done["schedules"]
    return done["schedules"]


def ledger(action_id: int | None = None) -> list[ScheduledActionRun]:
    """Ledger rows (of one action), by due time; read fresh."""
    db.session.rollback()
    query = select(ScheduledActionRun).order_by(ScheduledActionRun.due_at, ScheduledActionRun.id)
    if action_id is not None:
        query = query.where(ScheduledActionRun.action_id == action_id)
    return list(db.session.scalars(query))
