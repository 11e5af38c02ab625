"""Jobs in words (issue 16): labelled parameters and results with links, no JSON; Undo in the
live progress partial, only for the job's starter or an admin; an undone job says by whom."""

from __future__ import annotations

import pytest

from jobs.campaigns import start_audience_change
from jobs.groups import refresh
from models import Campaign, Contact, JobRun, TargetGroup, db
from models.campaigns.audience import Action
from tests.conftest import csrf_token


@pytest.fixture
def copied(ctx, plain_user, run_jobs):
    """A user's finished job that copied a group into a campaign."""
    db.session.add_all(Contact(last_name=f"P{n}", language="fi", email=f"p{n}@example.fi")
                       for n in range(3))
    campaign = Campaign(name="Spring")
    group = TargetGroup(name="Finns", criteria={"all": [
        {"field": "language", "op": "eq", "value": "fi"}]})
    db.session.add_all([campaign, group])
    db.session.commit()
    refresh(group)
    run = start_audience_change(campaign.id, Action.COPY_GROUP, group.id,
                                started_by=plain_user.id)
    run_jobs()
    db.session.expire_all()
    return db.session.get(JobRun, run.id), campaign, group


def test_a_job_page_says_what_was_asked_and_done_in_words(admin_client, copied):
    run, campaign, group = copied
    page = admin_client.get(f"/admin/jobrun/details/?id={run.id}").get_data(as_text=True)
    assert '<h5 class="mt-3">Campaign audience change <small' in page
    assert f'<a href="/admin/campaign/details/?id={campaign.id}">' in page
    assert f'<a href="/admin/targetgroup/details/?id={group.id}">Finns</a>' in page
    assert "(Language is Finnish)" in page
    assert "Add a target group&#39;s members" in page
    assert 'data-result="added">3<' in page
    assert "{&#34;" not in page and '{"campaign_id"' not in page  # no raw JSON


def test_the_live_progress_partial_brings_undo_when_the_job_ends(admin_client, copied):
    run, _, _ = copied
    partial = admin_client.get(f"/admin/jobrun/progress/{run.id}").get_data(as_text=True)
    assert 'id="undo-job"' in partial and "hx-trigger" not in partial


def test_a_user_undoes_only_their_own_jobs_and_the_undone_job_says_by_whom(
        user_client, copied, run_jobs):
    run, _, _ = copied
    # The starter (the plain user) sees Undo and may use it.
    token = csrf_token(user_client, f"/admin/jobrun/details/?id={run.id}")
    assert 'id="undo-job"' in user_client.get(f"/admin/jobrun/details/?id={run.id}").text
    # An admin's job is not the user's to undo.
    other = start_audience_change(run.params["campaign_id"], Action.PRUNE_OPTED_OUT,
                                  started_by=None)
    run_jobs()
    page = user_client.get(f"/admin/jobrun/details/?id={other.id}").text
    assert 'id="undo-job"' not in page and 'data-undo-refused="1"' in page
    refused = user_client.post(f"/admin/jobrun/undo/{other.id}", data={"csrf_token": token})
    assert refused.status_code == 403 and "Back to the dashboard" in refused.text
    # Their own: undone, and the page says so and by whom.
    assert user_client.post(f"/admin/jobrun/undo/{run.id}",
                            data={"csrf_token": token}).status_code == 302
    run_jobs()
    page = user_client.get(f"/admin/jobrun/details/?id={run.id}").text
    assert "data-undone-by=" in page and "by User" in page
    assert "removed 3 and put back 0" in page


def test_activities_per_user_and_a_bulk_result_read_as_words(admin_client, admin_user):
    db.session.add_all([
        JobRun(id="ga-1", kind="group_activities", dedupe_key="ga", status="done",
               params={}, result={"created": 9, "per_user": {
                   str(admin_user.id): {"2026-12-07": 8, "2026-12-08": 1}}}),
        JobRun(id="bs-1", kind="bulk_set", dedupe_key="bs", status="done",
               params={"change": "contacts.email_opt_out", "value": True},
               result={"selected": 3, "changed": 3, "unchanged": 0}),
    ])
    db.session.commit()
    page = admin_client.get("/admin/jobrun/details/?id=ga-1",
                            headers={"Accept-Language": "fi"}).get_data(as_text=True)
    assert f'/admin/user/details/?id={admin_user.id}">Admin</a>: 7.12.2026 8, 8.12.2026 1' in page
    listing = admin_client.get("/admin/jobrun/").get_data(as_text=True)
    assert "Email opt-out set to yes on 3 of 3 selected contacts." in listing
    assert "Change of selected rows" in listing and "Bulk set" not in listing
