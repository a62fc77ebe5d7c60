"""What the curated job announces on the site's bus: the events built from a run, the publisher's batching
and retries, and, end to end, a real curate run on local Spark publishing through moto's EventBridge into
the KPI rule that SiteEvents synthesizes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import aws_events as events
from aws_cdk.assertions import Template
from dmc_etl.catalog import LOCAL_CATALOG, table_name
from dmc_etl.config import parse_site_config
from dmc_etl.curate import curate
from dmc_etl.events import (
    CURATED_DATA_DETAIL_TYPE,
    CURATED_DATA_SOURCE,
    KPI_SUMMARY_DETAIL_TYPE,
    KPI_SUMMARY_SOURCE,
    CuratedRun,
    Entry,
    PublishError,
    Span,
    TableWrite,
    announcer,
    curated_data_event,
    kpi_summary_events,
    publish,
)
from dmc_etl.increments import read_state
from dmc_etl.jobs import conformed_to_curated
from dmc_etl.schemas import CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS, ddl
from moto import mock_aws

from construct_helpers import REGION, bare_stack, site_keys
from factory_constructs.api.site_events import PERSONAL_FIELDS, SiteEvents

BUS = "arn:aws:events:eu-central-1:123456789012:event-bus/plantA-site"
LINE = "acme/plantA/filling/line1"
CONFIG = json.dumps(
    {
        "timezone": "Europe/Berlin",
        "canonical_units": {},
        "lines": [
            {
                "line_path": LINE,
                "ideal_cycle_time_s": 1.0,
                "state_tag": "m/state",
                "running_states": ["running"],
                "good_count_tag": "m/good",
                "total_count_tag": "m/total",
                "shifts": [{"name": "main", "start": "06:00", "end": "14:00"}],
            }
        ],
    }
)
# One shift, 06:00-14:00 in Berlin (05:00-13:00 UTC in January): running 05-08 and 10-13 UTC.
DAY: list[tuple[str, str, str | int]] = [
    ("m/state", "2026-01-05T04:00:00", "idle"),
    ("m/total", "2026-01-05T04:30:00", 1000),
    ("m/good", "2026-01-05T04:30:00", 500),
    ("m/state", "2026-01-05T05:00:00", "running"),
    ("m/state", "2026-01-05T08:00:00", "fault"),
    ("m/state", "2026-01-05T10:00:00", "running"),
    ("m/total", "2026-01-05T13:00:00", 19000),
    ("m/good", "2026-01-05T13:00:00", 17600),
    ("m/state", "2026-01-05T13:00:00", "idle"),
]
EVENING = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)

# --- the events of a run ----------------------------------------------------------------------------------

OEE_ROW = {
    "site": "plantA",
    "shift": "main",
    "shift_start": datetime(2026, 1, 5, 5, tzinfo=UTC),
    "shift_end": datetime(2026, 1, 5, 13, tzinfo=UTC),
    "planned_s": 28800.0,
    "run_s": 21600.0,
    "total_count": 18000,
    "good_count": 17100,
    "availability": 0.75,
    "performance": 0.8,
    "quality": 0.95,
    "oee": 0.57,
    "area": "filling",
    "line": "line1",
    "date": date(2026, 1, 5),
}
SHIFT_SPAN = Span("filling", "line1", date(2026, 1, 5), date(2026, 1, 5), OEE_ROW["shift_start"], OEE_ROW["shift_end"])
OPEN_SPAN = Span("filling", "line1", date(2026, 1, 5), None, datetime(2026, 1, 5, 4, tzinfo=UTC), None)


def run_of(*rows: Mapping[str, Any]) -> CuratedRun:
    return CuratedRun(
        "plantA",
        7,
        6,
        EVENING,
        (TableWrite("downtime_events", (OPEN_SPAN,)), TableWrite("line_shift_oee", (SHIFT_SPAN,), rows)),
    )


# The KPI summary of OEE_ROW, and of the shift the end-to-end test's day makes (its four factors aside).
KPI_DETAIL = {
    "site": "plantA",
    "area": "filling",
    "line": "line1",
    "date": "2026-01-05",
    "shift": "main",
    "shiftStart": "2026-01-05T05:00:00Z",
    "shiftEnd": "2026-01-05T13:00:00Z",
    "plannedS": 28800.0,
    "runS": 21600.0,
    "totalCount": 18000,
    "goodCount": 17100,
    "availability": 0.75,
    "performance": 0.8,
    "quality": 0.95,
    "oee": 0.57,
}


def test_the_kpi_summary_is_the_oee_rows_columns_camel_cased() -> None:
    (entry,) = kpi_summary_events(run_of(OEE_ROW))
    assert (entry["Source"], entry["DetailType"]) == (KPI_SUMMARY_SOURCE, KPI_SUMMARY_DETAIL_TYPE)
    assert json.loads(entry["Detail"]) == KPI_DETAIL


def test_a_kpi_summary_carries_no_personal_field_even_when_the_row_holds_one() -> None:
    (entry,) = kpi_summary_events(run_of({**OEE_ROW, **{field: "someone" for field in PERSONAL_FIELDS}}))
    detail = json.loads(entry["Detail"])
    assert set(detail).isdisjoint(PERSONAL_FIELDS)
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]*)*", name) for name in detail), sorted(detail)


def test_one_kpi_summary_per_oee_row_and_none_for_the_other_tables() -> None:
    later = {**OEE_ROW, "shift": "late"}
    assert [json.loads(e["Detail"])["shift"] for e in kpi_summary_events(run_of(OEE_ROW, later))] == ["main", "late"]
    assert kpi_summary_events(run_of()) == []


def test_the_curated_data_event_names_the_snapshots_and_each_tables_spans() -> None:
    entry = curated_data_event(run_of(OEE_ROW))
    assert (entry["Source"], entry["DetailType"]) == (CURATED_DATA_SOURCE, CURATED_DATA_DETAIL_TYPE)
    assert json.loads(entry["Detail"]) == {
        "site": "plantA",
        "conformedSnapshot": 7,
        "previousSnapshot": 6,
        "asOf": "2026-01-05T20:00:00Z",
        "tables": {
            "downtime_events": [
                {
                    "area": "filling",
                    "line": "line1",
                    "firstDate": "2026-01-05",
                    "lastDate": None,  # recomputed on to the end of the data
                    "from": "2026-01-05T04:00:00Z",
                    "to": None,
                }
            ],
            "line_shift_oee": [
                {
                    "area": "filling",
                    "line": "line1",
                    "firstDate": "2026-01-05",
                    "lastDate": "2026-01-05",
                    "from": "2026-01-05T05:00:00Z",
                    "to": "2026-01-05T13:00:00Z",
                }
            ],
        },
    }


# --- the publisher ----------------------------------------------------------------------------------------


class FakeEvents:
    """Records each put_events call; refuses an entry (by its Detail) with the code given, for as many
    calls as given."""

    def __init__(self, refuse: Mapping[str, tuple[str, int]] | None = None) -> None:
        self.calls: list[list[Entry]] = []
        self.refuse = dict(refuse or {})

    def put_events(self, *, Entries: list[Entry]) -> Mapping[str, Any]:
        self.calls.append(Entries)
        results: list[dict[str, str]] = []
        for entry in Entries:
            code, times = self.refuse.get(entry["Detail"], ("", 0))
            if times:
                self.refuse[entry["Detail"]] = (code, times - 1)
                results.append({"ErrorCode": code, "ErrorMessage": "refused"})
            else:
                results.append({"EventId": f"id-{len(self.calls)}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}

    def details(self, call: int) -> list[str]:
        return [entry["Detail"] for entry in self.calls[call]]


def numbered(count: int) -> list[Entry]:
    return [{"Source": "dmc.test", "DetailType": "Test", "Detail": json.dumps({"n": n})} for n in range(count)]


def no_pause(seconds: float) -> None:
    pass


def test_25_entries_are_put_in_calls_of_10_10_and_5_on_the_bus() -> None:
    client = FakeEvents()
    entries = numbered(25)
    publish(client, BUS, entries, pause=no_pause)
    assert [len(call) for call in client.calls] == [10, 10, 5]
    assert [entry for call in client.calls for entry in call] == [{**e, "EventBusName": BUS} for e in entries]


def test_only_the_refused_entries_are_sent_again_after_a_pause() -> None:
    entries = numbered(12)
    client = FakeEvents(
        {entries[3]["Detail"]: ("ThrottlingException", 1), entries[11]["Detail"]: ("InternalFailure", 1)}
    )
    pauses: list[float] = []
    publish(client, BUS, entries, pause=pauses.append)
    assert [len(call) for call in client.calls] == [10, 2, 2]
    assert client.details(2) == [entries[3]["Detail"], entries[11]["Detail"]]
    assert pauses == [1.0]


def test_entries_refused_on_every_attempt_raise_naming_the_codes_and_how_many() -> None:
    entries = numbered(12)
    client = FakeEvents(
        {
            entries[0]["Detail"]: ("ThrottlingException", 9),
            entries[1]["Detail"]: ("ThrottlingException", 9),
            entries[5]["Detail"]: ("InternalFailure", 9),
        }
    )
    pauses: list[float] = []
    message = (
        f"3 of 12 events were not published to event bus {BUS} after 3 attempts (InternalFailure x1, "
        "ThrottlingException x2); fix: ThrottlingException and InternalFailure pass on a rerun, other codes "
        "are explained in the EventBridge PutEvents reference (PutEventsResultEntry)"
    )
    with pytest.raises(PublishError, match=f"^{re.escape(message)}$"):
        publish(client, BUS, entries, pause=pauses.append)
    assert [len(call) for call in client.calls] == [10, 2, 3, 3]
    assert pauses == [1.0, 2.0]


# --- end to end: curate on Spark -> moto's EventBridge -> the synthesized KPI rule -> SQS -----------------


@pytest.fixture(scope="module")
def kpi_pattern() -> dict[str, Any]:
    """The EventPattern of the KPI forwarding rule SiteEvents synthesizes for site plantA."""
    stack = bare_stack()
    key = site_keys(stack).data
    destination = events.EventBus.from_event_bus_arn(
        stack, "Destination", "arn:aws:events:eu-central-1:210987654321:event-bus/command-center"
    )
    bus = events.EventBus(stack, "Bus", kms_key=key)
    SiteEvents(stack, "Events", site_id="plantA", bus=bus, key=key, archive_days=30, kpi_destination=destination)
    (rule,) = Template.from_stack(stack).find_resources("AWS::Events::Rule").values()
    pattern: dict[str, Any] = rule["Properties"]["EventPattern"]
    return pattern


class SiteBus:
    """moto's EventBridge with the site's bus: the KPI rule into one queue, curated-data events into another."""

    def __init__(self, kpi_pattern: Mapping[str, Any]) -> None:
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.arn = self.events.create_event_bus(Name="plantA-site")["EventBusArn"]
        curated = {"source": [CURATED_DATA_SOURCE], "detail-type": [CURATED_DATA_DETAIL_TYPE]}
        self.queues = {
            name: self._route(name, pattern) for name, pattern in (("kpi", kpi_pattern), ("curated", curated))
        }

    def _route(self, name: str, pattern: Mapping[str, Any]) -> str:
        queue = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name=name, EventBusName=self.arn, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=name, EventBusName=self.arn, Targets=[{"Id": name, "Arn": arn}])
        return queue

    def received(self, name: str) -> list[dict[str, Any]]:
        """Every event the queue got."""
        found = self.sqs.receive_message(QueueUrl=self.queues[name], MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in found.get("Messages", [])]


@pytest.fixture
def site_bus(kpi_pattern: dict[str, Any]) -> Iterator[SiteBus]:
    with mock_aws():
        yield SiteBus(kpi_pattern)


def append_day(spark: Any, conformed_database: str) -> None:
    """``DAY`` as conformed rows of LINE (each value's seq and id follow the list order)."""
    _, site, area, line = LINE.split("/")
    rows = []
    for seq, (tag, ts, value) in enumerate(DAY):
        moment = datetime.fromisoformat(ts)  # naive: Spark reads it in the session's zone, UTC
        number, text = (None, value) if isinstance(value, str) else (float(value), None)
        cell, name = tag.split("/")
        row = (site, "gw", cell, name, f"{LINE}/{tag}", moment, number, None, text, "", "good", seq, f"gw:{seq}")
        rows.append((*row, area, line, moment.date()))
    frame = spark.createDataFrame(rows, ddl(CONFORMED_COLUMNS + CONFORMED_PARTITION_KEYS))
    frame.writeTo(table_name(LOCAL_CATALOG, conformed_database, "tag_values")).append()


@pytest.mark.spark
@pytest.mark.synth
def test_a_curate_run_puts_its_kpi_summary_through_the_kpi_rule_and_announces_new_curated_data(
    spark: Any, databases: tuple[str, str], tmp_path: Path, site_bus: SiteBus
) -> None:
    conformed, curated = databases
    append_day(spark, conformed)
    args = {
        "catalog": LOCAL_CATALOG,
        "conformed_database": conformed,
        "curated_database": curated,
        "site_config": CONFIG,
        "state_path": str(tmp_path / "state"),
        "retention_days": "400",
        "event_bus": site_bus.arn,
    }
    summary = conformed_to_curated(spark, args, EVENING, new_events_client=lambda: site_bus.events)
    (kpi,) = site_bus.received("kpi")  # the curated-data event is no KPI summary: the rule leaves it
    assert (kpi["source"], kpi["detail-type"]) == (KPI_SUMMARY_SOURCE, KPI_SUMMARY_DETAIL_TYPE)
    (row,) = [r.asDict() for r in spark.table(table_name(LOCAL_CATALOG, curated, "line_shift_oee")).collect()]
    assert kpi["detail"] == {
        **KPI_DETAIL,
        "availability": row["availability"],
        "performance": row["performance"],
        "quality": row["quality"],
        "oee": row["oee"],
    }
    (announced,) = site_bus.received("curated")
    detail = announced["detail"]
    assert (detail["site"], detail["conformedSnapshot"], detail["previousSnapshot"]) == (
        "plantA",
        summary.conformed_snapshot,
        None,
    )
    assert sorted(detail["tables"]) == sorted(summary.written)
    # The aggregates received the hours 04-13 UTC of the day.
    assert detail["tables"]["tag_hour"] == [
        {
            "area": "filling",
            "line": "line1",
            "firstDate": "2026-01-05",
            "lastDate": "2026-01-05",
            "from": "2026-01-05T04:00:00Z",
            "to": "2026-01-05T14:00:00Z",
        }
    ]


@pytest.mark.spark
def test_a_failed_announcement_leaves_the_state_unwritten_and_the_next_run_announces_the_same(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    conformed, curated = databases
    append_day(spark, conformed)
    announced: list[CuratedRun] = []

    def run(announce: Any) -> None:
        curate(
            spark,
            catalog=LOCAL_CATALOG,
            conformed_database=conformed,
            curated_database=curated,
            config=parse_site_config(CONFIG),
            state_path=str(tmp_path / "state"),
            as_of=EVENING,
            announce=announce,
        )

    def refused(what: CuratedRun) -> None:
        announced.append(what)
        raise PublishError("1 of 3 events were not published")

    with pytest.raises(PublishError):
        run(refused)
    assert read_state(spark, str(tmp_path / "state")) is None
    run(announced.append)
    first, again = announced
    assert again == first
    assert [write.table for write in first.writes] == ["tag_minute", "tag_hour", "downtime_events", "line_shift_oee"]
    state = read_state(spark, str(tmp_path / "state"))
    assert state is not None and state.snapshot_id == first.conformed_snapshot


@pytest.mark.spark
def test_without_an_event_bus_the_job_makes_no_client_and_announces_nothing(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    conformed, curated = databases
    append_day(spark, conformed)

    def no_client() -> Any:
        raise AssertionError("an events client was made without --event_bus")

    args = {
        "catalog": LOCAL_CATALOG,
        "conformed_database": conformed,
        "curated_database": curated,
        "site_config": CONFIG,
        "state_path": str(tmp_path / "state"),
        "retention_days": "400",
    }
    summary = conformed_to_curated(spark, args, EVENING, new_events_client=no_client)
    assert summary.written


def test_the_announcer_publishes_the_curated_data_event_first_then_the_kpi_summaries() -> None:
    client = FakeEvents()
    announcer(client, BUS)(run_of(OEE_ROW))
    (call,) = client.calls
    assert [(e["Source"], e["EventBusName"]) for e in call] == [(CURATED_DATA_SOURCE, BUS), (KPI_SUMMARY_SOURCE, BUS)]
