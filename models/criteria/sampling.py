"""Keeping part of the matches: systematic (every k-th by id) or seeded random.

Both are window functions over the match query, so a sample is one SELECT
that PostgreSQL and SQLite answer identically. Sizes are whole numbers: a
percentage is turned into basis points so that no floating-point rounding
differs between the two databases.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, case, cast, func, literal, select
from sqlalchemy.sql import Select

from ..groups import SampleMode

# An integer hash of (id, seed): a reproducible shuffle computed in SQL.
# h = (id * MULTIPLIER + seed * SEED_MULTIPLIER) mod P, key = h * h mod P.
# The square matters: with h alone the seed only adds a constant, which rotates
# one fixed cyclic order, so seeds 1, 2, 3 … kept (almost) the same sample. With
# P = 2**31 - 1 (prime) every product stays below 2**63 for ids below 2**31.
HASH_MULTIPLIER = 2_654_435_761
HASH_SEED_MULTIPLIER = 40_503
HASH_MODULUS = 2_147_483_647


def _wanted(total, size: int | None, percent: float | None):
    # How many to keep: a fixed size, or a share of the matches rounded down.
    if size is not None:
        return literal(size)
    basis_points = round(percent * 100)
    return total * basis_points // 10_000


def sample(
    matches: Select,
    mode: str,
    size: int | None = None,
    percent: float | None = None,
    seed: int | None = None,
) -> Select:
    """``SELECT id`` of the sample of ``matches`` (itself a ``SELECT id``)."""
    if mode in (None, SampleMode.NONE) or (size is None and percent is None):
        return matches
    base = matches.subquery("matches")
    total = func.count().over()
    if mode == SampleMode.RANDOM:
        # BIGINT on purpose: PostgreSQL's INTEGER would overflow on the products.
        # The seed's term is reduced in Python so that no operand is ever negative
        # (Python's % and SQL's differ for negative numbers).
        modulus = literal(HASH_MODULUS, BigInteger)
        mixed = (
            cast(base.c.id, BigInteger) * literal(HASH_MULTIPLIER, BigInteger)
            + literal((seed or 0) * HASH_SEED_MULTIPLIER % HASH_MODULUS, BigInteger)
        ) % modulus
        key = mixed * mixed % modulus
        ranked = select(
            base.c.id,
            func.row_number().over(order_by=(key, base.c.id)).label("rn"),
            _wanted(total, size, percent).label("wanted"),
        ).subquery("ranked")
        return select(ranked.c.id).where(ranked.c.rn <= ranked.c.wanted)
    if mode != SampleMode.SYSTEMATIC:
        raise ValueError(f"unknown sample mode {mode!r}")
    numbered = select(
        base.c.id,
        func.row_number().over(order_by=base.c.id).label("rn"),
        total.label("total"),
        _wanted(total, size, percent).label("wanted"),
    ).subquery("numbered")
    # Every k-th match, k = total // wanted (at least 1), until ``wanted`` are kept.
    step = case(
        (numbered.c.wanted <= 0, numbered.c.total + 1),
        (numbered.c.total // numbered.c.wanted >= 1, numbered.c.total // numbered.c.wanted),
        else_=1,
    )
    return select(numbered.c.id).where(
        (numbered.c.rn - 1) % step == 0, (numbered.c.rn - 1) // step < numbered.c.wanted
    )
