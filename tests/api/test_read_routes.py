"""The read routes, called with API Gateway events built from the contract, against moto and the local lake
the real ETL curated: success, not found, bad parameters, forbidden groups and pagination across pages.

Expected figures come from the lake's Python value lists (``lake_data``), never from the SQL under test.
"""

from __future__ import annotations

import base64
import json
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import pytest
from api_events import answer, api_event
from api_world import AREA, ENTERPRISE, LINE, LINE_PATH, SITE, ApiAws, settings
from lake_data import CURATED, DAY, DOOR, DOOR_VALUES, TEMP, TEMP_VALUES, Value
from local_queries import SparkQueries

from envelope.tag_envelope import tag_batch, tag_value
from factory_constructs.api.api_handler import catalog as catalog_routes
from factory_constructs.api.api_handler import values as value_routes
from factory_constructs.api.api_handler.contract import to_url_path
from factory_constructs.api.api_handler.latest_consumer import consume

pytestmark = pytest.mark.spark


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def call(api: Any, deps: Any, operation_id: str, **event: Any) -> tuple[int, Any]:
    return answer(api.handle(api_event(operation_id, **event), None, lambda: deps))


def seed(aws: ApiAws, line_path: str, tags: list[str], *, ts: str = "2026-01-05T10:00:00.000Z") -> None:
    batch = tag_batch(
        site=SITE,
        gateway="plantA-gw1",
        line=line_path,
        batch_seq=0,
        values=[
            tag_value(
                path=f"{line_path}/{tag}", value=1.5, unit="bar", quality="good", ts=ts, seq=i, gateway="plantA-gw1"
            )
            for i, tag in enumerate(tags)
        ],
    )
    assert not consume([aws.record(batch)], dynamodb=aws.dynamodb, table="plantA-latest").failures


def seed_lake_tags(aws: ApiAws) -> None:
    """The latest values of the lake's tags, as the consumer would have left them."""
    last_temp, last_door = TEMP_VALUES[-1], DOOR_VALUES[-1]
    aws.seed_latest(
        [
            ("cell1/temp", last_temp.value, last_temp.quality, iso(last_temp.ts)[:23] + "Z", last_temp.seq),
            ("cell1/door", last_door.value, last_door.quality, iso(last_door.ts)[:23] + "Z", last_door.seq),
        ]
    )


def pages(api: Any, deps: Any, operation_id: str, limit: int, **event: Any) -> list[dict[str, Any]]:
    """Every page of a paginated query, following nextCursor."""
    found = []
    query = dict(event.pop("query", {}), limit=limit)
    while True:
        status, body = call(api, deps, operation_id, query=query, **event)
        assert status == 200, body
        found.append(body)
        if "nextCursor" not in body:
            return found
        query["cursor"] = body["nextCursor"]


# --- the catalog -----------------------------------------------------------------------------------------


@pytest.fixture
def catalog_deps(aws: ApiAws) -> catalog_routes.Deps:
    return catalog_routes.Deps(settings=settings("catalog", PAGE_LIMIT_MAX="50"), dynamodb=aws.dynamodb, glue=aws.glue)


def test_the_catalog_pages_through_every_tag_once(aws: ApiAws, catalog_deps: catalog_routes.Deps) -> None:
    seed(aws, LINE_PATH, [f"cell{i}/t{i}" for i in range(25)])
    found = pages(catalog_routes.API, catalog_deps, "listTags", 10, groups=("operator",))
    assert [len(page["items"]) for page in found] == [10, 10, 5]
    paths = [item["path"] for page in found for item in page["items"]]
    assert sorted(paths) == sorted(f"{LINE_PATH}/cell{i}/t{i}" for i in range(25))
    first = found[0]["items"][0]
    assert set(first) == {"path", "area", "line", "cell", "tag", "unit", "kind", "gateway", "lastSeen"}
    assert (first["area"], first["line"], first["unit"], first["kind"]) == (AREA, LINE, "bar", "number")


def test_a_line_filter_lists_that_line_in_path_order_across_pages(
    aws: ApiAws, catalog_deps: catalog_routes.Deps
) -> None:
    other = f"{ENTERPRISE}/{SITE}/{AREA}/line2"
    seed(aws, LINE_PATH, [f"cell1/t{i:02d}" for i in range(7)])
    seed(aws, other, ["cell1/x", "cell1/y"])
    found = pages(catalog_routes.API, catalog_deps, "listTags", 3, query={"line": f"{AREA}~line2"})
    assert [item["path"] for page in found for item in page["items"]] == [f"{other}/cell1/x", f"{other}/cell1/y"]
    found = pages(catalog_routes.API, catalog_deps, "listTags", 3, query={"line": f"{AREA}~{LINE}"})
    assert [len(page["items"]) for page in found] == [3, 3, 1]
    assert [item["path"] for page in found for item in page["items"]] == [
        f"{LINE_PATH}/cell1/t{i:02d}" for i in range(7)
    ]


def test_an_area_filter_keeps_only_that_area(aws: ApiAws, catalog_deps: catalog_routes.Deps) -> None:
    seed(aws, LINE_PATH, ["cell1/a", "cell1/b", "cell1/c"])
    seed(aws, f"{ENTERPRISE}/{SITE}/paint/line9", ["cell1/p"])
    found = pages(catalog_routes.API, catalog_deps, "listTags", 2, query={"area": "paint"})
    assert [item["path"] for page in found for item in page["items"]] == [f"{ENTERPRISE}/{SITE}/paint/line9/cell1/p"]
    found = pages(catalog_routes.API, catalog_deps, "listTags", 2, query={"area": AREA})
    assert sorted(item["path"] for page in found for item in page["items"]) == [f"{LINE_PATH}/cell1/{t}" for t in "abc"]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"area": AREA, "line": f"{AREA}~{LINE}"}, "line", "area and line are both given"),
        ({"limit": 0}, "limit", "0 is below 1"),
        ({"limit": 1001}, "limit", "1001 is above 1000"),
        ({"limit": "ten"}, "limit", "is not a whole number"),
        ({"line": "press/line1"}, "line", "does not match"),
        ({"cursor": "not+base64"}, "cursor", "does not match"),
        ({"cursor": "bm90IGpzb24"}, "cursor", "not one this API issued"),
    ],
)
def test_bad_catalog_parameters_are_named(
    aws: ApiAws, catalog_deps: catalog_routes.Deps, query: dict[str, Any], field: str, words: str
) -> None:
    status, body = call(catalog_routes.API, catalog_deps, "listTags", query=query)
    assert status == 400
    assert body["field"] == field and words in body["detail"]
    assert body["type"] == "urn:dmc:problem:bad-parameter" and body["status"] == 400 and body["requestId"]


def test_a_limit_above_the_site_ceiling_is_served_as_the_ceiling(
    aws: ApiAws, catalog_deps: catalog_routes.Deps
) -> None:
    seed(aws, LINE_PATH, [f"cell1/t{i}" for i in range(60)])
    assert [len(page["items"]) for page in pages(catalog_routes.API, catalog_deps, "listTags", 80)] == [50, 10]
    status, body = call(catalog_routes.API, catalog_deps, "listTags")  # the default 100 is above 50 too
    assert status == 200 and len(body["items"]) == 50


def test_a_cursor_is_refused_with_other_parameters_or_tampered_with(
    aws: ApiAws, catalog_deps: catalog_routes.Deps
) -> None:
    seed(aws, LINE_PATH, ["cell1/a", "cell1/b", "cell1/c"])
    status, body = call(catalog_routes.API, catalog_deps, "listTags", query={"limit": 1, "area": AREA})
    cursor = body["nextCursor"]
    status, other = call(catalog_routes.API, catalog_deps, "listTags", query={"limit": 1, "cursor": cursor})
    assert (status, other["field"]) == (400, "cursor") and "another query" in other["detail"]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload["p"]["path"] = "x'; DROP TABLE"
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    status, tampered = call(catalog_routes.API, catalog_deps, "listTags", query={"area": AREA, "cursor": forged})
    assert (status, tampered["field"]) == (400, "cursor")
    # a larger page size with the same cursor is the same query
    status, body = call(
        catalog_routes.API, catalog_deps, "listTags", query={"area": AREA, "limit": 5, "cursor": cursor}
    )
    assert status == 200 and len(body["items"]) == 2


def test_datasets_list_both_zones_with_schema_location_and_partitions(
    aws: ApiAws, catalog_deps: catalog_routes.Deps
) -> None:
    from dmc_etl.schemas import CONFORMED_TABLES, CURATED_TABLES

    found = pages(catalog_routes.API, catalog_deps, "listDatasets", 4)
    assert [len(page["items"]) for page in found] == [4, 2]
    items = [item for page in found for item in page["items"]]
    expected = [("conformed", name) for name in sorted(CONFORMED_TABLES)] + [
        ("curated", name) for name in sorted(CURATED_TABLES)
    ]
    assert [(item["zone"], item["name"]) for item in items] == expected
    minute = next(item for item in items if item["name"] == "tag_minute")
    columns, partitions = CURATED_TABLES["tag_minute"]
    assert minute["columns"] == [{"name": name, "type": kind} for name, kind in columns]
    assert minute["partitionKeys"] == [{"name": name, "type": kind} for name, kind in partitions]
    assert (minute["database"], minute["location"], minute["tableType"]) == (
        "planta_curated",
        "s3://plantA-curated/tag_minute/",
        "ICEBERG",
    )
    status, body = call(catalog_routes.API, catalog_deps, "listDatasets", query={"zone": "conformed"})
    assert status == 200 and {item["zone"] for item in body["items"]} == {"conformed"}


def test_datasets_are_for_analysts_and_iam_callers(aws: ApiAws, catalog_deps: catalog_routes.Deps) -> None:
    status, body = call(catalog_routes.API, catalog_deps, "listDatasets", groups=("operator", "engineer"))
    assert status == 403 and "analyst" in body["detail"] and "engineer, operator" in body["detail"]
    assert call(catalog_routes.API, catalog_deps, "listDatasets", iam=True)[0] == 200
    assert call(catalog_routes.API, catalog_deps, "listDatasets", groups=None)[0] == 403


# --- latest values ---------------------------------------------------------------------------------------


def test_the_latest_value_comes_with_quality_and_both_timestamps(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    seed_lake_tags(aws)
    status, body = call(
        value_routes.API, values_deps, "getLatestValue", path={"path": to_url_path(TEMP)}, groups=("operator",)
    )
    last = TEMP_VALUES[-1]
    assert status == 200
    assert body == {
        "path": TEMP,
        "value": last.value,
        "kind": "number",
        "unit": "degC",
        "quality": last.quality,
        "sourceTs": "2026-01-05T09:59:50.000Z",
        "arrivalTs": "2026-01-05T08:00:00.000Z",
        "seq": last.seq,
        "gateway": "plantA-gw1",
    }
    # a client that percent-encodes "~" reaches the same tag
    encoded = to_url_path(TEMP).replace("~", "%7E")
    event = api_event("getLatestValue", path={"path": to_url_path(TEMP)})
    event["pathParameters"] = {"path": encoded}
    assert answer(value_routes.API.handle(event, None, lambda: values_deps))[1]["path"] == TEMP


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        (f"{ENTERPRISE}~{SITE}~{AREA}~{LINE}~cell1~nothing", 404, "has been seen"),
        (f"{ENTERPRISE}~plantB~{AREA}~{LINE}~cell1~temp", 404, "is not of this site"),
        (f"{ENTERPRISE}~{SITE}~{AREA}", 400, "does not match"),
    ],
)
def test_an_unknown_or_foreign_tag_is_not_found(
    aws: ApiAws, values_deps: value_routes.Deps, path: str, status: int, words: str
) -> None:
    seed_lake_tags(aws)
    got, body = call(value_routes.API, values_deps, "getLatestValue", path={"path": path})
    assert (got, body["field"]) == (status, "path") and words in body["detail"]


def test_batch_latest_answers_each_entry(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    seed_lake_tags(aws)
    entries = [
        {"entryId": "a", "path": TEMP},
        {"entryId": "b", "path": f"{LINE_PATH}/cell1/none"},
        {"entryId": "c", "path": DOOR},
        {"entryId": "d", "path": f"{ENTERPRISE}/plantB/{AREA}/{LINE}/cell1/temp"},
    ]
    status, body = call(
        value_routes.API, values_deps, "batchGetLatestValues", body={"entries": entries}, groups=("operator",)
    )
    assert status == 200
    assert {entry["entryId"]: entry["value"]["value"] for entry in body["successEntries"]} == {
        "a": TEMP_VALUES[-1].value,
        "c": DOOR_VALUES[-1].value,
    }
    errors = {entry["entryId"]: entry["error"] for entry in body["errorEntries"]}
    assert (errors["b"]["status"], errors["b"]["field"]) == (404, "entries[1].path")
    assert (errors["d"]["status"], errors["d"]["field"]) == (404, "entries[3].path")
    status, body = call(
        value_routes.API, values_deps, "batchGetLatestValues", body={"entries": [entries[0], entries[0]]}
    )
    assert (status, body["field"]) == (400, "entries[1].entryId")
    status, body = call(value_routes.API, values_deps, "batchGetLatestValues", body={"entries": [{"entryId": "a"}]})
    assert (status, body["field"]) == (400, "entries[0].path")


# --- history ---------------------------------------------------------------------------------------------


def raw_in(after: datetime, until: datetime, quality: str | None = None) -> list[Value]:
    return [v for v in TEMP_VALUES if after < v.ts <= until and (quality is None or v.quality == quality)]


def test_raw_history_has_an_exclusive_start_an_inclusive_end_and_pages(
    aws: ApiAws, values_deps: value_routes.Deps
) -> None:
    seed_lake_tags(aws)
    after, until = DAY + timedelta(hours=8, minutes=10), DAY + timedelta(hours=8, minutes=30)  # both on a value
    query = {"from": iso(after), "to": iso(until)}
    found = pages(value_routes.API, values_deps, "getTagHistory", 50, path={"path": to_url_path(TEMP)}, query=query)
    assert [len(page["items"]) for page in found] == [50, 50, 20]
    items = [item for page in found for item in page["items"]]
    expected = raw_in(after, until)
    assert [(item["ts"], item["value"], item["quality"]) for item in items] == [
        (iso(v.ts), v.value, v.quality) for v in expected
    ]
    assert items[0]["ts"] == iso(after + timedelta(seconds=10)) and items[-1]["ts"] == iso(until)
    assert found[0]["unit"] == "degC" and found[0]["resolution"] == "raw"


def test_raw_history_filters_on_one_quality(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    seed_lake_tags(aws)
    after, until = DAY, DAY + timedelta(hours=12)
    query = {"from": iso(after), "to": iso(until), "quality": "bad", "limit": 1000}
    status, body = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(TEMP)}, query=query)
    assert status == 200 and [item["ts"] for item in body["items"]] == [iso(v.ts) for v in raw_in(after, until, "bad")]
    assert "nextCursor" not in body


def windows(resolution: timedelta, start: datetime, end: datetime, values: list[Value]) -> dict[datetime, list[float]]:
    found: dict[datetime, list[float]] = defaultdict(list)
    for value in values:
        offset = (value.ts - DAY) // resolution
        window = DAY + offset * resolution
        if start <= window and window + resolution <= end:
            found[window].append(float(value.value))
    return dict(sorted(found.items()))


@pytest.mark.parametrize(
    ("resolution", "length"),
    [
        ("1m", timedelta(minutes=1)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
    ],
)
def test_aggregates_come_from_the_curated_tables_and_match_the_values(
    aws: ApiAws, values_deps: value_routes.Deps, queries: SparkQueries, resolution: str, length: timedelta
) -> None:
    seed_lake_tags(aws)
    after = DAY if resolution == "1d" else DAY + timedelta(hours=8, minutes=7, seconds=30)  # inside a window
    until = DAY + timedelta(days=1) if resolution == "1d" else DAY + timedelta(hours=9, minutes=45)
    query = {"from": iso(after), "to": iso(until), "resolution": resolution, "limit": 1000}
    status, body = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(TEMP)}, query=query)
    assert status == 200, body
    not_bad = [v for v in TEMP_VALUES if v.quality != "bad"]
    # windows ending after `from` and no later than `to`
    first = DAY + ((after - DAY) // length) * length
    expected = windows(length, first, until, not_bad)
    assert [item["windowStart"] for item in body["items"]] == [iso(start) for start in expected]
    for item, numbers in zip(body["items"], expected.values(), strict=True):
        assert item["count"] == len(numbers)
        assert item["avg"] == pytest.approx(statistics.fmean(numbers))
        assert (item["min"], item["max"]) == (min(numbers), max(numbers))
        assert item["sum"] == pytest.approx(sum(numbers))
        assert "stddev" not in item
        assert datetime.fromisoformat(item["windowEnd"]) - datetime.fromisoformat(item["windowStart"]) == length
    (statement,) = queries.statements
    assert f"FROM {CURATED}.{'tag_hour' if resolution in ('1h', '1d') else 'tag_minute'} " in statement


def test_stddev_and_a_quality_filter_are_computed_from_the_conformed_values(
    aws: ApiAws, values_deps: value_routes.Deps, queries: SparkQueries
) -> None:
    seed_lake_tags(aws)
    after, until = DAY + timedelta(hours=8), DAY + timedelta(hours=10)
    query = {"from": iso(after), "to": iso(until), "resolution": "15m", "aggregates": "stddev,count", "quality": "good"}
    found = pages(value_routes.API, values_deps, "getTagHistory", 3, path={"path": to_url_path(TEMP)}, query=query)
    assert [len(page["items"]) for page in found] == [3, 3, 2]
    items = [item for page in found for item in page["items"]]
    expected = windows(timedelta(minutes=15), after, until, [v for v in TEMP_VALUES if v.quality == "good"])
    assert [set(item) for item in items] == [{"windowStart", "windowEnd", "stddev", "count"}] * 8
    assert [item["count"] for item in items] == [len(numbers) for numbers in expected.values()]
    assert [item["stddev"] for item in items] == pytest.approx([statistics.stdev(n) for n in expected.values()])
    assert all(".tag_values " in statement for statement in queries.statements)


def test_aggregates_need_a_numeric_tag_and_a_resolution(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    seed_lake_tags(aws)
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(hours=10)), "resolution": "1m"}
    status, body = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(DOOR)}, query=query)
    assert (status, body["field"]) == (400, "resolution") and "holds boolean values" in body["detail"]
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(hours=10)), "aggregates": "avg"}
    status, body = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(TEMP)}, query=query)
    assert (status, body["field"]) == (400, "aggregates")
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(hours=10)), "aggregates": "avg,avg", "resolution": "1h"}
    status, body = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(TEMP)}, query=query)
    assert (status, body["field"]) == (400, "aggregates") and "twice" in body["detail"]


def test_a_boolean_tag_has_raw_history(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    seed_lake_tags(aws)
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(hours=10))}
    status, body = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(DOOR)}, query=query)
    assert status == 200 and [item["value"] for item in body["items"]] == [v.value for v in DOOR_VALUES]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T10:00:00Z"}, "to", "is not after from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "from", "more than this site's 31"),
        ({"from": "2026-01-05T10:00:00+01:00", "to": "2026-01-05T11:00:00Z"}, "from", "does not match"),
        ({"from": "2026-02-30T10:00:00Z", "to": "2026-03-01T11:00:00Z"}, "from", "RFC 3339"),
        ({"to": "2026-01-05T11:00:00Z"}, "from", "from is missing"),
        ({"from": "0001-01-01T00:00:00Z", "to": "2026-01-05T11:00:00Z"}, "from", "is outside 1970-01-02"),
        ({"from": "2026-01-05T10:00:00Z", "to": "9999-12-31T00:00:00Z"}, "to", "is outside 1970-01-02"),
        (
            {"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T11:00:00Z", "resolution": "5m"},
            "resolution",
            "is not one of",
        ),
        ({"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T11:00:00Z", "quality": "fine"}, "quality", "is not one of"),
    ],
)
def test_bad_history_parameters_are_named(
    aws: ApiAws, values_deps: value_routes.Deps, query: dict[str, Any], field: str, words: str
) -> None:
    seed_lake_tags(aws)
    status, body = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(TEMP)}, query=query)
    assert (status, body["field"]) == (400, field) and words in body["detail"], body


def test_history_is_for_analysts(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(hours=1))}
    for operation, event in (
        ("getTagHistory", {"path": {"path": to_url_path(TEMP)}, "query": query}),
        ("getInterpolatedValues", {"path": {"path": to_url_path(TEMP)}, "query": {**query, "interval": 60}}),
        ("batchGetTagHistory", {"body": {"entries": [{"entryId": "a", "path": TEMP, **query}]}}),
    ):
        status, body = call(value_routes.API, values_deps, operation, groups=("operator", "engineer"), **event)
        assert status == 403 and body["type"] == "urn:dmc:problem:forbidden", operation


def test_batch_history_answers_each_entry_with_its_own_cursor(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    seed_lake_tags(aws)
    window = {"from": iso(DAY + timedelta(hours=8)), "to": iso(DAY + timedelta(hours=8, minutes=5))}
    entries = [
        {"entryId": "raw", "path": TEMP, "limit": 10, **window},
        {"entryId": "hour", "path": TEMP, "resolution": "1h", "from": iso(DAY), "to": iso(DAY + timedelta(hours=12))},
        {"entryId": "missing", "path": f"{LINE_PATH}/cell1/none", **window},
        {"entryId": "door", "path": DOOR, "resolution": "1m", **window},
    ]
    status, body = call(value_routes.API, values_deps, "batchGetTagHistory", body={"entries": entries})
    assert status == 200
    pages_by_id = {entry["entryId"]: entry["page"] for entry in body["successEntries"]}
    assert [item["ts"] for item in pages_by_id["raw"]["items"]] == [
        iso(v.ts) for v in raw_in(DAY + timedelta(hours=8), DAY + timedelta(hours=8, minutes=5))
    ][:10]
    assert [item["windowStart"] for item in pages_by_id["hour"]["items"]] == [
        iso(DAY + timedelta(hours=8)),
        iso(DAY + timedelta(hours=9)),
    ]
    errors = {entry["entryId"]: entry["error"] for entry in body["errorEntries"]}
    assert (errors["missing"]["status"], errors["missing"]["field"]) == (404, "entries[2].path")
    assert (errors["door"]["status"], errors["door"]["field"]) == (400, "entries[3].resolution")
    # the entry's cursor works on the single route too: one query, one fingerprint
    query = {**window, "limit": 10, "cursor": pages_by_id["raw"]["nextCursor"]}
    status, page = call(value_routes.API, values_deps, "getTagHistory", path={"path": to_url_path(TEMP)}, query=query)
    assert status == 200 and page["items"][0]["ts"] == iso(
        raw_in(DAY + timedelta(hours=8), DAY + timedelta(days=1))[10].ts
    )


# --- interpolation ---------------------------------------------------------------------------------------


def interpolate(moment: datetime, kind: str, values: list[Value]) -> float | None:
    before = [v for v in values if v.ts <= moment and v.ts > moment - timedelta(days=1)]
    after = [v for v in values if v.ts > moment]
    if not before:
        return None
    last = before[-1]
    if kind == "locf" or last.ts == moment:
        return float(last.value)
    if not after:
        return None
    following = after[0]
    share = (moment - last.ts) / (following.ts - last.ts)
    return float(last.value) + (float(following.value) - float(last.value)) * share


@pytest.mark.parametrize("kind", ["linear", "locf"])
def test_interpolated_points_match_a_hand_computation_across_pages(
    aws: ApiAws, values_deps: value_routes.Deps, kind: str
) -> None:
    seed_lake_tags(aws)
    after, until = DAY + timedelta(hours=7, minutes=59, seconds=33), DAY + timedelta(hours=10, minutes=2)
    query = {"from": iso(after), "to": iso(until), "interval": 7, "type": kind}
    found = pages(
        value_routes.API, values_deps, "getInterpolatedValues", 400, path={"path": to_url_path(TEMP)}, query=query
    )
    assert [len(page["items"]) > 0 for page in found] == [True, True, True]  # 1,049 points of 7 s, 400 a page
    items = [item for page in found for item in page["items"]]
    not_bad = [v for v in TEMP_VALUES if v.quality != "bad"]
    expected = []
    for k in range(1, (until - after) // timedelta(seconds=7) + 1):
        moment = after + k * timedelta(seconds=7)
        value = interpolate(moment, kind, not_bad)
        if value is not None:
            expected.append((iso(moment), value))
    assert [item["ts"] for item in items] == [ts for ts, _ in expected]
    assert [item["value"] for item in items] == pytest.approx([value for _, value in expected])


def test_interpolation_needs_a_numeric_tag_and_an_interval(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    seed_lake_tags(aws)
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(hours=10)), "interval": 60}
    status, body = call(
        value_routes.API, values_deps, "getInterpolatedValues", path={"path": to_url_path(DOOR)}, query=query
    )
    assert (status, body["field"]) == (400, "path")
    status, body = call(
        value_routes.API,
        values_deps,
        "getInterpolatedValues",
        path={"path": to_url_path(TEMP)},
        query={**query, "interval": 0},
    )
    assert (status, body["field"]) == (400, "interval")


# --- OEE -------------------------------------------------------------------------------------------------


def test_oee_per_shift_is_what_the_etl_computed_and_pages(
    aws: ApiAws, values_deps: value_routes.Deps, lake: Any
) -> None:
    rows = {row.shift: row.asDict() for row in lake.table(f"lake.{CURATED}.line_shift_oee").collect()}
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(days=1))}
    found = pages(
        value_routes.API,
        values_deps,
        "getLineOee",
        1,
        path={"line": f"{AREA}~{LINE}"},
        query=query,
        groups=("operator",),
    )
    assert [len(page["items"]) for page in found] == [1, 1]
    items = [item for page in found for item in page["items"]]
    assert [item["shift"] for item in items] == ["early", "late"]
    for item in items:
        row = rows[item["shift"]]
        assert item["availability"] == pytest.approx(row["availability"])
        assert (item["performance"], item["quality"], item["oee"]) == pytest.approx(
            (row["performance"], row["quality"], row["oee"])
        )
        assert (item["totalCount"], item["goodCount"], item["runSeconds"]) == (
            row["total_count"],
            row["good_count"],
            row["run_s"],
        )
    # by hand: early shift 06-14 ran 06-12 and 13-14 (7 of 8 h)
    assert items[0]["availability"] == pytest.approx(7 / 8) and items[0]["quality"] == pytest.approx(0.9)
    status, body = call(
        value_routes.API, values_deps, "getLineOee", path={"line": f"{AREA}~{LINE}"}, query={**query, "shift": "late"}
    )
    assert status == 200 and [item["shift"] for item in body["items"]] == ["late"]
    # exclusive start: the range starting at the early shift's start holds only the late shift
    status, body = call(
        value_routes.API,
        values_deps,
        "getLineOee",
        path={"line": f"{AREA}~{LINE}"},
        query={**query, "from": iso(DAY + timedelta(hours=6))},
    )
    assert [item["shift"] for item in body["items"]] == ["late"]


def test_oee_of_an_unknown_line_is_not_found(aws: ApiAws, values_deps: value_routes.Deps) -> None:
    query = {"from": iso(DAY), "to": iso(DAY + timedelta(days=1))}
    status, body = call(value_routes.API, values_deps, "getLineOee", path={"line": f"{AREA}~line9"}, query=query)
    assert (status, body["field"]) == (404, "line") and "press/line1" in body["detail"]
    status, body = call(
        value_routes.API, values_deps, "getLineOee", path={"line": f"{AREA}~{LINE}"}, query={"from": iso(DAY)}
    )
    assert (status, body["field"]) == (400, "to")
