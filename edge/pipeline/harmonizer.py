"""Harmonizer: source address to ISA-95 path, source unit to the site's unit, then the envelope stamp.

Two steps, because only the values that pass the deadband are worth stamping:

* ``harmonize`` maps each reading to its tag and converts the value. A value that
  cannot travel (NaN or infinity, text where a number belongs, text longer than
  ``MAX_TEXT``) goes out as quality ``bad`` with the tag's last value, as the
  envelope asks; with no last value it is dropped and counted in ``discarded``,
  as are readings of addresses the tag map does not list.
* ``stamp`` gives each reported value its UTC source timestamp, the gateway's next
  sequence number and its idempotency key (``envelope.tag_envelope``).

``next_seq`` starts from the value the spool persisted, so a restart never
reuses a sequence number that was ever stored or sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from edge.pipeline.tag_map import TagMap, TagMapError, unit_problems
from edge.pipeline.units import conversion
from edge.readings import Reading
from envelope.tag_envelope import QUALITIES, line_of, tag_value, utc_timestamp

Value = float | int | bool | str
MAX_TEXT = 1024  # characters of a text value; keeps any single value far below a message's size limit
_QUALITIES = frozenset(QUALITIES)
_INF = math.inf


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag map entry compiled for the hot path: everything in the site's units."""

    index: int
    path: str
    line: str
    unit: str
    kind: str
    analog: bool
    scale: float
    offset: float
    deadband_abs: float  # site unit
    deadband_pct: float  # fraction of the last reported value
    max_interval_s: float


# (tag, value in the site's unit, quality, source timestamp in epoch seconds). The value is typed Any:
# a float for analog tags, any Value otherwise, and the hot path does not re-check what harmonize ensured.
Item = tuple[Tag, Any, str, float]


def compile_tags(tag_map: TagMap, canonical_units: Mapping[str, str]) -> list[Tag]:
    """One ``Tag`` per tag map entry; raises TagMapError naming every unit the gateway cannot convert."""
    problems = unit_problems(tag_map, canonical_units)
    if problems:
        raise TagMapError("tag map", problems)
    tags = []
    lines: dict[str, str] = {}  # one string per line, not one per tag: a gateway holds thousands of tags
    for index, spec in enumerate(tag_map.tags):
        scale, offset, unit = 1.0, 0.0, spec.unit
        if spec.quantity is not None:
            unit = canonical_units[spec.quantity]
            scale, offset = conversion(spec.quantity, spec.unit, unit)
        path = tag_map.tag_path(spec)
        line = line_of(path)
        line = lines.setdefault(line, line)
        tags.append(
            Tag(
                index=index,
                path=path,
                line=line,
                unit=unit,
                kind=spec.kind,
                analog=spec.kind == "analog",
                scale=scale,
                offset=offset,
                # A difference converts by the scale alone: 0.9 degF of change is 0.5 degC whatever the offset.
                deadband_abs=(spec.deadband_abs or 0.0) * abs(scale),
                deadband_pct=(spec.deadband_pct or 0.0) / 100,
                max_interval_s=spec.max_interval_s,
            )
        )
    return tags


class Harmonizer:
    """Maps readings to tags in the site's units and stamps the reported ones."""

    def __init__(
        self,
        tag_map: TagMap,
        canonical_units: Mapping[str, str],
        *,
        next_seq: int = 0,
        discarded: int = 0,
    ) -> None:
        self.tags = compile_tags(tag_map, canonical_units)
        self.gateway = tag_map.gateway
        self.next_seq = next_seq
        self.discarded = discarded
        self._by_address = {spec.address: tag for spec, tag in zip(tag_map.tags, self.tags, strict=True)}
        self._latest: list[Item | None] = [None] * len(self.tags)
        # Readings of one scan share a timestamp: format it once, not once per value.
        self._ts_epoch = math.nan
        self._ts_text = ""

    def harmonize(self, readings: Iterable[Reading]) -> list[Item]:
        """The readings as items in the site's units; unknown addresses and unsendable first values are dropped."""
        by_address = self._by_address
        latest = self._latest
        items: list[Item] = []
        for reading in readings:
            tag = by_address.get(reading.address)
            if tag is None:
                self.discarded += 1
                continue
            value = reading.value
            # Exact type checks: bool is an int subclass, and a bool is no measurement.
            if tag.analog:
                if type(value) is float or type(value) is int:
                    value = value * tag.scale + tag.offset
                    sendable = -_INF < value < _INF  # False for NaN and both infinities
                else:
                    sendable = False
            elif type(value) is float:
                sendable = -_INF < value < _INF
            elif type(value) is str:
                sendable = len(value) <= MAX_TEXT
            else:
                sendable = True
            quality = reading.quality if reading.quality in _QUALITIES else "bad"
            if not sendable:
                previous = latest[tag.index]
                if previous is None:
                    self.discarded += 1
                    continue
                value, quality = previous[1], "bad"
            item = (tag, value, quality, reading.source_ts)
            latest[tag.index] = item
            items.append(item)
        return items

    def latest(self, indexes: Iterable[int]) -> list[Item]:
        """The newest item of each given tag that has had one (for max-interval reports)."""
        return [item for item in (self._latest[index] for index in indexes) if item is not None]

    def stamp(self, items: Iterable[Item]) -> Iterator[tuple[Tag, dict[str, Any]]]:
        """Envelope tag values of the reported items, each with the next sequence number.

        Lazy on purpose: a stamped value exists only once its batch takes it, so a scan that reports
        every tag (the first one) never holds all of them at once.
        """
        gateway = self.gateway
        for tag, value, quality, source_ts in items:
            if source_ts != self._ts_epoch:
                self._ts_epoch = source_ts
                self._ts_text = utc_timestamp(source_ts)
            seq = self.next_seq
            self.next_seq = seq + 1
            yield (
                tag,
                tag_value(
                    path=tag.path,
                    value=value,
                    unit=tag.unit,
                    quality=quality,
                    ts=self._ts_text,
                    seq=seq,
                    gateway=gateway,
                ),
            )
