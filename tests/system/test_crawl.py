"""Every GET route, as a visitor, a CRM user and an admin, with malformed ids: never a 500."""

from datetime import time

import pytest
from flask import got_request_exception

from models import (
    ActivityWizardRun,
    Campaign,
    CampaignMember,
    Company,
    Contact,
    JobRun,
    SavedFilter,
    TargetGroup,
    TargetGroupMember,
    db,
)
from tests.conftest import login, make_user

ID_VARIANTS = ("abc", "999999", "1,2", "1", "-1", "99999999999999999999", "%00", "1,abc")
# Hostile list arguments: paging, sorting, searching, filtering, a saved filter.
LIST_NOISE = (
    "page=-1&sort=99&desc=abc&page_size=-5", "page=99999999999999999999&page_size=999999999",
    "search=%25%00%ff%5C", "search=" + "x" * 5000, "flt0_0=abc&flt1_99=x&flt2_3=%00",
    "flt0_7=1999-99-99&flt1_8=abc", "saved_filter=abc", "saved_filter=99999999999999",
    "sort=abc",
)
AJAX_NOISE = ("name=company&query=%00", "name=nosuch&query=a", "name=owner&query=%25&offset=x",
              "name=company&query=" + "%C3%84" * 3000)
EXTRA = [
    "/admin/calendar/?day=0000-00-00&user=99999999999999", "/admin/calendar/?day=9999-12-31",
    "/admin/calendar/?day=0001-01-01&view=day", "/admin/calendar/?user=abc",
    "/admin/activity_wizard/1/3?page=abc&q=%00", "/admin/activity_wizard/1/3?page=-9&q=%25_",
    "/admin/criteria/row?cb_field=nosuch&cb_op=zz&cb_widget=x",
    "/admin/criteria/row?cb_field=created_at&cb_op=between&cb_widget=date&cb_v=x&cb_v2=y",
    "/admin/group_activities/?group_id=abc", "/admin/audience/1?action=nosuch",
    "/unsubscribe/abc", "/login?next=//evil.example",
]
SKIP = {"static", "admin.static", "calendar_feed.feed"}
VALUES = {"int": ["1", "999999"], "default": ["1", "abc"], "string": ["1", "abc"],
          "path": ["abc"], "float": ["1.5"]}


@pytest.fixture
def world(ctx, admin_user):
    company = Company(name="Kone Oy")
    contact = Contact(first_name="Aino", last_name="Aalto", email="aino@example.fi",
                      company=company)
    campaign = Campaign(name="Spring", active=True)
    group = TargetGroup(name="Turku", criteria={"all": []})
    db.session.add_all([company, contact, campaign, group,
                        SavedFilter(name="All", module="contact", criteria={"all": []}),
                        ActivityWizardRun(created_by_id=admin_user.id)])
    db.session.flush()
    db.session.add_all([CampaignMember(campaign_id=campaign.id, contact_id=contact.id),
                        TargetGroupMember(group_id=group.id, contact_id=contact.id)])
    db.session.add(JobRun(id="job-1", kind="import_contacts", dedupe_key="k", params={}))
    db.session.commit()


def _urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or "GET" not in rule.methods:
            continue
        paths = [""]
        for is_dynamic, part in rule._trace:
            if not is_dynamic:
                paths = [p + part for p in paths]
                continue
            converter = rule._converters.get(part)
            kind = type(converter).__name__.replace("Converter", "").lower() if converter else ""
            options = VALUES.get({"integer": "int", "unicode": "string"}.get(kind, kind),
                                 VALUES["default"])
            paths = [p + v for p in paths for v in options]
        for path in paths:
            path = path.split("|", 1)[-1]
            urls.append(path)
            urls.extend(f"{path}?id={v}" for v in ID_VARIANTS[:4])
            if rule.endpoint.endswith(".index_view"):
                urls.extend(f"{path}?{q}" for q in LIST_NOISE)
            if rule.endpoint.endswith(".ajax_lookup"):
                urls.extend(f"{path}?{q}" for q in AJAX_NOISE)
            if rule.endpoint.endswith((".details_view", ".edit_view")):
                urls.extend(f"{path}?id={v}" for v in ID_VARIANTS[4:])
    return sorted(set(urls)) + EXTRA


@pytest.fixture
def no_propagation(app):
    """Let the app answer 500 (as in production) and record what raised."""
    failures = []

    def record(sender, exception, **extra):
        failures.append(repr(exception))

    app.config["PROPAGATE_EXCEPTIONS"] = False
    got_request_exception.connect(record, app)
    yield failures
    got_request_exception.disconnect(record, app)
    app.config["PROPAGATE_EXCEPTIONS"] = None


def _crawl(client, urls) -> list[str]:
    bad = []
    for url in urls:
        response = client.get(url)
        if response.status_code >= 500:
            bad.append(f"{response.status_code} {url}")
    return bad


@pytest.mark.parametrize("who", ["anonymous", "user", "admin"])
def test_no_get_route_answers_500(app, world, no_propagation, who):
    client = app.test_client()
    if who != "anonymous":
        email = "admin@example.com" if who == "admin" else make_user("u@example.com", "user").email
        assert login(client, email).status_code == 302
    urls = _urls(app)
    assert len(urls) > 100
    if who == "anonymous":  # every screen sends a visitor to the login page: no need for all
        urls = [u for u in urls if "?" not in u or "id=abc" in u]
    elif who == "user":  # the hostile list arguments are the admin's run; ids for both
        urls = [u for u in urls if "?" not in u or "?id=" in u]
    bad = _crawl(client, urls)
    assert not bad, "\n".join(bad + no_propagation[:20])


def test_error_pages_have_the_layout_and_a_way_back(app, world, no_propagation):
    client = app.test_client()
    assert login(client, make_user("u@example.com", "user").email).status_code == 302
    for url, code in [("/admin/contact/details/?id=abc", 404), ("/admin/user/", 403),
                      ("/admin/campaignmember/details/?id=1", 404),
                      ("/admin/campaignmember/edit/?id=1", 404), ("/no/such/page", 404)]:
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == code, url
        assert 'class="navbar' in page and "Back to the dashboard" in page, url
        assert "Traceback" not in page


def test_a_500_is_a_page_in_the_layout_without_a_traceback(app, world, no_propagation,
                                                           monkeypatch):
    from webadmin.admin import dashboard

    def explode():
        raise RuntimeError("secret /srv/kohde/path detail")

    monkeypatch.setattr(dashboard, "dashboard_counts", explode)
    client = app.test_client()
    assert login(client, "admin@example.com").status_code == 302
    response = client.get("/admin/")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page and "Back to the dashboard" in page
    assert "secret" not in page and "Traceback" not in page
    fragment = client.get("/admin/", headers={"HX-Request": "true"})
    assert fragment.status_code == 500 and "<html" not in fragment.get_data(as_text=True)


def test_settings_with_bad_values_do_not_break_the_crawl(app, world, no_propagation):
    from models import Settings

    row = Settings.get()
    row.timezone, row.working_days = "Mars/Olympus", "9"
    row.activity_latest_end = time(1, 0)
    db.session.commit()
    client = app.test_client()
    assert login(client, "admin@example.com").status_code == 302
    urls = [u for u in _urls(app) if "?" not in u]
    bad = _crawl(client, urls)
    assert not bad, "\n".join(bad + no_propagation[:20])


POST_NOISE = [
    {},
    {"id": "abc", "rowid": ["abc", "1,2"], "action": "delete", "url": "//evil.example"},
    {"id": "99999999999999999999", "contact_id": "abc", "contact": "²", "go": "page:abc",
     "criteria": "[" * 5000, "group_id": "1e9", "campaign_id": "-1", "run_id": "x"},
    {"name": "\x00", "email": "a\x00@b", "day": "9999-99-99", "start": "25:99",
     "shown": ["a", "1"], "exclude": ["99999999999999"], "source": "criteria",
     "criteria": '{"all": [{"field": "city", "op": "eq", "value": "\\ud800"}]}'},
]


def test_no_post_route_answers_500(app, world, no_propagation):
    client = app.test_client()
    assert login(client, "admin@example.com").status_code == 302
    from tests.conftest import csrf_token

    token = csrf_token(client, "/admin/contact/")
    bad = []
    urls = [u for u in _urls(app) if "?" not in u or u.endswith("/edit/?id=1")]
    for url in urls:
        rule_urls = url.split("?")[0]
        adapter = app.url_map.bind("localhost")
        try:
            endpoint, _ = adapter.match(rule_urls, method="POST")
        except Exception:  # noqa: BLE001 - GET-only or no such route
            continue
        if endpoint in ("auth.logout",):
            continue
        for data in POST_NOISE:
            response = client.post(url, data={**data, "csrf_token": token},
                                   headers={"X-CSRFToken": token})
            if response.status_code >= 500:
                bad.append(f"{response.status_code} POST {url} {sorted(data)}")
    assert not bad, "\n".join(bad[:40] + no_propagation[:20])


def test_details_and_edit_still_open_for_real_ids(app, world, admin_client):
    member = db.session.query(CampaignMember).one()
    group_member = db.session.query(TargetGroupMember).one()
    for url in [f"/admin/campaignmember/details/?id={member.campaign_id},{member.contact_id}",
                f"/admin/campaignmember/edit/?id={member.campaign_id},{member.contact_id}",
                f"/admin/targetgroupmember/details/?id={group_member.group_id},"
                f"{group_member.contact_id}",
                "/admin/contact/details/?id=1", "/admin/contact/edit/?id=1",
                "/admin/jobrun/details/?id=job-1", "/admin/company/edit/?id=1"]:
        assert admin_client.get(url).status_code == 200, url
