"""Driving the group-activity wizard over HTTP the way a browser posts its forms."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models import Activity, ActivityWizardRun, db
from tests.conftest import activity_slots, csrf_token

HELSINKI = ZoneInfo("Europe/Helsinki")
BASE = "/admin/activity_wizard"


def first_day() -> date:
    """A day well ahead (steps refuse past days), so no slot has begun yet."""
    return datetime.now(HELSINKI).date() + timedelta(days=30)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Helsinki."""
    return datetime.combine(day, time(hour, minute), HELSINKI)


def hourly_slots() -> None:
    """Hour-long slots 08–16 (eight a day), every day a working day, Helsinki time."""
    activity_slots(60, time(16, 0), working_days="1,2,3,4,5,6,7")


def criteria(city: str) -> str:
    """The builder's hidden input for "city is …"."""
    return json.dumps({"all": [{"field": "city", "op": "eq", "value": city}]})


class Wizard:
    """One wizard run: ``post(step, …)`` answers the response; ``go`` is Next by default."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = csrf_token(client, f"{BASE}/")
        started = client.post(f"{BASE}/start", data={"csrf_token": self.token})
        assert started.status_code == 302, started.status_code
        self.url = started.headers["Location"].rsplit("/", 1)[0]
        self.id = int(self.url.rsplit("/", 1)[1])

    def get(self, step, **args):
        """GET a step page (or a sub-path such as ``report.csv``)."""
        return self.client.get(f"{self.url}/{step}", query_string=args)

    def post(self, step, data=None, **fields):
        """POST a step's form with the CSRF token (``data`` for repeated keys)."""
        payload = {"csrf_token": self.token, **fields}
        if data:
            payload.update(data)
        return self.client.post(f"{self.url}/{step}", data=payload)

    def details(self, day: date, **values):
        """Step 4 with sensible defaults."""
        fields = {"activity_type": "call", "subject": "Winter offer", "notes": "Mention the 10 %",
                  "day": day.isoformat(), "campaign_id": "", "assignment": "user",
                  "user_id": "", "fallback_user_id": "", **values}
        return self.post(4, **fields)

    def create(self, run_jobs):
        """Step 6's Create, the job run by a worker; answers the job id."""
        response = self.client.post(f"{self.url}/create", data={"csrf_token": self.token})
        assert response.status_code == 302, response.get_data(as_text=True)
        run_jobs()
        return self.job_id()

    def job_id(self) -> str | None:
        """The job the run made its activities with."""
        db.session.expire_all()
        return db.session.get(ActivityWizardRun, self.id).job_id


def made(job_id: str) -> list[Activity]:
    """The activities one job created, by start."""
    return db.session.scalars(select(Activity).where(Activity.job_id == job_id)
                              .order_by(Activity.start_at, Activity.id)).all()
