"""Stream alerts from the real alert function's detail shape, through the recorder into moto's table, and
back out of GET /alerts: newest first, the range, the kind filter, pagination, the TTL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_events import answer, api_event
from api_world import ALERTS_TABLE, SITE, ApiAws, environment, settings

from factory_constructs.alerts.alert_handler.publish import DETAIL_TYPES, SOURCE
from factory_constructs.alerts.alert_handler.window import Alert, Window
from factory_constructs.api.api_handler import alert_recorder, entry
from factory_constructs.api.api_handler import alerts as alert_routes

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def event(kind: str, end: datetime, gateway: str | None = "plantA-gw1", site: str = SITE) -> dict[str, Any]:
    """The EventBridge event publish.py puts for one alert, as the rule delivers it."""
    window = Window(
        start=(end - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        shard_id="shardId-000000000001",
    )
    alert = Alert(
        kind=kind, site=site, gateway=gateway, line=None, summary=f"{kind} seen", figures={"seen": 3}, window=window
    )
    return {
        "version": "0",
        "id": "b7f3a0c2-0000-0000-0000-000000000000",
        "detail-type": DETAIL_TYPES[kind],
        "source": SOURCE,
        "time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail": alert.detail(),
    }


def record(aws: ApiAws, *events: dict[str, Any]) -> None:
    for item in events:
        alert_recorder.record(item, dynamodb=aws.dynamodb, table=ALERTS_TABLE, site=SITE)


def listing(aws: ApiAws, **event_args: Any) -> tuple[int, Any]:
    deps = alert_routes.Deps(settings("alerts"), aws.dynamodb)
    return answer(alert_routes.API.handle(api_event("listAlerts", **event_args), None, lambda: deps, now=lambda: NOW))


def test_the_recorder_and_the_api_agree_on_the_kinds_and_the_source() -> None:
    assert tuple(DETAIL_TYPES) == alert_recorder.KINDS
    assert alert_recorder.SOURCE == SOURCE


def test_an_alert_is_stored_under_its_window_end_with_a_ttl(aws: ApiAws) -> None:
    end = NOW - timedelta(hours=1)
    record(aws, event("data-loss", end))
    (item,) = aws.dynamodb.scan(TableName=ALERTS_TABLE)["Items"]
    assert item["at_id"]["S"].startswith("2026-01-05T11:00:00.000000Z#") and item["site"]["S"] == SITE
    assert int(item["expires_at"]["N"]) == int((end + timedelta(days=alert_recorder.RETENTION_DAYS)).timestamp())
    assert "line" not in item and item["gateway"]["S"] == "plantA-gw1"


def test_a_republished_alert_rewrites_its_own_item(aws: ApiAws) -> None:
    first = event("data-loss", NOW - timedelta(hours=1))
    again = {**first, "id": "another-event-id", "time": "2026-01-05T11:00:07Z"}
    record(aws, first, again)
    assert aws.dynamodb.scan(TableName=ALERTS_TABLE)["Count"] == 1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"source": "someone.else"}, "is not dmc.stream-alerts"),
        ({"detail": {"site": "plantB"}}, "site 'plantB' is not this site 'plantA'"),
        ({"detail": {"kind": "coffee"}}, "kind 'coffee' is not one of"),
        ({"detail": {"window": {"start": "yesterday", "end": "today", "shard_id": "s"}}}, "no RFC 3339 start and end"),
        ({"detail": {"alert_id": "x"}}, "alert_id 'x' is not 32 hex digits"),
    ],
)
def test_an_event_that_is_not_a_stream_alert_of_this_site_is_refused(change: dict[str, Any], words: str) -> None:
    bad = event("data-loss", NOW)
    for key, value in change.items():
        bad[key] = {**bad[key], **value} if isinstance(value, dict) else value
    with pytest.raises(alert_recorder.BadAlertEvent, match=words.replace("(", r"\(")):
        alert_recorder.alert_item(bad, site=SITE)


def test_the_entry_point_drops_a_bad_event_with_a_log_line(
    aws: ApiAws, fresh_entry: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    entry.alert_recorder(event("client-count", NOW), None)
    entry.alert_recorder({**event("client-count", NOW), "source": "x"}, None)
    assert aws.dynamodb.scan(TableName=ALERTS_TABLE)["Count"] == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines] == ["alert recorded", "alert event refused"]


def test_alerts_come_newest_first_within_the_last_day_by_default(aws: ApiAws) -> None:
    ends = [NOW - timedelta(hours=hours) for hours in (30, 23, 5, 1)] + [NOW + timedelta(minutes=1)]
    record(aws, *(event("data-loss", end) for end in ends))
    status, body = listing(aws, groups=("operator",))
    assert status == 200
    assert [item["at"] for item in body["items"]] == [
        "2026-01-05T11:00:00.000000Z",
        "2026-01-05T07:00:00.000000Z",
        "2026-01-04T13:00:00.000000Z",
    ]
    first = body["items"][0]
    assert (
        first["figures"] == {"seen": 3}
        and first["line"] is None
        and first["window"]["shardId"] == "shardId-000000000001"
    )


def test_the_range_excludes_from_and_includes_to(aws: ApiAws) -> None:
    record(aws, *(event("data-loss", NOW - timedelta(hours=hours)) for hours in (1, 2, 3)))
    query = {"from": "2026-01-05T09:00:00Z", "to": "2026-01-05T11:00:00Z"}
    status, body = listing(aws, query=query)
    assert status == 200
    assert [item["at"][:19] for item in body["items"]] == ["2026-01-05T11:00:00", "2026-01-05T10:00:00"]


def test_the_kind_filter_pages_across_filtered_out_alerts(aws: ApiAws) -> None:
    kinds = ["data-loss", "client-count"] * 6
    record(aws, *(event(kind, NOW - timedelta(minutes=5 * i)) for i, kind in enumerate(kinds)))
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {"kind": "client-count", "limit": 4}
    while True:
        status, body = listing(aws, query=query)
        assert status == 200
        found += body["items"]
        if "nextCursor" not in body:
            break
        query["cursor"] = body["nextCursor"]
    assert len(found) == 6 and {item["kind"] for item in found} == {"client-count"}
    assert [item["at"] for item in found] == sorted((item["at"] for item in found), reverse=True)


def test_a_default_range_cursor_stays_valid_as_the_clock_moves(aws: ApiAws) -> None:
    record(aws, *(event("data-loss", NOW - timedelta(minutes=10 * i)) for i in range(1, 4)))
    status, first = listing(aws, query={"limit": 2})
    deps = alert_routes.Deps(settings("alerts"), aws.dynamodb)
    later = api_event("listAlerts", query={"limit": 2, "cursor": first["nextCursor"]})
    status, second = answer(alert_routes.API.handle(later, None, lambda: deps, now=lambda: NOW + timedelta(hours=3)))
    assert status == 200 and [item["at"][11:16] for item in second["items"]] == ["11:30"]


def test_bad_alert_parameters_are_named(aws: ApiAws) -> None:
    status, body = listing(aws, query={"kind": "coffee"})
    assert (status, body["field"]) == (400, "kind")
    status, body = listing(aws, query={"from": "2026-01-05T12:00:00Z"})  # to defaults to now: not after from
    assert (status, body["field"]) == (400, "to")
    status, body = listing(aws, query={"to": "1970-01-02T12:00:00Z"})  # from defaults to a day before: too early
    assert (status, body["field"]) == (400, "from") and "is outside" in body["detail"]
