"""The synchronous pipeline end to end into the spool, restarts, ticks, and the heartbeat message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.pipeline.health import Health
from edge.pipeline.pipeline import Pipeline
from edge.pipeline.spool import Spool
from edge.pipeline.tag_map import TagMap
from edge.readings import Reading
from envelope.tag_envelope import decode

UNITS = {"temperature": "degC", "pressure": "bar"}
TS = 1_769_846_400.0
TAGS: list[dict[str, Any]] = [
    {
        "source": "opcua",
        "address": "temp",
        "path": "filling/line1/filler/temperature",
        "quantity": "temperature",
        "unit": "degF",
        "deadband_abs": 0.9,
        "max_interval_s": 10,
    },
    {"source": "opcua", "address": "count", "path": "filling/line1/filler/total_count", "kind": "counter"},
    {"source": "opcua", "address": "press", "path": "packing/line2/wrapper/air", "quantity": "pressure", "unit": "psi"},
]
MAP = TagMap.model_validate({"enterprise": "acme", "site": "plantA", "gateway": "gw1", "tags": TAGS})


def open_pipeline(path: Path) -> Pipeline:
    return Pipeline(MAP, UNITS, Spool(path, max_bytes=1 << 20), batch_bytes=32 * 1024, linger_s=2.0)


def drain(spool: Spool) -> list[dict[str, Any]]:
    messages = []
    while (record := spool.oldest()) is not None:
        assert record.topic == "dmc/plantA/gw1/telemetry"
        messages.append(decode(record.payload))
        spool.begin_attempt(record)
        spool.confirm(record)
    return messages


def test_readings_become_spooled_batches_per_line_in_site_units(tmp_path: Path) -> None:
    pipeline = open_pipeline(tmp_path / "spool.db")
    scans = [
        [Reading("temp", 212.0, "good", TS), Reading("count", 5, "good", TS), Reading("press", 14.5, "good", TS)],
        [Reading("temp", 212.5, "good", TS + 1), Reading("count", 5, "good", TS + 1)],  # both suppressed
        [Reading("temp", 214.0, "good", TS + 2), Reading("count", 6, "good", TS + 2)],
    ]
    for now, scan in enumerate(scans):
        assert pipeline.ingest(scan, float(now)) == 0  # nothing full, nothing lingered yet
    assert pipeline.flush() == 2
    line1, line2 = drain(pipeline.spool)
    assert (line1["line"], line2["line"]) == ("acme/plantA/filling/line1", "acme/plantA/packing/line2")
    assert [(v["path"].rsplit("/", 1)[1], v["value"], v["unit"]) for v in line1["values"]] == [
        ("temperature", 100.0, "degC"),
        ("total_count", 5, ""),
        ("temperature", 101.11111111111111, "degC"),
        ("total_count", 6, ""),
    ]
    assert [v["seq"] for v in line1["values"]] == [0, 1, 3, 4]  # seq 2 went to line2's value
    assert line2["values"][0]["seq"] == 2 and line2["values"][0]["unit"] == "bar"
    counts = pipeline.counts
    assert (counts.read, counts.reported, counts.suppressed, counts.batches) == (7, 5, 2, 2)


def test_a_restart_continues_seq_and_batch_seq_where_the_spool_left_them(tmp_path: Path) -> None:
    first = open_pipeline(tmp_path / "spool.db")
    first.ingest([Reading("count", n, "good", TS + n) for n in range(3)], 0.0)
    first.flush()
    first.ingest([Reading("count", 99, "good", TS + 9)], 1.0)  # stamped, never spooled: lost with the process
    first.spool.close()
    second = open_pipeline(tmp_path / "spool.db")
    second.ingest([Reading("count", 100, "good", TS + 10)], 0.0)
    second.flush()
    batches = drain(second.spool)
    assert [(batch["batch_seq"], [v["seq"] for v in batch["values"]]) for batch in batches] == [
        (0, [0, 1, 2]),
        (1, [3]),  # seq 3 was never stored or sent, so it is free; batch_seq continues without a gap
    ]
    assert second.received == 4  # persisted with each batch: the reading lost with the process is not counted


def test_tick_reports_silent_tags_after_their_max_interval_and_closes_lingering_batches(tmp_path: Path) -> None:
    pipeline = open_pipeline(tmp_path / "spool.db")
    pipeline.ingest([Reading("temp", 50.0, "good", TS)], 0.0)
    assert pipeline.tick(1.9) == 0
    assert pipeline.tick(2.0) == 1  # linger time of the open batch
    assert pipeline.tick(9.9) == 0
    assert pipeline.tick(10.0) == 0  # the temperature is reported again, into a new open batch
    assert pipeline.tick(12.0) == 1
    first, second = drain(pipeline.spool)
    assert [v["value"] for v in first["values"]] == [10.0]
    assert [(v["value"], v["ts"], v["seq"]) for v in second["values"]] == [(10.0, first["values"][0]["ts"], 1)]


def test_the_heartbeat_carries_cumulative_persisted_figures(tmp_path: Path) -> None:
    pipeline = open_pipeline(tmp_path / "spool.db")
    health = Health(site="plantA", gateway="gw1", spool=pipeline.spool, pipeline=pipeline, interval_s=60)
    pipeline.ingest([Reading("count", 1, "good", TS), Reading("nope", 1, "good", TS)], 0.0)
    pipeline.flush()
    drain(pipeline.spool)
    beat = decode(health.message(clients=1, max_clients=2, now=TS))
    assert beat == {
        "v": 1,
        "kind": "heartbeat",
        "site": "plantA",
        "gateway": "gw1",
        "ts": "2026-01-31T08:00:00.000Z",
        "seq": 0,
        "interval_s": 60,
        "clients": 1,
        "max_clients": 2,
        "sent": 1,
        "received": 2,
        "retransmissions": 0,
        "lost": 1,  # the reading of an address the tag map does not know
        "spool_depth": 0,
        "dropped_overflow": 0,
    }
    assert health.topic == "dmc/plantA/gw1/health"
    pipeline.spool.close()
    reopened = open_pipeline(tmp_path / "spool.db")
    again = Health(site="plantA", gateway="gw1", spool=reopened.spool, pipeline=reopened, interval_s=60)
    later = decode(again.message(clients=0, max_clients=2, now=TS + 60))
    assert (later["seq"], later["sent"], later["received"], later["lost"]) == (1, 1, 2, 1)
