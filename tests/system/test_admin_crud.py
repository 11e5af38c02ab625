"""Every admin screen over HTTP, the way a browser uses it.

Each editable view lists, creates, edits and deletes through its real forms with
a CSRF token scraped from the page; read-only views list and show but refuse
changes. Also: search, a relationship filter, paging, details, CSV export, a
user created in the admin logging in, and the audit trail of admin edits.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from typing import Any

import pytest
from flask_admin.contrib.sqla.filters import FilterEqual
from sqlalchemy import insert, select

from models import (
    Activity,
    AuditEntry,
    Campaign,
    CampaignMember,
    Company,
    Contact,
    EmailTemplate,
    JobRun,
    OutboxMessage,
    SavedFilter,
    ScheduledAction,
    Settings,
    TargetGroup,
    TargetGroupMember,
    User,
    db,
)
from tests.conftest import PASSWORD, csrf_token, login, make_user

# Where a failed save explains itself: field errors and the flashed alert.
ERROR_RE = re.compile(r'class="(?:invalid-feedback|alert alert-danger)[^"]*"[^>]*>(.*?)</div>',
                      re.S)
TAG_RE = re.compile(r"<[^>]+>|&times;")


# --- helpers -----------------------------------------------------------------------------


def _errors(response) -> str:
    """The form errors and flashed messages a failed save shows (for assert messages)."""
    found = ERROR_RE.findall(response.get_data(as_text=True))
    return "; ".join(" ".join(TAG_RE.sub(" ", m).split()) for m in found)


def submit(client, form_url: str, data: dict[str, Any]):
    """GET the form, scrape its CSRF token, POST ``data`` the way the browser would.

    ``None`` values are left out of the POST: that is an unchecked checkbox or an
    emptied field the browser does not send.
    """
    token = csrf_token(client, form_url)
    payload = {k: str(v) for k, v in data.items() if v is not None}
    response = client.post(form_url, data={**payload, "csrf_token": token})
    # Flask-Admin answers a successful save with a redirect, a failed one with the form again.
    assert response.status_code == 302, f"POST {form_url} failed: {_errors(response)}"
    return response


DELETE_FORM_RE = re.compile(r'<form class="icon" method="POST" action="([^"]+)">(.*?)</form>',
                            re.S)
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def delete(client, view: str, pk: str):
    """POST the list page's delete button for one row: its form's action and hidden fields
    (id, return url, CSRF token) exactly as the list wrote them."""
    listing = client.get(f"/admin/{view}/").get_data(as_text=True)
    for action, inner in DELETE_FORM_RE.findall(listing):
        fields = {name: html.unescape(value) for name, value in HIDDEN_RE.findall(inner)}
        if fields.get("id") == pk:
            assert set(fields) == {"id", "url", "csrf_token"}, fields
            return client.post(html.unescape(action), data=fields)
    raise AssertionError(f"no delete button for {pk} on /admin/{view}/")


def fetch(model, **by):
    """The row matching ``by``, read fresh (a new transaction, nothing cached)."""
    db.session.rollback()
    return db.session.scalars(select(model).filter_by(**by)).one_or_none()


def count(model) -> int:
    """Rows in ``model``'s table, read fresh."""
    db.session.rollback()
    return db.session.query(model).count()


def fresh_login(app, email: str, password: str = PASSWORD):
    """Log in from a new browser, in its own app context.

    Inside the ``ctx`` fixture every request shares the test's app context, so
    ``g`` (where Flask-Login keeps the current user) would still hold the admin.
    """
    with app.app_context():
        return login(app.test_client(), email, password)


def assert_values(row, expected: dict[str, Any]) -> None:
    """Each named attribute of ``row`` equals the expected value."""
    assert row is not None
    for name, want in expected.items():
        got = getattr(row, name)
        assert got == want, f"{type(row).__name__}.{name}: {got!r} != {want!r}"


# --- the records forms refer to ---------------------------------------------------------------


@pytest.fixture
def refs(admin_user):
    """Related rows every form can point at, as plain ids."""
    other = make_user("owner@example.com", "user")
    acme = Company(name="Acme Oy", city="Helsinki")
    beta = Company(name="Beta Ab", city="Turku")
    ada = Contact(first_name="Ada", last_name="Lovelace", email="ada@example.com", company=acme)
    alan = Contact(first_name="Alan", last_name="Turing", email="alan@example.com", company=beta)
    welcome = EmailTemplate(name="Welcome", folder="Campaign", subject="Welcome")
    followup = EmailTemplate(name="Follow-up", folder="Campaign", subject="Still there?",
                             send_timing="scheduled", send_weekdays="1", send_time=time(9, 0))
    spring = Campaign(name="Spring push", number="C-1")
    group = TargetGroup(name="Everyone", criteria={"all": []})
    db.session.add_all([acme, beta, ada, alan, welcome, followup, spring, group])
    db.session.commit()
    return SimpleNamespace(
        admin=admin_user.id, other=other.id, acme=acme.id, beta=beta.id, ada=ada.id,
        alan=alan.id, welcome=welcome.id, followup=followup.id, spring=spring.id,
        group=group.id,
    )


# --- create, edit, delete: one case per editable view ------------------------------------------


@dataclass
class Case:
    """One editable view: the form to create a row, how to find it, what to change."""

    view: str
    model: type
    form: Callable[[SimpleNamespace], dict[str, Any]]
    find: Callable[[SimpleNamespace], dict[str, Any]]
    created: Callable[[SimpleNamespace], dict[str, Any]]
    changes: Callable[[SimpleNamespace], dict[str, Any]]
    edited: Callable[[SimpleNamespace], dict[str, Any]]
    pk: Callable[[Any], str] = field(default=lambda row: str(row.id))

    def __str__(self) -> str:
        return self.view


CRITERIA = '{"all": [{"field": "city", "op": "eq", "value": "Helsinki"}]}'
CRITERIA_2 = '{"any": [{"field": "language", "op": "eq", "value": "fi"}]}'

CASES = [
    Case(
        "contact", Contact,
        form=lambda r: {
            "kind": "lead", "first_name": "Grace", "last_name": "Hopper",
            "email": "grace@example.com", "phone": "+358 40 123", "title": "Admiral",
            "language": "en", "city": "Helsinki", "status": "active", "email_opt_out": "y",
            "company": r.acme, "owner": r.admin,
        },
        find=lambda r: {"email": "grace@example.com"},
        created=lambda r: {"kind": "lead", "last_name": "Hopper", "city": "Helsinki",
                           "email_opt_out": True, "company_id": r.acme, "owner_id": r.admin},
        changes=lambda r: {"kind": "contact", "city": "Espoo", "email_opt_out": None,
                           "company": r.beta, "owner": r.other},
        edited=lambda r: {"kind": "contact", "city": "Espoo", "email_opt_out": False,
                          "company_id": r.beta, "owner_id": r.other},
    ),
    Case(
        "company", Company,
        form=lambda r: {"name": "Created Oy", "business_id": "1234567-8", "city": "Oulu",
                        "country": "FI", "industry": "Software", "size": 42, "owner": r.admin},
        find=lambda r: {"business_id": "1234567-8"},
        created=lambda r: {"name": "Created Oy", "country": "FI", "size": 42,
                           "owner_id": r.admin},
        changes=lambda r: {"name": "Renamed Oy", "size": 43, "owner": r.other},
        edited=lambda r: {"name": "Renamed Oy", "size": 43, "owner_id": r.other},
    ),
    Case(
        "campaign", Campaign,
        form=lambda r: {"name": "Autumn drive", "number": "C-77", "active": "y",
                        "start_date": "2026-09-01", "end_date": "2026-10-31",
                        "email_template": r.welcome, "owner": r.admin, "description": "Q4"},
        find=lambda r: {"number": "C-77"},
        created=lambda r: {"name": "Autumn drive", "active": True,
                           "start_date": date(2026, 9, 1), "end_date": date(2026, 10, 31),
                           "email_template_id": r.welcome, "owner_id": r.admin},
        changes=lambda r: {"active": None, "end_date": "2026-11-30",
                           "email_template": r.followup},
        edited=lambda r: {"active": False, "end_date": date(2026, 11, 30),
                          "email_template_id": r.followup},
    ),
    Case(
        "campaignmember", CampaignMember,
        form=lambda r: {"campaign": r.spring, "contact": r.ada, "source": "manual",
                        "added_by": r.admin},
        find=lambda r: {"campaign_id": r.spring, "contact_id": r.ada},
        created=lambda r: {"source": "manual", "added_by_id": r.admin},
        changes=lambda r: {"source": "import", "added_by": r.other},
        edited=lambda r: {"source": "import", "added_by_id": r.other},
        # Flask-Admin encodes a composite key as "campaign_id,contact_id" (tools.iterencode).
        pk=lambda row: f"{row.campaign_id},{row.contact_id}",
    ),
    Case(
        "activity", Activity,
        form=lambda r: {
            "type": "meeting", "subject": "Kickoff", "number": "A-1", "owner": r.admin,
            "start_at": "2026-05-04 09:00:00", "end_at": "2026-05-04 10:00:00",
            "status": "planned", "contacts": f"{r.ada},{r.alan}", "company": r.acme,
            "campaign": r.spring, "notes": "Bring coffee",
        },
        find=lambda r: {"number": "A-1"},
        # The form's times are Helsinki wall-clock times (UTC+3 in May), stored in UTC.
        created=lambda r: {
            "type": "meeting", "start_at": datetime(2026, 5, 4, 6, tzinfo=UTC),
            "end_at": datetime(2026, 5, 4, 7, tzinfo=UTC), "company_id": r.acme,
            "campaign_id": r.spring, "owner_id": r.admin,
            "contact_ids": {r.ada, r.alan},
        },
        changes=lambda r: {"status": "done", "end_at": "2026-05-04 11:00:00",
                           "contacts": str(r.ada)},
        edited=lambda r: {"status": "done", "end_at": datetime(2026, 5, 4, 8, tzinfo=UTC),
                          "contact_ids": {r.ada}},
    ),
    Case(
        "targetgroup", TargetGroup,
        form=lambda r: {
            "name": "Helsinki leads", "description": "City filter", "criteria": CRITERIA,
            "sample_mode": "random", "sample_size": 10, "sample_percent": "12.5",
            "sample_seed": 7, "email_template": r.followup, "automatic_email": "y",
            "owner": r.admin,
        },
        find=lambda r: {"name": "Helsinki leads"},
        created=lambda r: {
            "criteria": {"all": [{"field": "city", "op": "eq", "value": "Helsinki"}]},
            "sample_mode": "random", "sample_size": 10, "sample_percent": 12.5,
            "sample_seed": 7, "email_template_id": r.followup, "automatic_email": True,
        },
        changes=lambda r: {"criteria": CRITERIA_2, "sample_percent": "25",
                           "automatic_email": None},
        edited=lambda r: {
            "criteria": {"any": [{"field": "language", "op": "eq", "value": "fi"}]},
            "sample_percent": 25.0, "automatic_email": False,
        },
    ),
    Case(
        "savedfilter", SavedFilter,
        form=lambda r: {"name": "Helsinki", "module": "company", "criteria": CRITERIA,
                        "shared": "y", "owner": r.admin},
        find=lambda r: {"name": "Helsinki"},
        created=lambda r: {"module": "company", "shared": True, "owner_id": r.admin,
                           "criteria": {"all": [{"field": "city", "op": "eq",
                                                 "value": "Helsinki"}]}},
        changes=lambda r: {"module": "lead", "shared": None, "criteria": CRITERIA_2},
        edited=lambda r: {"module": "lead", "shared": False,
                          "criteria": {"any": [{"field": "language", "op": "eq",
                                                "value": "fi"}]}},
    ),
    Case(
        "emailtemplate", EmailTemplate,
        form=lambda r: {
            "name": "Invite", "folder": "Campaign", "sender_mode": "user",
            "sender_name": "Kohde", "sender_email": "crm@example.com", "sender_user": r.admin,
            "subject": "Hello {{ contact.first_name }}",
            "body_html": '<p>Hi</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
            "body_text": "Hi",
            "marketing": "y", "send_timing": "scheduled", "send_weekdays": "1,3",
            "send_time": "09:30", "registration_url": "https://example.com/r",
            "survey_url": "https://example.com/s",
        },
        find=lambda r: {"name": "Invite"},
        created=lambda r: {"sender_mode": "user", "sender_user_id": r.admin,
                           "marketing": True, "send_timing": "scheduled",
                           "send_weekdays": "1,3", "send_time": time(9, 30)},
        changes=lambda r: {"subject": "Welcome, {{ contact.first_name }}", "marketing": None,
                           "send_timing": "immediately", "sender_user": r.other},
        edited=lambda r: {"subject": "Welcome, {{ contact.first_name }}", "marketing": False,
                          "send_timing": "immediately", "sender_user_id": r.other},
    ),
    Case(
        "scheduledaction", ScheduledAction,
        form=lambda r: {
            "name": "Nightly refresh", "kind": "refresh_group", "target_group": r.group,
            "frequency": "cron", "cron": "0 3 * * *", "timezone": "Europe/Helsinki",
            "activity_type": "call", "activity_assignee": "owner", "activity_day": "today",
            "activity_day_offset": 0, "catch_up": "latest", "overlap": "skip",
            "max_failures": 3, "active": "y",
        },
        find=lambda r: {"name": "Nightly refresh"},
        created=lambda r: {"kind": "refresh_group", "target_group_id": r.group,
                           "frequency": "cron", "cron": "0 3 * * *", "active": True,
                           "owner_id": r.admin},
        changes=lambda r: {"frequency": "daily", "cron": "", "time_of_day": "03:00",
                           "active": None},
        edited=lambda r: {"frequency": "daily", "cron": None, "time_of_day": time(3, 0),
                          "active": False, "next_run_at": None},
    ),
    Case(
        "user", User,
        form=lambda r: {"email": "new@example.com", "name": "New Person", "role": "user",
                        "active": "y", "new_password": "a long new password"},
        find=lambda r: {"email": "new@example.com"},
        created=lambda r: {"name": "New Person", "role": "user", "active": True},
        changes=lambda r: {"role": "admin", "name": "Renamed Person", "new_password": None},
        edited=lambda r: {"role": "admin", "name": "Renamed Person"},
    ),
]


def _values(row, expected: dict[str, Any]) -> None:
    # "contact_ids" stands for the ids of a many-to-many collection (activity contacts).
    expected = dict(expected)
    if "contact_ids" in expected:
        assert {c.id for c in row.contacts} == expected.pop("contact_ids")
    assert_values(row, expected)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_view_creates_edits_and_deletes(admin_client, refs, case):
    """Create through /new/, change through /edit/, remove through /delete/, checking the DB."""
    base = f"/admin/{case.view}"
    assert admin_client.get(f"{base}/").status_code == 200

    form = case.form(refs)
    submit(admin_client, f"{base}/new/", form)
    row = fetch(case.model, **case.find(refs))
    _values(row, case.created(refs))
    pk = case.pk(row)

    # The list shows the new row with an edit link carrying its (encoded) key.
    listing = admin_client.get(f"{base}/").get_data(as_text=True)
    assert f"id={pk.replace(',', '%2C')}" in listing or f"id={pk}" in listing

    # A browser posts the whole form back; unchecked boxes and emptied fields are absent.
    edit_url = f"{base}/edit/?id={pk}"
    submit(admin_client, edit_url, {**form, **case.changes(refs)})
    _values(fetch(case.model, **case.find(refs)), case.edited(refs))

    response = delete(admin_client, case.view, pk)
    assert response.status_code == 302
    assert fetch(case.model, **case.find(refs)) is None


@pytest.mark.parametrize(
    ("view", "model", "member", "pk"),
    [
        ("campaign", Campaign, lambda r: CampaignMember(campaign_id=r.spring, contact_id=r.ada),
         lambda r: r.spring),
        ("targetgroup", TargetGroup,
         lambda r: TargetGroupMember(group_id=r.group, contact_id=r.ada), lambda r: r.group),
    ],
    ids=["campaign", "targetgroup"],
)
def test_deleting_a_parent_deletes_its_members(admin_client, refs, view, model, member, pk):
    """A campaign or target group with members can be deleted; its members go with it."""
    row = member(refs)
    db.session.add(row)
    db.session.commit()
    member_model = type(row)

    assert delete(admin_client, view, str(pk(refs))).status_code == 302
    assert fetch(model, id=pk(refs)) is None
    assert count(member_model) == 0
    assert fetch(Contact, id=refs.ada) is not None


# --- settings: one row, edited in place ---------------------------------------------------------


def test_settings_open_as_the_edit_form_of_the_single_row(admin_client, ctx):
    """The list redirects to row 1's form; saving it changes the row; no create, no delete."""
    response = admin_client.get("/admin/settings/")
    assert response.status_code == 302
    assert "/admin/settings/edit/?id=1" in response.headers["Location"]

    submit(admin_client, "/admin/settings/edit/?id=1", {
        "timezone": "Europe/Stockholm", "activity_duration_minutes": 30,
        "activity_earliest_start": "09:00", "activity_latest_end": "17:30",
        "working_days": "1,2,3,4", "email_waiting_period_days": 14,
        "email_messages_per_second": 20, "automatic_email_campaigns": None,
    })
    assert_values(fetch(Settings, id=1), {
        "timezone": "Europe/Stockholm", "activity_duration_minutes": 30,
        "activity_earliest_start": time(9, 0), "activity_latest_end": time(17, 30),
        "working_days": "1,2,3,4", "email_waiting_period_days": 14,
        "email_messages_per_second": 20, "automatic_email_campaigns": False,
    })

    assert admin_client.get("/admin/settings/new/").status_code == 302
    token = csrf_token(admin_client, "/admin/settings/edit/?id=1")
    admin_client.post("/admin/settings/delete/", data={"id": "1", "csrf_token": token})
    assert count(Settings) == 1


# --- read-only views -------------------------------------------------------------------------


def _group_member(refs) -> str:
    db.session.add(TargetGroupMember(group_id=refs.group, contact_id=refs.ada))
    db.session.commit()
    return f"{refs.group},{refs.ada}"


def _outbox_message(refs) -> str:
    message = OutboxMessage(template_id=refs.welcome, contact_id=refs.ada, send_key="manual:1",
                            to_email="ada@example.com")
    db.session.add(message)
    db.session.commit()
    return str(message.id)


def _job_run(refs) -> str:
    db.session.add(JobRun(id="job-read-only-1", kind="refresh_group", dedupe_key="x",
                          user_id=refs.admin))
    db.session.commit()
    return "job-read-only-1"


def _audit_entry(refs) -> str:
    # Adding the refs through the ORM already wrote the trail; show the company's creation.
    return str(fetch(AuditEntry, table_name="companies", record_id=str(refs.acme)).id)


READ_ONLY = [
    ("targetgroupmember", TargetGroupMember, _group_member, "Ada Lovelace"),
    ("outboxmessage", OutboxMessage, _outbox_message, "ada@example.com"),
    ("jobrun", JobRun, _job_run, "job-read-only-1"),
    ("auditentry", AuditEntry, _audit_entry, "Acme Oy"),
]


@pytest.mark.parametrize(("view", "model", "make_row", "shown"), READ_ONLY,
                         ids=[r[0] for r in READ_ONLY])
def test_read_only_view_lists_and_shows_but_refuses_changes(
    admin_client, refs, view, model, make_row, shown
):
    """List and details answer; /new/, /edit/ and /delete/ change nothing."""
    pk = make_row(refs)
    rows = count(model)
    base = f"/admin/{view}"

    assert shown in admin_client.get(f"{base}/").get_data(as_text=True)
    details = admin_client.get(f"{base}/details/?id={pk}")
    assert details.status_code == 200
    assert shown in details.get_data(as_text=True)

    token = csrf_token(admin_client, f"{base}/")
    for url in (f"{base}/new/", f"{base}/edit/?id={pk}"):
        assert admin_client.get(url).status_code in (302, 403)
        response = admin_client.post(url, data={"csrf_token": token, "summary": "forged"})
        assert response.status_code in (302, 403)
    response = admin_client.post(f"{base}/delete/", data={"id": pk, "csrf_token": token})
    assert response.status_code in (302, 403)
    assert count(model) == rows


# --- list features: search, filters, paging, details, export -------------------------------------


def _contact_filter_arg(app, label: str) -> str:
    """The URL key of the contact list's "equals" filter on ``label`` (e.g. flt0_12)."""
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == "contact")
    for key, (_index, flt) in view._filter_args.items():
        if str(flt.name) == label and isinstance(flt, FilterEqual):
            return f"flt0_{key}"
    raise AssertionError(f"no equals filter labelled {label!r}")


def test_contact_search_finds_by_name_and_email(admin_client, refs):
    """?search= matches first name, last name and email."""
    page = admin_client.get("/admin/contact/?search=lovelace").get_data(as_text=True)
    assert "ada@example.com" in page and "alan@example.com" not in page
    page = admin_client.get("/admin/contact/?search=alan@").get_data(as_text=True)
    assert "alan@example.com" in page and "ada@example.com" not in page


def test_contact_filter_by_company_name(app, admin_client, refs):
    """The company-name relationship filter keeps only that company's contacts."""
    arg = _contact_filter_arg(app, "Company")
    page = admin_client.get(f"/admin/contact/?{arg}=Beta Ab").get_data(as_text=True)
    assert "alan@example.com" in page and "ada@example.com" not in page


def test_contact_list_pages_past_twenty_rows(admin_client, ctx):
    """30 contacts: page 0 shows the newest 20 (the default page size), ?page=1 the
    oldest 10."""
    db.session.execute(insert(Contact), [
        {"first_name": "Bulk", "last_name": f"{n:02d}", "email": f"bulk{n:02d}@example.com"}
        for n in range(30)
    ])
    db.session.commit()
    listed = re.compile(r"bulk(\d\d)@example\.com")

    first = {int(n) for n in listed.findall(admin_client.get("/admin/contact/").get_data(True))}
    second = admin_client.get("/admin/contact/?page=1")
    assert second.status_code == 200
    rest = {int(n) for n in listed.findall(second.get_data(as_text=True))}
    assert first == set(range(10, 30))  # newest first (default sort: id descending)
    assert rest == set(range(10))


def test_contact_details_show_the_record(admin_client, refs):
    """The details page shows the contact's fields and company."""
    page = admin_client.get(f"/admin/contact/details/?id={refs.ada}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "ada@example.com" in text and "Lovelace" in text and "Acme Oy" in text


def test_contact_csv_export_returns_the_rows(admin_client, refs):
    """The CSV export lists every contact."""
    response = admin_client.get("/admin/contact/export/csv/")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert "ada@example.com" in body and "alan@example.com" in body


# --- users: a password set in the admin works and is never shown -------------------------------


def test_user_created_in_the_admin_can_log_in_and_hash_stays_hidden(app, admin_client, ctx):
    """new_password is hashed on save; list, details and export never show the hash."""
    submit(admin_client, "/admin/user/new/", {
        "email": "fresh@example.com", "name": "Fresh", "role": "user", "active": "y",
        "new_password": PASSWORD,
    })
    user = fetch(User, email="fresh@example.com")
    assert user.password_hash and PASSWORD not in user.password_hash

    assert fresh_login(app, "fresh@example.com").status_code == 302
    assert fresh_login(app, "fresh@example.com", "wrong password").status_code == 401

    for url in ("/admin/user/", f"/admin/user/details/?id={user.id}",
                "/admin/user/export/csv/"):
        page = admin_client.get(url)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "fresh@example.com" in text
        assert user.password_hash not in text and user.calendar_token not in text
        assert "password_hash" not in text.lower().replace(" ", "_")


def test_saving_a_user_without_a_new_password_keeps_the_old_one(app, admin_client, ctx):
    """An empty new_password on edit leaves the stored hash alone."""
    user = make_user("keep@example.com", "user")
    submit(
        admin_client,
        f"/admin/user/edit/?id={user.id}",
        {"email": "keep@example.com", "name": "Keeper", "role": "user", "active": "y"},
    )
    assert fetch(User, email="keep@example.com").name == "Keeper"
    assert fresh_login(app, "keep@example.com").status_code == 302


# --- the audit trail of admin edits ------------------------------------------------------------


def test_admin_contact_changes_are_audited_with_the_admin(admin_client, admin_user, ctx):
    """Create, update and delete entries for the contact, each with the admin's user id."""
    form = {"kind": "contact", "first_name": "Audit", "last_name": "Me",
            "email": "audit@example.com", "status": "active"}
    submit(admin_client, "/admin/contact/new/", form)
    contact = fetch(Contact, email="audit@example.com")
    submit(admin_client, f"/admin/contact/edit/?id={contact.id}", {**form, "city": "Vaasa"})
    assert delete(admin_client, "contact", str(contact.id)).status_code == 302

    entries = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.table_name == "contacts", AuditEntry.record_id == str(contact.id))
        .order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == ["create", "update", "delete"]
    assert {e.user_id for e in entries} == {admin_user.id}
    assert entries[0].changes["email"] == "audit@example.com"
    assert entries[1].changes["city"] == [None, "Vaasa"]


def test_an_admin_edit_records_the_old_and_new_value_of_each_changed_field(admin_client, ctx):
    """The contact was committed (and so expired) before the edit: the trail still has what
    each changed field held before, and nothing for the fields left as they were."""
    kone, wartsila = Company(name="Kone Oy"), Company(name="Wärtsilä Oyj")
    contact = Contact(kind="contact", first_name="Aino", last_name="Aalto",
                      email="aino@example.fi", city="Turku", status="prospect", company=kone,
                      language="fi")
    db.session.add_all([contact, wartsila])
    db.session.commit()
    form = {"kind": "contact", "first_name": "Aino", "last_name": "Aalto",
            "email": "aino@example.fi", "city": "Vaasa", "status": "customer",
            "company": wartsila.id, "language": "sv", "email_opt_out": "y"}
    submit(admin_client, f"/admin/contact/edit/?id={contact.id}", form)
    db.session.rollback()
    update = db.session.scalars(
        select(AuditEntry).where(AuditEntry.table_name == "contacts",
                                 AuditEntry.action == "update")).one()
    assert update.changes == {"city": ["Turku", "Vaasa"], "status": ["prospect", "customer"],
                              "company_id": [kone.id, wartsila.id], "language": ["fi", "sv"],
                              "email_opt_out": [False, True]}


def test_an_update_after_a_commit_keeps_the_old_value(ctx):
    """A commit expires the row; the next change still records what it replaced."""
    contact = Contact(first_name="Aino", email="aino@example.fi", city="Turku")
    db.session.add(contact)
    db.session.commit()
    contact.city = "Vaasa"
    db.session.commit()
    contact.city, contact.status = "Oulu", "customer"
    db.session.commit()
    updates = db.session.scalars(select(AuditEntry.changes).where(
        AuditEntry.action == "update").order_by(AuditEntry.id)).all()
    assert updates == [{"city": ["Turku", "Vaasa"]},
                       {"city": ["Vaasa", "Oulu"], "status": ["active", "customer"]}]
