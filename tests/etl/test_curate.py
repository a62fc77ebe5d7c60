"""conformed -> curated on a local Spark session: exact OEE, night shifts, counter resets, aggregates, downtime."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from dmc_etl.config import parse_site_config
from dmc_etl.curate import curate
from dmc_etl.jobs import conformed_to_curated, curated_days
from dmc_etl.lake import write_partitions
from dmc_etl.schemas import CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS, ddl

pytestmark = pytest.mark.spark

BERLIN_LINE = "acme/plantA/filling/line1"
NEW_YORK_LINE = "acme/plantB/compression/press1"


def site_config(timezone: str, line_path: str, cycle: float, start: str, end: str) -> str:
    line = {
        "line_path": line_path,
        "ideal_cycle_time_s": cycle,
        "state_tag": "m/state",
        "running_states": ["running"],
        "good_count_tag": "m/good",
        "total_count_tag": "m/total",
        "shifts": [{"name": "main", "start": start, "end": end}],
    }
    return json.dumps({"timezone": timezone, "canonical_units": {}, "lines": [line]})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)  # Spark reads naive datetimes in the session zone


def write_conformed(spark: Any, path: Path, line_path: str, values: list[tuple[str, str, Any, str]]) -> None:
    """Conformed rows of one line from (cell/tag, UTC time, value, quality); seq follows the list order."""
    _, site, area, line = line_path.split("/")
    rows = []
    for seq, (tag, ts, value, quality) in enumerate(values):
        number = float(value) if isinstance(value, int | float) else None
        text = value if isinstance(value, str) else None
        cell, name = tag.split("/")
        moment = utc(ts)
        tag_path = f"{line_path}/{tag}"
        row = (site, "gw", cell, name, tag_path, moment, number, None, text, "", quality, seq, f"gw:{seq}")
        rows.append((*row, area, line, moment.date()))
    frame = spark.createDataFrame(rows, ddl(CONFORMED_COLUMNS + CONFORMED_PARTITION_KEYS))
    write_partitions(frame, str(path), CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS)


def table(spark: Any, curated: Path, name: str) -> list[dict[str, Any]]:
    return [row.asDict() for row in spark.read.parquet(str(curated / name)).collect()]


# One 8-hour shift, 06:00-14:00 in Berlin (05:00-13:00 UTC in January): running 05-08 and 10-13 UTC.
BERLIN_DAY = [
    ("m/state", "2026-01-05T04:00:00", "idle", "good"),
    ("m/total", "2026-01-05T04:30:00", 1000, "good"),
    ("m/good", "2026-01-05T04:30:00", 500, "good"),
    ("m/state", "2026-01-05T05:00:00", "running", "good"),
    ("m/total", "2026-01-05T06:00:00", 10000, "good"),
    ("m/state", "2026-01-05T08:00:00", "fault", "good"),
    ("m/state", "2026-01-05T08:30:00", "fault", "good"),  # repeated: not a new event
    ("m/good", "2026-01-05T09:00:00", 9050, "good"),
    ("m/state", "2026-01-05T09:30:00", "running", "bad"),  # bad quality: ignored
    ("m/state", "2026-01-05T10:00:00", "running", "good"),
    ("m/total", "2026-01-05T13:00:00", 19000, "good"),
    ("m/good", "2026-01-05T13:00:00", 17600, "good"),
    ("m/state", "2026-01-05T13:00:00", "idle", "good"),
    ("m/temp", "2026-01-05T08:00:05", 20.0, "good"),
    ("m/temp", "2026-01-05T08:00:20", 22.0, "good"),
    ("m/temp", "2026-01-05T08:00:30", 99.0, "bad"),
    ("m/temp", "2026-01-05T08:00:40", 21.0, "good"),
    ("m/temp", "2026-01-05T08:00:40", 23.0, "good"),  # same instant, later sequence number: the last value
    ("m/temp", "2026-01-05T08:01:10", 30.0, "good"),
]


@pytest.fixture(scope="module")
def berlin(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("berlin")
    write_conformed(spark, tmp_path / "conformed", BERLIN_LINE, BERLIN_DAY)
    curate(
        spark,
        conformed_path=str(tmp_path / "conformed"),
        curated_path=str(tmp_path / "curated"),
        config=parse_site_config(site_config("Europe/Berlin", BERLIN_LINE, 1.0, "06:00", "14:00")),
        days=[date(2026, 1, 5)],
        as_of=datetime(2026, 1, 5, 20, 0, tzinfo=UTC),
    )
    return tmp_path / "curated"


def test_oee_of_one_shift_matches_the_hand_computation(spark: Any, berlin: Path) -> None:
    (row,) = table(spark, berlin, "line_shift_oee")
    assert (row["site"], row["area"], row["line"], row["shift"], row["date"]) == (
        "plantA",
        "filling",
        "line1",
        "main",
        date(2026, 1, 5),
    )
    assert (row["shift_start"], row["shift_end"]) == (utc("2026-01-05T05:00:00"), utc("2026-01-05T13:00:00"))
    assert (row["planned_s"], row["run_s"], row["total_count"], row["good_count"]) == (28800.0, 21600.0, 18000, 17100)
    assert row["availability"] == pytest.approx(0.75, abs=1e-9)
    assert row["performance"] == pytest.approx(1 * 18000 / 21600, abs=1e-9)
    assert row["quality"] == pytest.approx(0.95, abs=1e-9)
    assert row["oee"] == pytest.approx(0.75 * (18000 / 21600) * 0.95, abs=1e-9)


def test_downtime_events_come_from_state_changes(spark: Any, berlin: Path) -> None:
    events = sorted(
        (e["state"], e["start_ts"], e["end_ts"], e["duration_s"]) for e in table(spark, berlin, "downtime_events")
    )
    assert events == [
        ("fault", utc("2026-01-05T08:00:00"), utc("2026-01-05T10:00:00"), 7200.0),
        ("idle", utc("2026-01-05T04:00:00"), utc("2026-01-05T05:00:00"), 3600.0),
        ("idle", utc("2026-01-05T13:00:00"), None, None),  # still open at the last reading
    ]


def test_minute_and_hour_aggregates_of_a_handful_of_values(spark: Any, berlin: Path) -> None:
    minutes = {
        r["window_start"]: r for r in spark.read.parquet(str(berlin / "tag_minute")).where("tag = 'temp'").collect()
    }
    first = minutes[utc("2026-01-05T08:00:00")]
    assert (first["value_count"], first["value_min"], first["value_max"], first["value_sum"]) == (4, 20.0, 23.0, 86.0)
    assert first["value_avg"] == pytest.approx(21.5, abs=1e-12)
    assert (first["first_value"], first["first_ts"]) == (20.0, utc("2026-01-05T08:00:05"))
    assert (first["last_value"], first["last_ts"]) == (23.0, utc("2026-01-05T08:00:40"))
    assert first["window_end"] == utc("2026-01-05T08:01:00")
    second = minutes[utc("2026-01-05T08:01:00")]
    assert (second["value_count"], second["value_min"], second["last_value"]) == (1, 30.0, 30.0)
    assert len(minutes) == 2
    (hour,) = spark.read.parquet(str(berlin / "tag_hour")).where("tag = 'temp'").collect()
    assert (hour["window_start"], hour["window_end"]) == (utc("2026-01-05T08:00:00"), utc("2026-01-05T09:00:00"))
    assert (hour["value_count"], hour["value_min"], hour["value_max"], hour["value_sum"]) == (5, 20.0, 30.0, 116.0)
    assert hour["value_avg"] == pytest.approx(23.2, abs=1e-12)
    assert (hour["first_value"], hour["last_value"]) == (20.0, 30.0)
    assert str(hour["date"]) == "2026-01-05"


def test_a_night_shift_across_midnight_in_new_york_with_a_counter_reset(spark: Any, tmp_path: Path) -> None:
    # Night shift 22:00-06:00 New York (EST, UTC-5): 2026-01-06 03:00 to 11:00 UTC, filed under the 5th.
    write_conformed(
        spark,
        tmp_path / "conformed",
        NEW_YORK_LINE,
        [
            ("m/state", "2026-01-06T02:00:00", "running", "good"),
            ("m/total", "2026-01-06T02:30:00", 5000, "good"),
            ("m/good", "2026-01-06T02:30:00", 4000, "good"),
            ("m/total", "2026-01-06T05:00:00", 6000, "good"),
            ("m/good", "2026-01-06T05:00:00", 4900, "good"),
            ("m/total", "2026-01-06T07:00:00", 200, "good"),  # the PLC restarted its counters
            ("m/good", "2026-01-06T07:00:00", 180, "good"),
            ("m/total", "2026-01-06T10:00:00", 2200, "good"),
            ("m/good", "2026-01-06T10:00:00", 2100, "good"),
        ],
    )
    args = {
        "conformed_path": str(tmp_path / "conformed"),
        "curated_path": str(tmp_path / "curated"),
        "site_config": site_config("America/New_York", NEW_YORK_LINE, 2.0, "22:00", "06:00"),
        "lookback_days": "1",
    }
    summary = conformed_to_curated(spark, args, datetime(2026, 1, 6, 12, 0, tzinfo=UTC))
    assert summary.days == [date(2026, 1, 6)]
    # The New York day of the shift is the 5th: a lookback of 2 days reaches it.
    summary = conformed_to_curated(spark, {**args, "lookback_days": "2"}, datetime(2026, 1, 6, 12, 0, tzinfo=UTC))
    assert summary.days == [date(2026, 1, 5), date(2026, 1, 6)]
    (row,) = [r for r in table(spark, tmp_path / "curated", "line_shift_oee") if r["date"] == date(2026, 1, 5)]
    assert (row["shift_start"], row["shift_end"]) == (utc("2026-01-06T03:00:00"), utc("2026-01-06T11:00:00"))
    assert (row["run_s"], row["total_count"], row["good_count"]) == (28800.0, 1000 + 200 + 2000, 900 + 180 + 1920)
    assert row["availability"] == pytest.approx(1.0, abs=1e-9)
    assert row["performance"] == pytest.approx(2.0 * 3200 / 28800, abs=1e-9)
    assert row["quality"] == pytest.approx(3000 / 3200, abs=1e-9)
    assert row["oee"] == pytest.approx(1.0 * (2.0 * 3200 / 28800) * (3000 / 3200), abs=1e-9)


def test_curated_days_cover_utc_and_plant_calendars() -> None:
    now = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)  # 21:00 on the 5th in New York
    assert curated_days(now, "America/New_York", 1) == [date(2026, 1, 5), date(2026, 1, 6)]
    assert curated_days(now, "UTC", 2) == [date(2026, 1, 5), date(2026, 1, 6)]


def test_bad_lookback_is_refused(spark: Any, tmp_path: Path) -> None:
    args = {
        "conformed_path": "x",
        "curated_path": "y",
        "site_config": site_config("UTC", BERLIN_LINE, 1, "06:00", "14:00"),
    }
    with pytest.raises(ValueError, match=r"^--lookback_days '0' is not a positive whole number; fix: pass e.g. 2$"):
        conformed_to_curated(spark, {**args, "lookback_days": "0"}, datetime(2026, 1, 6, tzinfo=UTC))


def test_curated_files_have_the_declared_columns(spark: Any, berlin: Path) -> None:
    from dmc_etl.schemas import CURATED_TABLES

    for name, (columns, keys) in CURATED_TABLES.items():
        schema = spark.read.parquet(str(berlin / name)).schema
        declared = [(n, t) for n, t in columns] + [(n, t) for n, t in keys]
        assert [(f.name, f.dataType.simpleString()) for f in schema.fields] == declared, name
