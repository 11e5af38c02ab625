"""Roles that fit a team (issue 16, the README's role matrix): a user cannot attach or
change templates, delete contacts or overwrite them by import, and undoes only their own
jobs (tests/jobs/test_job_pages.py); an admin can do all of it. Refusals are pages in the
layout with a way back."""

from __future__ import annotations

import io

import pytest

from models import Campaign, Contact, EmailTemplate, TargetGroup, db
from tests.conftest import csrf_token


@pytest.fixture
def records(ctx):
    template = EmailTemplate(name="Welcome", subject="Hi", body_html="{{ unsubscribe_url }}")
    campaign = Campaign(name="Spring")
    anna = Contact(first_name="Anna", email="anna@example.fi", city="Espoo")
    db.session.add_all([template, campaign, anna])
    db.session.commit()
    return template, campaign, anna


def test_a_user_cannot_attach_a_template_to_a_campaign_or_group(user_client, records):
    template, campaign, _ = records
    form = user_client.get(f"/admin/campaign/edit/?id={campaign.id}").text
    assert 'name="email_template"' not in form
    token = csrf_token(user_client, f"/admin/campaign/edit/?id={campaign.id}")
    user_client.post(f"/admin/campaign/edit/?id={campaign.id}", data={
        "name": "Spring", "active": "y", "email_template": str(template.id),
        "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).email_template_id is None
    assert 'name="email_template"' not in user_client.get("/admin/targetgroup/new/").text
    assert user_client.get("/admin/emailtemplate/").status_code == 403


def test_an_admin_attaches_a_template_and_is_told_who_gets_it(admin_client, records):
    template, campaign, anna = records
    from models import CampaignMember

    db.session.add(CampaignMember(campaign_id=campaign.id, contact_id=anna.id))
    db.session.commit()
    url = f"/admin/campaign/edit/?id={campaign.id}"
    form = admin_client.get(url).text
    assert "The 1 members already in the campaign get nothing" in form
    token = csrf_token(admin_client, url)
    saved = admin_client.post(url, data={"name": "Spring", "active": "y",
                                         "email_template": str(template.id),
                                         "csrf_token": token}, follow_redirects=True)
    assert "Welcome is attached to" in saved.text and "get nothing" in saved.text
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).email_template_id == template.id


def test_a_user_cannot_delete_contacts_an_admin_can(user_client, records):
    _, _, anna = records
    listing = user_client.get("/admin/contact/").text
    assert "/admin/contact/delete/" not in listing and "execute('delete')" not in listing
    assert "delete_contacts" not in listing
    token = csrf_token(user_client, "/admin/contact/")
    refused = user_client.post("/admin/contact/delete/", data={"id": anna.id,
                                                              "csrf_token": token})
    assert refused.status_code == 403
    assert "Only an admin can delete contacts." in refused.text
    assert "Back to the dashboard" in refused.text and "navbar" in refused.text  # the layout
    user_client.post("/admin/contact/action/", data={"action": "delete", "rowid": anna.id,
                                                     "csrf_token": token})
    assert db.session.get(Contact, anna.id) is not None


def test_an_admin_deletes_a_contact(admin_client, records):
    _, _, anna = records
    token = csrf_token(admin_client, "/admin/contact/")
    listing = admin_client.get("/admin/contact/").text
    # One at a time from the row; many at once through the audited bulk delete (a job).
    assert "/admin/contact/delete/" in listing and "delete_contacts" in listing
    admin_client.post("/admin/contact/delete/", data={"id": anna.id, "csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Contact, anna.id) is None


def test_a_users_import_adds_but_does_not_overwrite(user_client, records, run_jobs):
    _, _, anna = records
    assert 'data-import-adds-only="1"' in user_client.get("/admin/import_contacts/").text
    token = csrf_token(user_client, "/admin/import_contacts/")
    csv = "email,city\nanna@example.fi,Turku\nnew@example.fi,Oulu\n"
    answer = user_client.post("/admin/import_contacts/", data={
        "csrf_token": token, "file": (io.BytesIO(csv.encode()), "contacts.csv")},
        content_type="multipart/form-data")
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Contact, anna.id).city == "Espoo"
    assert db.session.query(Contact).filter_by(email="new@example.fi").one().city == "Oulu"
    page = user_client.get(answer.headers["Location"]).text
    assert 'data-result="kept_existing">1<' in page and 'data-result="imported">1<' in page


def test_a_missing_record_is_a_404_in_the_layout_with_a_way_back(user_client):
    page = user_client.get("/admin/contact/details/?id=999999")
    assert page.status_code == 404
    assert "Back to the dashboard" in page.text and "navbar" in page.text


def test_a_group_form_without_template_still_saves_for_a_user(user_client):
    token = csrf_token(user_client, "/admin/targetgroup/new/")
    user_client.post("/admin/targetgroup/new/", data={
        "name": "Mine", "criteria": '{"all": []}', "sample_mode": "none",
        "csrf_token": token})
    assert db.session.query(TargetGroup).filter_by(name="Mine").one().email_template_id is None
