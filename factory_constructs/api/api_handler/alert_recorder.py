"""Records the stream-alert events of the site's bus into the alerts table, which GET /alerts reads.

The events are those ``factory_constructs/alerts/alert_handler/publish.py`` puts: source
``dmc.stream-alerts``, the detail ``Alert.detail()`` (alert_id, site, kind, gateway, line, summary,
figures, window). Item key: partition ``site``, sort ``at_id`` = ``<at>#<alert_id>``, where ``at`` is the
end of the window the alert was found in, at microsecond precision (fixed width, so keys sort by time).
Both come from the alert itself, not from the event: a window retried after a failed publish republishes
the same ``alert_id`` for the same window, and the put then rewrites the same item (idempotent), where
the event's own id and time would differ. ``expires_at`` (epoch seconds) lets DynamoDB's TTL drop the
alert ``RETENTION_DAYS`` after it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .contract import load_contract

SOURCE = "dmc.stream-alerts"  # publish.SOURCE; not imported: that module ships in another asset
RETENTION_DAYS = 90
# The API document's list (its AlertKind enum), which a test holds equal to publish.DETAIL_TYPES.
KINDS: tuple[str, ...] = tuple(load_contract()["components"]["schemas"]["AlertKind"]["enum"])
_ALERT_ID = re.compile(r"^[0-9a-f]{32}$")


class BadAlertEvent(ValueError):
    """An event that is not a stream alert of this site; it names every problem."""


def key_time(moment: datetime) -> str:
    """The fixed-width UTC form of a time in the sort key: ``2026-01-31T08:00:00.000000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def alert_item(event: dict[str, Any], *, site: str) -> dict[str, dict[str, Any]]:
    """The alerts-table item of one EventBridge event; raises BadAlertEvent naming what is wrong."""
    detail = event.get("detail")
    if event.get("source") != SOURCE or not isinstance(detail, dict):
        raise BadAlertEvent(f"source {event.get('source')!r} is not {SOURCE} with a detail object")
    window: dict[str, Any] = detail["window"] if isinstance(detail.get("window"), dict) else {}
    problems = []
    if detail.get("site") != site:
        problems.append(f"site {detail.get('site')!r} is not this site {site!r}")
    if not isinstance(detail.get("alert_id"), str) or not _ALERT_ID.match(detail["alert_id"]):
        problems.append(f"alert_id {detail.get('alert_id')!r} is not 32 hex digits")
    if detail.get("kind") not in KINDS:
        problems.append(f"kind {detail.get('kind')!r} is not one of {', '.join(KINDS)}")
    for name in ("gateway", "line"):
        if detail.get(name) is not None and not isinstance(detail.get(name), str):
            problems.append(f"{name} {detail.get(name)!r} is not a string or null")
    if not isinstance(detail.get("summary"), str):
        problems.append("summary is not a string")
    if not isinstance(detail.get("figures"), dict):
        problems.append("figures is not an object")
    start, end = _time(window.get("start")), _time(window.get("end"))
    if start is None or end is None:
        problems.append(f"window {window!r} has no RFC 3339 start and end with a time zone")
    if not isinstance(window.get("shard_id"), str):
        problems.append("window.shard_id is not a string")
    if problems:
        raise BadAlertEvent("; ".join(problems))
    assert start is not None and end is not None  # for mypy: checked above
    at = key_time(end)
    expires = int((end + timedelta(days=RETENTION_DAYS)).timestamp())
    optional = {name: {"S": detail[name]} for name in ("gateway", "line") if detail.get(name) is not None}
    return {
        "site": {"S": site},
        "at_id": {"S": f"{at}#{detail['alert_id']}"},
        "alert_id": {"S": detail["alert_id"]},
        "at": {"S": at},
        "kind": {"S": detail["kind"]},
        **optional,
        "summary": {"S": detail["summary"]},
        "figures": {"S": json.dumps(detail["figures"], separators=(",", ":"), allow_nan=False)},
        "window_start": {"S": key_time(start)},
        "window_end": {"S": at},
        "shard_id": {"S": window["shard_id"]},
        "expires_at": {"N": str(expires)},
    }


def record(event: dict[str, Any], *, dynamodb: Any, table: str, site: str) -> dict[str, dict[str, Any]]:
    """Put the alert of ``event``; a republished alert rewrites its own item."""
    built = alert_item(event, site=site)
    dynamodb.put_item(TableName=table, Item=built)
    return built
