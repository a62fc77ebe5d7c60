"""Report by exception: which harmonized values are worth sending.

A value is reported when

* its tag was never reported, or its quality changed (always sent);
* a counter or state changed at all (always sent);
* an analog value moved by more than its deadband since the last report: the
  larger of ``deadband_abs`` and ``deadband_pct`` of the last reported value, so
  the absolute band guards values near zero and the percent band scales with
  the value (both 0: every change is reported);
* ``max_interval_s`` passed since the last report, changed or not (heartbeat of
  the value, so consumers can tell "unchanged" from "gone").

Time is the caller's monotonic clock, one reading per scan, not the source's
timestamps: a PLC with a wrong clock must not starve or flood the heartbeat.
State lives in flat per-tag lists indexed by ``Tag.index``: no object per value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from edge.pipeline.harmonizer import Item, Tag


class Deadband:
    """Per-tag memory of the last report, and the decision for each new value."""

    def __init__(self, tags: Sequence[Tag]) -> None:
        count = len(tags)
        self._value: list[Any] = [None] * count  # None: never reported (values themselves are never None)
        self._quality = [""] * count
        self._sent_at = [-math.inf] * count
        self._band = [0.0] * count
        self._max_interval = [tag.max_interval_s for tag in tags]

    def select(self, items: Sequence[Item], now: float) -> list[Item]:
        """The items to report, in order; remembers them as the new reference."""
        last_value = self._value
        last_quality = self._quality
        sent_at = self._sent_at
        band = self._band
        chosen = []
        for item in items:
            tag, value, quality, _ = item
            index = tag.index
            last = last_value[index]
            if last is not None and quality == last_quality[index] and now - sent_at[index] < tag.max_interval_s:
                if tag.analog:
                    if -band[index] <= value - last <= band[index]:
                        continue
                elif value == last:
                    continue
            last_value[index] = value
            last_quality[index] = quality
            sent_at[index] = now
            if tag.analog:
                band[index] = max(tag.deadband_abs, tag.deadband_pct * abs(value))
            chosen.append(item)
        return chosen

    def due(self, now: float) -> list[int]:
        """Indexes of the tags whose maximum interval has passed since their last report."""
        sent_at = self._sent_at
        return [index for index, limit in enumerate(self._max_interval) if now - sent_at[index] >= limit]
