"""The criteria builder and group form in plain words and smooth flows (issue 16): no error
before the user acted, sensible new rows, the preview shows the fields the conditions use,
sampling help, and saving a group stores its members."""

from __future__ import annotations

import json

from models import Company, Contact, JobRun, TargetGroup, db
from tests.conftest import csrf_token

EMPTY_CITY = json.dumps({"all": [{"field": "city", "op": "eq", "value": ""}]})


def test_an_untyped_value_is_no_error_until_the_user_acts(admin_client):
    token = csrf_token(admin_client, "/admin/targetgroup/new/")
    headers = {"X-CSRFToken": token}
    quiet = admin_client.post("/admin/criteria/count", data={"criteria": EMPTY_CITY},
                              headers=headers)
    assert quiet.status_code == 200 and 'data-status="incomplete"' in quiet.text
    assert "non-empty" not in quiet.text
    acted = admin_client.post("/admin/criteria/count",
                              data={"criteria": EMPTY_CITY, "touched": "1"}, headers=headers)
    assert acted.status_code == 400
    assert "<code>all[0].value</code>: expected a non-empty text" in acted.text
    # A problem that is not an empty value shows at once.
    unknown = json.dumps({"all": [{"field": "salary", "op": "eq", "value": 1}]})
    assert admin_client.post("/admin/criteria/count", data={"criteria": unknown},
                             headers=headers).status_code == 400


def test_a_new_opt_out_row_means_no(admin_client):
    row = admin_client.get("/admin/criteria/row?cb_field=email_opt_out").text
    assert '<option value="false" selected' in row.replace("  ", " ")


def test_the_preview_shows_the_fields_the_conditions_use(ctx, admin_client):
    helsinki = Company(name="Ääni Oy", city="Helsinki")
    db.session.add_all([helsinki, Contact(first_name="Anna", email="a@example.fi",
                                          city="Espoo", language="fi", company=helsinki)])
    db.session.commit()
    token = csrf_token(admin_client, "/admin/targetgroup/new/")
    tree = {"all": [{"field": "language", "op": "eq", "value": "fi"},
                    {"field": "company.city", "op": "eq", "value": "Helsinki"}]}
    answer = admin_client.post("/admin/criteria/preview", data={"criteria": json.dumps(tree)},
                               headers={"X-CSRFToken": token}).text
    assert '<th data-column="language">Language</th>' in answer
    assert '<th data-column="company.city">Company city</th>' in answer
    assert '<td data-column="company.city">Helsinki</td>' in answer  # not the contact's Espoo
    assert "Espoo" not in answer


def test_the_group_form_helps_with_sampling_and_has_no_developer_words(admin_client):
    form = admin_client.get("/admin/targetgroup/new/").text
    assert "every k-th match by id" in form and "Use this or the percent" in form
    assert "__None" not in form and "Please select model" not in form
    assert "(no email)" in form


def test_saving_a_group_queues_its_first_refresh(ctx, admin_client, run_jobs):
    db.session.add(Contact(first_name="Anna", email="a@example.fi", language="fi"))
    db.session.commit()
    token = csrf_token(admin_client, "/admin/targetgroup/new/")
    criteria = json.dumps({"all": [{"field": "language", "op": "eq", "value": "fi"}]})
    saved = admin_client.post("/admin/targetgroup/new/", data={
        "name": "Finns", "criteria": criteria, "sample_mode": "none", "csrf_token": token},
        follow_redirects=True)
    assert "Storing the members of Finns now" in saved.text
    run = db.session.query(JobRun).filter_by(kind="refresh_group").one()
    run_jobs()
    db.session.expire_all()
    group = db.session.query(TargetGroup).filter_by(name="Finns").one()
    assert group.member_count == 1 and group.refreshed_at is not None
    assert run.params == {"group_id": group.id}


def test_an_empty_choice_posts_an_empty_value_not_none_words(admin_client):
    form = admin_client.get("/admin/targetgroup/new/").text
    assert '<option selected value="">(no email)</option>' in form
