"""The ``catalog`` handler: the tags the site's stream has carried (latest-value table) and the lake's
tables (Glue Data Catalog).

GET /tags reads the latest-value table, which holds exactly one item per tag ever seen, so the catalog
needs no table of its own and cannot disagree with what the latest values show. A ``line`` filter is
a Query on the ``by_line`` index (path order); otherwise a Scan (the table's order), filtered on
``area`` when given: its cost grows with the number of tags (docs/performance.md, bench-api).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envelope.tag_envelope import TAG_PATH_RE

from . import cursor, latest_store
from .api import Api, Request
from .contract import from_url_path
from .paging import limit
from .problems import bad_parameter
from .settings import Settings

ZONES = ("conformed", "curated")


@dataclass(frozen=True)
class Deps:
    """What the catalog routes need: settings, a DynamoDB client and a Glue client."""

    settings: Settings
    dynamodb: Any
    glue: Any


def _resume_path(request: Request, query: str) -> str | None:
    if not request.params.get("cursor"):
        return None
    path: str = cursor.decode(request.params["cursor"], query, {"path": str})["path"]
    if not TAG_PATH_RE.match(path):
        raise bad_parameter("cursor", "cursor is not one this API issued; fix: pass nextCursor unchanged")
    return path


def list_tags(request: Request, deps: Deps) -> dict[str, Any]:
    params = request.params
    if params.get("area") and params.get("line"):
        raise bad_parameter("line", "area and line are both given; fix: give one (line is area~line)")
    size = limit(request, deps.settings)
    query = cursor.fingerprint(request.operation.operation_id, params)
    resume = _resume_path(request, query)
    table = deps.settings.latest_table
    common: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": latest_store.PROJECTION,
        "ExpressionAttributeNames": dict(latest_store.PROJECTION_NAMES),
    }
    items: list[dict[str, Any]] = []
    if params.get("line"):
        line_path = from_url_path(params["line"])
        arguments = {
            **common,
            "IndexName": latest_store.LINE_INDEX,
            "KeyConditionExpression": "#lp = :lp",
            "ExpressionAttributeValues": {":lp": {"S": line_path}},
            "Limit": size + 1,
        }
        arguments["ExpressionAttributeNames"]["#lp"] = "line_path"
        if resume:
            arguments["ExclusiveStartKey"] = {"path": {"S": resume}, "line_path": {"S": line_path}}
        operation = deps.dynamodb.query
    else:
        arguments = dict(common)
        if params.get("area"):
            arguments["FilterExpression"] = "#ar = :ar"
            arguments["ExpressionAttributeNames"]["#ar"] = "area"
            arguments["ExpressionAttributeValues"] = {":ar": {"S": params["area"]}}
        else:
            arguments["Limit"] = size + 1
        if resume:
            arguments["ExclusiveStartKey"] = {"path": {"S": resume}}
        operation = deps.dynamodb.scan
    while len(items) <= size:
        answer = operation(**arguments)
        items.extend(answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            break
        arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    shown = items[:size]
    page: dict[str, Any] = {"items": [latest_store.tag(item) for item in shown]}
    if len(items) > size:
        page["nextCursor"] = cursor.encode(query, {"path": shown[-1]["path"]["S"]})
    return page


def _columns(columns: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"name": column["Name"], "type": column["Type"]} for column in columns]


def _dataset(zone: str, database: str, table: dict[str, Any]) -> dict[str, Any]:
    storage = table.get("StorageDescriptor", {})
    parameters = table.get("Parameters", {})
    return {
        "zone": zone,
        "database": database,
        "name": table["Name"],
        "location": storage.get("Location", ""),
        "tableType": parameters.get("table_type") or table.get("TableType", ""),
        "columns": _columns(storage.get("Columns", [])),
        "partitionKeys": _columns(table.get("PartitionKeys", [])),
    }


def list_datasets(request: Request, deps: Deps) -> dict[str, Any]:
    """The zones' tables in (zone, name) order; a site has a handful, so paging happens here, not in Glue."""
    params = request.params
    size = limit(request, deps.settings)
    query = cursor.fingerprint(request.operation.operation_id, params)
    after: tuple[int, str] | None = None
    if params.get("cursor"):
        position = cursor.decode(params["cursor"], query, {"zone": str, "name": str})
        if position["zone"] not in ZONES:
            raise bad_parameter("cursor", "cursor is not one this API issued; fix: pass nextCursor unchanged")
        after = (ZONES.index(position["zone"]), position["name"])
    databases = {"conformed": deps.settings.conformed_database, "curated": deps.settings.curated_database}
    found: list[tuple[int, str, dict[str, Any]]] = []
    for zone in ZONES:
        if params.get("zone") not in (None, zone):
            continue
        for glue_page in deps.glue.get_paginator("get_tables").paginate(DatabaseName=databases[zone]):
            found.extend(
                (ZONES.index(zone), table["Name"], _dataset(zone, databases[zone], table))
                for table in glue_page["TableList"]
            )
    found.sort(key=lambda entry: (entry[0], entry[1]))
    remaining = [entry for entry in found if after is None or (entry[0], entry[1]) > after]
    shown = remaining[:size]
    page: dict[str, Any] = {"items": [entry[2] for entry in shown]}
    if len(remaining) > size:
        page["nextCursor"] = cursor.encode(query, {"zone": ZONES[shown[-1][0]], "name": shown[-1][1]})
    return page


API: Api[Deps] = Api("catalog", {"listTags": list_tags, "listDatasets": list_datasets})
