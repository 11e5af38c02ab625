"""Charts as data the SVG macro draws (templates/kohde/charts/_macros.html): labels in
words, a round top for the value axis, and a colour per series. The numbers come from
models/charts.py."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Colour-blind-safe (Okabe–Ito), in the order series are drawn.
PALETTE = ("#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")


@dataclass
class Series:
    """One series: its key (for tests and CSS), label, colour and one value per category."""

    key: str
    label: str
    values: list[int]
    color: str


@dataclass
class Chart:
    """What the macro needs: title, axis labels, category labels, series, and the axis top."""

    id: str
    title: str
    x_label: str
    y_label: str
    categories: list[str]
    series: list[Series] = field(default_factory=list)
    stacked: bool = True

    @property
    def top(self) -> int:
        """The value axis' top: a round number at or above the highest bar (at least 1)."""
        if self.stacked:
            peak = max((sum(s.values[i] for s in self.series)
                        for i in range(len(self.categories))), default=0)
        else:
            peak = max((max(s.values, default=0) for s in self.series), default=0)
        return nice_ceiling(peak)

    @property
    def ticks(self) -> list[int]:
        """The value axis' marks: 0, the middle when it is a whole number, and the top."""
        top = self.top
        return [0, top // 2, top] if top % 2 == 0 else [0, top]

    @property
    def label_every(self) -> int:
        """Label every n-th category, so at most about ten labels fit under the axis."""
        return max(1, math.ceil(len(self.categories) / 10))

    @property
    def empty(self) -> bool:
        """No value at all: the page says so instead of drawing flat bars."""
        return not any(v for s in self.series for v in s.values)


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (1 for nothing)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return int(math.ceil(step * power))
    return int(10 * power)


def chart(id: str, title, x_label, y_label, categories: list[str],
          series: dict[str, list[int]], labels: dict | None = None,
          stacked: bool = True) -> Chart:
    """A chart from ``models/charts.py`` data: ``labels`` names each series in words."""
    labels = labels or {}
    return Chart(id, str(title), str(x_label), str(y_label), [str(c) for c in categories],
                 [Series(key, str(labels.get(key, key)), values, PALETTE[n % len(PALETTE)])
                  for n, (key, values) in enumerate(series.items())], stacked)
