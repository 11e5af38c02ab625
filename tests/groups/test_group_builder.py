"""The criteria builder over HTTP: live count, preview, rows, saving, refresh, saved filters
on the contact list and the explain panel on a contact's page."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from models import (
    Campaign,
    Contact,
    JobRun,
    Role,
    SavedFilter,
    TargetGroup,
    TargetGroupMember,
    db,
)
from models.settings import installation_tz
from tests.conftest import csrf_token, make_user

FI = {"all": [{"field": "language", "op": "eq", "value": "fi"}]}
FI_LEADS = {"all": [{"field": "language", "op": "eq", "value": "fi"},
                    {"field": "kind", "op": "eq", "value": "lead"}]}
NEW_GROUP = "/admin/targetgroup/new/"


@pytest.fixture
def people(ctx):
    """Five contacts: three Finnish speakers (two of them leads), a Swedish lead, an English one."""
    rows = {
        "aino": Contact(first_name="Aino", last_name="Aalto", email="aino@example.fi",
                        language="fi", city="Turku"),
        "bertil": Contact(first_name="Bertil", last_name="Berg", email="bertil@example.se",
                          language="sv", kind="lead", city="Turku"),
        "cecilia": Contact(first_name="Cecilia", last_name="Carlsson", email="cecilia@example.fi",
                           language="fi", kind="lead", city="Helsinki"),
        "david": Contact(first_name="David", last_name="Dunn", email="david@example.com",
                         language="en", city="Helsinki"),
        "eeva": Contact(first_name="Eeva", last_name="Eskola", email="eeva@example.fi",
                        language="fi", kind="lead", city="Tampere"),
    }
    db.session.add_all(rows.values())
    db.session.commit()
    return {name: contact.id for name, contact in rows.items()}


@pytest.fixture
def token(admin_client):
    """The session's CSRF token, scraped from the new-group form as a browser would."""
    return csrf_token(admin_client, NEW_GROUP)


def post_tree(client, endpoint: str, tree, token: str, **extra):
    """POST a tree the way the builder's htmx does: form fields and the X-CSRFToken header."""
    text = tree if isinstance(tree, str) else json.dumps(tree)
    return client.post(f"/admin/criteria/{endpoint}", data={"criteria": text, **extra},
                       headers={"X-CSRFToken": token, "HX-Request": "true"})


def count_in(html: str) -> int:
    match = re.search(r'data-count="(\d+)"', html)
    assert match, html
    return int(match.group(1))


# --- live count ---------------------------------------------------------------------------


def test_count_follows_the_tree(admin_client, people, token):
    assert count_in(post_tree(admin_client, "count", {"all": []}, token).text) == 5
    assert count_in(post_tree(admin_client, "count", FI, token).text) == 3
    assert count_in(post_tree(admin_client, "count", FI_LEADS, token).text) == 2
    anyone = {"any": [{"field": "city", "op": "eq", "value": "Turku"},
                      {"not": {"all": [{"field": "language", "op": "in",
                                        "value": ["fi", "sv"]}]}}]}
    # aino and bertil live in Turku; david speaks neither Finnish nor Swedish
    assert count_in(post_tree(admin_client, "count", anyone, token).text) == 3


def test_count_answers_json_to_json(admin_client, people, token):
    answer = admin_client.post("/admin/criteria/count", json={"criteria": FI_LEADS},
                               headers={"X-CSRFToken": token})
    assert answer.status_code == 200
    assert answer.get_json() == {"count": 2}


def test_count_needs_the_csrf_token_and_a_login(app, admin_client, people):
    refused = admin_client.post("/admin/criteria/count", data={"criteria": json.dumps(FI)})
    assert refused.status_code == 400
    assert "CSRF" in refused.text
    anonymous = app.test_client().post("/admin/criteria/count", data={"criteria": "{}"})
    assert anonymous.status_code in (302, 400)  # the login page, or the CSRF check before it


def test_problems_come_back_by_path(admin_client, people, token):
    tree = {"all": [{"field": "city", "op": "eq", "value": ""},
                    {"any": [{"field": "created_at", "op": "gt", "value": "yesterday"},
                             {"field": "kind", "op": "contains", "value": "le"}]}]}
    answer = post_tree(admin_client, "count", tree, token)
    assert answer.status_code == 400
    paths = re.findall(r'data-error-path="([^"]+)"', answer.text)
    assert paths == ["all[0].value", "all[1].any[0].value", "all[1].any[1].op"]
    assert "expected a date as YYYY-MM-DD" in answer.text
    as_json = admin_client.post("/admin/criteria/count", json={"criteria": tree},
                                headers={"X-CSRFToken": token})
    assert as_json.status_code == 400
    assert [e.split(":")[0] for e in as_json.get_json()["errors"]] == paths


def test_unknown_field_is_a_400_naming_the_field(admin_client, people, token):
    tree = {"all": [{"field": "salary", "op": "gt", "value": 5000}]}
    for endpoint in ("count", "preview"):
        answer = post_tree(admin_client, endpoint, tree, token)
        assert answer.status_code == 400
        assert "Traceback" not in answer.text
    answer = post_tree(admin_client, "count", tree, token)
    assert "unknown field &#39;salary&#39;" in answer.text
    as_json = admin_client.post("/admin/criteria/count", json={"criteria": tree},
                                headers={"X-CSRFToken": token})
    assert as_json.status_code == 400
    assert as_json.get_json() == {"errors": ["all[0].field: unknown field 'salary'"]}


@pytest.mark.parametrize(
    "posted, message",
    [("{not json", "not valid JSON"),
     ('{"field": "city", "op": "eq", "value": "Turku"}', "the root must be"),
     ("[]", "the root must be")],
    ids=["broken-json", "bare-condition", "list"],
)
def test_what_is_not_a_tree_is_a_400(admin_client, people, token, posted, message):
    answer = post_tree(admin_client, "count", posted, token)
    assert answer.status_code == 400
    assert message in answer.text


@pytest.mark.parametrize(
    "condition, path, message",
    [({"field": "company.size", "op": "gt", "value": 2**31}, "all[0].value", "too large"),
     ({"field": "campaign", "op": "in", "value": [1, 10**20]}, "all[0].value[1]", "too large"),
     ({"field": "city", "op": "eq", "value": "a\x00b"}, "all[0].value", "NUL character"),
     ({"field": "created_at", "op": "gt", "value": "9999-12-31"}, "all[0].value", "0002-01-01"),
     ({"field": "created_at", "op": "between", "value": ["0001-01-01", "2024-01-01"]},
      "all[0].value[0]", "0002-01-01")],
    ids=["int", "id-list", "nul", "last-day", "first-day"],
)
def test_values_the_database_cannot_hold_are_refused_by_path(
    admin_client, people, token, condition, path, message
):
    """They pass models.criteria.validate but would fail in SQL (a 500, not a message)."""
    answer = post_tree(admin_client, "count", {"all": [condition]}, token)
    assert answer.status_code == 400
    assert f'data-error-path="{path}"' in answer.text and message in answer.text


def test_a_group_cannot_count_on_its_own_members(admin_client, people, token):
    group = TargetGroup(name="Loop", criteria={"all": []})
    db.session.add(group)
    db.session.commit()
    tree = {"all": [{"field": "target_group", "op": "eq", "value": group.id}]}
    answer = post_tree(admin_client, "count", tree, token, group_id=str(group.id))
    assert answer.status_code == 400
    assert "cannot depend on itself" in answer.text
    assert post_tree(admin_client, "count", tree, token).status_code == 200  # another group's tree


# --- preview ------------------------------------------------------------------------------


def test_preview_lists_the_first_matching_contacts(admin_client, people, token):
    answer = post_tree(admin_client, "preview", FI_LEADS, token)
    assert answer.status_code == 200
    shown = [int(i) for i in re.findall(r'data-contact="(\d+)"', answer.text)]
    assert shown == [people["cecilia"], people["eeva"]]
    assert "cecilia@example.fi" in answer.text
    assert "aino@example.fi" not in answer.text


def test_preview_stops_at_twenty_by_id(admin_client, people, token):
    db.session.add_all(Contact(first_name=f"P{i}", email=f"p{i}@example.fi", city="Oulu")
                       for i in range(25))
    db.session.commit()
    oulu = {"all": [{"field": "city", "op": "eq", "value": "Oulu"}]}
    first = list(db.session.scalars(select(Contact.id).where(Contact.city == "Oulu")
                                    .order_by(Contact.id).limit(20)))
    answer = post_tree(admin_client, "preview", oulu, token)
    assert [int(i) for i in re.findall(r'data-contact="(\d+)"', answer.text)] == first
    as_json = admin_client.post("/admin/criteria/preview", json={"criteria": oulu},
                                headers={"X-CSRFToken": token})
    assert [c["id"] for c in as_json.get_json()["contacts"]] == first


# --- rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, widget, markers",
    [("cb_field=city", "text", ['name="cb_v"', 'type="text"']),
     ("cb_field=city&cb_op=in", "texts", ["comma-separated"]),
     ("cb_field=kind", "choice", ['<option value="lead"']),
     ("cb_field=kind&cb_op=not_in", "choices", ['type="checkbox" name="cb_v" value="lead"']),
     ("cb_field=email_opt_out", "bool", ['<option value="true"']),
     ("cb_field=company.size&cb_op=between", "int-range", ['name="cb_v2"', 'type="number"']),
     ("cb_field=created_at", "date", ['type="date"']),
     ("cb_field=created_at&cb_op=between", "date-range", ['type="date" name="cb_v2"']),
     ("cb_field=created_at&cb_op=within_last_days", "days", ["days"]),
     ("cb_field=city&cb_op=is_empty", "none", []),
     ("cb_field=owner", "ref", ["Owner Person &lt;owner@example.com&gt;"]),
     ("cb_field=campaign&cb_op=in", "refs", ["multiple", "Spring mailing"]),
     ("cb_field=activity", "activity", ['name="cb_atype"', 'name="cb_period"', 'name="cb_days"'])],
    ids=lambda v: v if isinstance(v, str) and "=" in v else None,
)
def test_a_row_has_the_widget_its_field_and_operator_need(admin_client, query, widget, markers):
    owner = make_user("owner@example.com", Role.USER)
    owner.name = "Owner Person"
    db.session.add(Campaign(name="Spring mailing"))
    db.session.commit()
    answer = admin_client.get(f"/admin/criteria/row?{query}")
    assert answer.status_code == 200
    assert f'data-widget="{widget}"' in answer.text
    for marker in markers:
        assert marker in answer.text


def test_changing_the_operator_keeps_the_value(admin_client):
    row = "/admin/criteria/row"
    answer = admin_client.get(f"{row}?cb_field=city&cb_op=in&cb_widget=text&cb_v=Turku")
    assert 'data-widget="texts"' in answer.text
    assert 'value="Turku"' in answer.text
    answer = admin_client.get(
        "/admin/criteria/row?cb_field=created_at&cb_op=within_last_days&cb_widget=date"
        "&cb_v=2024-01-31"
    )
    assert 'data-widget="days"' in answer.text
    assert "2024-01-31" not in answer.text  # a date is no number of days


def test_a_stored_tree_comes_back_as_rows_and_groups(admin_client, people):
    tree = {"any": [
        {"field": "created_at", "op": "between", "value": ["2024-01-01", "2024-06-30"]},
        {"not": {"all": [{"field": "kind", "op": "in", "value": ["lead"]},
                         {"field": "activity", "op": "exists",
                          "value": {"type": "call", "within_last_days": 30}}]}},
    ]}
    group = TargetGroup(name="Mixed", criteria=tree)
    db.session.add(group)
    db.session.commit()
    page = admin_client.get(f"/admin/targetgroup/edit/?id={group.id}").text
    assert page.count('class="cb-group') == 2
    assert re.search(r'<option value="any" selected>', page)
    assert 'name="cb_not" value="1" checked' in page
    assert 'value="2024-01-01"' in page and 'value="2024-06-30"' in page
    assert 'type="checkbox" name="cb_v" value="lead" checked' in page
    assert '<option value="call" selected>' in page
    assert '<option value="within_last_days" selected>' in page
    hidden = re.search(r'<input type="hidden" class="cb-tree" id="criteria" name="criteria"'
                       r' value="([^"]*)"', page)
    assert json.loads(hidden.group(1).replace("&#34;", '"').replace("&quot;", '"')) == tree
    assert f"hx-vals='{{\"group_id\": {group.id}}}'" in page


# --- saving -------------------------------------------------------------------------------


def test_the_new_group_page_has_the_builder(admin_client):
    page = admin_client.get(NEW_GROUP).text
    assert 'class="criteria-builder' in page
    assert 'name="criteria"' in page and "<textarea" not in page.split('id="criteria"')[0][-200:]
    assert 'hx-post="/admin/criteria/count"' in page
    assert "js/criteria-builder.js" in page


def test_saving_an_invalid_tree_is_refused_with_the_messages(admin_client, people, token):
    bad = {"all": [{"field": "salary", "op": "eq", "value": 1},
                   {"field": "city", "op": "eq", "value": ""}]}
    answer = admin_client.post(NEW_GROUP, data={
        "name": "Broken", "criteria": json.dumps(bad), "sample_mode": "none", "csrf_token": token,
    })
    assert answer.status_code == 200
    assert "all[0].field: unknown field &#39;salary&#39;" in answer.text
    assert "all[1].value: expected a non-empty text" in answer.text
    assert db.session.scalar(select(func.count()).select_from(TargetGroup)) == 0


def test_a_group_cannot_be_saved_depending_on_itself(admin_client, people, token):
    group = TargetGroup(name="Loop", criteria=FI)
    db.session.add(group)
    db.session.commit()
    loop = {"all": [{"field": "target_group", "op": "in", "value": [group.id]}]}
    answer = admin_client.post(f"/admin/targetgroup/edit/?id={group.id}", data={
        "name": "Loop", "criteria": json.dumps(loop), "sample_mode": "none", "csrf_token": token,
    })
    assert answer.status_code == 200
    assert "a group cannot depend on itself" in answer.text
    db.session.expire_all()
    assert db.session.get(TargetGroup, group.id).criteria == FI


def test_the_builders_hidden_input_saves_the_tree(admin_client, people, token):
    answer = admin_client.post(NEW_GROUP, data={
        "name": "Finnish leads", "criteria": json.dumps(FI_LEADS), "sample_mode": "none",
        "csrf_token": token,
    })
    assert answer.status_code == 302
    group = db.session.scalar(select(TargetGroup).where(TargetGroup.name == "Finnish leads"))
    assert group.criteria == FI_LEADS


def test_saved_filters_use_the_builder_and_its_checks(admin_client, people, token):
    assert 'class="criteria-builder' in admin_client.get("/admin/savedfilter/new/").text
    refused = admin_client.post("/admin/savedfilter/new/", data={
        "name": "Nope", "module": "contact", "criteria": '{"all": [{"field": "x"}]}',
        "csrf_token": token,
    })
    assert "unknown field &#39;x&#39;" in refused.text
    saved = admin_client.post("/admin/savedfilter/new/", data={
        "name": "Finns", "module": "contact", "criteria": json.dumps(FI), "shared": "y",
        "csrf_token": token,
    })
    assert saved.status_code == 302
    assert [f.criteria for f in db.session.scalars(select(SavedFilter))] == [FI]


# --- refresh now --------------------------------------------------------------------------


def test_refresh_now_enqueues_and_the_job_stores_the_members(admin_client, people, token, run_jobs):
    group = TargetGroup(name="Finnish leads", criteria=FI_LEADS)
    db.session.add(group)
    db.session.commit()
    listing = admin_client.get("/admin/targetgroup/").text
    assert f'data-refresh-group="{group.id}"' in listing
    assert "never" in listing  # not refreshed yet
    assert f'data-refresh-group="{group.id}"' in admin_client.get(
        f"/admin/targetgroup/details/?id={group.id}").text
    assert f'data-refresh-group="{group.id}"' in admin_client.get(
        f"/admin/targetgroup/edit/?id={group.id}").text

    answer = admin_client.post("/admin/targetgroup/refresh/",
                               data={"id": group.id, "csrf_token": token})
    assert answer.status_code == 302
    run = db.session.scalar(select(JobRun))
    assert run.kind == "refresh_group" and run.params == {"group_id": group.id}
    assert answer.headers["Location"].endswith(f"/admin/jobrun/details/?id={run.id}")
    assert 'id="job-progress"' in admin_client.get(answer.headers["Location"]).text

    run_jobs()
    members = set(
        db.session.scalars(
            select(TargetGroupMember.contact_id).where(TargetGroupMember.group_id == group.id)
        )
    )
    assert members == {people["cecilia"], people["eeva"]}
    group = db.session.get(TargetGroup, group.id)
    assert group.member_count == 2 and group.refreshed_at is not None
    listing = admin_client.get("/admin/targetgroup/").text
    # In the installation's time zone (issue 16), not UTC.
    local = group.refreshed_at.astimezone(installation_tz())
    assert local.strftime("%Y-%m-%d %H:%M") in listing and " UTC" not in listing


def test_refresh_now_needs_the_csrf_token(admin_client, people):
    group = TargetGroup(name="Everyone", criteria={"all": []})
    db.session.add(group)
    db.session.commit()
    answer = admin_client.post("/admin/targetgroup/refresh/", data={"id": group.id})
    assert answer.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0


def test_a_group_with_a_broken_tree_is_not_enqueued(admin_client, people, token):
    group = TargetGroup(name="Old", criteria={"all": [{"field": "gone", "op": "eq", "value": 1}]})
    db.session.add(group)
    db.session.commit()
    answer = admin_client.post("/admin/targetgroup/refresh/",
                               data={"id": group.id, "csrf_token": token},
                               follow_redirects=True)
    assert "cannot be refreshed" in answer.text and "unknown field" in answer.text
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0


# --- saved filters on the contact list ----------------------------------------------------


def list_emails(html: str) -> set[str]:
    return set(re.findall(r"[a-z]+@example\.[a-z]+", html.split("model-list", 1)[1]))


def test_a_saved_filter_narrows_the_contact_list_and_its_count(admin_client, people):
    contacts = SavedFilter(name="Finns", module="contact", criteria=FI)
    leads = SavedFilter(name="Finnish leads", module="lead", criteria=FI)
    company = SavedFilter(name="Companies", module="company", criteria=FI)
    db.session.add_all([contacts, leads, company])
    db.session.commit()

    everyone = admin_client.get("/admin/contact/").text
    assert "List (5)" in everyone
    assert f'<option value="{contacts.id}"' in everyone
    assert f'<option value="{company.id}"' not in everyone  # company filters are not for this list

    finns = admin_client.get(f"/admin/contact/?saved_filter={contacts.id}").text
    assert "List (3)" in finns
    assert list_emails(finns) == {"aino@example.fi", "cecilia@example.fi", "eeva@example.fi"}
    assert "Finns" in finns and "Clear the saved filter" in finns
    assert 'href="/admin/contact/"' in finns  # the clear link drops only the filter

    finnish_leads = admin_client.get(f"/admin/contact/?saved_filter={leads.id}").text
    assert "List (2)" in finnish_leads
    assert list_emails(finnish_leads) == {"cecilia@example.fi", "eeva@example.fi"}

    searched = admin_client.get(f"/admin/contact/?saved_filter={contacts.id}&search=eeva").text
    assert list_emails(searched) == {"eeva@example.fi"}
    assert f'name="saved_filter" value="{contacts.id}"' in searched  # search keeps the filter


def test_someone_elses_private_filter_is_not_applied(admin_user, user_client, people):
    private = SavedFilter(name="Mine", module="contact", criteria=FI, shared=False,
                          owner_id=admin_user.id)
    shared = SavedFilter(name="Ours", module="contact", criteria=FI, owner_id=admin_user.id)
    db.session.add_all([private, shared])
    db.session.commit()
    listing = user_client.get("/admin/contact/").text
    assert "Ours" in listing and "Mine" not in listing
    for asked in (private.id, "nope", 10**12):
        page = user_client.get(f"/admin/contact/?saved_filter={asked}").text
        assert "no such contact or lead filter" in page
        assert list_emails(page) == set()  # an unusable filter shows nothing, not everything


def test_a_broken_saved_filter_shows_nothing_and_says_why(admin_client, people):
    broken = SavedFilter(name="Broken", module="contact", criteria={"all": [{"field": "gone"}]})
    db.session.add(broken)
    db.session.commit()
    page = admin_client.get(f"/admin/contact/?saved_filter={broken.id}").text
    assert "cannot be applied" in page and "unknown field" in page
    assert list_emails(page) == set()


# --- explain ------------------------------------------------------------------------------


def test_the_explain_panel_says_why(admin_client, people, run_jobs, token):
    group = TargetGroup(name="Finnish leads", criteria=FI_LEADS)
    db.session.add(group)
    db.session.commit()
    admin_client.post("/admin/targetgroup/refresh/", data={"id": group.id, "csrf_token": token})
    run_jobs()

    details = admin_client.get(f"/admin/contact/details/?id={people['aino']}").text
    assert f'hx-get="/admin/criteria/explain/{people["aino"]}"' in details

    aino = admin_client.get(f"/admin/criteria/explain/{people['aino']}").text
    assert 'data-member="false"' in aino and "not a member" in aino
    assert re.search(r'data-path="all\[0\]" data-holds="true">\s*<span[^>]*>✓</span>\s*'
                     r"Language is Finnish", aino)
    assert re.search(r'data-path="all\[1\]" data-holds="false">\s*<span[^>]*>✗</span>\s*'
                     r"Kind is Lead", aino)
    assert "Does not match the conditions" in aino

    cecilia = admin_client.get(f"/admin/criteria/explain/{people['cecilia']}").text
    assert 'data-member="true"' in cecilia and "Matches the conditions" in cecilia
    assert "✗" not in cecilia


def test_the_explain_panel_tells_of_the_sample_and_of_broken_groups(admin_client, people):
    db.session.add_all([
        TargetGroup(name="A sample of one", criteria=FI, sample_mode="systematic", sample_size=1),
        TargetGroup(name="B broken", criteria={"all": [{"field": "gone", "op": "eq"}]}),
    ])
    db.session.commit()
    panels = [admin_client.get(f"/admin/criteria/explain/{people[name]}").text
              for name in ("aino", "cecilia", "eeva")]
    assert sum("the group's sample leaves it out" in p for p in panels) == 2
    assert sum("the group's sample keeps it" in p for p in panels) == 1
    assert all("conditions need fixing" in p and "unknown field" in p for p in panels)
    assert admin_client.get("/admin/criteria/explain/999999").status_code == 404


def test_the_explain_panel_shows_the_first_twenty_groups_by_name(admin_client, people):
    db.session.add_all(TargetGroup(name=f"Group {i:02}", criteria=FI) for i in range(22))
    db.session.commit()
    panel = admin_client.get(f"/admin/criteria/explain/{people['aino']}").text
    names = re.findall(r">(Group \d\d)</a>", panel)
    assert names == [f"Group {i:02}" for i in range(20)]
    assert "The first 20 of 22 target groups by name." in panel
