"""The manage-audience screen over HTTP: summary, dry run, run, undo; CSRF on every POST."""

import pytest

from jobs.groups import refresh
from models import Campaign, CampaignMember, Contact, JobRun, JobStatus, TargetGroup, db
from models.campaigns.audience import Action
from tests.conftest import csrf_token


@pytest.fixture
def setup(ctx):
    people = [Contact(last_name=f"P{n}", email=f"p{n}@example.fi") for n in range(5)]
    people.append(Contact(last_name="Dup", email=" P0@Example.fi"))
    campaign = Campaign(name="Spring")
    group = TargetGroup(name="Everyone", criteria={"all": []})
    db.session.add_all([*people, campaign, group])
    db.session.commit()
    refresh(group)
    return campaign, group


def post(client, url, data, token):
    return client.post(url, data={**data, "csrf_token": token}, headers={"HX-Request": "true"})


def test_summary_preview_run_and_undo(admin_client, setup, run_jobs):
    campaign, group = setup
    page_url = f"/admin/audience/{campaign.id}"
    token = csrf_token(admin_client, page_url)
    page = admin_client.get(page_url).get_data(as_text=True)
    assert 'data-summary="members">0<' in page

    preview = post(admin_client, f"{page_url}/preview",
                   {"action": Action.COPY_GROUP, "source_id": group.id}, token)
    assert 'data-count="would_add">6<' in preview.get_data(as_text=True)

    run = post(admin_client, f"{page_url}/run",
               {"action": Action.COPY_GROUP, "source_id": group.id}, token)
    assert run.status_code == 204 and "/admin/jobrun/details/" in run.headers["HX-Redirect"]
    run_jobs()
    assert db.session.query(CampaignMember).count() == 6
    page = admin_client.get(page_url).get_data(as_text=True)
    assert 'data-summary="members">6<' in page
    assert 'data-summary="duplicate_emails">1<' in page

    dedupe = post(admin_client, f"{page_url}/run", {"action": Action.DEDUPE_EMAIL}, token)
    run_jobs()
    dedupe_run = db.session.get(JobRun, dedupe.headers["HX-Redirect"].split("id=")[1])
    assert dedupe_run.result["removed"] == 1
    details = admin_client.get(f"/admin/jobrun/details/?id={dedupe_run.id}")
    assert "Undo this job" in details.get_data(as_text=True)
    undo = admin_client.post(f"/admin/jobrun/undo/{dedupe_run.id}", data={"csrf_token": token})
    assert undo.status_code == 302
    run_jobs()
    assert db.session.query(CampaignMember).count() == 6
    db.session.expire_all()
    assert db.session.get(JobRun, dedupe_run.id).result["undone_by"]
    again = admin_client.get(f"/admin/jobrun/details/?id={dedupe_run.id}")
    assert "Undo this job" not in again.get_data(as_text=True)


def test_preview_errors_are_messages_not_stack_traces(admin_client, setup):
    campaign, _group = setup
    token = csrf_token(admin_client, f"/admin/audience/{campaign.id}")
    missing = post(admin_client, f"/admin/audience/{campaign.id}/preview",
                   {"action": Action.COPY_GROUP}, token)
    assert missing.status_code == 400
    assert "needs a source" in missing.get_data(as_text=True)
    unknown = post(admin_client, f"/admin/audience/{campaign.id}/preview",
                   {"action": "explode"}, token)
    assert "unknown audience action &#39;explode&#39;" in unknown.get_data(as_text=True)


def test_inactive_campaign_is_refused(admin_client, setup):
    campaign, group = setup
    campaign.active = False
    db.session.commit()
    url = f"/admin/audience/{campaign.id}"
    token = csrf_token(admin_client, url)
    assert "is not active" in admin_client.get(url).get_data(as_text=True)
    response = post(admin_client, f"{url}/run",
                    {"action": Action.COPY_GROUP, "source_id": group.id}, token)
    assert response.headers["HX-Redirect"].endswith(url)
    assert db.session.query(JobRun).count() == 0


def test_posts_without_csrf_token_are_refused(admin_client, setup):
    campaign, group = setup
    response = admin_client.post(f"/admin/audience/{campaign.id}/run",
                                 data={"action": Action.COPY_GROUP, "source_id": group.id})
    assert response.status_code == 400
    assert db.session.query(JobRun).count() == 0


def test_failed_jobs_offer_no_undo(admin_client, setup, run_jobs):
    campaign, _group = setup
    run = JobRun(id="x-1", kind="campaign_audience", dedupe_key="x", status=JobStatus.FAILED,
                 params={"campaign_id": campaign.id})
    db.session.add(run)
    db.session.commit()
    page = admin_client.get("/admin/jobrun/details/?id=x-1").get_data(as_text=True)
    assert "Undo this job" not in page
    token = csrf_token(admin_client, "/admin/jobrun/details/?id=x-1")
    admin_client.post("/admin/jobrun/undo/x-1", data={"csrf_token": token})
    assert db.session.query(JobRun).count() == 1


def test_add_and_remove_one_contact_by_email(admin_client, setup, run_jobs):
    campaign, _group = setup
    url = f"/admin/audience/{campaign.id}"
    token = csrf_token(admin_client, url)
    preview = post(admin_client, f"{url}/preview",
                   {"action": Action.ADD_CONTACTS, "contact": "P3@example.fi"}, token)
    assert 'data-count="would_add">1<' in preview.get_data(as_text=True)
    post(admin_client, f"{url}/run", {"action": Action.ADD_CONTACTS, "contact": "p3@example.fi"},
         token)
    run_jobs()
    member = db.session.query(CampaignMember).one()
    assert (member.contact.email, member.source, member.added_by.email) == (
        "p3@example.fi", "manual", "admin@example.com")
    remove = {"action": Action.REMOVE_CONTACTS, "contact": "p3@example.fi"}
    post(admin_client, f"{url}/run", remove, token)
    run_jobs()
    assert db.session.query(CampaignMember).count() == 0
    nobody = {"action": Action.ADD_CONTACTS, "contact": "nobody@example.fi"}
    unknown = post(admin_client, f"{url}/preview", nobody, token)
    assert "no contact" in unknown.get_data(as_text=True)


def test_add_to_campaign_from_the_contact_list_and_the_contact_page(admin_client, setup,
                                                                     run_jobs):
    campaign, _group = setup
    people = db.session.query(Contact).order_by(Contact.id).limit(2).all()
    token = csrf_token(admin_client, "/admin/contact/")
    # The list's bulk action is the selection-based one (tests/bulk/); the contact page's
    # dialog below still posts ids.
    bulk = admin_client.post("/admin/contact/action/", data={
        "csrf_token": token, "action": "add_to_campaign",
        "rowid": [str(p.id) for p in people]})
    assert bulk.status_code == 200
    page = bulk.get_data(as_text=True)
    assert 'data-total="2"' in page and "Spring" in page
    form = {"campaign_id": campaign.id, "ids": f"{people[0].id},{people[1].id}"}
    preview = post(admin_client, "/admin/audience/add-contacts/preview", form, token)
    assert 'data-count="would_add">2<' in preview.get_data(as_text=True)
    run = post(admin_client, "/admin/audience/add-contacts/run", form, token)
    assert "/admin/jobrun/details/" in run.headers["HX-Redirect"]
    run_jobs()
    assert db.session.query(CampaignMember).count() == 2

    details = admin_client.get(f"/admin/contact/details/?id={people[0].id}").get_data(True)
    assert "Add to campaign" in details
    dialog = admin_client.get(f"/admin/audience/add-contacts?ids={people[0].id}",
                              headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in dialog and "Add 1 contact to" in dialog
    campaign.active = False
    db.session.commit()
    assert "Spring" not in admin_client.get(
        f"/admin/audience/add-contacts?ids={people[0].id}").get_data(as_text=True)


def test_a_typed_number_may_not_take_the_generated_form(admin_client, ctx):
    """A hand-typed "2026-00042" would collide with campaign 42's generated number later."""
    token = csrf_token(admin_client, "/admin/campaign/new/")
    form = {"name": "Typed", "active": "y", "description": "", "csrf_token": token}
    refused = admin_client.post("/admin/campaign/new/", data={**form, "number": "2026-00042"})
    assert refused.status_code == 200
    assert "given out automatically" in refused.get_data(as_text=True)
    assert db.session.query(Campaign).count() == 0

    kept = admin_client.post("/admin/campaign/new/", data={**form, "number": "K-42"})
    assert kept.status_code == 302
    generated = admin_client.post("/admin/campaign/new/", data={**form, "name": "Auto"})
    assert generated.status_code == 302
    auto = db.session.query(Campaign).filter_by(name="Auto").one()
    # Its own generated number may be saved again unchanged.
    edit = f"/admin/campaign/edit/?id={auto.id}"
    again = admin_client.post(edit, data={**form, "name": "Auto", "number": auto.number})
    assert again.status_code == 302
    assert {c.number for c in db.session.query(Campaign)} == {"K-42", auto.number}
