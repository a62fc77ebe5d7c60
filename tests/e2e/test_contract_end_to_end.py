"""One offline run through every runtime part, checking the contract between each pair of them.

simulator -> edge pipeline (tag map, units, deadbands, batches, spool) -> mosquitto with mutual TLS ->
the Firehose transform Lambda (the records it accepts become raw objects under the partition it names) ->
raw_to_conformed and conformed_to_curated on local Spark -> the API's values handler (latest values from
moto's DynamoDB, fed by the latest-value consumer from Kinesis-shaped records of the same messages; history,
aggregates and OEE from the local Iceberg tables through the query port, where Athena cannot run).

Each answer is compared with figures computed here in plain Python from what the simulator produced and what
the gateway published, never with what another part of the pipeline wrote. The gateway runs on the wall
clock (the simulator scans in real time), so the shift whose OEE is asked for is laid around the run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_events import answer, api_event
from api_world import api_world, settings
from dmc_etl.catalog import LOCAL_CATALOG
from dmc_etl.jobs import conformed_to_curated, raw_to_conformed
from lambda_events import firehose_event, firehose_record
from local_queries import SparkQueries
from mqtt_peers import GATEWAY, Recorder, gateway_transport, run, wait_until

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki
from edge.pipeline.runner import Runner, RunnerConfig
from edge.pipeline.tag_map import TagMap
from edge.readings import Reading
from edge.sources.backoff import ReconnectSettings
from edge.sources.simulator import SimulatorSettings, SimulatorSource
from envelope.tag_envelope import decode, parse_timestamp, utc_timestamp
from factory_constructs.api.api_handler import values as value_routes
from factory_constructs.api.api_handler.contract import to_url_path
from factory_constructs.api.api_handler.latest_consumer import consume
from factory_constructs.ingestion.transform_handler.handler import handler as transform
from site_model import load_site
from site_model.etl_config import site_config_argument
from tests.etl.conftest import write_raw

pytestmark = [pytest.mark.network, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[2]
LINE = "acme/plantA/filling/line1"
TEMPERATURE = f"{LINE}/filler/product_temperature"  # degF on the PLC, degC in the lake: converted at the edge
PRESSURE = f"{LINE}/filler/nozzle_pressure"  # psi on the PLC, bar in the lake; follows the state within seconds
SUPPLY = f"{LINE}/cip/supply_temperature"  # canonical already: published values are the simulator's
STATE, GOOD, TOTAL = (f"{LINE}/filler/{tag}" for tag in ("state", "good_count", "total_count"))
# Short runs and stops, a fast machine and visible scrap: a three-second run holds state changes and counts.
SIMULATOR = SimulatorSettings(
    seed=11, scan_interval_s=0.05, rate_per_s=20, scrap_share=0.1, mean_run_s=0.8, mean_idle_s=0.4, down_share=0.5
)
RUN_S = 3.0
CONFORMED, CURATED = "e2e_conformed", "e2e_curated"


class RecordingSimulator(SimulatorSource):
    """The simulator, keeping every reading it produced: the truth the answers are checked against."""

    def __init__(self, settings: SimulatorSettings, addresses: list[str]) -> None:
        super().__init__(settings, addresses)
        self.produced: list[Reading] = []

    def scan(self, source_ts: float) -> list[Reading]:
        readings = super().scan(source_ts)
        self.produced.extend(readings)
        return readings


@dataclass(frozen=True)
class Shift:
    """The shift laid around the run (whole minutes, as the site file writes shifts), and the curate's as_of."""

    start: datetime
    end: datetime


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_gateway(
    example_map: TagMap, canonical_units: dict[str, str], broker: LocalMosquitto, pki: Pki, tmp_path: Path
) -> tuple[RecordingSimulator, int]:
    """The real runner with the example tag map, for RUN_S seconds; the simulator and the batches it sent."""
    source = RecordingSimulator(SIMULATOR, example_map.addresses("simulator"))
    config = RunnerConfig(
        spool_path=tmp_path / "spool.db",
        canonical_units=canonical_units,
        linger_s=0.3,
        tick_s=0.1,
        heartbeat_interval_s=1,
        reconnect=ReconnectSettings(initial_s=0.1, max_s=0.5),
    )
    runner = Runner(example_map, config, sources=[source], transport=gateway_transport(broker, pki))

    async def scenario() -> Any:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(RUN_S, stop.set)
        return await runner.run(stop)

    summary = run(scenario)
    assert summary.spool_depth == 0 and summary.sent == summary.batches > 3
    return source, summary.sent


def deliver_raw(messages: list[tuple[str, bytes]], raw: Path) -> list[dict[str, Any]]:
    """The broker's messages through the transform Lambda as Firehose calls it; the accepted tags records
    written as raw objects under the partition the Lambda named (one object per partition, as one buffer
    flush writes them). Returns the transform's output records."""
    arrival = time.time()
    event = firehose_event(
        [firehose_record(payload, record_id=str(n), arrival=arrival) for n, (_, payload) in enumerate(messages)]
    )
    results = transform(event, None)["records"]
    assert [result["recordId"] for result in results] == [str(n) for n in range(len(messages))]
    per_partition: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for result in results:
        assert result["result"] == "Ok"
        keys = result["metadata"]["partitionKeys"]
        data = base64.b64decode(result["data"]).decode()
        assert data.endswith("\n") and data.count("\n") == 1
        if keys["kind"] == "tags":
            per_partition[(keys["area"], keys["line"], keys["date"], keys["hour"])].append(data[:-1])
    for (area, line, day, hour), lines in per_partition.items():
        write_raw(raw, area, line, day, hour, "plantA-raw-1.json", lines)
    return results


def run_etl(spark: Any, raw: Path, state: Path, shift: Shift) -> None:
    """Both Glue jobs, with the site file's line definitions and the run's shift (UTC)."""
    site_config = json.loads(site_config_argument(load_site(ROOT / "tenants" / "plantA.yaml")))
    (line,) = site_config["lines"]
    assert line["line_path"] == LINE
    line["shifts"] = [{"name": "e2e", "start": shift.start.strftime("%H:%M"), "end": shift.end.strftime("%H:%M")}]
    site_config["timezone"] = "UTC"
    common = {"catalog": LOCAL_CATALOG, "conformed_database": CONFORMED, "site_config": json.dumps(site_config)}
    raw_to_conformed(
        spark,
        {
            **common,
            "raw_path": str(raw / "tags"),
            "watermark_path": str(state / "raw_to_conformed"),
            "retention_days": "3650",
        },
        shift.end,
    )
    conformed_to_curated(
        spark,
        {
            **common,
            "curated_database": CURATED,
            "state_path": str(state / "conformed_to_curated"),
            "retention_days": "3650",
        },
        shift.end,
    )


def call(deps: value_routes.Deps, operation_id: str, **event: Any) -> tuple[int, Any]:
    return answer(value_routes.API.handle(api_event(operation_id, **event), None, lambda: deps))


def every_page(deps: value_routes.Deps, operation_id: str, path: dict[str, str], query: dict[str, Any]) -> list[Any]:
    """The items of every page, following nextCursor."""
    items: list[Any] = []
    query = dict(query)
    while True:
        status, body = call(deps, operation_id, path=path, query=query)
        assert status == 200, body
        items += body["items"]
        if "nextCursor" not in body:
            return items
        query["cursor"] = body["nextCursor"]


def produced(simulator: RecordingSimulator, example_map: TagMap, path: str) -> list[tuple[datetime, Any]]:
    """(envelope-precision ts, value) of every reading the simulator produced for one tag path."""
    (address,) = [tag.address for tag in example_map.tags if example_map.tag_path(tag) == path]
    return [
        (parse_timestamp(utc_timestamp(reading.source_ts)), reading.value)
        for reading in simulator.produced
        if reading.address == address
    ]


def expected_oee(
    states: list[tuple[datetime, Any]],
    good: list[tuple[datetime, Any]],
    total: list[tuple[datetime, Any]],
    running: list[str],
    ideal_cycle_time_s: float,
    shift: Shift,
) -> dict[str, float]:
    """dmc_etl/oee.py's definitions, over the simulator's own readings: each state holds until the next
    reading (the last one until as_of, the shift's end); counters add their increase since the previous
    reading (a drop is a reset); a reading counts in the shift with start < ts <= end."""

    def count(readings: list[tuple[datetime, Any]]) -> float:
        added, previous = 0.0, None
        for ts, value in readings:
            if previous is not None and shift.start < ts <= shift.end:
                added += value - previous if value >= previous else value
            previous = value
        return added

    run_s = 0.0
    for (ts, state), (until, _) in zip(states, [*states[1:], (shift.end, None)], strict=True):
        if state in running:
            run_s += max(0.0, (min(until, shift.end) - max(ts, shift.start)).total_seconds())
    planned = (shift.end - shift.start).total_seconds()
    made, fine = count(total), count(good)
    availability, performance, quality = run_s / planned, ideal_cycle_time_s * made / run_s, fine / made
    return {
        "runSeconds": run_s,
        "totalCount": made,
        "goodCount": fine,
        "availability": availability,
        "performance": performance,
        "quality": quality,
        "oee": availability * performance * quality,
    }


def test_simulated_tags_reach_the_api_answers_unchanged(
    broker: LocalMosquitto,
    pki: Pki,
    recorder: Recorder,
    example_map: TagMap,
    canonical_units: dict[str, str],
    spark: Any,
    tmp_path: Path,
) -> None:
    # --- edge: simulator -> pipeline -> mosquitto ---------------------------------------------------------
    simulator, sent = run_gateway(example_map, canonical_units, broker, pki, tmp_path)
    wait_until(lambda: len(recorder.batches()) == sent, "every confirmed batch at the subscriber")
    messages = [(topic, payload) for topic, payload in recorder.raw() if topic.endswith(("/telemetry", "/health"))]
    batches = recorder.batches()
    published: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for batch in batches:
        for value in batch["values"]:
            published[value["path"]].append(value)
    assert {STATE, GOOD, TOTAL, TEMPERATURE, PRESSURE, SUPPLY} <= set(published)
    # The edge passes state and counters on unchanged and drops only repeats (deadband), so every published
    # reading of them is one the simulator produced, and the last produced one is published.
    for path in (STATE, GOOD, TOTAL, SUPPLY):
        truth = produced(simulator, example_map, path)
        sent_values = [(parse_timestamp(v["ts"]), v["value"]) for v in published[path]]
        assert set(sent_values) <= set(truth), path
        if path != SUPPLY:
            assert sent_values[-1][1] == truth[-1][1], path
    assert len({value["value"] for value in published[STATE]}) > 1, "the run should hold a state change"

    # --- Firehose transform -> raw objects ------------------------------------------------------------------
    results = deliver_raw(messages, tmp_path / "raw")
    kinds = [result["metadata"]["partitionKeys"]["kind"] for result in results]
    assert kinds.count("tags") == len(batches) and kinds.count("health") == len(messages) - len(batches) >= 1

    # --- ETL on local Spark ---------------------------------------------------------------------------------
    first = min(parse_timestamp(v["ts"]) for values in published.values() for v in values)
    # as_of after the raw objects were written (raw_to_conformed reads objects modified before it)
    shift = Shift(minute(first), minute(datetime.now(UTC)) + timedelta(minutes=1))
    run_etl(spark, tmp_path / "raw", tmp_path / "_state", shift)

    with api_world() as aws:
        # --- latest values: Kinesis-shaped records of the same messages through the consumer ------------------
        outcome = consume(
            [aws.record(decode(payload)) for _, payload in messages], dynamodb=aws.dynamodb, table="plantA-latest"
        )
        assert not outcome.failures
        deps = value_routes.Deps(
            settings=settings(
                "values", CONFORMED_DATABASE=CONFORMED, CURATED_DATABASE=CURATED, LINES='["filling/line1"]'
            ),
            dynamodb=aws.dynamodb,
            queries=SparkQueries(spark, LOCAL_CATALOG),
        )
        for path in (STATE, GOOD, TOTAL, TEMPERATURE, PRESSURE, SUPPLY):
            last = published[path][-1]
            status, body = call(deps, "getLatestValue", path={"path": to_url_path(path)}, groups=("operator",))
            assert status == 200, body
            assert (body["value"], body["unit"], body["quality"], body["sourceTs"], body["seq"], body["gateway"]) == (
                last["value"],
                last["unit"],
                last["quality"],
                last["ts"],
                last["seq"],
                GATEWAY,
            ), path

        # --- raw history: exclusive start, inclusive end, across pages -------------------------------------------
        for path in (PRESSURE, TOTAL):
            values = published[path]
            assert len(values) > 6, path
            after, until = parse_timestamp(values[2]["ts"]), parse_timestamp(values[-2]["ts"])
            items = every_page(
                deps, "getTagHistory", {"path": to_url_path(path)}, {"from": iso(after), "to": iso(until), "limit": 5}
            )
            assert [(datetime.fromisoformat(item["ts"]), item["value"], item["quality"]) for item in items] == [
                (parse_timestamp(v["ts"]), v["value"], v["quality"]) for v in values[3:-1]
            ], path

        # --- 1-minute aggregates of the published pressures ---------------------------------------------------
        per_minute: dict[datetime, list[float]] = defaultdict(list)
        for value in published[PRESSURE]:
            per_minute[minute(parse_timestamp(value["ts"]))].append(float(value["value"]))
        query = {"from": iso(shift.start), "to": iso(shift.end), "resolution": "1m", "limit": 1000}
        status, body = call(deps, "getTagHistory", path={"path": to_url_path(PRESSURE)}, query=query)
        assert status == 200, body
        assert [datetime.fromisoformat(item["windowStart"]) for item in body["items"]] == sorted(per_minute)
        for item in body["items"]:
            numbers = per_minute[datetime.fromisoformat(item["windowStart"])]
            assert item["count"] == len(numbers)
            assert item["avg"] == pytest.approx(statistics.fmean(numbers))
            assert (item["min"], item["max"]) == (min(numbers), max(numbers))

        # --- OEE of the run's shift, from the simulator's own state and counters ---------------------------------
        site_line = json.loads(site_config_argument(load_site(ROOT / "tenants" / "plantA.yaml")))["lines"][0]
        expected = expected_oee(
            produced(simulator, example_map, STATE),
            produced(simulator, example_map, GOOD),
            produced(simulator, example_map, TOTAL),
            site_line["running_states"],
            site_line["ideal_cycle_time_s"],
            shift,
        )
        query = {"from": iso(shift.start - timedelta(minutes=1)), "to": iso(shift.end)}
        status, body = call(deps, "getLineOee", path={"line": "filling~line1"}, query=query, groups=("operator",))
        assert status == 200, body
        (item,) = body["items"]
        assert item["shift"] == "e2e"
        assert (item["totalCount"], item["goodCount"]) == (expected["totalCount"], expected["goodCount"])
        assert expected["totalCount"] > 0  # the run made parts: performance and quality are figures, not null
        for figure in ("runSeconds", "availability", "performance", "quality", "oee"):
            assert item[figure] == pytest.approx(expected[figure], rel=1e-9), figure
