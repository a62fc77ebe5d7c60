"""The ``values`` handler: latest values (DynamoDB), history, aggregates, interpolation and OEE (the lake).

Where each answer comes from, and why:

* latest and batch latest: the latest-value table, one GetItem / BatchGetItem: current to the stream,
  no lake involved.
* history, aggregates, interpolation, OEE: Athena over the conformed and curated zones through the query
  port. The latest-value table is not used for history, not even for short ranges: it holds one value per
  tag, so it can never show that a range held no other value, and answering "the values in a range" from
  it would be wrong, not merely cheaper. Aggregates read the curated tables (one row per tag and minute
  or hour, far fewer bytes scanned than the raw values) unless the caller asks for ``stddev`` or one
  quality, which only the conformed values can give.

Every route first looks the tag (or line) up, so an unknown one is a 404 before any query runs, and a
numeric-only request on a boolean or string tag is a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from envelope.tag_envelope import parse_timestamp

from . import cursor, latest_store, sql
from .api import Api, Request
from .contract import from_url_path
from .paging import iso, limit, site_tag, time_range
from .problems import ApiError, bad_parameter, not_found, problem
from .queries import Queries, QueryFailed, Row, run, text
from .settings import Settings

DEFAULT_AGGREGATES = ("avg", "count", "min", "max", "sum")
# BatchGetItem takes 100 keys; unprocessed keys are asked for again a few times, then reported per entry.
_BATCH_GET_KEYS = 100
_BATCH_GET_ATTEMPTS = 4
# How far interpolation looks before the first point (and after the last) for an observation.
LOOKAROUND = timedelta(days=1)


@dataclass(frozen=True)
class Deps:
    """What the values routes need: settings, a DynamoDB client and the query port."""

    settings: Settings
    dynamodb: Any
    queries: Queries


# --- the latest-value table ---------------------------------------------------------------------------


def _get_items(deps: Deps, paths: list[str]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Items by path, and the paths DynamoDB left unprocessed after every attempt."""
    found: dict[str, dict[str, Any]] = {}
    table = deps.settings.latest_table
    unique = sorted(set(paths))
    pending: list[str] = []
    for start in range(0, len(unique), _BATCH_GET_KEYS):
        keys = [{"path": {"S": path}} for path in unique[start : start + _BATCH_GET_KEYS]]
        for _ in range(_BATCH_GET_ATTEMPTS):
            answer = deps.dynamodb.batch_get_item(
                RequestItems={
                    table: {
                        "Keys": keys,
                        "ProjectionExpression": latest_store.PROJECTION,
                        "ExpressionAttributeNames": latest_store.PROJECTION_NAMES,
                    }
                }
            )
            for item in answer["Responses"].get(table, []):
                found[item["path"]["S"]] = item
            keys = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not keys:
                break
        pending.extend(key["path"]["S"] for key in keys)
    return found, set(pending)


def _tag_item(deps: Deps, path: str, field: str = "path") -> dict[str, Any]:
    answer = deps.dynamodb.get_item(
        TableName=deps.settings.latest_table,
        Key={"path": {"S": path}},
        ProjectionExpression=latest_store.PROJECTION,
        ExpressionAttributeNames=latest_store.PROJECTION_NAMES,
    )
    if "Item" not in answer:
        raise not_found(
            f"no tag {path!r} has been seen on this site's stream; fix: list tags with GET /tags", field=field
        )
    item: dict[str, Any] = answer["Item"]
    return item


def get_latest(request: Request, deps: Deps) -> dict[str, Any]:
    path = site_tag(request.params["path"], deps.settings)
    return latest_store.latest_value(_tag_item(deps, path))


def batch_latest(request: Request, deps: Deps) -> dict[str, Any]:
    entries = request.body["entries"]
    _unique_ids(entries)
    errors: list[dict[str, Any]] = []
    wanted: list[tuple[int, str, str]] = []
    for index, entry in enumerate(entries):
        try:
            wanted.append(
                (index, entry["entryId"], site_tag(entry["path"], deps.settings, field=f"entries[{index}].path"))
            )
        except ApiError as error:
            errors.append({"entryId": entry["entryId"], "error": error.problem(request.request_id)})
    found, unprocessed = _get_items(deps, [path for _, _, path in wanted])
    successes = []
    for index, entry_id, path in wanted:
        if path in found:
            successes.append({"entryId": entry_id, "value": latest_store.latest_value(found[path])})
        elif path in unprocessed:
            detail = "DynamoDB did not answer for this tag in time; fix: ask for this entry again"
            errors.append(
                {"entryId": entry_id, "error": problem(500, "unprocessed", detail, request_id=request.request_id)}
            )
        else:
            missing = not_found(f"no tag {path!r} has been seen on this site's stream", field=f"entries[{index}].path")
            errors.append({"entryId": entry_id, "error": missing.problem(request.request_id)})
    return {"successEntries": successes, "errorEntries": errors}


def _unique_ids(entries: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry["entryId"] in seen:
            raise bad_parameter(
                f"entries[{index}].entryId", f"entryId {entry['entryId']!r} is used twice; fix: make it unique"
            )
        seen.add(entry["entryId"])


# --- history and aggregates ---------------------------------------------------------------------------


def _tag_ref(item: dict[str, Any]) -> sql.TagRef:
    return sql.TagRef(path=item["path"]["S"], area=item["area"]["S"], line=item["line"]["S"])


def _floor(moment: datetime, resolution: str) -> datetime:
    """The start of the UTC-aligned window of ``resolution`` holding ``moment``."""
    if resolution == "1d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if resolution == "1h":
        return moment.replace(minute=0, second=0, microsecond=0)
    base = moment.replace(second=0, microsecond=0)
    return base.replace(minute=base.minute - base.minute % 15) if resolution == "15m" else base


@dataclass(frozen=True)
class PlannedQuery:
    """A statement, and how to turn its rows into the page the caller gets."""

    statement: str
    page: Callable[[list[Row]], dict[str, Any]]


def _value(row: Row) -> Any:
    for column in ("value_double", "value_bool", "value_string"):
        if row[column] is not None:
            return row[column]
    raise ValueError(f"conformed row {row.get('id')!r} holds no value")  # the conform job guarantees one


def plan_history(
    deps: Deps, item: dict[str, Any], params: dict[str, Any], request: Request, *, field_prefix: str = ""
) -> PlannedQuery:
    """The query of one history request (GET /tags/{path}/history, or one batch entry)."""
    settings = deps.settings
    path = item["path"]["S"]
    after, until = time_range(params["from"], params["to"], settings, request.now, prefix=field_prefix)
    size = limit(request, settings, params["limit"])
    resolution = params.get("resolution") or "raw"
    aggregates = params.get("aggregates")
    quality = params.get("quality")
    query = cursor.fingerprint("getTagHistory", {**params, "path": path}, ignore=("entryId",))
    tag = _tag_ref(item)
    where = f"{field_prefix}cursor"
    if resolution == "raw":
        if aggregates:
            raise bad_parameter(
                f"{field_prefix}aggregates", "aggregates need a resolution; fix: give resolution=1m, 15m, 1h or 1d"
            )
        resume = None
        if params.get("cursor"):
            position = cursor.decode(params["cursor"], query, {"ts": str, "id": str}, where)
            resume = (cursor.checked(position["ts"], parse_timestamp, where), position["id"])
            cursor.checked(position["id"], text, where)
        statement = sql.raw_history(
            settings.conformed_database, tag, after=after, until=until, quality=quality, resume=resume, rows=size + 1
        )

        def raw_page(rows: list[Row]) -> dict[str, Any]:
            shown = rows[:size]
            page: dict[str, Any] = {
                "path": path,
                "resolution": "raw",
                "unit": shown[0]["unit"] if shown else None,
                "items": [
                    {"ts": iso(row["ts"]), "value": _value(row), "quality": row["quality"], "unit": row["unit"]}
                    for row in shown
                ],
            }
            if len(rows) > size:
                page["nextCursor"] = cursor.encode(query, {"ts": iso(shown[-1]["ts"]), "id": shown[-1]["id"]})
            return page

        return PlannedQuery(statement, raw_page)

    if item["kind"]["S"] != "number":
        raise bad_parameter(
            f"{field_prefix}resolution",
            f"tag {path!r} holds {item['kind']['S']} values; aggregates need a numeric tag; fix: use resolution=raw",
        )
    wanted = tuple(aggregates or DEFAULT_AGGREGATES)
    window = sql.WINDOW[resolution]
    first, end = _floor(after, resolution), _floor(until, resolution)
    if params.get("cursor"):
        position = cursor.decode(params["cursor"], query, {"start": str}, where)
        resumed = cursor.checked(position["start"], parse_timestamp, where)
        if not first <= resumed < end or _floor(resumed, resolution) != resumed:
            raise bad_parameter(where, "cursor is not one this API issued; fix: pass nextCursor unchanged")
        first = resumed
    if quality or "stddev" in wanted:
        statement = sql.raw_aggregates(
            settings.conformed_database,
            tag,
            resolution=resolution,
            first=first,
            end=end,
            quality=quality,
            rows=size + 1,
        )
    else:
        statement = sql.curated_aggregates(
            settings.curated_database, tag, resolution=resolution, first=first, end=end, rows=size + 1
        )

    def aggregate_page(rows: list[Row]) -> dict[str, Any]:
        starts = [row["window_hour"] + timedelta(minutes=row["window_minute"]) for row in rows]
        items = [_aggregate(row, start, window, wanted) for row, start in zip(rows[:size], starts, strict=False)]
        page: dict[str, Any] = {"path": path, "resolution": resolution, "unit": item["unit"]["S"], "items": items}
        if len(rows) > size:
            page["nextCursor"] = cursor.encode(query, {"start": iso(starts[size])})
        return page

    if first >= end:  # the range holds no whole window: nothing to ask the lake
        return PlannedQuery("", aggregate_page)
    return PlannedQuery(statement, aggregate_page)


def _aggregate(row: Row, start: datetime, window: timedelta, wanted: tuple[str, ...]) -> dict[str, Any]:
    figures = {
        "avg": row["value_sum"] / row["value_count"],
        "count": int(row["value_count"]),
        "min": row["value_min"],
        "max": row["value_max"],
        "sum": row["value_sum"],
        "stddev": row.get("value_stddev"),
    }
    return {"windowStart": iso(start), "windowEnd": iso(start + window), **{name: figures[name] for name in wanted}}


def _run_planned(deps: Deps, planned: list[PlannedQuery]) -> list[dict[str, Any] | QueryFailed]:
    statements = [plan.statement for plan in planned if plan.statement]
    results = iter(deps.queries.run_many(statements) if statements else [])
    pages: list[dict[str, Any] | QueryFailed] = []
    for plan in planned:
        rows = next(results) if plan.statement else []
        pages.append(rows if isinstance(rows, QueryFailed) else plan.page(rows))
    return pages


def _timeout(failure: QueryFailed) -> Exception:
    """504 for a query that ran out of time; a failed statement is our fault: the bare 500 (and the log)."""
    if failure.timed_out:
        return ApiError(504, "query-timeout", "the lake query did not finish in time; fix: narrow the range")
    return failure


def history(request: Request, deps: Deps) -> dict[str, Any]:
    path = site_tag(request.params["path"], deps.settings)
    planned = plan_history(deps, _tag_item(deps, path), request.params, request)
    page = _run_planned(deps, [planned])[0]
    if isinstance(page, QueryFailed):
        raise _timeout(page)
    return page


def batch_history(request: Request, deps: Deps) -> dict[str, Any]:
    entries = request.body["entries"]
    _unique_ids(entries)
    errors: list[dict[str, Any]] = []
    paths: list[tuple[int, str]] = []
    for index, entry in enumerate(entries):
        try:
            paths.append((index, site_tag(entry["path"], deps.settings, field=f"entries[{index}].path")))
        except ApiError as error:
            errors.append({"entryId": entry["entryId"], "error": error.problem(request.request_id)})
    found, unprocessed = _get_items(deps, [path for _, path in paths])
    planned: list[tuple[str, PlannedQuery]] = []
    for index, path in paths:
        entry = entries[index]
        prefix = f"entries[{index}]."
        try:
            if path not in found:
                if path in unprocessed:
                    raise ApiError(500, "unprocessed", "DynamoDB did not answer for this tag in time; fix: ask again")
                raise not_found(f"no tag {path!r} has been seen on this site's stream", field=f"{prefix}path")
            planned.append((entry["entryId"], plan_history(deps, found[path], entry, request, field_prefix=prefix)))
        except ApiError as error:
            errors.append({"entryId": entry["entryId"], "error": error.problem(request.request_id)})
    successes = []
    for (entry_id, _), page in zip(planned, _run_planned(deps, [plan for _, plan in planned]), strict=True):
        if isinstance(page, QueryFailed):
            detail = "the lake query did not finish in time; fix: narrow the range" if page.timed_out else None
            status, kind = (504, "query-timeout") if page.timed_out else (500, "internal")
            errors.append({"entryId": entry_id, "error": problem(status, kind, detail, request_id=request.request_id)})
        else:
            successes.append({"entryId": entry_id, "page": page})
    return {"successEntries": successes, "errorEntries": errors}


# --- interpolation ------------------------------------------------------------------------------------


def interpolated(request: Request, deps: Deps) -> dict[str, Any]:
    params = request.params
    settings = deps.settings
    path = site_tag(params["path"], settings)
    item = _tag_item(deps, path)
    if item["kind"]["S"] != "number":
        raise bad_parameter("path", f"tag {path!r} holds {item['kind']['S']} values; interpolation needs a numeric tag")
    after, until = time_range(params["from"], params["to"], settings, request.now)
    size = limit(request, settings)
    step = timedelta(seconds=params["interval"])
    kind = params["type"]
    points = (until - after) // step
    query = cursor.fingerprint(request.operation.operation_id, {**params, "path": path})
    first_k = 1
    if params.get("cursor"):
        first_k = cursor.decode(params["cursor"], query, {"k": int})["k"]
        if not 1 <= first_k <= points:
            raise bad_parameter("cursor", "cursor is not one this API issued; fix: pass nextCursor unchanged")
    last_k = min(points, first_k + size - 1)
    page: dict[str, Any] = {"path": path, "type": kind, "items": []}
    if last_k < first_k:
        return page

    def at(k: int) -> datetime:
        return after + k * step

    buckets = [(first_k - 1, at(first_k - 1) - LOOKAROUND, at(first_k - 1))]
    buckets += [(k, at(k - 1), at(k)) for k in range(first_k, last_k + 1)]
    if kind == "linear":
        buckets.append((last_k + 1, at(last_k), at(last_k) + LOOKAROUND))
    statement = sql.interpolation_buckets(
        settings.conformed_database, _tag_ref(item), buckets=buckets, quality=params.get("quality")
    )
    try:
        rows = {row["k"]: row for row in run(deps.queries, statement)}
    except QueryFailed as failure:
        raise _timeout(failure) from failure
    page["items"] = _interpolate(rows, first_k, last_k, at, kind)
    if last_k < points:
        page["nextCursor"] = cursor.encode(query, {"k": last_k + 1})
    return page


def _interpolate(
    rows: dict[int, Row], first_k: int, last_k: int, at: Callable[[int], datetime], kind: str
) -> list[dict[str, Any]]:
    """Points from per-bucket first/last observations: bucket k holds the values in (t(k-1), t(k)]."""
    following: dict[int, Row | None] = {}
    upcoming = rows.get(last_k + 1)
    for k in range(last_k, first_k - 1, -1):  # the first observation after t(k): in the next non-empty bucket
        following[k] = upcoming
        upcoming = rows.get(k, upcoming)
    items = []
    previous = rows.get(first_k - 1)
    for k in range(first_k, last_k + 1):
        previous = rows.get(k, previous)
        moment = at(k)
        if previous is None:
            continue
        if kind == "locf" or previous["last_ts"] == moment:
            items.append({"ts": iso(moment), "value": previous["last_value"]})
            continue
        after = following[k]
        if after is None:
            continue
        span = (after["first_ts"] - previous["last_ts"]).total_seconds()
        share = (moment - previous["last_ts"]).total_seconds() / span
        value = previous["last_value"] + (after["first_value"] - previous["last_value"]) * share
        items.append({"ts": iso(moment), "value": value})
    return items


# --- OEE ----------------------------------------------------------------------------------------------


def line_oee(request: Request, deps: Deps) -> dict[str, Any]:
    params = request.params
    settings = deps.settings
    line_path = from_url_path(params["line"])
    if line_path not in settings.lines:
        raise not_found(
            f"line {line_path!r} is not a line of this site; fix: use one of {', '.join(settings.lines)}", field="line"
        )
    area, line = line_path.split("/")
    after, until = time_range(params["from"], params["to"], settings, request.now)
    size = limit(request, settings)
    query = cursor.fingerprint(request.operation.operation_id, params)
    resume = None
    if params.get("cursor"):
        position = cursor.decode(params["cursor"], query, {"start": str, "shift": str})
        resume = (cursor.checked(position["start"], parse_timestamp), position["shift"])
        cursor.checked(position["shift"], text)
    statement = sql.line_oee(
        settings.curated_database,
        area=area,
        line=line,
        after=after,
        until=until,
        shift=params.get("shift"),
        resume=resume,
        rows=size + 1,
    )
    try:
        rows = run(deps.queries, statement)
    except QueryFailed as failure:
        raise _timeout(failure) from failure
    shown = rows[:size]
    page: dict[str, Any] = {"line": params["line"], "items": [_shift(row) for row in shown]}
    if len(rows) > size:
        page["nextCursor"] = cursor.encode(query, {"start": iso(shown[-1]["shift_start"]), "shift": shown[-1]["shift"]})
    return page


def _shift(row: Row) -> dict[str, Any]:
    return {
        "shift": row["shift"],
        "shiftStart": iso(row["shift_start"]),
        "shiftEnd": iso(row["shift_end"]),
        "plannedSeconds": row["planned_s"],
        "runSeconds": row["run_s"],
        "totalCount": int(row["total_count"]),
        "goodCount": int(row["good_count"]),
        "availability": row["availability"],
        "performance": row["performance"],
        "quality": row["quality"],
        "oee": row["oee"],
    }


API: Api[Deps] = Api(
    "values",
    {
        "getLatestValue": get_latest,
        "batchGetLatestValues": batch_latest,
        "getTagHistory": history,
        "batchGetTagHistory": batch_history,
        "getInterpolatedValues": interpolated,
        "getLineOee": line_oee,
    },
)
