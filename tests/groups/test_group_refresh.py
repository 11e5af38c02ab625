"""Refreshing a target group through the job queue: exact counts, stable members, failures."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jobs.runs import enqueue
from models import Contact, JobRun, JobStatus, TargetGroup, TargetGroupMember, db, utcnow

TURKU = {"all": [{"field": "city", "op": "eq", "value": "Turku"}]}
HASH_MODULUS = 2**31 - 1


def people(city: str, count: int) -> list[int]:
    """``count`` contacts in ``city``; their ids in creation order."""
    contacts = [Contact(first_name=f"{city}{n}", email=f"{city}{n}@example.fi".lower(), city=city)
                for n in range(count)]
    db.session.add_all(contacts)
    db.session.commit()
    return [c.id for c in contacts]


def make_group(criteria: dict = TURKU, **sampling) -> TargetGroup:
    """A committed group with these conditions (and sample settings, if any)."""
    group = TargetGroup(name="Turku people", criteria=criteria, **sampling)
    db.session.add(group)
    db.session.commit()
    return group


def refresh(group: TargetGroup, run_jobs) -> JobRun:
    """Refresh the group the way the admin does: enqueue the job, let a worker run it."""
    run = enqueue("refresh_group", {"group_id": group.id})
    run_jobs()
    return db.session.get(JobRun, run.id)


def members(group: TargetGroup) -> dict[int, object]:
    """contact id → added_at of the group's stored members."""
    rows = db.session.execute(
        select(TargetGroupMember.contact_id, TargetGroupMember.added_at).where(
            TargetGroupMember.group_id == group.id
        )
    )
    return dict(rows.all())


def test_refresh_job_stores_members_time_and_count(ctx, run_jobs):
    turku = people("Turku", 3)
    people("Oulu", 2)
    db.session.add(Contact(first_name="Nowhere", city=None))
    group = make_group()
    before = utcnow()

    run = refresh(group, run_jobs)

    assert run.status == JobStatus.DONE, run.error
    assert run.result == {"group": "Turku people", "added": 3, "removed": 0, "members": 3}
    assert set(members(group)) == set(turku)
    group = db.session.get(TargetGroup, group.id)
    assert group.member_count == 3
    assert before <= group.refreshed_at <= utcnow()
    # Every member arrived in this refresh, at the moment the group records.
    assert set(members(group).values()) == {group.refreshed_at}


def test_refreshing_twice_changes_nothing_the_second_time(ctx, run_jobs):
    turku = people("Turku", 4)
    group = make_group()
    first = refresh(group, run_jobs)
    stored = members(group)
    first_time = db.session.get(TargetGroup, group.id).refreshed_at

    second = refresh(group, run_jobs)

    assert second.id != first.id  # a new run, not the finished one handed back
    assert second.result == {"group": "Turku people", "added": 0, "removed": 0, "members": 4}
    assert members(group) == stored  # same contacts, same added_at
    assert set(stored) == set(turku)
    group = db.session.get(TargetGroup, group.id)
    assert group.member_count == 4
    assert group.refreshed_at >= first_time


def test_after_changes_the_counts_are_exact_and_stayers_keep_added_at(ctx, run_jobs):
    turku = people("Turku", 5)
    group = make_group()
    refresh(group, run_jobs)
    stored = members(group)

    moved, deleted = turku[1], turku[2]
    db.session.get(Contact, moved).city = "Oulu"  # leaves the group
    db.session.get(Contact, turku[3]).city = "  Turku"  # not "Turku" any more: leaves too
    db.session.delete(db.session.get(Contact, deleted))  # its membership goes with it
    db.session.commit()
    newcomers = people("Turku", 2)
    (mover,) = people("Oulu", 1)
    db.session.get(Contact, mover).city = "Turku"  # moves in
    db.session.commit()
    arrived = [*newcomers, mover]

    run = refresh(group, run_jobs)

    # The deleted contact's row went with it (ON DELETE CASCADE): not counted as removed.
    assert run.result == {"group": "Turku people", "added": 3, "removed": 2, "members": 5}
    now_stored = members(group)
    stayers = {turku[0], turku[4]}
    assert set(now_stored) == stayers | set(arrived)
    assert {i: now_stored[i] for i in stayers} == {i: stored[i] for i in stayers}
    refreshed_at = db.session.get(TargetGroup, group.id).refreshed_at
    assert {now_stored[i] for i in arrived} == {refreshed_at}
    assert refreshed_at > stored[turku[0]]
    assert db.session.get(TargetGroup, group.id).member_count == 5


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (
            {"all": [{"field": "shoe_size", "op": "eq", "value": 42}]},
            "CriteriaError: all[0].field: unknown field 'shoe_size'",
        ),
        (
            {"all": [{"field": "city", "op": "in", "value": []}]},
            "CriteriaError: all[0].value: in needs a non-empty list",
        ),
    ],
)
def test_a_group_with_invalid_conditions_fails_the_job_and_keeps_its_members(
    ctx, run_jobs, criteria, message
):
    turku = people("Turku", 2)
    group = make_group()
    refresh(group, run_jobs)
    stored = members(group)
    refreshed_at = db.session.get(TargetGroup, group.id).refreshed_at
    db.session.get(TargetGroup, group.id).criteria = criteria
    db.session.commit()

    run = refresh(group, run_jobs)

    assert run.status == JobStatus.FAILED
    assert run.error.startswith(message + "\n")
    assert members(group) == stored and set(stored) == set(turku)
    group = db.session.get(TargetGroup, group.id)
    assert (group.member_count, group.refreshed_at) == (2, refreshed_at)


def test_a_group_that_depends_on_itself_fails_the_job(ctx, run_jobs):
    group = make_group()
    group.criteria = {"any": [{"field": "target_group", "op": "eq", "value": group.id}]}
    db.session.commit()

    run = refresh(group, run_jobs)

    assert run.status == JobStatus.FAILED
    assert run.error.startswith("CriteriaError: any[0].value: a group cannot depend on itself")
    assert members(group) == {}


def test_a_missing_group_fails_the_job(ctx, run_jobs):
    run = enqueue("refresh_group", {"group_id": 424242})
    run_jobs()
    run = db.session.get(JobRun, run.id)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("LookupError: target group 424242 does not exist")


def test_a_systematic_sample_group_stores_exactly_the_sample(ctx, run_jobs):
    people("Oulu", 3)
    turku = people("Turku", 10)
    people("Oulu", 3)
    group = make_group(sample_mode="systematic", sample_size=3)

    run = refresh(group, run_jobs)

    # Ten matches, k = 10 // 3 = 3: the 1st, 4th and 7th by id.
    expected = {turku[0], turku[3], turku[6]}
    assert set(members(group)) == expected
    assert run.result["members"] == 3 and run.result["added"] == 3

    group = db.session.get(TargetGroup, group.id)
    group.sample_size, group.sample_percent = None, 50.0  # five: k = 2
    db.session.commit()
    run = refresh(group, run_jobs)
    assert set(members(group)) == set(turku[0:10:2])
    # turku[0] and turku[6] stay; turku[3] leaves; turku[2], [4], [8] arrive.
    assert run.result == {"group": "Turku people", "added": 3, "removed": 1, "members": 5}


def test_a_random_sample_group_stores_exactly_the_seeded_sample(ctx, run_jobs):
    turku = people("Turku", 12)
    people("Oulu", 4)
    group = make_group(sample_mode="random", sample_size=5, sample_seed=11)

    refresh(group, run_jobs)

    def key(contact_id: int) -> int:  # the documented hash (models/criteria/sampling.py)
        mixed = (contact_id * 2_654_435_761 + 11 * 40_503) % HASH_MODULUS
        return mixed * mixed % HASH_MODULUS

    expected = sorted(turku, key=lambda i: (key(i), i))[:5]
    assert set(members(group)) == set(expected)
    assert db.session.get(TargetGroup, group.id).member_count == 5
    # Same matches, same seed: the next refresh keeps exactly the same sample.
    run = refresh(group, run_jobs)
    assert run.result == {"group": "Turku people", "added": 0, "removed": 0, "members": 5}


def test_a_group_that_empties_and_fills_again_counts_both_ways(ctx, run_jobs):
    turku = people("Turku", 3)
    group = make_group()
    first = refresh(group, run_jobs)
    stored = members(group)
    for contact_id in turku:
        db.session.get(Contact, contact_id).city = "Oulu"
    db.session.commit()

    emptied = refresh(group, run_jobs)
    assert emptied.result == {"group": "Turku people", "added": 0, "removed": 3, "members": 0}
    assert members(group) == {}

    for contact_id in turku:
        db.session.get(Contact, contact_id).city = "Turku"
    db.session.commit()
    again = refresh(group, run_jobs)
    # An empty group fills like the first time: everyone is new, with a new added_at.
    assert again.result == {"group": "Turku people", "added": 3, "removed": 0, "members": 3}
    assert set(members(group)) == set(turku)
    assert all(members(group)[i] > stored[i] for i in turku)
    assert first.result["added"] == 3
