"""The Scheduled actions screens over HTTP: the form with proper fields and its validation by
field, the live preview, details with history, Run now / Pause / Resume, refusing to delete
what an action uses, the group page's list, the group's automatic-email switch and the
dashboard."""

from __future__ import annotations

from datetime import time, timedelta

from sqlalchemy import select

from models import (
    Campaign,
    EmailTemplate,
    ScheduledAction,
    TargetGroup,
    clock,
    db,
)

from ..conftest import csrf_token
from .support import action, group, ledger, local, tick_at

FORM = {
    "name": "Morning calls", "kind": "group_activities", "activity_subject": "Soitto",
    "activity_type": "call", "activity_assignee": "owner", "activity_day": "next_working_day",
    "activity_day_offset": "0", "frequency": "weekly", "weekdays": ["1", "3"],
    "time_of_day": "07:30", "timezone": "Europe/Helsinki", "catch_up": "latest",
    "overlap": "skip", "max_failures": "3", "active": "y",
}


def post_form(client, url, data):
    token = csrf_token(client, url)
    return client.post(url, data={**data, "csrf_token": token})


def test_create_through_the_form_computes_the_next_run(admin_client, ctx):
    g = group()
    with clock.frozen(local(2027, 5, 1, 12)):
        response = post_form(admin_client, "/admin/scheduledaction/new/",
                             {**FORM, "target_group": str(g.id)})
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    db.session.rollback()
    (a,) = db.session.scalars(select(ScheduledAction)).all()
    assert (a.weekdays, a.time_of_day, a.activity_subject) == ("1,3", time(7, 30), "Soitto")
    assert a.next_run_at == local(2027, 5, 3, 7, 30)
    assert a.created_by_id is not None and a.owner_id is not None
    page = admin_client.get("/admin/scheduledaction/").get_data(as_text=True)
    assert "Morning calls" in page and "2027-05-03 07:30" in page


def test_the_form_names_the_field_that_is_wrong(admin_client, ctx):
    g = group()
    response = post_form(admin_client, "/admin/scheduledaction/new/",
                         {**FORM, "target_group": str(g.id), "activity_subject": "",
                          "activity_assignee": "user", "weekdays": []})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "give the activities a subject" in page
    assert "choose the user who gets the activities" in page
    assert "choose at least one weekday" in page
    response = post_form(admin_client, "/admin/scheduledaction/new/",
                         {**FORM, "kind": "copy_group", "target_group": str(g.id)})
    assert "choose the campaign to copy the group into" in response.get_data(as_text=True)
    assert 'name="params"' not in page  # never a JSON box
    db.session.rollback()
    assert db.session.scalars(select(ScheduledAction)).all() == []


def test_preview_shows_ten_local_runs_and_marks_daylight_saving(admin_client, ctx):
    token = csrf_token(admin_client, "/admin/scheduledaction/new/")
    with clock.frozen(local(2027, 3, 20, 12)):
        page = admin_client.post("/admin/scheduledaction/preview",
                                 data={"frequency": "daily", "time_of_day": "03:30",
                                       "timezone": "Europe/Helsinki"},
                                 headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert page.count("<li data-utc") == 10
    assert "Sun 2027-03-28 04:00" in page and "03:30 does not exist that day" in page
    bad = admin_client.post("/admin/scheduledaction/preview",
                            data={"frequency": "cron", "cron": "61 * * *",
                                  "timezone": "Mars/Olympus"},
                            headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "not a valid cron expression" in bad and "not a time zone" in bad


def test_details_run_now_pause_resume(admin_client, ctx, run_jobs):
    a = action(clock.now(), frequency="daily", time_of_day=time(3, 0), name="Nightly")
    url = f"/admin/scheduledaction/details/?id={a.id}"
    token = csrf_token(admin_client, url)
    assert admin_client.post("/admin/scheduledaction/run-now/",
                             data={"id": a.id, "csrf_token": token}).status_code == 302
    run_jobs()
    page = admin_client.get(url).get_data(as_text=True)
    assert "group refreshed: 0 members" in page and 'data-status="done"' in page
    admin_client.post("/admin/scheduledaction/pause/", data={"id": a.id, "csrf_token": token})
    db.session.rollback()
    assert not db.session.get(ScheduledAction, a.id).active
    assert "paused by admin@example.com" in admin_client.get(url).get_data(as_text=True)
    admin_client.post("/admin/scheduledaction/resume/", data={"id": a.id, "csrf_token": token})
    db.session.rollback()
    resumed = db.session.get(ScheduledAction, a.id)
    assert resumed.active and resumed.next_run_at is not None
    # Without the token nothing happens.
    admin_client.post("/admin/scheduledaction/pause/", data={"id": a.id})
    db.session.rollback()
    assert db.session.get(ScheduledAction, a.id).active
    assert len(ledger(a.id)) == 1


def test_deleting_a_used_group_or_campaign_is_refused_naming_the_action(admin_client, ctx):
    campaign = Campaign(name="Kevät")
    db.session.add(campaign)
    db.session.commit()
    a = action(clock.now(), kind="copy_group", campaign=campaign, frequency="daily",
               time_of_day=time(6, 0), name="Daily copy")
    for view, pk in (("targetgroup", a.target_group_id), ("campaign", campaign.id)):
        token = csrf_token(admin_client, f"/admin/{view}/")
        response = admin_client.post(f"/admin/{view}/delete/", data={"id": pk, "csrf_token": token},
                                     follow_redirects=True)
        assert "is used by scheduled action &#39;Daily copy&#39;" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(TargetGroup, a.target_group_id) and db.session.get(Campaign, campaign.id)


def test_the_group_page_lists_its_schedules(admin_client, ctx):
    a = action(clock.now(), frequency="daily", time_of_day=time(3, 0), name="Nightly refresh")
    page = admin_client.get(f"/admin/scheduledaction/group/{a.target_group_id}")
    assert "Nightly refresh" in page.get_data(as_text=True)
    details = admin_client.get(f"/admin/targetgroup/details/?id={a.target_group_id}")
    assert f"/admin/scheduledaction/group/{a.target_group_id}" in details.get_data(as_text=True)


def test_automatic_email_needs_a_template_with_send_timing(admin_client, ctx):
    now_template = EmailTemplate(name="Heti", subject="Hei", body_html="{{ unsubscribe_url }}",
                                 send_timing="immediately")
    db.session.add(now_template)
    db.session.commit()
    response = post_form(admin_client, "/admin/targetgroup/new/",
                         {"name": "Auto", "criteria": '{"all": []}', "sample_mode": "none",
                          "email_template": str(now_template.id), "automatic_email": "y"})
    assert "sends immediately" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalars(select(TargetGroup)).all() == []


def test_the_dashboard_shows_the_last_tick_and_overdue_actions(admin_client, ctx):
    assert "never ticked" in admin_client.get("/admin/").get_data(as_text=True)
    a = action(clock.now() - timedelta(days=2), frequency="daily", time_of_day=time(3, 0),
               name="Late one")
    tick_at(clock.now() - timedelta(days=3))  # a tick long ago: nothing was due then
    page = admin_client.get("/admin/").get_data(as_text=True)
    status = page[page.index("kohde-scheduler-status"):page.index("Recent jobs")]
    assert "Last tick" in status and "Late one" in status, status
    assert f"/admin/scheduledaction/details/?id={a.id}" in status


def test_targets_read_as_words_in_the_list_the_details_and_the_form_preview(admin_client, ctx):
    g = TargetGroup(name="Helsinki fi", criteria={"all": [
        {"field": "language", "op": "eq", "value": "fi"},
        {"field": "city", "op": "eq", "value": "Helsinki"}]})
    campaign = Campaign(name="Kevät", active=True)
    db.session.add_all([g, campaign])
    db.session.commit()
    a = action(clock.now(), kind="copy_group", target_group=g, campaign=campaign,
               name="Nightly copy")
    words = "(Language is Finnish and city is Helsinki)"
    expected = [f">Helsinki fi</a> <span class=\"text-muted small\" data-criteria-sentence>"
                f"{words}</span> → <a href=\"/admin/campaign/details/?id={campaign.id}\">"
                f"{campaign.number} Kevät</a>"]
    for url in ("/admin/scheduledaction/", f"/admin/scheduledaction/details/?id={a.id}"):
        page = admin_client.get(url).get_data(as_text=True)
        assert all(e in page for e in expected), url
        assert '{"all"' not in page and "&#34;all&#34;" not in page
    token = csrf_token(admin_client, "/admin/scheduledaction/new/")
    preview = admin_client.post("/admin/scheduledaction/preview", data={
        "frequency": "daily", "time_of_day": "03:30", "timezone": "Europe/Helsinki",
        "target_group": str(g.id), "campaign": str(campaign.id)},
        headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "Target: " in preview and all(e in preview for e in expected)
