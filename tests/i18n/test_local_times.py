"""Moments on the pages read in the installation's zone and the reader's format: a Finnish
reader sees "1.12.2026 15.38" (Helsinki), never a UTC ISO stamp with an offset or
microseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from models import (
    ActivityWizardRun,
    Contact,
    JobRun,
    Settings,
    TargetGroup,
    TargetGroupMember,
    db,
)

# 13:38:05.123456 UTC is 15:38 in Helsinki (winter time).
MOMENT = datetime(2026, 12, 1, 13, 38, 5, 123456, tzinfo=UTC)
FINNISH = re.compile(r"1\.12\.2026 (klo )?15\.38")
RAW = ("+00:00", "123456", "13:38", "13.38", "2026-12-01T")


def _pages(admin_user) -> list[str]:
    Settings.get().timezone = "Europe/Helsinki"
    contact = Contact(first_name="Aino", last_name="Aalto", email="aino@example.fi")
    group = TargetGroup(name="Kaikki", criteria={"all": []}, refreshed_at=MOMENT,
                        member_count=1)
    first = JobRun(id="job-a", kind="import_contacts", dedupe_key="k1", params={},
                   status="failed", started_at=MOMENT, enqueued_at=MOMENT)
    retry = JobRun(id="job-b", kind="import_contacts", dedupe_key="k2", params={},
                   status="queued", attempt=2, retry_of_id="job-a", not_before=MOMENT,
                   enqueued_at=MOMENT)
    db.session.add_all([contact, group, first, retry,
                        ActivityWizardRun(created_by_id=admin_user.id, created_at=MOMENT)])
    db.session.flush()
    db.session.add(TargetGroupMember(group_id=group.id, contact_id=contact.id))
    db.session.commit()
    return [f"/admin/targetgroup/details/?id={group.id}&explain={contact.id}",
            f"/admin/targetgroup/edit/?id={group.id}", "/admin/activity_wizard/",
            "/admin/jobrun/details/?id=job-b"]


def test_moments_are_local_and_finnish_on_every_page_that_shows_them(admin_client,
                                                                      admin_user):
    for url in _pages(admin_user):
        response = admin_client.get(url, headers={"Accept-Language": "fi"})
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert FINNISH.search(page), url
        for raw in RAW:
            assert raw not in page, f"{raw!r} on {url}"
