"""Data for the bulk tests: two owners, two companies, contacts that differ in the columns
the list filters on, and a campaign with a template (so joining queues email)."""

from __future__ import annotations

from sqlalchemy import insert, select

from models import Campaign, Company, Contact, EmailTemplate, Role, User, db

from ..conftest import make_user

CITIES = ["Turku", "Oulu", "Espoo", "Turku"]
STATUSES = ["active", "prospect", "customer", "active", "prospect"]


def world(n: int = 40) -> dict:
    """``n`` contacts: city, status, owner, company and opt-out vary with the number."""
    alice = make_user("alice@example.com", Role.USER)
    bob = make_user("bob@example.com", Role.USER)
    acme, globex = Company(name="Acme Oy", city="Turku"), Company(name="Globex Ab", city="Oulu")
    template = EmailTemplate(name="Welcome", subject="Hi {{ contact.first_name }}",
                             body_html="<p>Hi</p>{{ unsubscribe_url }}")
    campaign = Campaign(name="Spring 2027", email_template=template)
    db.session.add_all([acme, globex, campaign])
    db.session.commit()
    db.session.execute(insert(Contact), [{
        "first_name": f"Person{i}", "last_name": "Öhman" if i % 3 == 0 else "Berg",
        "email": f"p{i}@example.fi", "city": CITIES[i % 4], "status": STATUSES[i % 5],
        "owner_id": alice.id if i % 2 else bob.id,
        "company_id": acme.id if i % 3 else globex.id,
        "email_opt_out": i % 7 == 0,
    } for i in range(n)])
    db.session.commit()
    return {"alice": alice.id, "bob": bob.id, "acme": acme.id, "globex": globex.id,
            "campaign": campaign.id}


def ids_where(condition) -> list[int]:
    """Contact ids matching a Python-side check, for comparing with what a job touched."""
    return sorted(c.id for c in db.session.scalars(select(Contact)) if condition(c))


__all__ = ["world", "ids_where", "User"]


def filter_arg(app, endpoint: str, label: str, kind) -> str:
    """The URL key of a list's filter (``12`` in ``flt0_12``) by its label and class."""
    view = next(v for v in app.extensions["admin"][0]._views
                if getattr(v, "endpoint", None) == endpoint)
    for key, (_index, flt) in view._filter_args.items():
        if str(flt.name) == label and type(flt) is kind:
            return key
    raise AssertionError(f"no {kind.__name__} filter labelled {label!r} on {endpoint}")


def second_client(app, email: str):
    """Another logged-in client in the same test. Requests share the test's app context,
    so what it keeps of the first client (Flask-Login's user, Flask-WTF's CSRF token) must
    be forgotten first."""
    from flask import g

    from ..conftest import login

    g.pop("_login_user", None)
    g.pop("csrf_token", None)
    client = app.test_client()
    assert login(client, email).status_code == 302
    g.pop("_login_user", None)
    return client
