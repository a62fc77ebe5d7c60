"""The API functions' environment: which function reads which variable, parsed and checked in one place.

The CDK construct sets, per function, exactly the names ``VARIABLES`` lists for its handler, and the
seam test feeds the synthesized environment of every example site to ``parse_environment``, so a
variable cannot be set under one name and read under another. Every problem is reported at once,
naming the variable, the bad value and the fix; a function never starts on a half-read environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envelope.tag_envelope import TAG_PATH_RE

# The document's own ceiling for `limit`; PAGE_LIMIT_MAX may only lower it.
DOCUMENT_LIMIT_MAX = 1000
# A range longer than ten years is a typo, not a plan.
RANGE_DAYS_MAX = 3660
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_AREA_LINE_RE = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+$")

# Handler -> the variables it reads. The API Gateway handlers are catalog, values, commands, alerts.
VARIABLES: dict[str, tuple[str, ...]] = {
    "catalog": ("SITE_ID", "ENTERPRISE", "LATEST_TABLE", "CONFORMED_DATABASE", "CURATED_DATABASE", "PAGE_LIMIT_MAX"),
    "values": (
        "SITE_ID",
        "ENTERPRISE",
        "LATEST_TABLE",
        "CONFORMED_DATABASE",
        "CURATED_DATABASE",
        "ATHENA_WORKGROUP",
        "LINES",
        "MAX_RANGE_DAYS",
        "PAGE_LIMIT_MAX",
    ),
    "commands": ("SITE_ID", "LATEST_TABLE", "COMMANDS_TABLE", "COMMAND_ALLOW_LIST", "GATEWAYS"),
    "alerts": ("SITE_ID", "ALERTS_TABLE", "MAX_RANGE_DAYS", "PAGE_LIMIT_MAX"),
    "latest_consumer": ("SITE_ID", "LATEST_TABLE"),
    "alert_recorder": ("SITE_ID", "ALERTS_TABLE"),
    "command_audit": ("SITE_ID", "COMMANDS_TABLE", "GATEWAYS", "EVENT_BUS"),
}


@dataclass(frozen=True)
class AllowedCommand:
    """A tag a command may write, and the inclusive range of setpoints it accepts."""

    path: str
    min: float
    max: float


@dataclass(frozen=True)
class Settings:
    """One function's settings; a variable the handler does not read keeps its empty default."""

    handler: str
    site_id: str = ""
    enterprise: str = ""
    latest_table: str = ""
    commands_table: str = ""
    alerts_table: str = ""
    conformed_database: str = ""
    curated_database: str = ""
    athena_workgroup: str = ""
    event_bus: str = ""
    command_allow_list: tuple[AllowedCommand, ...] = ()
    gateways: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    max_range_days: int = 0
    page_limit_max: int = DOCUMENT_LIMIT_MAX


_NAMES = {  # variable -> Settings field, for the plain strings
    "SITE_ID": "site_id",
    "ENTERPRISE": "enterprise",
    "LATEST_TABLE": "latest_table",
    "COMMANDS_TABLE": "commands_table",
    "ALERTS_TABLE": "alerts_table",
    "CONFORMED_DATABASE": "conformed_database",
    "CURATED_DATABASE": "curated_database",
    "ATHENA_WORKGROUP": "athena_workgroup",
    "EVENT_BUS": "event_bus",
}


def parse_environment(handler: str, environ: Mapping[str, str]) -> Settings:
    """The settings of ``handler`` from ``environ``; raises ValueError naming every missing or invalid variable."""
    if handler not in VARIABLES:
        raise ValueError(f"handler {handler!r} is unknown; fix: use one of {', '.join(VARIABLES)}")
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in VARIABLES[handler]:
        text = environ.get(name, "")
        if not text:
            problems.append(f"{name} is not set; fix: set it on the {handler} function")
            continue
        parser = _PARSERS.get(name)
        if parser is None:
            if name in ("SITE_ID", "ENTERPRISE") and not _SEGMENT_RE.match(text):
                problems.append(f"{name}={text!r} is not one path segment [A-Za-z0-9_.-]; fix: use the site file's id")
                continue
            values[_NAMES[name]] = text
            continue
        field, parse = parser
        try:
            values[field] = parse(text)
        except ValueError as error:
            problems.append(f"{name}={text!r}: {error}")
    if problems:
        raise ValueError(f"{handler} function misconfigured: " + "; ".join(problems))
    return Settings(handler=handler, **values)


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg}); fix: set a JSON list") from error
    if not isinstance(value, list):
        raise ValueError(f"is a JSON {type(value).__name__}, not a list; fix: set a JSON list")
    return value


def _strings(text: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    items = _json_list(text)
    wrong = [item for item in items if not isinstance(item, str) or not pattern.match(item)]
    if wrong:
        raise ValueError(f"{wrong!r} not {what}; fix: list {what} only")
    if len(set(items)) != len(items):
        raise ValueError("holds duplicates; fix: list each once")
    return tuple(items)


def _lines(text: str) -> tuple[str, ...]:
    return _strings(text, _AREA_LINE_RE, '"area/line" strings')


def _gateways(text: str) -> tuple[str, ...]:
    return _strings(text, _SEGMENT_RE, "thing names [A-Za-z0-9_.-]")


def _allow_list(text: str) -> tuple[AllowedCommand, ...]:
    entries = []
    errors = []
    for index, item in enumerate(_json_list(text)):
        where = f"[{index}]"
        if not isinstance(item, dict) or set(item) != {"path", "min", "max"}:
            errors.append(f'{where} is not an object with exactly "path", "min", "max"')
            continue
        path, low, high = item["path"], item["min"], item["max"]
        numbers = all(isinstance(bound, (int, float)) and not isinstance(bound, bool) for bound in (low, high))
        if not isinstance(path, str) or not TAG_PATH_RE.match(path):
            errors.append(f"{where}.path {path!r} is not enterprise/site/area/line/cell/tag")
        elif not numbers:
            errors.append(f"{where} min {low!r} and max {high!r} are not both numbers")
        elif low > high:
            errors.append(f"{where} min {low!r} is above max {high!r}")
        else:
            entries.append(AllowedCommand(path=path, min=float(low), max=float(high)))
    if errors:
        raise ValueError("; ".join(errors) + "; fix: correct the site file's command allow-list")
    if len({entry.path for entry in entries}) != len(entries):
        raise ValueError("names a path twice; fix: give each path one range")
    return tuple(entries)


def _bounded_int(highest: int) -> Any:
    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text) or not 1 <= int(text) <= highest:
            raise ValueError(f"is not a whole number from 1 to {highest}; fix: set one")
        return int(text)

    return parse


_PARSERS: dict[str, tuple[str, Any]] = {
    "COMMAND_ALLOW_LIST": ("command_allow_list", _allow_list),
    "GATEWAYS": ("gateways", _gateways),
    "LINES": ("lines", _lines),
    "MAX_RANGE_DAYS": ("max_range_days", _bounded_int(RANGE_DAYS_MAX)),
    "PAGE_LIMIT_MAX": ("page_limit_max", _bounded_int(DOCUMENT_LIMIT_MAX)),
}
