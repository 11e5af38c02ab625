"""Campaign audiences: every action against hand-computed members, dry run = real run, undo,
failures that change nothing, and two real workers at once.

The people below are chosen to trip a naive implementation: Anna and Anni share
an address once it is trimmed and lower-cased, so do Eve and Gus; Carl has no
email and Dora an empty one; Dora, Eve and Gus have no company; four are leads;
Bob and Fred opted out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, insert, select

from jobs.groups import refresh
from jobs.runs import enqueue
from models import (
    Campaign,
    CampaignMember,
    CampaignMemberRemoval,
    Company,
    Contact,
    ContactKind,
    FilterModule,
    JobRun,
    JobStatus,
    MemberSource,
    Role,
    SavedFilter,
    TargetGroup,
    TargetGroupMember,
    db,
)
from models.campaigns.audience import Action, AudienceError, dry_run, summary
from tests.conftest import make_user, process_env

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FINNISH = {"all": [{"field": "language", "op": "eq", "value": "fi"}]}
SWEDISH = {"all": [{"field": "language", "op": "eq", "value": "sv"}]}
LEADS = {"all": [{"field": "kind", "op": "eq", "value": "lead"}]}
EVERYONE = {"all": []}

# name: (email, company, kind, opted out, language)
PEOPLE = {
    "Anna": ("Anna@Example.com ", "Acme", ContactKind.CONTACT, False, "fi"),
    "Anni": ("anna@example.com", "Beta", ContactKind.LEAD, False, "sv"),
    "Bob": ("bob@example.com", "Acme", ContactKind.CONTACT, True, "fi"),
    "Carl": (None, "Acme", ContactKind.CONTACT, False, "fi"),
    "Dora": ("", None, ContactKind.LEAD, False, "fi"),
    "Eve": (" EVE@example.com", None, ContactKind.CONTACT, False, "sv"),
    "Fred": ("fred@example.com", "Beta", ContactKind.LEAD, True, "fi"),
    "Gus": ("eve@example.com", None, ContactKind.LEAD, False, None),
}
EVERYBODY = set(PEOPLE)
FINNS = {"Anna", "Bob", "Carl", "Dora", "Fred"}
LEAD_NAMES = {"Anni", "Dora", "Fred", "Gus"}
# When each joins in the dedupe tests (minutes after T0): not id order, so "earliest
# added" and "lowest id" keep different people.
JOINED = {"Gus": 0, "Anni": 1, "Bob": 2, "Fred": 3, "Eve": 4, "Anna": 5, "Carl": 6, "Dora": 7}


@pytest.fixture
def w(ctx):
    """The people, two companies, a CRM user who runs the jobs, and an empty campaign."""
    user = make_user("crm@example.com", Role.USER)
    other = make_user("colleague@example.com", Role.USER)
    companies = {name: Company(name=name) for name in ("Acme", "Beta")}
    people = {}
    for name, (email, company, kind, opted_out, language) in PEOPLE.items():
        people[name] = Contact(first_name=name, last_name="Test", email=email,
                               company=companies.get(company), kind=kind,
                               email_opt_out=opted_out, language=language)
    campaign = Campaign(name="Spring")
    db.session.add_all([*companies.values(), *people.values(), campaign])
    db.session.commit()
    return SimpleNamespace(user=user, other=other, people=people, campaign=campaign)


def ids(w, names) -> list[int]:
    return sorted(w.people[n].id for n in names)


def names_of(campaign_id: int) -> set[str]:
    """The campaign's members by first name, read fresh from the database."""
    db.session.expire_all()
    return set(
        db.session.scalars(
            select(Contact.first_name)
            .join(CampaignMember, CampaignMember.contact_id == Contact.id)
            .where(CampaignMember.campaign_id == campaign_id)
        )
    )


def member_rows(campaign_id: int) -> set[tuple]:
    """Every column of every member row: what undo must restore exactly."""
    db.session.expire_all()
    table = CampaignMember.__table__
    rows = db.session.execute(select(table).where(table.c.campaign_id == campaign_id))
    return {tuple(r) for r in rows}


def put(w, campaign, names, *, minutes=None, source=MemberSource.MANUAL, source_ref=None,
        added_by=None, job_id=None) -> None:
    """Make people members directly, with the join time and provenance a test needs."""
    for name in names:
        minute = (minutes or JOINED)[name]
        db.session.add(CampaignMember(campaign_id=campaign.id, contact_id=w.people[name].id,
                                      added_at=T0 + timedelta(minutes=minute), source=source,
                                      source_ref=source_ref, added_by_id=added_by,
                                      job_id=job_id))
    db.session.commit()


def group(name: str, criteria: dict) -> TargetGroup:
    """A target group with its members stored by a real refresh."""
    made = TargetGroup(name=name, criteria=criteria)
    db.session.add(made)
    db.session.commit()
    refresh(made)
    return made


def saved_filter(name: str, module: FilterModule, criteria: dict) -> SavedFilter:
    made = SavedFilter(name=name, module=module, criteria=criteria)
    db.session.add(made)
    db.session.commit()
    return made


def start(w, campaign, action: Action, source_id=None, contact_ids=None, refresh_group=False,
          user=None) -> JobRun:
    """Enqueue an audience job as the CRM user (no dry run, no checks: as a queued job is)."""
    params = {"campaign_id": campaign.id, "action": action.value, "source_id": source_id,
              "contact_ids": contact_ids, "refresh_group": refresh_group}
    return enqueue("campaign_audience", params, user_id=(user or w.user).id)


def reload(run_id: str) -> JobRun:
    db.session.expire_all()
    return db.session.get(JobRun, run_id)


def act(w, run_jobs, campaign, action: Action, source_id=None, contact_ids=None,
        refresh_group=False) -> JobRun:
    """Dry run, then the job; the job must end done and do exactly what the dry run said."""
    preview = dry_run(campaign.id, action, source_id, contact_ids)
    run = start(w, campaign, action, source_id, contact_ids, refresh_group)
    run_jobs()
    run = reload(run.id)
    assert run.status == JobStatus.DONE, run.error
    if "would_add" in preview:
        assert run.result["added"] == preview["would_add"], (preview, run.result)
    else:
        assert run.result["removed"] == preview["would_remove"], (preview, run.result)
    return run


def undo(run_jobs, run_id: str) -> JobRun:
    undo_run = enqueue("undo_audience", {"run_id": run_id})
    run_jobs()
    return reload(undo_run.id)


# --- adding -------------------------------------------------------------------------------


def test_copy_group_adds_its_members_and_records_who_how_and_which_job(w, run_jobs):
    finns = group("Finns", FINNISH)
    assert dry_run(w.campaign.id, Action.COPY_GROUP, finns.id) == {
        "action": "copy_group", "would_add": 5, "already_members": 0}
    run = act(w, run_jobs, w.campaign, Action.COPY_GROUP, finns.id)
    assert {k: run.result[k] for k in ("campaign_id", "action", "added")} == {
        "campaign_id": w.campaign.id, "action": "copy_group", "added": 5}
    assert names_of(w.campaign.id) == FINNS
    for row in db.session.scalars(select(CampaignMember)):
        assert (row.source, row.source_ref, row.added_by_id, row.job_id) == (
            MemberSource.GROUP, finns.id, w.user.id, run.id)
        assert run.started_at <= row.added_at <= run.finished_at


def test_copying_the_same_group_again_adds_nothing(w, run_jobs):
    finns = group("Finns", FINNISH)
    first = act(w, run_jobs, w.campaign, Action.COPY_GROUP, finns.id)
    before = member_rows(w.campaign.id)
    assert dry_run(w.campaign.id, Action.COPY_GROUP, finns.id) == {
        "action": "copy_group", "would_add": 0, "already_members": 5}
    again = act(w, run_jobs, w.campaign, Action.COPY_GROUP, finns.id)
    assert again.id != first.id and again.result["added"] == 0
    assert member_rows(w.campaign.id) == before  # the first job's rows, untouched


def test_copying_an_overlapping_group_adds_only_the_new_people(w, run_jobs):
    put(w, w.campaign, FINNS)
    leads = group("Leads", LEADS)
    assert dry_run(w.campaign.id, Action.COPY_GROUP, leads.id) == {
        "action": "copy_group", "would_add": 2, "already_members": 2}  # Dora, Fred are in
    act(w, run_jobs, w.campaign, Action.COPY_GROUP, leads.id)
    assert names_of(w.campaign.id) == FINNS | LEAD_NAMES


def test_copy_group_with_refresh_copies_the_groups_members_as_of_now(w, run_jobs):
    finns = group("Finns", FINNISH)
    w.people["Eve"].language = "fi"  # joins the group's conditions after its last refresh
    db.session.commit()
    act(w, run_jobs, w.campaign, Action.COPY_GROUP, finns.id)
    assert names_of(w.campaign.id) == FINNS  # stored members only
    run = start(w, w.campaign, Action.COPY_GROUP, finns.id, refresh_group=True)
    run_jobs()
    run = reload(run.id)
    assert run.status == JobStatus.DONE, run.error
    assert run.result["group_refresh"] == {"added": 1, "removed": 0, "members": 6}
    assert run.result["added"] == 1
    assert names_of(w.campaign.id) == FINNS | {"Eve"}


def test_copy_campaign_adds_the_other_campaigns_members(w, run_jobs):
    source = Campaign(name="Autumn")
    db.session.add(source)
    db.session.commit()
    put(w, source, {"Anna", "Eve", "Gus"})
    put(w, w.campaign, {"Anna"})
    assert dry_run(w.campaign.id, Action.COPY_CAMPAIGN, source.id) == {
        "action": "copy_campaign", "would_add": 2, "already_members": 1}
    run = act(w, run_jobs, w.campaign, Action.COPY_CAMPAIGN, source.id)
    assert names_of(w.campaign.id) == {"Anna", "Eve", "Gus"}
    added = db.session.scalars(select(CampaignMember).where(CampaignMember.job_id == run.id))
    assert {(m.contact.first_name, m.source, m.source_ref, m.added_by_id) for m in added} == {
        ("Eve", MemberSource.CAMPAIGN, source.id, w.user.id),
        ("Gus", MemberSource.CAMPAIGN, source.id, w.user.id)}
    assert names_of(source.id) == {"Anna", "Eve", "Gus"}  # the source is only read


@pytest.mark.parametrize(
    ("module", "criteria", "expected"),
    [
        # A contact filter selects by its conditions alone (leads too).
        (FilterModule.CONTACT, SWEDISH, {"Anni", "Eve"}),
        (FilterModule.CONTACT, EVERYONE, EVERYBODY),
        # A lead filter: only leads.
        (FilterModule.LEAD, SWEDISH, {"Anni"}),
        (FilterModule.LEAD, EVERYONE, LEAD_NAMES),
        # A company filter: the contacts of the companies it selects; no company, no load.
        (FilterModule.COMPANY, {"all": [{"field": "company.name", "op": "eq", "value": "Acme"}]},
         {"Anna", "Bob", "Carl"}),
        (FilterModule.COMPANY, EVERYONE, {"Anna", "Anni", "Bob", "Carl", "Fred"}),
    ],
)
def test_load_filter(w, run_jobs, module, criteria, expected):
    put(w, w.campaign, {"Anna"})
    chosen = saved_filter("Chosen", module, criteria)
    preview = dry_run(w.campaign.id, Action.LOAD_FILTER, chosen.id)
    assert preview["would_add"] == len(expected - {"Anna"})
    assert preview["already_members"] == len(expected & {"Anna"})
    run = act(w, run_jobs, w.campaign, Action.LOAD_FILTER, chosen.id)
    assert names_of(w.campaign.id) == expected | {"Anna"}
    sources = db.session.execute(select(CampaignMember.source, CampaignMember.source_ref)
                                 .where(CampaignMember.job_id == run.id)).all()
    assert set(sources) <= {(MemberSource.FILTER, chosen.id)}


def test_add_single_contacts(w, run_jobs):
    put(w, w.campaign, {"Carl"}, added_by=w.other.id)
    assert dry_run(w.campaign.id, Action.ADD_CONTACTS, contact_ids=ids(w, {"Carl", "Eve"})) == {
        "action": "add_contacts", "would_add": 1, "already_members": 1}
    run = act(w, run_jobs, w.campaign, Action.ADD_CONTACTS, contact_ids=ids(w, {"Carl", "Eve"}))
    assert names_of(w.campaign.id) == {"Carl", "Eve"}
    eve = db.session.get(CampaignMember, (w.campaign.id, w.people["Eve"].id))
    assert (eve.source, eve.source_ref, eve.added_by_id, eve.job_id) == (
        MemberSource.MANUAL, None, w.user.id, run.id)
    carl = db.session.get(CampaignMember, (w.campaign.id, w.people["Carl"].id))
    assert (carl.added_by_id, carl.job_id) == (w.other.id, None)  # already in: left as it was


# --- removing -----------------------------------------------------------------------------


def test_remove_group_removes_its_members_that_are_in_the_campaign(w, run_jobs):
    put(w, w.campaign, {"Anna", "Anni", "Eve", "Fred"})
    finns = group("Finns", FINNISH)
    assert dry_run(w.campaign.id, Action.REMOVE_GROUP, finns.id) == {
        "action": "remove_group", "would_remove": 2}  # Anna, Fred
    act(w, run_jobs, w.campaign, Action.REMOVE_GROUP, finns.id)
    assert names_of(w.campaign.id) == {"Anni", "Eve"}


def test_remove_campaign_removes_the_members_both_have(w, run_jobs):
    other = Campaign(name="Autumn")
    db.session.add(other)
    db.session.commit()
    put(w, other, {"Anna", "Eve", "Gus"})
    put(w, w.campaign, {"Anna", "Bob", "Eve"})
    assert dry_run(w.campaign.id, Action.REMOVE_CAMPAIGN, other.id)["would_remove"] == 2
    act(w, run_jobs, w.campaign, Action.REMOVE_CAMPAIGN, other.id)
    assert names_of(w.campaign.id) == {"Bob"}
    assert names_of(other.id) == {"Anna", "Eve", "Gus"}


@pytest.mark.parametrize(
    ("module", "criteria", "kept"),
    [
        (FilterModule.CONTACT, FINNISH, FINNS),  # Gus has no language: not Finnish
        (FilterModule.LEAD, EVERYONE, LEAD_NAMES),
        (FilterModule.COMPANY, {"all": [{"field": "company.name", "op": "eq", "value": "Beta"}]},
         {"Anni", "Fred"}),
    ],
)
def test_keep_only_removes_the_members_the_filter_does_not_select(w, run_jobs, module, criteria,
                                                                  kept):
    put(w, w.campaign, EVERYBODY)
    chosen = saved_filter("Chosen", module, criteria)
    assert dry_run(w.campaign.id, Action.KEEP_ONLY, chosen.id)["would_remove"] == 8 - len(kept)
    act(w, run_jobs, w.campaign, Action.KEEP_ONLY, chosen.id)
    assert names_of(w.campaign.id) == kept


def test_dedupe_by_email_keeps_the_earliest_added_per_normalised_address(w, run_jobs):
    put(w, w.campaign, EVERYBODY)
    # anna@example.com: Anni (minute 1) stays, Anna (5) goes; eve@example.com: Gus (0) stays,
    # Eve (4) goes. Carl (no email) and Dora ("") are never duplicates of anyone.
    assert dry_run(w.campaign.id, Action.DEDUPE_EMAIL) == {"action": "dedupe_email",
                                                           "would_remove": 2}
    act(w, run_jobs, w.campaign, Action.DEDUPE_EMAIL)
    assert names_of(w.campaign.id) == EVERYBODY - {"Anna", "Eve"}
    assert dry_run(w.campaign.id, Action.DEDUPE_EMAIL)["would_remove"] == 0


def test_dedupe_by_email_follows_join_order_not_ids(w, run_jobs):
    put(w, w.campaign, EVERYBODY, minutes={**JOINED, "Anna": 0, "Anni": 9, "Gus": 9, "Eve": 1})
    act(w, run_jobs, w.campaign, Action.DEDUPE_EMAIL)
    assert names_of(w.campaign.id) == EVERYBODY - {"Anni", "Gus"}


def test_members_without_email_are_never_email_duplicates(w, run_jobs):
    for name in ("Hanna", "Ilse"):  # two more without an address
        w.people[name] = Contact(first_name=name, email=None)
    w.people["Jori"] = Contact(first_name="Jori", email="  ")  # blank once trimmed
    db.session.add_all([w.people["Hanna"], w.people["Ilse"], w.people["Jori"]])
    db.session.commit()
    put(w, w.campaign, {"Carl", "Dora", "Hanna", "Ilse", "Jori"},
        minutes={"Carl": 0, "Dora": 1, "Hanna": 2, "Ilse": 3, "Jori": 4})
    assert dry_run(w.campaign.id, Action.DEDUPE_EMAIL)["would_remove"] == 0
    act(w, run_jobs, w.campaign, Action.DEDUPE_EMAIL)
    assert names_of(w.campaign.id) == {"Carl", "Dora", "Hanna", "Ilse", "Jori"}


def test_dedupe_by_company_keeps_the_earliest_added_per_company(w, run_jobs):
    put(w, w.campaign, EVERYBODY)
    # Acme: Bob (2) stays, Anna (5) and Carl (6) go; Beta: Anni (1) stays, Fred (3) goes;
    # Dora, Eve and Gus have no company and stay.
    assert dry_run(w.campaign.id, Action.DEDUPE_COMPANY)["would_remove"] == 3
    act(w, run_jobs, w.campaign, Action.DEDUPE_COMPANY)
    assert names_of(w.campaign.id) == {"Bob", "Anni", "Dora", "Eve", "Gus"}


def test_prune_opted_out(w, run_jobs):
    put(w, w.campaign, EVERYBODY)
    assert dry_run(w.campaign.id, Action.PRUNE_OPTED_OUT)["would_remove"] == 2
    act(w, run_jobs, w.campaign, Action.PRUNE_OPTED_OUT)
    assert names_of(w.campaign.id) == EVERYBODY - {"Bob", "Fred"}


def test_remove_single_contacts(w, run_jobs):
    put(w, w.campaign, {"Carl", "Eve"})
    contact_ids = ids(w, {"Carl", "Gus"})  # Gus is not a member: nothing to remove
    assert dry_run(w.campaign.id, Action.REMOVE_CONTACTS, contact_ids=contact_ids) == {
        "action": "remove_contacts", "would_remove": 1}
    act(w, run_jobs, w.campaign, Action.REMOVE_CONTACTS, contact_ids=contact_ids)
    assert names_of(w.campaign.id) == {"Eve"}


def test_removals_touch_no_other_campaign(w, run_jobs):
    other = Campaign(name="Autumn")
    db.session.add(other)
    db.session.commit()
    put(w, other, EVERYBODY)
    put(w, w.campaign, EVERYBODY)
    for action in (Action.DEDUPE_EMAIL, Action.DEDUPE_COMPANY, Action.PRUNE_OPTED_OUT):
        act(w, run_jobs, w.campaign, action)
    assert names_of(other.id) == EVERYBODY


# --- summary ------------------------------------------------------------------------------


def test_summary_counts_by_hand(w):
    empty = summary(w.campaign.id)
    assert set(empty.values()) == {0}
    put(w, w.campaign, EVERYBODY)
    assert summary(w.campaign.id) == {
        "members": 8,
        "leads": 4,  # Anni, Dora, Fred, Gus
        "contacts": 4,
        "companies": 2,  # Acme, Beta; three have none
        "with_email": 6,  # all but Carl (none) and Dora ("")
        "without_email": 2,
        "opted_out": 2,  # Bob, Fred
        "duplicate_emails": 2,  # 6 addresses, 4 distinct once normalised
        "companies_with_several_members": 2,  # Acme 3, Beta 2
    }


def test_summary_of_part_of_the_people(w):
    put(w, w.campaign, FINNS)
    assert summary(w.campaign.id) == {
        "members": 5, "leads": 2, "contacts": 3, "companies": 2, "with_email": 3,
        "without_email": 2, "opted_out": 2, "duplicate_emails": 0,
        "companies_with_several_members": 1,
    }


# --- undo ---------------------------------------------------------------------------------


def test_undo_of_an_add_removes_only_that_jobs_members_still_there(w, run_jobs):
    finns = group("Finns", FINNISH)
    copied = act(w, run_jobs, w.campaign, Action.COPY_GROUP, finns.id)
    # Since then: Carl removed by hand and added again by another job, Eve added too.
    act(w, run_jobs, w.campaign, Action.REMOVE_CONTACTS, contact_ids=ids(w, {"Carl"}))
    later = act(w, run_jobs, w.campaign, Action.ADD_CONTACTS, contact_ids=ids(w, {"Carl", "Eve"}))
    undone = undo(run_jobs, copied.id)
    assert undone.status == JobStatus.DONE, undone.error
    assert undone.result == {"undid": copied.id, "removed": 4, "restored": 0}
    assert names_of(w.campaign.id) == {"Carl", "Eve"}
    assert {m.job_id for m in db.session.scalars(select(CampaignMember))} == {later.id}
    assert reload(copied.id).result["undone_by"] == undone.id


@pytest.mark.parametrize("action", [Action.DEDUPE_EMAIL, Action.DEDUPE_COMPANY,
                                    Action.PRUNE_OPTED_OUT, Action.REMOVE_CONTACTS])
def test_undo_of_a_removal_puts_back_exactly_those_rows(w, run_jobs, action):
    # Members with mixed provenance: who added them, when, from where, by which job.
    put(w, w.campaign, {"Anna", "Bob", "Carl", "Dora"}, source=MemberSource.GROUP,
        source_ref=42, added_by=w.other.id, job_id="campaign_audience-earlier-1")
    put(w, w.campaign, {"Anni", "Eve", "Fred", "Gus"}, source=MemberSource.WORKFLOW)
    before = member_rows(w.campaign.id)
    removal = act(w, run_jobs, w.campaign, action,
                  contact_ids=ids(w, {"Anna", "Gus"}) if action == Action.REMOVE_CONTACTS
                  else None)
    assert removal.result["removed"] > 0
    recorded = db.session.scalar(select(func.count()).select_from(CampaignMemberRemoval)
                                 .where(CampaignMemberRemoval.job_id == removal.id))
    assert recorded == removal.result["removed"]
    undone = undo(run_jobs, removal.id)
    assert undone.status == JobStatus.DONE, undone.error
    assert undone.result == {"undid": removal.id, "removed": 0,
                             "restored": removal.result["removed"]}
    assert member_rows(w.campaign.id) == before


def test_undo_of_a_removal_keeps_a_member_added_again_since(w, run_jobs):
    put(w, w.campaign, EVERYBODY)
    pruned = act(w, run_jobs, w.campaign, Action.PRUNE_OPTED_OUT)  # Bob, Fred
    again = act(w, run_jobs, w.campaign, Action.ADD_CONTACTS, contact_ids=ids(w, {"Bob"}))
    undone = undo(run_jobs, pruned.id)
    assert undone.result == {"undid": pruned.id, "removed": 0, "restored": 1}  # Fred
    assert names_of(w.campaign.id) == EVERYBODY
    bob = db.session.get(CampaignMember, (w.campaign.id, w.people["Bob"].id))
    assert bob.job_id == again.id  # the newer row stays


def test_undoing_twice_fails_clearly_and_changes_nothing(w, run_jobs):
    finns = group("Finns", FINNISH)
    copied = act(w, run_jobs, w.campaign, Action.COPY_GROUP, finns.id)
    first = undo(run_jobs, copied.id)
    assert first.status == JobStatus.DONE
    act(w, run_jobs, w.campaign, Action.COPY_GROUP, finns.id)  # copied again by a new job
    second = undo(run_jobs, copied.id)
    assert second.status == JobStatus.FAILED
    assert second.error.startswith(f"AudienceError: job {copied.id} was already undone by "
                                   f"{first.id}")
    assert names_of(w.campaign.id) == FINNS


def test_undo_refuses_a_failed_job(w, run_jobs):
    w.campaign.active = False
    db.session.commit()
    failed = start(w, w.campaign, Action.PRUNE_OPTED_OUT)
    run_jobs()
    assert reload(failed.id).status == JobStatus.FAILED
    refused = undo(run_jobs, failed.id)
    assert refused.status == JobStatus.FAILED
    assert refused.error.startswith(
        f"AudienceError: job {failed.id} is failed; only a finished job can be undone")


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_undo_refuses_an_unfinished_job(w, run_jobs, status):
    # A row as the jobs screen would show it while the job waits or runs.
    db.session.add(JobRun(id="campaign_audience-x-1", kind="campaign_audience",
                          dedupe_key="campaign_audience:x", status=status,
                          params={"campaign_id": w.campaign.id, "action": "prune_opted_out"}))
    db.session.commit()
    refused = undo(run_jobs, "campaign_audience-x-1")
    assert refused.status == JobStatus.FAILED
    assert refused.error.startswith(f"AudienceError: job campaign_audience-x-1 is {status}; "
                                    "only a finished job can be undone")


def test_undo_refuses_what_is_not_an_audience_job(w, run_jobs):
    refused = undo(run_jobs, "no-such-run")
    assert refused.status == JobStatus.FAILED
    assert refused.error.startswith("AudienceError: no-such-run is not an audience job")


# --- refusals and failures ----------------------------------------------------------------


def test_inactive_campaign_is_refused_by_the_dry_run_and_by_the_job(w, run_jobs):
    put(w, w.campaign, {"Bob"})
    finns = group("Finns", FINNISH)
    w.campaign.active = False
    w.campaign.end_date = (T0 + timedelta(days=365)).date()  # dates never make it active
    db.session.commit()
    message = "campaign 'Spring' is not active: only active campaigns can be changed"
    with pytest.raises(AudienceError, match=message):
        dry_run(w.campaign.id, Action.COPY_GROUP, finns.id)
    before = member_rows(w.campaign.id)
    for action, source in ((Action.COPY_GROUP, finns.id), (Action.PRUNE_OPTED_OUT, None)):
        run = start(w, w.campaign, action, source)
        run_jobs()
        run = reload(run.id)
        assert run.status == JobStatus.FAILED
        assert run.error.startswith(f"AudienceError: {message}")
    assert member_rows(w.campaign.id) == before


@pytest.mark.parametrize(
    ("action", "source", "message"),
    [
        (Action.COPY_GROUP, None, "copy_group needs a source"),
        (Action.COPY_CAMPAIGN, "self", "a campaign cannot be its own source"),
        (Action.ADD_CONTACTS, None, "add_contacts needs contact ids"),
        (Action.LOAD_FILTER, 999, "saved filter 999 does not exist"),
        (Action.COPY_GROUP, 999, "target group 999 does not exist"),
        (Action.REMOVE_GROUP, 999, "target group 999 does not exist"),
        (Action.COPY_CAMPAIGN, 999, "campaign 999 does not exist"),
        (Action.REMOVE_CAMPAIGN, 999, "campaign 999 does not exist"),
    ],
)
def test_requests_that_cannot_run_are_refused_clearly(w, action, source, message):
    source_id = w.campaign.id if source == "self" else source
    with pytest.raises(AudienceError, match=message):
        dry_run(w.campaign.id, action, source_id)
    with pytest.raises(AudienceError, match="unknown audience action 'shuffle'"):
        dry_run(w.campaign.id, "shuffle")


def test_a_failing_refresh_leaves_campaign_and_group_as_they_were(w, run_jobs):
    put(w, w.campaign, {"Anni"})
    finns = group("Finns", FINNISH)
    # The conditions went bad after the last refresh (as a hand-edited row could).
    finns.criteria = {"all": [{"field": "shoe_size", "op": "eq", "value": 44}]}
    db.session.commit()
    campaign_before, group_before = member_rows(w.campaign.id), _group_members(finns.id)
    run = start(w, w.campaign, Action.COPY_GROUP, finns.id, refresh_group=True)
    run_jobs()
    run = reload(run.id)
    assert run.status == JobStatus.FAILED
    assert "unknown field 'shoe_size'" in run.error
    assert member_rows(w.campaign.id) == campaign_before
    assert _group_members(finns.id) == group_before


def test_a_job_whose_filter_was_deleted_fails_and_changes_nothing(w, run_jobs):
    put(w, w.campaign, EVERYBODY)
    chosen = saved_filter("Finns", FilterModule.CONTACT, FINNISH)
    run = start(w, w.campaign, Action.KEEP_ONLY, chosen.id)
    db.session.delete(chosen)  # deleted while the job waited in the queue
    db.session.commit()
    run_jobs()
    run = reload(run.id)
    assert run.status == JobStatus.FAILED
    assert f"saved filter {chosen.id} does not exist" in run.error
    assert names_of(w.campaign.id) == EVERYBODY
    assert db.session.scalar(select(func.count()).select_from(CampaignMemberRemoval)) == 0


def _group_members(group_id: int) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(TargetGroupMember.contact_id)
                                  .where(TargetGroupMember.group_id == group_id)))


# --- concurrency --------------------------------------------------------------------------


def _many_contacts(count: int) -> None:
    """``count`` contacts: every 3rd Finnish, every 4th a lead (every 12th both)."""
    db.session.execute(insert(Contact), [
        {"first_name": f"P{n}", "email": f"p{n}@example.com", "language": "fi" if n % 3 == 0
         else "sv", "kind": ContactKind.LEAD if n % 4 == 0 else ContactKind.CONTACT}
        for n in range(count)
    ])
    db.session.commit()


def _workers(app, count: int) -> list[subprocess.CompletedProcess]:
    """Start ``count`` burst workers at once (real processes) and wait for all of them."""
    env = dict(os.environ, **process_env(app))
    procs = [subprocess.Popen([sys.executable, "-m", "webadmin.cli", "worker", "--burst",
                               "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    return procs


def test_two_copies_of_overlapping_groups_at_once_with_two_workers(app, w):
    _many_contacts(6000)  # 2,000 Finnish, 1,500 leads, 500 both
    finns, leads = group("Finns", FINNISH), group("Leads", LEADS)
    union = _group_members(finns.id) | _group_members(leads.id)
    assert len(union) == 2000 + 1500 - 500 + 7  # and everyone in w but Eve
    runs = [start(w, w.campaign, Action.COPY_GROUP, g.id) for g in (finns, leads)]
    _workers(app, 2)
    done = [reload(r.id) for r in runs]
    assert [r.status for r in done] == [JobStatus.DONE, JobStatus.DONE], [r.error for r in done]
    mine = CampaignMember.campaign_id == w.campaign.id
    members = db.session.scalars(select(CampaignMember.contact_id).where(mine)).all()
    assert len(members) == len(set(members)) == len(union)
    assert set(members) == union
    assert done[0].result["added"] + done[1].result["added"] == len(union)
    # Each member was added by exactly one of the two jobs, as its counts say.
    by_job = dict(db.session.execute(select(CampaignMember.job_id, func.count())
                                     .group_by(CampaignMember.job_id)).all())
    assert by_job == {r.id: r.result["added"] for r in done if r.result["added"]}


def test_the_same_copy_clicked_twice_at_once_runs_once(app, w):
    finns = group("Finns", FINNISH)
    campaign_id, finns_id, user_id = w.campaign.id, finns.id, w.user.id
    barrier = threading.Barrier(2)
    run_ids = []

    def click():
        with app.app_context():
            barrier.wait()
            params = {"campaign_id": campaign_id, "action": "copy_group", "source_id": finns_id,
                      "contact_ids": None, "refresh_group": False}
            run_ids.append(enqueue("campaign_audience", params, user_id=user_id).id)
            db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _workers(app, 2)
    db.session.expire_all()
    runs = db.session.scalars(select(JobRun).where(JobRun.kind == "campaign_audience")).all()
    if len(set(run_ids)) == 1:  # deduplicated into one job
        assert len(runs) == 1
    added = sorted(r.result["added"] for r in runs)
    assert all(r.status == JobStatus.DONE for r in runs)
    assert added[-1] == 5 and sum(added) == 5  # a second run, if any, added nothing
    assert names_of(campaign_id) == FINNS


def test_campaign_numbers_are_unique_when_two_are_saved_at_once(app, ctx):
    barrier = threading.Barrier(2)
    numbers = []

    def save(name):
        with app.app_context():
            campaign = Campaign(name=name)
            db.session.add(campaign)
            barrier.wait()
            db.session.commit()
            numbers.append(campaign.number)
            db.session.remove()

    threads = [threading.Thread(target=save, args=(f"C{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(numbers) == 2 and None not in numbers and numbers[0] != numbers[1]
    stored = {c.name: c.number for c in db.session.scalars(select(Campaign))}
    assert sorted(stored.values()) == sorted(numbers)
    year = datetime.now(UTC).year
    for campaign in db.session.scalars(select(Campaign)):
        assert campaign.number == f"{year}-{campaign.id:05d}"


def test_a_number_given_by_hand_is_kept(ctx):
    campaign = Campaign(name="Handmade", number="K-7")
    db.session.add(campaign)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).number == "K-7"
