"""Id ranges for work done a chunk at a time (docs/architecture.md, rule 4)."""

from __future__ import annotations

from sqlalchemy import func, select

from .base import db


def even_ranges(column, *conditions, size: int) -> list[dict]:
    """The values of ``column`` in the rows ``conditions`` select, cut into inclusive ranges
    (``{"low", "high"}``) of ``size`` rows each (the last one fewer), found in one pass in
    ``column`` order: a range's rows are the same however sparse the ids are."""
    numbered = (select(column.label("v"), func.row_number().over(order_by=column).label("n"))
                .where(*conditions).subquery("numbered"))
    starts = list(db.session.scalars(
        select(numbered.c.v).where((numbered.c.n - 1) % size == 0).order_by(numbered.c.v)))
    if not starts:
        return []
    highest = db.session.scalar(select(func.max(column)).where(*conditions))
    ends = [start - 1 for start in starts[1:]] + [highest]
    return [{"low": low, "high": high} for low, high in zip(starts, ends, strict=True)]
