"""Search finds names in any case and script, on SQLite as on PostgreSQL."""

import pytest

from models import ActivityWizardRun, Company, Contact, db
from models.activities.wizard import contacts_page


@pytest.fixture
def people(ctx, admin_user):
    company = Company(name="Ääni Oy")
    db.session.add_all([
        Contact(first_name="Åsa", last_name="Öhman", email="asa@example.se", company=company),
        Contact(first_name="Ödön", last_name="Új", email="odon@example.hu"),
        Contact(first_name="Pekka", last_name="Puu", email="pekka@example.fi"),
    ])
    db.session.commit()
    return company


def listed(client, search: str) -> set[str]:
    page = client.get("/admin/contact/", query_string={"search": search})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return {e for e in ("asa@example.se", "odon@example.hu", "pekka@example.fi") if e in html}


@pytest.mark.parametrize("search", ["Öhman", "öhman", "ÖHMAN", "ohman", "OHMAN", "åsa öhm"])
def test_contact_list_search_ignores_case_and_accents(admin_client, people, search):
    assert listed(admin_client, search) == {"asa@example.se"}


def test_contact_list_search_keeps_like_wildcards_literal(admin_client, people):
    assert listed(admin_client, "%") == set()
    assert listed(admin_client, "_") == set()
    assert listed(admin_client, "ÚJ") == {"odon@example.hu"}


def test_search_text_follows_edits(admin_client, people):
    pekka = db.session.query(Contact).filter_by(email="pekka@example.fi").one()
    pekka.last_name = "Ärjä"
    db.session.commit()
    assert listed(admin_client, "arja") == {"pekka@example.fi"}


@pytest.mark.parametrize("query", ["ääni", "ÄÄNI", "Ääni"])
def test_ajax_company_picker_ignores_case_for_every_script(admin_client, people, query):
    answer = admin_client.get("/admin/contact/ajax/lookup/",
                              query_string={"name": "company", "query": query})
    assert answer.status_code == 200
    assert [row[1] for row in answer.get_json()] == ["Ääni Oy"]


@pytest.mark.parametrize("query", ["ääni", "ÄÄNI OY"])
def test_company_list_search_ignores_case_for_every_script(admin_client, people, query):
    page = admin_client.get("/admin/company/", query_string={"search": query})
    assert "Ääni Oy" in page.get_data(as_text=True)


@pytest.mark.parametrize("search", ["Öhman", "öhman", "ohman"])
def test_wizard_step3_search_finds_non_ascii_names(people, admin_user, search):
    run = ActivityWizardRun(created_by_id=admin_user.id, criteria={"all": []})
    db.session.add(run)
    db.session.commit()
    rows = contacts_page(run, 0, 50, search)
    assert [r.email for r in rows] == ["asa@example.se"]
