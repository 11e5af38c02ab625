"""The automation screens over HTTP, CSRF included: list, builder (htmx), who is at which
step, dry run, Activate / Deactivate, edit with the effect shown first, the contact's page;
workflows for admins only."""

from __future__ import annotations

from sqlalchemy import select

from models import Automation, AutomationStep, StepTrace, db

from ..conftest import csrf_token
from .support import automation, contact, email_step, helsinki, local, template, tick_at


def _token(client, automation_id: int) -> str:
    return csrf_token(client, f"/admin/automation/details/?id={automation_id}")


def test_builder_dry_run_activate_and_counts(admin_client, ctx):
    helsinki()
    welcome = template("Welcome")
    row = automation(email_step(0))
    anna = contact("Anna")
    contact("Optout", email_opt_out=True)
    page = admin_client.get(f"/admin/automation/details/?id={row.id}").get_data(as_text=True)
    assert "2</strong> contacts would enter now" in page
    assert "1 opted out" in page
    token = _token(admin_client, row.id)
    # Without the CSRF header the builder refuses.
    assert admin_client.post(f"/admin/automation/{row.id}/steps/add",
                             data={"kind": "task"}).status_code == 400
    html = admin_client.post(f"/admin/automation/{row.id}/steps/add",
                             data={"kind": "task", "subject": "Call", "delay_days": "1",
                                   "weekdays": "1-5", "at_time": "10:00"},
                             headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "task &#39;Call&#39;" in html or "task 'Call'" in html
    second = db.session.scalar(select(AutomationStep).where(AutomationStep.position == 2))
    admin_client.post(f"/admin/automation/steps/{second.id}/move", data={"direction": "up"},
                      headers={"X-CSRFToken": token})
    db.session.rollback()
    assert db.session.get(AutomationStep, second.id).position == 1
    bad = admin_client.post(f"/admin/automation/{row.id}/steps/add", data={"kind": "task"},
                            headers={"X-CSRFToken": token})
    assert bad.status_code == 422 and "subject" in bad.get_data(as_text=True)

    assert admin_client.post("/admin/automation/activate/",
                             data={"id": row.id, "csrf_token": token}).status_code == 302
    db.session.rollback()
    assert db.session.get(Automation, row.id).active
    tick_at(local(2026, 12, 7, 10))
    tick_at(local(2026, 12, 8, 9, 30))
    listing = admin_client.get("/admin/automation/").get_data(as_text=True)
    assert "Email to the contact: Queued 1, Suppressed 1" in listing
    first_email = db.session.scalar(select(AutomationStep).where(
        AutomationStep.template_id == welcome.id))
    people = admin_client.get(f"/admin/automation/steps/{first_email.id}/contacts?state=queued")
    assert "Anna" in people.get_data(as_text=True)
    history = admin_client.get(f"/admin/contact_automations/{anna.id}").get_data(as_text=True)
    assert "Leads" in history and "Queued" in history

    # Editing the pending task: the effect first, then saved (done steps untouched).
    task = db.session.get(AutomationStep, second.id)
    fields = {"kind": "task", "subject": "Call", "delay_days": "3", "weekdays": "1-5",
              "at_time": "10:00"}
    effect = admin_client.post(f"/admin/automation/steps/{task.id}/preview", data=fields,
                               headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "Saving moves <strong>2</strong> pending steps" in effect
    db.session.rollback()
    assert db.session.get(AutomationStep, task.id).delay_days == 1  # nothing saved yet
    admin_client.post(f"/admin/automation/steps/{task.id}/save", data=fields,
                      headers={"X-CSRFToken": token})
    db.session.rollback()
    dues = {t.due_at for t in db.session.scalars(select(StepTrace)
                                                 .where(StepTrace.step_id == task.id))}
    assert dues == {local(2026, 12, 10, 10)}

    assert admin_client.post("/admin/automation/deactivate/",
                             data={"id": row.id, "csrf_token": token}).status_code == 302
    db.session.rollback()
    assert not db.session.get(Automation, row.id).active


def test_admins_only(user_client, ctx):
    assert user_client.get("/admin/automation/").status_code == 403
    assert user_client.get("/admin/workflow/").status_code == 403
    assert user_client.get("/admin/workflowrun/").status_code == 403
