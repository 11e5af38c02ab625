"""Lists at scale (issue 17): an estimated count with an exact one on demand, deep pages
refused with a hint, the dashboard's figures cached when big (webadmin/admin/paging.py,
models/counting.py, models/dashboard.py)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from models import Campaign, CampaignMember, Contact, db
from models.counting import EXACT_BELOW, key_counts, list_count
from models.dashboard import CACHE_FROM, Cached, dashboard_counts
from models.seed import seed_demo
from webadmin.admin.paging import MAX_OFFSET, EstimatedCount, about

TAB_COUNT = re.compile(r'class="nav-link active">List \(([^)]*)\)')


def _count_statement(where=None):
    statement = select(func.count("*")).select_from(Contact)
    return statement if where is None else statement.where(where)


def test_small_lists_count_exactly(admin_client, ctx):
    seed_demo(120, 6, 2, 1)
    page = admin_client.get("/admin/contact/").get_data(as_text=True)
    assert TAB_COUNT.search(page).group(1) == "120"
    assert list_count(_count_statement()) == (120, False)


def test_campaign_lists_count_members_once_per_page_big_ones_estimated(admin_client, ctx):
    seed_demo(3_000, 30, 2, 1)
    big, small = Campaign(name="Big"), Campaign(name="Small")
    db.session.add_all([big, small])
    db.session.commit()
    db.session.execute(text(
        "INSERT INTO campaign_members (campaign_id, contact_id, added_at, source) "
        "SELECT :c, id, CURRENT_TIMESTAMP, 'single' FROM contacts"), {"c": big.id})
    db.session.execute(text(
        "INSERT INTO campaign_members (campaign_id, contact_id, added_at, source) "
        "SELECT :c, id, CURRENT_TIMESTAMP, 'single' FROM contacts WHERE id <= 7"),
        {"c": small.id})
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE campaign_members"))
        db.session.commit()
    counts = key_counts(CampaignMember.campaign_id, [big.id, small.id, 999])
    assert counts[small.id] == (7, False) and counts[999] == (0, False)
    page = admin_client.get("/admin/campaign/").get_data(as_text=True)
    if db.engine.dialect.name == "postgresql":
        assert counts[big.id][1] and abs(counts[big.id][0] - 3_000) <= 300
        assert "about 3,0" in page or "about 2,9" in page
    else:
        assert counts[big.id] == (3_000, False) and ">3,000<" in page
    assert ">7<" in page
    assert "kohde-count-note" not in page


def test_big_lists_show_the_planners_estimate_and_count_exactly_on_demand(admin_client, ctx):
    contacts = max(EXACT_BELOW, 1_000) * 25
    seed_demo(contacts, 100, 3, 1)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE contacts"))
        db.session.commit()
    page = admin_client.get("/admin/contact/").get_data(as_text=True)
    shown = TAB_COUNT.search(page).group(1)
    if db.engine.dialect.name == "sqlite":  # no statistics to ask: always exact
        assert shown == f"{contacts}" and "kohde-count-note" not in page
        return
    assert shown.startswith("about ") and shown.endswith("k")
    estimate = int(shown.removeprefix("about ").removesuffix("k")) * 1_000
    assert abs(estimate - contacts) <= contacts * 0.1
    note = re.search(r'class="kohde-exact-count" href="([^"]+)"', page)
    assert note, "the estimate comes with a link to the exact count"
    exact = admin_client.get(note.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert TAB_COUNT.search(exact).group(1) == f"{contacts}"
    # A filtered list's estimate comes from the same statistics (about 15 % are leads).
    leads = db.session.scalar(_count_statement(Contact.kind == "lead"))
    count, estimated = list_count(_count_statement(Contact.kind == "lead"))
    assert estimated and abs(count - leads) <= leads * 0.2, (count, leads)
    # A handful is counted exactly.
    assert list_count(_count_statement(Contact.id < 10)) == (9, False)


def test_search_and_filters_keep_their_count_exact_when_asked(admin_client, ctx):
    seed_demo(300, 10, 2, 1)
    first = db.session.scalar(select(Contact.last_name).order_by(Contact.id).limit(1))
    expected = db.session.scalar(_count_statement(Contact.last_name == first))
    page = admin_client.get(f"/admin/contact/?search={first}&exact_count=1")
    assert page.status_code == 200
    assert int(TAB_COUNT.search(page.get_data(as_text=True)).group(1)) >= expected


@pytest.mark.parametrize("page_number", [MAX_OFFSET // 20, 4999, 99_999])
def test_deep_pages_get_a_hint_instead_of_an_offset(admin_client, ctx, page_number):
    seed_demo(60, 3, 2, 1)
    answer = admin_client.get(f"/admin/contact/?page={page_number}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Pages past the first 10,000 rows are not shown" in page
    assert 'name="rowid"' not in page  # no rows
    shallow = admin_client.get("/admin/contact/?page=1&page_size=20").get_data(as_text=True)
    assert "Pages past the first" not in shallow and shallow.count('name="rowid"') == 20


def test_estimates_read_as_about():
    assert str(EstimatedCount(1_040_000)) == "about 1.0M"
    assert f"{EstimatedCount(52_345)}" == "about 52k"
    assert f"{EstimatedCount(52_345):,}" == "52,345"
    assert about(900) == "about 900"
    assert EstimatedCount(1_000_000) // 50 == 20_000  # the pager's arithmetic


def test_dashboard_counts_small_installations_every_time(admin_client, ctx):
    seed_demo(50, 3, 2, 1)
    first = dashboard_counts()
    seed_demo(10, 0, 2, 2)
    second = dashboard_counts()
    assert second["contacts"] + second["leads"] == first["contacts"] + first["leads"] + 10


def test_cached_values_are_kept_for_a_while_and_one_caller_refreshes():
    calls = []

    def compute():
        calls.append(1)
        return {"contacts": CACHE_FROM, "leads": 0, "n": len(calls)}

    cache = Cached(compute, lambda value: value["contacts"] >= CACHE_FROM, max_age=60)
    assert cache.get()["n"] == 1 and cache.get()["n"] == 1  # kept
    cache.at -= 61  # a minute later
    assert cache.get()["n"] == 2
    small = Cached(lambda: {"contacts": 1, "leads": 0, "n": len(calls.append(1) or calls)},
                   lambda value: value["contacts"] >= CACHE_FROM)
    assert small.get()["n"] != small.get()["n"]  # not worth keeping: counted every time


def test_an_estimate_stays_words_where_pages_format_counts(app):
    from webadmin.admin.paging import EstimatedCount
    from webadmin.i18n import number

    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert number(EstimatedCount(25_013)) == "about 25k"  # the select-all button's count
        assert number(25_013) == "25,013"
