"""Many new members' campaign email is queued in contact-id ranges, one chunk run each
(rule 4): the same messages as one statement, each exactly once, undo as before."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, insert, select

from jobs.campaigns import start_audience_change, start_undo_audience
from models import (
    Campaign,
    CampaignMember,
    Contact,
    EmailTemplate,
    JobRun,
    JobStatus,
    OutboxMessage,
    Settings,
    db,
)
from models.campaigns.audience import Action

PEOPLE = 1000
CHUNK = 100  # the chunked fixture's KOHDE_CHUNK_ROWS


def source_and_targets(people: int = PEOPLE) -> tuple[Campaign, Campaign, Campaign]:
    """A campaign of ``people`` members (every tenth opted out, so held back) and two
    campaigns with a template each to copy them into."""
    source = Campaign(name="Source")
    # A template each: one template's second message to a contact waits its period.
    targets = [Campaign(name=f"Target {n}", email_template=EmailTemplate(
        name=f"Welcome {n}", subject="Hello {{ contact.first_name }}",
        body_html="<p>Hi</p>{{ unsubscribe_url }}")) for n in (1, 2)]
    db.session.add_all([source, *targets])
    Settings.get().email_messages_per_second = 1000
    db.session.commit()
    db.session.execute(insert(Contact), [
        {"first_name": f"P{n}", "email": f"p{n}@example.fi", "email_opt_out": n % 10 == 0}
        for n in range(people)])
    db.session.execute(insert(CampaignMember), [{"campaign_id": source.id, "contact_id": i}
                                                for i in db.session.scalars(select(Contact.id))])
    db.session.commit()
    return source, *targets


def copy(run_jobs, target: Campaign, source: Campaign) -> JobRun:
    run = start_audience_change(target.id, Action.COPY_CAMPAIGN, source.id)
    run_jobs()
    return db.session.get(JobRun, run.id)


def messages(campaign_id: int) -> list[int]:
    return list(db.session.scalars(select(OutboxMessage.contact_id)
                                   .where(OutboxMessage.campaign_id == campaign_id)))


def chunks_of(run: JobRun) -> list[JobRun]:
    return list(db.session.scalars(select(JobRun).where(JobRun.parent_id == run.id)))


def test_a_big_join_queues_its_email_in_ranges_exactly_once(app, ctx, chunked, run_jobs,
                                                             mailbox):
    source, split_target, whole_target = source_and_targets()
    run = copy(run_jobs, split_target, source)
    assert run.status == JobStatus.DONE, run.error
    chunks = chunks_of(run)
    assert len(chunks) == PEOPLE // CHUNK and all(c.status == JobStatus.DONE for c in chunks)
    assert [c.result["queued"] + c.result["suppressed"] for c in chunks] == [CHUNK] * 10
    assert run.result["added"] == PEOPLE
    assert run.result["email"] == {"queued": 900, "suppressed": 100}
    assert run.progress_done == run.progress_total == PEOPLE
    sent = messages(split_target.id)
    assert len(sent) == len(set(sent)) == PEOPLE
    # Every queued message went out once (the chunks started the senders as they went).
    assert Counter(mailbox.recipients()) == {f"p{n}@example.fi": 1 for n in range(PEOPLE)
                                             if n % 10}

    app.config["KOHDE_CHUNK_ROWS"] = PEOPLE  # the same copy in one statement
    whole = copy(run_jobs, whole_target, source)
    assert chunks_of(whole) == []
    assert whole.result["email"] == run.result["email"]


def test_undo_of_a_split_join_removes_every_member_it_added(ctx, chunked, run_jobs, mailbox):
    source, target, _ = source_and_targets()
    run = copy(run_jobs, target, source)
    undo = start_undo_audience(run.id)
    run_jobs()
    undo = db.session.get(JobRun, undo.id)
    assert undo.status == JobStatus.DONE, undo.error
    assert undo.result["removed"] == PEOPLE
    assert db.session.scalar(select(func.count()).where(
        CampaignMember.campaign_id == target.id)) == 0


def test_a_big_join_into_a_campaign_without_a_template_is_one_statement(ctx, chunked,
                                                                       run_jobs):
    source, target, _ = source_and_targets()
    target.email_template = None
    db.session.commit()
    run = copy(run_jobs, target, source)
    assert run.status == JobStatus.DONE, run.error
    assert chunks_of(run) == [] and run.result["added"] == PEOPLE
    assert run.result["email"] == {"queued": 0, "suppressed": 0}
    assert messages(target.id) == []


def test_a_small_join_stays_one_statement(ctx, chunked, run_jobs, mailbox):
    source, target, _ = source_and_targets(CHUNK)
    run = copy(run_jobs, target, source)
    assert run.status == JobStatus.DONE and chunks_of(run) == []
    assert run.result["email"] == {"queued": 90, "suppressed": 10}
