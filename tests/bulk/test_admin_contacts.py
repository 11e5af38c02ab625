"""The contact and company lists' bulk actions over HTTP (CSRF token and all): the
confirmation states the count and the consequence, "Run" starts the job, a role that may
not use an action is refused with 403."""

from __future__ import annotations

import json

import pytest
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from sqlalchemy import func, select

from models import AuditEntry, CampaignMember, Contact, FilterModule, JobRun, Role, SavedFilter, db
from webadmin.admin.bulk.sentences import bulk_sentence

from ..conftest import csrf_token, make_user
from .support import filter_arg, ids_where, second_client, world

LIST = "/admin/contact/"


def choose(client, action: str, rowids=(), select_all=False, url=LIST, base="/admin/contact"):
    """Pick an action from the list's menu, as the page's form posts it."""
    token = csrf_token(client, url)
    data = {"csrf_token": token, "action": action, "url": url, "rowid": [str(i) for i in rowids]}
    if select_all:
        data["select_all"] = "1"
    return client.post(f"{base}/action/", data=data), token


def selection_of(page: str) -> dict:
    """The selection the confirmation page carries."""
    start = page.index('name="selection" value="') + len('name="selection" value="')
    raw = page[start:page.index('"', start)].replace("&#34;", '"').replace("&quot;", '"')
    return json.loads(raw)


def post(client, path: str, token: str, selection: dict, **fields):
    """POST a confirmation's preview or run, as htmx does."""
    data = {"csrf_token": token, "selection": json.dumps(selection), **fields}
    return client.post(path, data=data, headers={"HX-Request": "true"})


def test_change_owner_of_all_that_match_a_search_and_two_filters(app, admin_client, run_jobs):
    data = world(40)
    city = filter_arg(app, "contact", "City", FilterEqual)
    owner = filter_arg(app, "contact", "Owner", FilterLike)
    url = f"{LIST}?search=ohman&flt1_{city}=Turku&flt2_{owner}=alice"
    page = admin_client.get(url).get_data(as_text=True)
    assert "Select all" in page and 'id="kohde-select-all"' in page
    confirm, token = choose(admin_client, "set_owner", rowids=[1], select_all=True, url=url)
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    expected = ids_where(lambda c: c.last_name == "Öhman" and c.city == "Turku"
                         and c.owner_id == data["alice"])
    assert f'data-total="{len(expected)}"' in text
    selection = selection_of(text)
    assert selection["search"] == "ohman" and len(selection["filters"]) == 2
    preview = post(admin_client, "/admin/contact/bulk/set_owner/preview", token, selection,
                   owner_id=str(data["bob"]))
    assert f"This gives {len(expected)} contacts to Bob" in preview.get_data(as_text=True)
    run = post(admin_client, "/admin/contact/bulk/set_owner/run", token, selection,
               owner_id=str(data["bob"]))
    assert "/admin/jobrun/details/" in run.headers["HX-Redirect"]
    before = dict(db.session.execute(select(Contact.id, Contact.owner_id)).all())
    run_jobs()
    after = dict(db.session.execute(select(Contact.id, Contact.owner_id)).all())
    # exactly the matching rows changed, and nothing else
    assert sorted(i for i in after if after[i] != before[i]) == expected
    assert {after[i] for i in expected} == {data["bob"]}
    changed = db.session.scalar(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.table_name == "contacts"))
    assert changed == len(expected)


def test_ticked_rows_add_to_campaign_with_email_counts(admin_client, run_jobs):
    data = world(20)
    confirm, token = choose(admin_client, "add_to_campaign", rowids=[1, 2, 3])
    selection = selection_of(confirm.get_data(as_text=True))
    assert selection == {"area": "contacts", "ids": [1, 2, 3]}
    preview = post(admin_client, "/admin/contact/bulk/add_to_campaign/preview", token,
                   selection, campaign_id=str(data["campaign"])).get_data(as_text=True)
    assert "This adds 3 contacts to Spring 2027 and queues 2 emails; 1 are opted out" in preview
    post(admin_client, "/admin/contact/bulk/add_to_campaign/run", token, selection,
         campaign_id=str(data["campaign"]))
    run_jobs()
    assert db.session.scalar(select(func.count()).select_from(CampaignMember)) == 3


@pytest.mark.parametrize(("action", "fields", "check"), [
    ("set_status", {"status": "customer"},
     lambda: ids_where(lambda c: c.status == "customer") == [1, 2, 3, 8, 13, 18]),
    ("opt_out", {"reason": "asked"}, lambda: ids_where(lambda c: c.email_opt_out)[:3] == [1, 2, 3]),
    ("remove_from_campaign", {"campaign_id": "CAMPAIGN"}, lambda: True),
    ("export", {}, lambda: True),
    ("create_activities", {"day": "2027-03-01", "subject": "Call", "activity_type": "call",
                           "user_id": "", "fallback_user_id": "", "campaign_id": ""},
     lambda: True),
])
def test_each_contact_action_runs_as_a_job(user_client, run_jobs, action, fields, check):
    data = world(20)
    fields = {k: str(data["campaign"]) if v == "CAMPAIGN" else v for k, v in fields.items()}
    confirm, token = choose(user_client, action, rowids=[1, 2, 3])
    assert confirm.status_code == 200
    selection = selection_of(confirm.get_data(as_text=True))
    preview = post(user_client, f"/admin/contact/bulk/{action}/preview", token, selection,
                   **fields)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    run = post(user_client, f"/admin/contact/bulk/{action}/run", token, selection, **fields)
    assert "/admin/jobrun/details/" in run.headers.get("HX-Redirect", ""), \
        run.headers.get("HX-Redirect")
    run_jobs()
    job = db.session.scalars(select(JobRun)).one()
    assert job.status == "done", job.error
    assert bulk_sentence(job)
    assert check()


@pytest.mark.parametrize("action", ["delete_contacts", "opt_in"])
def test_a_user_may_not_delete_or_opt_back_in(app, user_client, run_jobs, action):
    world(10)
    menu = user_client.get(LIST).get_data(as_text=True)
    assert f"'{action}'" not in menu
    refused, token = choose(user_client, action, rowids=[1, 2])
    assert refused.status_code == 403
    assert "for admins only" in refused.get_data(as_text=True)
    direct = post(user_client, f"/admin/contact/bulk/{action}/run", token,
                  {"area": "contacts", "ids": [1, 2]}, reason="asked")
    assert direct.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0
    make_user("boss@example.com", Role.ADMIN)
    admin_client = second_client(app, "boss@example.com")
    confirm, token = choose(admin_client, action, rowids=[1, 2])
    assert confirm.status_code == 200
    post(admin_client, f"/admin/contact/bulk/{action}/run", token,
         {"area": "contacts", "ids": [1, 2]}, reason="asked")
    run_jobs()
    assert db.session.scalars(select(JobRun)).one().status == "done"
    if action == "delete_contacts":
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 8


def test_bad_posts_are_refused_with_a_message(admin_client):
    world(3)
    _confirm, token = choose(admin_client, "set_owner", rowids=[1])
    bad = post(admin_client, "/admin/contact/bulk/set_owner/preview", token,
               {"area": "contacts", "ids": [1]}, owner_id="999")
    assert bad.status_code == 400 and "no active user" in bad.get_data(as_text=True)
    forged = post(admin_client, "/admin/contact/bulk/set_owner/preview", token,
                  {"area": "contacts", "filters": [["password_hash", "eq", "x"]]}, owner_id="1")
    assert forged.status_code == 400 and "no filter on" in forged.get_data(as_text=True)
    other = post(admin_client, "/admin/contact/bulk/set_owner/run", token,
                 {"area": "activities", "ids": [1]}, owner_id="1")
    assert other.status_code == 204 and db.session.scalar(
        select(func.count()).select_from(JobRun)) == 0
    unknown = post(admin_client, "/admin/contact/bulk/nope/run", token, {"area": "contacts"})
    assert unknown.status_code == 404


def test_companies_add_their_contacts_and_change_owner(app, user_client, run_jobs):
    data = world(12)
    confirm, token = choose(user_client, "add_to_campaign", rowids=[data["acme"]],
                            url="/admin/company/", base="/admin/company")
    selection = selection_of(confirm.get_data(as_text=True))
    preview = post(user_client, "/admin/company/bulk/add_to_campaign/preview", token, selection,
                   campaign_id=str(data["campaign"])).get_data(as_text=True)
    acme = ids_where(lambda c: c.company_id == data["acme"])
    assert f"This adds {len(acme)} contacts" in preview
    post(user_client, "/admin/company/bulk/add_to_campaign/run", token, selection,
         campaign_id=str(data["campaign"]))
    city = filter_arg(app, "company", "City", FilterEqual)
    confirm, token = choose(user_client, "set_owner", select_all=True,
                            url=f"/admin/company/?flt0_{city}=Oulu", base="/admin/company")
    selection = selection_of(confirm.get_data(as_text=True))
    assert selection["filters"] == [["city", "eq", "Oulu"]]
    post(user_client, "/admin/company/bulk/set_owner/run", token, selection,
         owner_id=str(data["alice"]))
    run_jobs()
    assert db.session.scalar(select(func.count()).select_from(CampaignMember)) == len(acme)
    owners = dict(db.session.execute(select(Contact.company_id, Contact.owner_id)).all())
    assert owners  # the contacts' owners are theirs; the company's owner changed below
    from models import Company
    assert db.session.get(Company, data["globex"]).owner_id == data["alice"]
    assert db.session.get(Company, data["acme"]).owner_id is None


def test_select_all_keeps_the_lists_saved_filter(admin_client):
    world(20)
    saved = SavedFilter(name="Oulu", module=FilterModule.CONTACT, shared=True,
                        criteria={"all": [{"field": "city", "op": "eq", "value": "Oulu"}]})
    db.session.add(saved)
    db.session.commit()
    url = f"{LIST}?saved_filter={saved.id}&search=berg"
    confirm, _token = choose(admin_client, "export", rowids=[2], select_all=True, url=url)
    text = confirm.get_data(as_text=True)
    expected = ids_where(lambda c: c.city == "Oulu" and c.last_name == "Berg")
    assert f'data-total="{len(expected)}"' in text
    assert selection_of(text)["saved_filter_id"] == saved.id
    unknown, _token = choose(admin_client, "export", rowids=[2], select_all=True,
                             url=f"{LIST}?saved_filter=999")
    assert unknown.status_code == 302  # back to the list, with the reason flashed
