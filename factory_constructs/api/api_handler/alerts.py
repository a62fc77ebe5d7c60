"""The ``alerts`` handler: GET /alerts, newest first, from the table the alert recorder fills.

The sort key is ``<at>#<alert_id>`` with ``at`` at fixed width (``alert_recorder.key_time``), so the range
"after ``from``, up to and including ``to``" is one key condition: every key of the instant ``from``
sorts below ``<from>$`` (``#`` < ``$``) and every key of ``to`` below ``<to>$``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import cursor
from .alert_recorder import key_time
from .api import Api, Request
from .paging import limit, time_range
from .problems import bad_parameter
from .settings import Settings

_AT_ID = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z#[0-9a-f]{32}$")


@dataclass(frozen=True)
class Deps:
    """What the alerts route needs: settings and a DynamoDB client."""

    settings: Settings
    dynamodb: Any


def _alert(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "alertId": item["alert_id"]["S"],
        "at": item["at"]["S"],
        "kind": item["kind"]["S"],
        "gateway": item["gateway"]["S"] if "gateway" in item else None,
        "line": item["line"]["S"] if "line" in item else None,
        "summary": item["summary"]["S"],
        "figures": json.loads(item["figures"]["S"]),
        "window": {
            "start": item["window_start"]["S"],
            "end": item["window_end"]["S"],
            "shardId": item["shard_id"]["S"],
        },
    }


def list_alerts(request: Request, deps: Deps) -> dict[str, Any]:
    params = request.params
    settings = deps.settings
    size = limit(request, settings)
    # Without from/to the range moves with the clock: the first page fixes it and the cursor carries it.
    query = cursor.fingerprint(request.operation.operation_id, params)
    resume = None
    if params.get("cursor"):
        position = cursor.decode(params["cursor"], query, {"at_id": str, "from": str, "to": str})
        if not _AT_ID.match(position["at_id"]):
            raise bad_parameter("cursor", "cursor is not one this API issued; fix: pass nextCursor unchanged")
        resume = position["at_id"]
        after, until = cursor.checked(
            position, lambda held: time_range(held["from"], held["to"], settings, request.now)
        )
    else:
        after, until = time_range(params.get("from"), params.get("to"), settings, request.now)
    arguments: dict[str, Any] = {
        "TableName": settings.alerts_table,
        "KeyConditionExpression": "#s = :s AND #k BETWEEN :low AND :high",
        "ExpressionAttributeNames": {"#s": "site", "#k": "at_id"},
        "ExpressionAttributeValues": {
            ":s": {"S": settings.site_id},
            ":low": {"S": key_time(after) + "$"},
            ":high": {"S": key_time(until) + "$"},
        },
        "ScanIndexForward": False,
    }
    if params.get("kind"):
        arguments["FilterExpression"] = "#kind = :kind"
        arguments["ExpressionAttributeNames"]["#kind"] = "kind"
        arguments["ExpressionAttributeValues"][":kind"] = {"S": params["kind"]}
    else:
        arguments["Limit"] = size + 1
    if resume:
        arguments["ExclusiveStartKey"] = {"site": {"S": settings.site_id}, "at_id": {"S": resume}}
    items: list[dict[str, Any]] = []
    while len(items) <= size:
        answer = deps.dynamodb.query(**arguments)
        items.extend(answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            break
        arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    shown = items[:size]
    page: dict[str, Any] = {"items": [_alert(item) for item in shown]}
    if len(items) > size:
        position = {"at_id": shown[-1]["at_id"]["S"], "from": key_time(after), "to": key_time(until)}
        page["nextCursor"] = cursor.encode(query, position)
    return page


API: Api[Deps] = Api("alerts", {"listAlerts": list_alerts})
