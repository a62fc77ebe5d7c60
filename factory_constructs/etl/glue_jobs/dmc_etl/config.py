"""The ``--site_config`` job argument: parsed and checked before any Spark work. Plain Python.

The CDK app builds the JSON from the typed site model::

    {"timezone": "Europe/Berlin",
     "canonical_units": {"temperature": "degC", ...},
     "lines": [{"line_path": "acme/plantA/filling/line1", "ideal_cycle_time_s": 0.5,
                "state_tag": "filler/state", "running_states": ["running"],
                "good_count_tag": "filler/good_count", "total_count_tag": "filler/total_count",
                "shifts": [{"name": "early", "start": "06:00", "end": "14:00"}]}]}

``parse_site_config`` reports every problem at once, each naming the field, the bad value and the fix.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from dataclasses import dataclass
from datetime import time
from typing import Any

from envelope.tag_envelope import LINE_PATH_RE

from .units import quantities

_CELL_TAG_RE = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")
_CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_TOP_KEYS = {"timezone", "canonical_units", "lines"}
_LINE_KEYS = {
    "line_path",
    "ideal_cycle_time_s",
    "state_tag",
    "running_states",
    "good_count_tag",
    "total_count_tag",
    "shifts",
}
_SHIFT_KEYS = {"name", "start", "end"}


class SiteConfigError(ValueError):
    """The ``--site_config`` argument is unusable; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Shift:
    name: str
    start: time
    end: time  # not after start: the shift ends on the next day


@dataclass(frozen=True)
class LineConfig:
    line_path: str  # enterprise/site/area/line
    ideal_cycle_time_s: float
    state_tag: str  # cell/tag
    running_states: tuple[str, ...]
    good_count_tag: str
    total_count_tag: str
    shifts: tuple[Shift, ...]

    def tag_path(self, cell_tag: str) -> str:
        """Full ISA-95 path of one of the line's tags."""
        return f"{self.line_path}/{cell_tag}"


@dataclass(frozen=True)
class SiteConfig:
    timezone: str
    canonical_units: dict[str, str]
    lines: tuple[LineConfig, ...]


def _unknown_keys(where: str, item: dict[str, Any], allowed: set[str]) -> list[str]:
    extra = sorted(set(item) - allowed)
    if not extra:
        return []
    return [f"{where}: unknown key(s) {', '.join(extra)}; fix: use only {', '.join(sorted(allowed))}"]


def _missing_keys(where: str, item: dict[str, Any], required: set[str]) -> list[str]:
    missing = sorted(required - set(item))
    return [f"{where}: missing {', '.join(missing)}; fix: add it"] if missing else []


def _canonical_units(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"canonical_units: {value!r} is not an object; fix: map quantities to units, e.g. {{'mass': 'kg'}}"]
    known = quantities()
    problems = []
    for quantity, unit in value.items():
        if quantity not in known:
            problems.append(f"canonical_units.{quantity}: unknown quantity; fix: use one of {', '.join(sorted(known))}")
        elif unit not in known[quantity]:
            problems.append(
                f"canonical_units.{quantity}: {unit!r} is not a {quantity} unit; "
                f"fix: use one of {', '.join(known[quantity])}"
            )
    return problems


def _shift(where: str, item: Any) -> list[str]:
    if not isinstance(item, dict):
        return [f"{where}: {item!r} is not an object; fix: use {{'name': ..., 'start': 'HH:MM', 'end': 'HH:MM'}}"]
    problems = _missing_keys(where, item, _SHIFT_KEYS) + _unknown_keys(where, item, _SHIFT_KEYS)
    if "name" in item and (not isinstance(item["name"], str) or not item["name"]):
        problems.append(f"{where}.name: {item['name']!r} is not a non-empty string; fix: name the shift")
    for key in ("start", "end"):
        if key in item and (not isinstance(item[key], str) or not _CLOCK_RE.match(item[key])):
            problems.append(f"{where}.{key}: {item[key]!r} is not a time HH:MM; fix: use e.g. '06:00'")
    return problems


def _line(where: str, item: Any) -> list[str]:
    if not isinstance(item, dict):
        return [f"{where}: {item!r} is not an object; fix: describe the line as an object"]
    problems = _missing_keys(where, item, _LINE_KEYS) + _unknown_keys(where, item, _LINE_KEYS)
    path = item.get("line_path")
    if "line_path" in item and (not isinstance(path, str) or not LINE_PATH_RE.match(path)):
        problems.append(f"{where}.line_path: {path!r} is not enterprise/site/area/line; fix: use e.g. 'acme/p/a/l1'")
    cycle = item.get("ideal_cycle_time_s")
    if "ideal_cycle_time_s" in item and (isinstance(cycle, bool) or not isinstance(cycle, int | float) or cycle <= 0):
        problems.append(f"{where}.ideal_cycle_time_s: {cycle!r} is not a positive number of seconds; fix: e.g. 0.5")
    for key in ("state_tag", "good_count_tag", "total_count_tag"):
        if key in item and (not isinstance(item[key], str) or not _CELL_TAG_RE.match(item[key])):
            problems.append(f"{where}.{key}: {item[key]!r} is not cell/tag; fix: use e.g. 'filler/state'")
    states = item.get("running_states")
    if "running_states" in item and (
        not isinstance(states, list) or not states or not all(isinstance(s, str) and s for s in states)
    ):
        problems.append(f"{where}.running_states: {states!r} is not a non-empty list of strings; fix: ['running']")
    shifts = item.get("shifts")
    if "shifts" in item:
        if not isinstance(shifts, list) or not shifts:
            problems.append(f"{where}.shifts: {shifts!r} is not a non-empty list; fix: list the line's shifts")
        else:
            for index, shift in enumerate(shifts):
                problems.extend(_shift(f"{where}.shifts[{index}]", shift))
    return problems


def _problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return [f"site_config: expected a JSON object, got {type(data).__name__}"]
    problems = _missing_keys("site_config", data, _TOP_KEYS) + _unknown_keys("site_config", data, _TOP_KEYS)
    zone = data.get("timezone")
    if "timezone" in data:
        try:
            zoneinfo.ZoneInfo(str(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone: {zone!r} is not an IANA time zone; fix: use e.g. 'Europe/Berlin'")
    if "canonical_units" in data:
        problems.extend(_canonical_units(data["canonical_units"]))
    lines = data.get("lines")
    if "lines" in data:
        if not isinstance(lines, list) or not lines:
            problems.append(f"lines: {lines!r} is not a non-empty list; fix: list the site's lines")
        else:
            for index, line in enumerate(lines):
                problems.extend(_line(f"lines[{index}]", line))
            paths = [line.get("line_path") for line in lines if isinstance(line, dict)]
            repeated = sorted({str(path) for path in paths if paths.count(path) > 1})
            if repeated:
                problems.append(f"lines: line_path {', '.join(repeated)} is listed twice; fix: list each line once")
    return problems


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def parse_site_config(text: str) -> SiteConfig:
    """The checked site configuration of a ``--site_config`` value; raises SiteConfigError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SiteConfigError(f"site_config: not JSON ({error}); fix: pass the JSON the CDK app generates") from None
    problems = _problems(data)
    if problems:
        raise SiteConfigError("\n".join(problems))
    lines = tuple(
        LineConfig(
            line_path=line["line_path"],
            ideal_cycle_time_s=float(line["ideal_cycle_time_s"]),
            state_tag=line["state_tag"],
            running_states=tuple(line["running_states"]),
            good_count_tag=line["good_count_tag"],
            total_count_tag=line["total_count_tag"],
            shifts=tuple(Shift(s["name"], _clock(s["start"]), _clock(s["end"])) for s in line["shifts"]),
        )
        for line in data["lines"]
    )
    return SiteConfig(timezone=data["timezone"], canonical_units=dict(data["canonical_units"]), lines=lines)
