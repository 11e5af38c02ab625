"""Whole pictures (issue 16): a contact's, company's, activity's and group's pages show the
records around them, bounded, with links and a "show all"."""

from __future__ import annotations

from models import Contact, TargetGroupMember, db

from .pictures_support import world


def test_a_contacts_page_shows_its_whole_picture(ctx, admin_client, admin_user):
    w = world(admin_user)
    anna = w["anna"]
    page = admin_client.get(f"/admin/contact/details/?id={anna.id}").get_data(as_text=True)
    assert f'href="/admin/company/details/?id={w["company"].id}">Ääni Oy</a>' in page
    assert "Admin" in page and "&lt;admin@example.com&gt;" in page  # the owner
    # Campaigns with the source (a link to the group) and the date.
    assert f'data-campaign="{w["campaign"].id}"' in page
    assert f'href="/admin/targetgroup/details/?id={w["group"].id}">Finns</a>' in page
    assert "Target group" in page
    # Groups with the explain link; activities planned and past; emails with status.
    assert f"/admin/targetgroup/details/?id={w['group'].id}&amp;explain={anna.id}#explain" in page
    assert "Call Anna" in page and "Met Anna" in page
    assert 'data-state="sent"' in page
    # The change history: who changed the city from what to what (the field by its label;
    # the old value known although the change came after a commit).
    assert "<strong>City</strong>: Espoo → Vantaa" in page


def test_a_suppressed_email_says_why(ctx, admin_client, admin_user):
    w = world(admin_user)
    page = admin_client.get(f"/admin/contact/details/?id={w['bo'].id}").get_data(as_text=True)
    assert 'data-reason="opted_out"' in page and "opted out of email" in page
    assert 'data-opted-out="1"' in page


def test_a_long_list_is_bounded_with_show_all_and_pages(ctx, admin_client, admin_user):
    w = world(admin_user)
    group = w["group"]
    people = [Contact(first_name=f"P{i:03d}", email=f"p{i}@example.fi") for i in range(130)]
    db.session.add_all(people)
    db.session.flush()
    db.session.add_all(TargetGroupMember(group_id=group.id, contact_id=p.id) for p in people)
    db.session.commit()
    page = admin_client.get(f"/admin/targetgroup/details/?id={group.id}").get_data(as_text=True)
    assert page.count('<tr data-contact="') == 20
    assert f'href="/admin/targetgroup/details/?id={group.id}&amp;all=members#members"' in page
    second = admin_client.get(f"/admin/targetgroup/details/?id={group.id}&all=members&page=2")
    text = second.get_data(as_text=True)
    assert text.count('<tr data-contact="') == 31  # 131 members, 100 a page
    assert "Previous" in text and "Next" not in text.split('data-list="members"')[1]
    # Nonsense paging is the first page, never an error.
    assert admin_client.get(f"/admin/targetgroup/details/?id={group.id}&all=members"
                            "&page=99999999999999999999").status_code == 200


def test_a_companys_page_lists_its_contacts_and_activities(ctx, admin_client, admin_user):
    w = world(admin_user)
    page = admin_client.get(f"/admin/company/details/?id={w['company'].id}").get_data(
        as_text=True)
    assert f'<tr data-contact="{w["anna"].id}">' in page
    assert f'<tr data-contact="{w["bo"].id}">' in page
    assert "Call Anna" in page and "Met Anna" in page


def test_activity_pages_and_the_list_link_contacts_and_campaign(ctx, admin_client, admin_user):
    w = world(admin_user)
    planned = w["planned"]
    details = admin_client.get(f"/admin/activity/details/?id={planned.id}").get_data(as_text=True)
    assert f'href="/admin/contact/details/?id={w["anna"].id}">Anna Aalto</a>' in details
    assert f'href="/admin/contact/details/?id={w["bo"].id}">Bo Berg</a>' in details
    assert f'href="/admin/campaign/details/?id={w["campaign"].id}">' in details
    assert 'href="tel:+358401"' in details
    listing = admin_client.get("/admin/activity/").get_data(as_text=True)
    assert f'href="/admin/contact/details/?id={w["anna"].id}">Anna Aalto</a>' in listing
    assert f'href="/admin/campaign/details/?id={w["campaign"].id}">' in listing
    cells = [" ".join(c.split()) for c in listing.split('<td class="col-type">')[1:]]
    assert {c.split("<")[0].strip() for c in cells} == {"Call", "Meeting"}  # types in words


def test_the_group_page_explains_a_contact(ctx, admin_client, admin_user):
    w = world(admin_user)
    url = f"/admin/targetgroup/details/?id={w['group'].id}&explain={w['bo'].id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert 'id="explain"' in page and 'data-member="false"' in page
    assert admin_client.get(url.replace(str(w["bo"].id), "abc")).status_code == 200


def test_plan_an_activity_from_a_contact_starts_with_that_contact(ctx, admin_client,
                                                                  admin_user):
    w = world(admin_user)
    form = admin_client.get(f"/admin/activity/new/?contact_id={w['anna'].id}")
    text = form.get_data(as_text=True)
    assert f'data-json="[[{w["anna"].id}, &#34;Anna Aalto&#34;]]"' in text
    assert f'data-json="[{w["company"].id}, &#34;\\u00c4\\u00e4ni Oy&#34;]"' in text
    assert "Please select model" not in text and "Choose a campaign" in text


def test_the_contact_form_offers_known_values_as_selects(ctx, admin_client):
    from tests.conftest import csrf_token

    db.session.add(Contact(email="x@example.fi", status="vip"))
    db.session.commit()
    form = admin_client.get("/admin/contact/new/").text
    assert '<option value="prospect">Prospect</option>' in form
    # A stored status nobody labelled is offered too, as it is stored.
    assert '<option value="vip">vip</option>' in form
    assert '<option value="sv">Swedish</option>' in form and "__None" not in form
    token = csrf_token(admin_client, "/admin/contact/new/")
    admin_client.post("/admin/contact/new/", data={
        "kind": "contact", "email": "new@example.fi", "status": "prospect", "language": "",
        "csrf_token": token})
    saved = db.session.query(Contact).filter_by(email="new@example.fi").one()
    assert saved.language is None and saved.status == "prospect"


def test_the_change_history_says_fields_and_values_in_words(ctx, admin_client, admin_user):
    w = world(admin_user)
    anna = w["anna"]
    anna.status, anna.email_opt_out, anna.owner_id = "customer", True, None
    db.session.commit()
    page = admin_client.get(f"/admin/contact/details/?id={anna.id}",
                            headers={"Accept-Language": "fi"}).get_data(as_text=True)
    assert "<strong>Tila</strong>: Aktiivinen → Asiakas" in page
    assert "<strong>Vastuuhenkilö</strong>: Admin → —" in page
    assert "owner_id" not in page and "email_opt_out" not in page
