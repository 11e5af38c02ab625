"""Action types really running (real database, Redis, worker and mail sink): the group's
automatic email week after week, activities from a schedule, pausing after failures,
undo of a run, refusing to delete what an action uses, and the CLI."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from jobs.schedules import run_now, start_undo_run
from models import (
    ActionInUse,
    Activity,
    Campaign,
    CampaignMember,
    Contact,
    EmailTemplate,
    OutboxMessage,
    Role,
    ScheduledAction,
    ScheduledActionRun,
    Settings,
    TargetGroup,
    clock,
    db,
)
from models.groups.refresh import refresh

from ..conftest import activity_slots, make_user
from .support import action, ledger, local, tick_at

BODY = '<p>Hei {{ contact.first_name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
MONDAY = local(2027, 5, 3, 9, 0)  # Monday 2027-05-03 09:00 Helsinki


@pytest.fixture
def newsletter(ctx):
    """A weekly template (Mondays 09:00) and a group of five with one opted out, one with an
    invalid address; the group's automatic email switched on, refreshed at send time."""
    settings = Settings.get()
    settings.timezone, settings.email_messages_per_second = "Europe/Helsinki", 1000
    owner = make_user("olli@example.fi", Role.ADMIN)
    template = EmailTemplate(name="Uutiskirje", subject="Uutiskirje", body_html=BODY,
                             send_timing="scheduled", send_weekdays="1", send_time=time(9, 0))
    people = [Contact(first_name=f"P{n}", email=f"p{n}@example.fi") for n in range(3)]
    people.append(Contact(first_name="Opted", email="out@example.fi", email_opt_out=True))
    people.append(Contact(first_name="Bad", email="not-an-address"))
    db.session.add_all([template, *people])
    db.session.commit()
    with clock.frozen(MONDAY - timedelta(days=2)):
        group = TargetGroup(name="Uutiskirje fi", criteria={"all": []}, owner=owner,
                            email_template=template, automatic_email=True,
                            automatic_email_refresh_minutes=0)
        db.session.add(group)
        db.session.commit()
    return group


def campaigns() -> list[Campaign]:
    db.session.rollback()
    return list(db.session.scalars(select(Campaign).order_by(Campaign.id)))


def messages(campaign: Campaign) -> dict[str, str]:
    rows = db.session.execute(select(Contact.email, OutboxMessage.state,
                                     OutboxMessage.suppressed_reason)
                              .join(Contact, Contact.id == OutboxMessage.contact_id)
                              .where(OutboxMessage.campaign_id == campaign.id)).all()
    return {email: reason or state for email, state, reason in rows}


def test_weekly_group_email_new_campaign_each_monday_waiting_period_then_off(
        newsletter, mailbox, run_jobs):
    (auto,) = db.session.scalars(select(ScheduledAction)).all()
    assert (auto.kind, auto.origin, auto.weekdays, auto.time_of_day, auto.active) == \
        ("group_email", "group_email", "1", time(9, 0), True)
    assert auto.next_run_at == MONDAY and auto.refresh_first

    assert tick_at(MONDAY)["started"] == 1
    run_jobs()
    (first,) = campaigns()
    assert first.name == "Uutiskirje fi 2027-05-03" and first.number
    assert first.owner_id == newsletter.owner_id
    members = db.session.scalars(select(CampaignMember).where(
        CampaignMember.campaign_id == first.id)).all()
    assert len(members) == 5 and {m.source for m in members} == {"group"}
    assert messages(first) == {"p0@example.fi": "sent", "p1@example.fi": "sent",
                               "p2@example.fi": "sent", "out@example.fi": "opted_out",
                               "not-an-address": "invalid_email"}
    (run,) = ledger(auto.id)
    assert run.status == "done" and run.campaign_id == first.id
    assert "campaign 'Uutiskirje fi 2027-05-03' created" in run.summary
    assert "3 messages queued, 2 suppressed (" in run.summary
    assert "opted out of email 1" in run.summary and "invalid email address 1" in run.summary

    # A week later: one new contact; the rest got this template within the waiting period.
    db.session.add(Contact(first_name="New", email="new@example.fi"))
    db.session.commit()
    tick_at(MONDAY + timedelta(days=7))
    run_jobs()
    second = campaigns()[1]
    assert second.name == "Uutiskirje fi 2027-05-10"
    assert messages(second) == {"new@example.fi": "sent", "p0@example.fi": "waiting_period",
                                "p1@example.fi": "waiting_period",
                                "p2@example.fi": "waiting_period",
                                "out@example.fi": "opted_out",
                                "not-an-address": "invalid_email"}
    assert "within the waiting period 3" in ledger(auto.id)[-1].summary
    assert "6 members linked" in ledger(auto.id)[-1].summary  # the refresh found "New"

    # Switched off: paused with the reason, nothing more happens.
    with clock.frozen(MONDAY + timedelta(days=8)):
        newsletter = db.session.get(TargetGroup, newsletter.id)
        newsletter.automatic_email = False
        db.session.commit()
    db.session.refresh(auto)
    assert not auto.active and "switched off" in auto.paused_reason
    assert tick_at(MONDAY + timedelta(days=14)).get("due") == 0
    run_jobs()
    assert len(campaigns()) == 2
    assert sorted(mailbox.recipients()) == ["new@example.fi", "p0@example.fi", "p1@example.fi",
                                            "p2@example.fi"]


def test_refresh_minutes_before_makes_a_refresh_action_and_immediately_cannot_drive(newsletter):
    with clock.frozen(MONDAY - timedelta(days=2)):
        newsletter.automatic_email_refresh_minutes = 15
        db.session.commit()
    actions = {a.origin: a for a in db.session.scalars(select(ScheduledAction))}
    refresh_action = actions["group_refresh"]
    assert (refresh_action.kind, refresh_action.weekdays, refresh_action.time_of_day) == \
        ("refresh_group", "1", time(8, 45))
    assert refresh_action.next_run_at == MONDAY - timedelta(minutes=15)
    assert not actions["group_email"].refresh_first
    # The template switched to "immediately": both pause, saying why.
    newsletter.email_template.send_timing = "immediately"
    db.session.commit()
    for a in actions.values():
        db.session.refresh(a)
        assert not a.active and "sends immediately" in a.paused_reason


def test_the_installation_switch_turns_every_automatic_email_off(newsletter, run_jobs):
    Settings.get().automatic_email_campaigns = False
    db.session.commit()
    tick_at(MONDAY)
    run_jobs()
    (run,) = ledger()
    assert run.status == "skipped" and "switched off" in run.summary
    assert campaigns() == []


def test_undo_of_a_group_email_run_removes_members_and_cancels_unsent_messages(
        newsletter, run_jobs):
    # No mail sink: the send job cannot deliver, so the messages stay unsent for undo.
    tick_at(MONDAY)
    run_jobs()
    (first,) = campaigns()
    (run,) = ledger()
    assert run.status == "done"
    start_undo_run(run)
    run_jobs()
    db.session.rollback()
    assert db.session.scalars(select(CampaignMember).where(
        CampaignMember.campaign_id == first.id)).all() == []
    assert not db.session.get(Campaign, first.id).active
    assert db.session.get(ScheduledActionRun, run.id).result["undo"] == (
        "undone: 5 members removed, 3 unsent messages cancelled; "
        "campaign 'Uutiskirje fi 2027-05-03' made inactive")
    assert set(messages(first).values()) == {"cancelled", "opted_out", "invalid_email"}


def test_activities_from_a_schedule_avoid_taken_slots(ctx, run_jobs):
    activity_slots(60, time(11, 0))  # 08, 09, 10 on working days
    anna = make_user("anna@example.fi", Role.USER)
    people = [Contact(last_name=f"C{n}", email=f"c{n}@example.fi", owner=anna) for n in range(3)]
    group = TargetGroup(name="Soitettavat", criteria={"all": []})
    db.session.add_all([*people, group])
    busy_from = local(2027, 5, 4, 9, 0)  # Tuesday 09:00–10:00 is taken
    db.session.add(Activity(subject="Dentist", owner=anna, start_at=busy_from,
                            end_at=busy_from + timedelta(hours=1)))
    db.session.commit()
    refresh(group)
    a = action(MONDAY - timedelta(days=1), kind="group_activities", target_group=group,
               frequency="daily", time_of_day=time(7, 0), activity_day="next_working_day",
               activity_subject="Soitto", activity_type="call", name="Calls")
    tick_at(local(2027, 5, 3, 7, 0))
    run_jobs()
    (run,) = ledger(a.id)
    assert run.status == "done", run.error
    starts = [x.start_at for x in db.session.scalars(
        select(Activity).where(Activity.subject == "Soitto").order_by(Activity.start_at))]
    assert starts == [local(2027, 5, 4, 8), local(2027, 5, 4, 10), local(2027, 5, 5, 8)]
    assert "3 activities 'Soitto' created" in run.summary


def test_three_failures_in_a_row_pause_the_action_with_the_reason(ctx, run_jobs):
    group = TargetGroup(name="Broken", criteria={"all": [{"field": "nope", "op": "eq",
                                                          "value": 1}]})
    db.session.add(group)
    db.session.commit()
    a = action(MONDAY - timedelta(hours=4), target_group=group, frequency="hourly",
               interval_hours=1, start_at=datetime(2027, 5, 3, 6, 0))
    for hour in (6, 7, 8):
        tick_at(local(2027, 5, 3, hour, 0))
        run_jobs()
    db.session.refresh(a)
    assert [r.status for r in ledger(a.id)] == ["failed"] * 3
    assert not a.active and a.failure_streak == 3
    assert a.paused_reason.startswith("paused after 3 failed runs in a row")
    assert tick_at(local(2027, 5, 3, 9, 0))["due"] == 0


def test_deleting_a_group_an_action_uses_is_refused_naming_it(ctx):
    a = action(MONDAY, frequency="daily", time_of_day=time(9, 0), name="Nightly")
    group = db.session.get(TargetGroup, a.target_group_id)
    db.session.delete(group)
    with pytest.raises(ActionInUse, match="'Nightly'"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(TargetGroup, group.id) is not None


def test_cli_create_list_show_run_now_pause_resume_delete(app, ctx, run_jobs):
    make_user("olli@example.fi", Role.ADMIN)
    group = TargetGroup(name="Kaikki", criteria={"all": []})
    db.session.add_all([group, Contact(first_name="A", email="a@example.fi")])
    db.session.commit()
    cli = app.test_cli_runner()

    def kohde(*args):
        result = cli.invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output

    out = kohde("schedules", "create", "Weekly refresh", "--type", "refresh-group",
                "--group", "Kaikki", "--weekly", "1,3", "--at", "07:15",
                "--timezone", "Europe/Helsinki", "--owner", "olli@example.fi")
    assert "weekly on Mon, Wed at 07:15 (Europe/Helsinki)" in out
    bad = cli.invoke(args=["schedules", "create", "X", "--type", "copy-group", "--group",
                           "Kaikki", "--daily", "08:00"])
    assert bad.exit_code != 0 and "campaign: choose the campaign" in bad.output
    listed = json.loads(kohde("schedules", "list", "--json"))
    assert [(a["name"], a["active"]) for a in listed] == [("Weekly refresh", True)]
    db.session.rollback()
    (a,) = db.session.scalars(select(ScheduledAction)).all()
    run = run_now(a)  # through the function, then the CLI's own below
    run_jobs()
    assert ledger(a.id)[0].status == "done"
    assert json.loads(kohde("schedules", "pause", "Weekly refresh", "--json"))["active"] is False
    assert json.loads(kohde("schedules", "show", "Weekly refresh", "--json"))["active"] is False
    kohde("schedules", "resume", "Weekly refresh")
    shown = json.loads(kohde("schedules", "show", str(a.id), "--json"))
    assert shown["active"] is True and len(shown["next_runs"]) == 10
    assert shown["runs"][0]["summary"].startswith("'Kaikki' group refreshed: 1 members")
    assert run.id == shown["runs"][0]["id"]
    assert json.loads(kohde("schedules", "delete", "Weekly refresh", "--json"))["deleted"] == a.id
    db.session.rollback()
    assert db.session.scalars(select(ScheduledAction)).all() == []
