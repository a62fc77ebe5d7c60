"""conformed -> curated on a local Spark session and Iceberg tables: exact OEE, night shifts, counter
resets, aggregates, downtime; and the incremental run: only windows with new rows, nothing when
nothing is new, late rows, deleted rows, backfills, the state written last."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from dmc_etl import curate as curate_module
from dmc_etl.catalog import LOCAL_CATALOG, table_name
from dmc_etl.config import parse_site_config
from dmc_etl.curate import CurateSummary, curate, lookback_dates
from dmc_etl.increments import CurateState, read_state, write_state
from dmc_etl.schemas import CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS, CURATED_TABLES, ddl
from dmc_etl.tables import create_tables

pytestmark = pytest.mark.spark

BERLIN_LINE = "acme/plantA/filling/line1"
NEW_YORK_LINE = "acme/plantB/compression/press1"
BERLIN_EVENING = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)


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


BERLIN_CONFIG = site_config("Europe/Berlin", BERLIN_LINE, 1.0, "06:00", "14:00")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)  # Spark reads naive datetimes in the session zone


Value = tuple[str, str, Any, str]  # (cell/tag, UTC time, value, quality)


@dataclass(frozen=True)
class Lake:
    """A conformed and a curated database of the local catalog, and the curated job's state folder."""

    conformed: str
    curated: str
    state: str

    @property
    def tag_values(self) -> str:
        return table_name(LOCAL_CATALOG, self.conformed, "tag_values")

    def table(self, name: str) -> str:
        return table_name(LOCAL_CATALOG, self.curated, name)

    def rows(self, spark: Any, name: str) -> list[dict[str, Any]]:
        return [row.asDict() for row in spark.table(self.table(name)).collect()]

    def snapshots(self, spark: Any) -> dict[str, int | None]:
        """The current snapshot of each curated table."""
        found = {}
        for name in CURATED_TABLES:
            rows = spark.sql(f"SELECT snapshot_id FROM {self.table(name)}.refs WHERE name = 'main'").collect()
            found[name] = rows[0].snapshot_id if rows else None
        return found

    def files(self, spark: Any, name: str) -> dict[tuple[str, str, date], set[str]]:
        """The data files of a curated table, per (area, line, date) partition."""
        found: dict[tuple[str, str, date], set[str]] = {}
        rows = spark.sql(f"SELECT partition, file_path FROM {self.table(name)}.files").collect()
        for row in rows:
            key = (row.partition.area, row.partition.line, row.partition.date)
            found.setdefault(key, set()).add(row.file_path)
        return found

    def curate(self, spark: Any, config: str, as_of: datetime, **options: Any) -> CurateSummary:
        return curate(
            spark,
            catalog=LOCAL_CATALOG,
            conformed_database=self.conformed,
            curated_database=self.curated,
            config=parse_site_config(config),
            state_path=self.state,
            as_of=as_of,
            **options,
        )


def lake_of(databases: tuple[str, str], tmp_path: Path) -> Lake:
    return Lake(databases[0], databases[1], str(tmp_path / "_state" / "conformed_to_curated"))


def conformed_frame(spark: Any, line_path: str, values: list[Value], first_seq: int = 0) -> Any:
    """Conformed rows of one line; seq (and the id) follow the list order from ``first_seq``."""
    _, site, area, line = line_path.split("/")
    rows = []
    for seq, (tag, ts, value, quality) in enumerate(values, first_seq):
        number = float(value) if isinstance(value, int | float) else None
        text = value if isinstance(value, str) else None
        cell, name = tag.split("/")
        moment = utc(ts)
        tag_path = f"{line_path}/{tag}"
        row = (site, "gw", cell, name, tag_path, moment, number, None, text, "", quality, seq, f"gw:{line}:{seq}")
        rows.append((*row, area, line, moment.date()))
    return spark.createDataFrame(rows, ddl(CONFORMED_COLUMNS + CONFORMED_PARTITION_KEYS))


def append_conformed(spark: Any, lake: Lake, line_path: str, values: list[Value], first_seq: int = 0) -> None:
    conformed_frame(spark, line_path, values, first_seq).writeTo(lake.tag_values).append()


def merge_conformed(spark: Any, lake: Lake, line_path: str, values: list[Value], first_seq: int = 0) -> None:
    """New rows the way the conformed job writes them: MERGE INTO ... WHEN NOT MATCHED THEN INSERT."""
    conformed_frame(spark, line_path, values, first_seq).createOrReplaceTempView("late_rows")
    spark.sql(
        f"MERGE INTO {lake.tag_values} t USING late_rows s "
        "ON t.area = s.area AND t.line = s.line AND t.date = s.date AND t.id = s.id "
        "WHEN NOT MATCHED THEN INSERT *"
    )


# One 8-hour shift, 06:00-14:00 in Berlin (05:00-13:00 UTC in January): running 05-08 and 10-13 UTC.
BERLIN_DAY: list[Value] = [
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
# A second day and a second tag hour, so that a later run has partitions and hours to leave alone.
BERLIN_MORE: list[Value] = [
    ("m/temp", "2026-01-05T11:15:00", 40.0, "good"),
    ("m/temp", "2026-01-06T07:00:00", 50.0, "good"),
]


def berlin_lake(spark: Any, databases: tuple[str, str], tmp_path: Path) -> Lake:
    lake = lake_of(databases, tmp_path)
    append_conformed(spark, lake, BERLIN_LINE, BERLIN_DAY)
    append_conformed(spark, lake, BERLIN_LINE, BERLIN_MORE, first_seq=100)
    return lake


@pytest.fixture(scope="module")
def berlin(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The Berlin day, curated once (module-wide: several tests read the same result)."""
    tmp_path = tmp_path_factory.mktemp("berlin")
    stem = "m" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    databases = (f"{stem}_conformed", f"{stem}_curated")
    create_tables(spark, LOCAL_CATALOG, *databases)
    lake = berlin_lake(spark, databases, tmp_path)
    lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    return lake


def temp_windows(spark: Any, lake: Lake, name: str) -> dict[datetime, dict[str, Any]]:
    return {r["window_start"]: r for r in lake.rows(spark, name) if r["tag"] == "temp"}


def test_oee_of_one_shift_matches_the_hand_computation(spark: Any, berlin: Lake) -> None:
    (row,) = berlin.rows(spark, "line_shift_oee")
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


BERLIN_EVENTS = [
    ("fault", utc("2026-01-05T08:00:00"), utc("2026-01-05T10:00:00"), 7200.0),
    ("idle", utc("2026-01-05T04:00:00"), utc("2026-01-05T05:00:00"), 3600.0),
    ("idle", utc("2026-01-05T13:00:00"), None, None),  # still open at the last reading
]


def events(spark: Any, lake: Lake) -> list[tuple[Any, ...]]:
    return sorted(
        (e["state"], e["start_ts"], e["end_ts"], e["duration_s"]) for e in lake.rows(spark, "downtime_events")
    )


def test_downtime_events_come_from_state_changes(spark: Any, berlin: Lake) -> None:
    assert events(spark, berlin) == BERLIN_EVENTS


def test_minute_and_hour_aggregates_of_a_handful_of_values(spark: Any, berlin: Lake) -> None:
    minutes = temp_windows(spark, berlin, "tag_minute")
    first = minutes[utc("2026-01-05T08:00:00")]
    assert (first["value_count"], first["value_min"], first["value_max"], first["value_sum"]) == (4, 20.0, 23.0, 86.0)
    assert first["value_avg"] == pytest.approx(21.5, abs=1e-12)
    assert (first["first_value"], first["first_ts"]) == (20.0, utc("2026-01-05T08:00:05"))
    assert (first["last_value"], first["last_ts"]) == (23.0, utc("2026-01-05T08:00:40"))
    assert first["window_end"] == utc("2026-01-05T08:01:00")
    second = minutes[utc("2026-01-05T08:01:00")]
    assert (second["value_count"], second["value_min"], second["last_value"]) == (1, 30.0, 30.0)
    assert sorted(minutes) == [
        utc(t) for t in ("2026-01-05T08:00", "2026-01-05T08:01", "2026-01-05T11:15", "2026-01-06T07:00")
    ]
    hours = temp_windows(spark, berlin, "tag_hour")
    hour = hours[utc("2026-01-05T08:00:00")]
    assert (hour["window_start"], hour["window_end"]) == (utc("2026-01-05T08:00:00"), utc("2026-01-05T09:00:00"))
    assert (hour["value_count"], hour["value_min"], hour["value_max"], hour["value_sum"]) == (5, 20.0, 30.0, 116.0)
    assert hour["value_avg"] == pytest.approx(23.2, abs=1e-12)
    assert (hour["first_value"], hour["last_value"]) == (20.0, 30.0)
    assert str(hour["date"]) == "2026-01-05"
    assert str(hours[utc("2026-01-06T07:00:00")]["date"]) == "2026-01-06"


def test_curated_tables_have_the_declared_columns(spark: Any, berlin: Lake) -> None:
    for name, (columns, keys) in CURATED_TABLES.items():
        schema = spark.table(berlin.table(name)).schema
        declared = [(n, t) for n, t in columns] + [(n, t) for n, t in keys]
        assert [(f.name, f.dataType.simpleString()) for f in schema.fields] == declared, name


NEW_YORK_NIGHT: list[Value] = [
    ("m/state", "2026-01-06T02:00:00", "running", "good"),
    ("m/total", "2026-01-06T02:30:00", 5000, "good"),
    ("m/good", "2026-01-06T02:30:00", 4000, "good"),
    ("m/total", "2026-01-06T05:00:00", 6000, "good"),
    ("m/good", "2026-01-06T05:00:00", 4900, "good"),
    ("m/total", "2026-01-06T07:00:00", 200, "good"),  # the PLC restarted its counters
    ("m/good", "2026-01-06T07:00:00", 180, "good"),
    ("m/total", "2026-01-06T10:00:00", 2200, "good"),
    ("m/good", "2026-01-06T10:00:00", 2100, "good"),
]


def test_a_night_shift_across_midnight_in_new_york_with_a_counter_reset(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    # Night shift 22:00-06:00 New York (EST, UTC-5): 2026-01-06 03:00 to 11:00 UTC, filed under the 5th.
    lake = lake_of(databases, tmp_path)
    append_conformed(spark, lake, NEW_YORK_LINE, NEW_YORK_NIGHT)
    config = site_config("America/New_York", NEW_YORK_LINE, 2.0, "22:00", "06:00")
    noon = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
    assert lake.curate(spark, config, noon).shifts == 1
    # A backfill of the last day (the 6th in UTC, the 6th and the 5th in New York) finds the same shift.
    assert lake.curate(spark, config, noon, lookback_days=1).shifts == 1
    (row,) = lake.rows(spark, "line_shift_oee")
    assert row["date"] == date(2026, 1, 5)
    assert (row["shift_start"], row["shift_end"]) == (utc("2026-01-06T03:00:00"), utc("2026-01-06T11:00:00"))
    assert (row["run_s"], row["total_count"], row["good_count"]) == (28800.0, 1000 + 200 + 2000, 900 + 180 + 1920)
    assert row["availability"] == pytest.approx(1.0, abs=1e-9)
    assert row["performance"] == pytest.approx(2.0 * 3200 / 28800, abs=1e-9)
    assert row["quality"] == pytest.approx(3000 / 3200, abs=1e-9)
    assert row["oee"] == pytest.approx(1.0 * (2.0 * 3200 / 28800) * (3000 / 3200), abs=1e-9)


def test_lookback_dates_cover_utc_and_plant_calendars() -> None:
    now = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)  # 21:00 on the 5th in New York
    assert lookback_dates(now, "America/New_York", 1) == [date(2026, 1, 5), date(2026, 1, 6)]
    assert lookback_dates(now, "UTC", 2) == [date(2026, 1, 5), date(2026, 1, 6)]


def test_bad_arguments_are_refused_all_at_once(spark: Any, databases: tuple[str, str], tmp_path: Path) -> None:
    lake = lake_of(databases, tmp_path)
    message = (
        r"^as_of 2026-01-06T00:00:00 has no time zone; fix: pass an aware datetime\n"
        r"lookback_days 0 is not a positive whole number; fix: pass e.g. 2$"
    )
    with pytest.raises(ValueError, match=message):
        lake.curate(spark, BERLIN_CONFIG, datetime(2026, 1, 6), lookback_days=0)


# ---- the incremental run -------------------------------------------------------------------------


def test_a_run_without_new_conformed_rows_commits_nothing(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    first = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert sorted(first.written) == sorted(CURATED_TABLES)
    before, state = lake.snapshots(spark), read_state(spark, lake.state)
    again = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert (again.written, again.hours, again.shifts, again.downtime_lines) == ([], 0, 0, 0)
    assert again.conformed_snapshot == first.conformed_snapshot
    assert lake.snapshots(spark) == before
    assert read_state(spark, lake.state) == state
    # A compaction of the conformed table commits a snapshot of the same rows: nothing to recompute.
    database = lake.conformed
    spark.sql(
        f"CALL {LOCAL_CATALOG}.system.rewrite_data_files(table => '{database}.tag_values', "
        "options => map('min-input-files', '1'))"
    )
    compacted = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert compacted.conformed_snapshot != first.conformed_snapshot
    assert (compacted.written, compacted.hours) == ([], 0)
    assert lake.snapshots(spark) == before


def test_a_first_run_on_an_empty_conformed_table_records_nothing(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = lake_of(databases, tmp_path)
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert (summary.conformed_snapshot, summary.written) == (None, [])
    assert read_state(spark, lake.state) is None
    assert set(lake.snapshots(spark).values()) == {None}


def test_late_rows_for_an_old_hour_recompute_that_hour_and_leave_the_rest(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    minutes, hours = temp_windows(spark, lake, "tag_minute"), temp_windows(spark, lake, "tag_hour")
    files = {name: lake.files(spark, name) for name in ("tag_minute", "tag_hour")}
    snapshots = lake.snapshots(spark)
    # Hours later, a gateway's spool delivers a value of 08:00 on the 5th, merged like the conformed job does.
    merge_conformed(spark, lake, BERLIN_LINE, [("m/temp", "2026-01-05T08:00:50", 10.0, "good")], first_seq=200)
    latest = f"SELECT operation FROM {lake.tag_values}.snapshots ORDER BY committed_at DESC LIMIT 1"
    assert spark.sql(latest).collect()[0].operation == "append"  # what the incremental read returns
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert summary.hours == 1
    assert summary.written == ["tag_minute", "tag_hour"]  # not a state or counter value: no line recompute
    later_minutes, later_hours = temp_windows(spark, lake, "tag_minute"), temp_windows(spark, lake, "tag_hour")
    eight = utc("2026-01-05T08:00:00")
    assert (later_minutes[eight]["value_count"], later_minutes[eight]["value_min"]) == (5, 10.0)
    assert (later_minutes[eight]["last_value"], later_minutes[eight]["last_ts"]) == (10.0, utc("2026-01-05T08:00:50"))
    assert (later_hours[eight]["value_count"], later_hours[eight]["value_sum"]) == (6, 126.0)
    assert {k: v for k, v in later_minutes.items() if k != eight} == {k: v for k, v in minutes.items() if k != eight}
    assert {k: v for k, v in later_hours.items() if k != eight} == {k: v for k, v in hours.items() if k != eight}
    other_day = ("filling", "line1", date(2026, 1, 6))
    for name, before in files.items():
        assert lake.files(spark, name)[other_day] == before[other_day], name
    after = lake.snapshots(spark)
    assert [name for name in CURATED_TABLES if after[name] != snapshots[name]] == ["tag_minute", "tag_hour"]


def test_a_late_state_value_splits_the_downtime_event_it_falls_in_and_changes_the_shift(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    # The PLC's own log, replayed: the fault turned into a planned stop at 09:00, and 11:00-11:30 was a jam.
    late = [
        ("m/state", "2026-01-05T09:00:00", "stopped", "good"),
        ("m/state", "2026-01-05T11:00:00", "jam", "good"),
        ("m/state", "2026-01-05T11:30:00", "running", "good"),
    ]
    merge_conformed(spark, lake, BERLIN_LINE, late, first_seq=300)
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert (summary.downtime_lines, summary.shifts) == (1, 1)
    assert events(spark, lake) == [
        ("fault", utc("2026-01-05T08:00:00"), utc("2026-01-05T09:00:00"), 3600.0),
        ("idle", utc("2026-01-05T04:00:00"), utc("2026-01-05T05:00:00"), 3600.0),
        ("idle", utc("2026-01-05T13:00:00"), None, None),
        ("jam", utc("2026-01-05T11:00:00"), utc("2026-01-05T11:30:00"), 1800.0),
        ("stopped", utc("2026-01-05T09:00:00"), utc("2026-01-05T10:00:00"), 3600.0),
    ]
    (row,) = lake.rows(spark, "line_shift_oee")
    assert row["run_s"] == 21600.0 - 1800.0
    # The same rows curated from scratch give the same tables.
    fresh = Lake(lake.conformed, lake.curated, str(tmp_path / "fresh-state"))
    assert_same_as_from_scratch(spark, lake, fresh, BERLIN_CONFIG, BERLIN_EVENING, tmp_path)


def test_an_event_in_progress_for_longer_than_the_history_gets_its_end(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = lake_of(databases, tmp_path)
    append_conformed(spark, lake, BERLIN_LINE, [("m/state", "2026-01-01T04:00:00", "fault", "good")])
    lake.curate(spark, BERLIN_CONFIG, datetime(2026, 1, 1, 5, 0, tzinfo=UTC))
    # Four days later the gateway restarts (re-sends the state), then the line runs again.
    later = [("m/state", "2026-01-05T04:00:00", "fault", "good"), ("m/state", "2026-01-05T04:30:00", "running", "good")]
    append_conformed(spark, lake, BERLIN_LINE, later, first_seq=1)
    lake.curate(spark, BERLIN_CONFIG, datetime(2026, 1, 5, 5, 0, tzinfo=UTC))
    assert events(spark, lake) == [
        ("fault", utc("2026-01-01T04:00:00"), utc("2026-01-05T04:30:00"), 4 * 86400.0 + 1800.0)
    ]


def test_a_shift_that_ended_since_the_last_run_is_computed_without_new_rows(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    assert lake.curate(spark, BERLIN_CONFIG, datetime(2026, 1, 5, 12, 0, tzinfo=UTC)).shifts == 0
    assert lake.rows(spark, "line_shift_oee") == []
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert (summary.shifts, summary.written) == (1, ["line_shift_oee"])
    (row,) = lake.rows(spark, "line_shift_oee")
    assert (row["run_s"], row["total_count"], row["good_count"]) == (21600.0, 18000, 17100)


def test_a_deleted_conformed_row_recomputes_its_partition(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    other_day = ("filling", "line1", date(2026, 1, 6))
    files = lake.files(spark, "tag_minute")[other_day]
    # An overwrite or delete snapshot is no append: its partitions are recomputed whole.
    spark.sql(f"DELETE FROM {lake.tag_values} WHERE tag = 'temp' AND ts = TIMESTAMP'2026-01-05 08:01:10'")
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert summary.hours == 24
    minutes = temp_windows(spark, lake, "tag_minute")
    assert utc("2026-01-05T08:01:00") not in minutes
    assert temp_windows(spark, lake, "tag_hour")[utc("2026-01-05T08:00:00")]["value_count"] == 4
    assert lake.files(spark, "tag_minute")[other_day] == files
    assert events(spark, lake) == BERLIN_EVENTS


def test_a_backfill_recomputes_whole_days(spark: Any, databases: tuple[str, str], tmp_path: Path) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    expected = curated_content(spark, lake)
    spark.sql(f"UPDATE {lake.table('tag_hour')} SET value_count = 0")  # damage, say by a faulty release
    spark.sql(f"DELETE FROM {lake.table('downtime_events')} WHERE state = 'fault'")
    assert lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING).written == []  # nothing new: nothing done
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING, lookback_days=1)
    assert (summary.hours, summary.shifts) == (24, 1)
    hours = {r["window_start"]: r["value_count"] for r in lake.rows(spark, "tag_hour")}
    assert hours[utc("2026-01-06T07:00:00")] == 0  # outside the backfill (the 5th): left as it was
    spark.sql(f"UPDATE {lake.table('tag_hour')} SET value_count = 1 WHERE date = DATE'2026-01-06'")
    assert curated_content(spark, lake) == expected
    assert events(spark, lake) == BERLIN_EVENTS


def test_the_state_advances_only_after_every_curated_table_committed(
    spark: Any, databases: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    real = curate_module.replace_rows

    def failing_on_oee(spark: Any, table: str, *args: Any) -> None:
        if table.endswith(".line_shift_oee"):
            raise RuntimeError("the commit of line_shift_oee failed")
        real(spark, table, *args)

    monkeypatch.setattr(curate_module, "replace_rows", failing_on_oee)
    with pytest.raises(RuntimeError, match="line_shift_oee"):
        lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert read_state(spark, lake.state) is None
    assert lake.rows(spark, "tag_minute")  # written before the failure
    monkeypatch.setattr(curate_module, "replace_rows", real)
    # The next run redoes the same windows: replacing them again leaves one row per window.
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    assert sorted(summary.written) == sorted(CURATED_TABLES)
    state = read_state(spark, lake.state)
    assert state is not None and state.snapshot_id == summary.conformed_snapshot
    assert len(lake.rows(spark, "line_shift_oee")) == 1
    assert events(spark, lake) == BERLIN_EVENTS
    assert temp_windows(spark, lake, "tag_minute")[utc("2026-01-05T08:00:00")]["value_count"] == 4


def curated_content(spark: Any, lake: Lake) -> dict[str, list[str]]:
    return {name: sorted(map(str, lake.rows(spark, name))) for name in CURATED_TABLES}


def assert_same_as_from_scratch(
    spark: Any, lake: Lake, fresh: Lake, config: str, as_of: datetime, tmp_path: Path
) -> None:
    """``lake``'s curated tables equal the ones a first run over the same conformed table writes."""
    stem = "s" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    create_tables(spark, LOCAL_CATALOG, lake.conformed, f"{stem}_curated")
    scratch = Lake(lake.conformed, f"{stem}_curated", fresh.state)
    scratch.curate(spark, config, as_of)
    assert curated_content(spark, lake) == curated_content(spark, scratch)


def test_re_running_over_everything_changes_nothing(spark: Any, databases: tuple[str, str], tmp_path: Path) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    before = curated_content(spark, lake)
    # Without its state (deleted, say) the job recomputes everything over the same tables: same rows.
    again = Lake(lake.conformed, lake.curated, str(tmp_path / "other-state"))
    assert sorted(again.curate(spark, BERLIN_CONFIG, BERLIN_EVENING).written) == sorted(CURATED_TABLES)
    assert curated_content(spark, lake) == before


def test_a_processed_snapshot_outside_the_lineage_is_refused_unless_backfilling(
    spark: Any, databases: tuple[str, str], tmp_path: Path
) -> None:
    lake = berlin_lake(spark, databases, tmp_path)
    write_state(spark, lake.state, CurateState(lake.tag_values, 42, BERLIN_EVENING))
    current = spark.sql(f"SELECT snapshot_id FROM {lake.tag_values}.refs").collect()[0].snapshot_id
    message = (
        f"{lake.tag_values}: snapshot 42, the last one processed (state in {lake.state}), is not an ancestor "
        f"of the current snapshot {current} (the table was rolled back, or the snapshots in between expired); "
        "fix: run once with --lookback_days covering the days changed since, or delete the state files to "
        "recompute everything"
    )
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
    summary = lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING, lookback_days=2)
    assert (summary.previous_snapshot, summary.conformed_snapshot) == (42, current)
    assert events(spark, lake) == BERLIN_EVENTS


def test_the_state_keeps_the_newest_runs(spark: Any, tmp_path: Path) -> None:
    folder = str(tmp_path / "state")
    assert read_state(spark, folder) is None
    for snapshot in range(1, 13):
        written = write_state(spark, folder, CurateState("lake.x.tag_values", snapshot, BERLIN_EVENING))
        assert written.run == snapshot
    assert read_state(spark, folder) == CurateState("lake.x.tag_values", 12, BERLIN_EVENING, run=12)
    kept = sorted(p.name for p in Path(folder).glob("state-*.json"))
    assert kept == [f"state-{n:010d}.json" for n in range(3, 13)]


def test_an_unreadable_state_is_refused(spark: Any, tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "state-0000000001.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"state-0000000001\.json is unreadable .*; fix: delete that file"):
        read_state(spark, str(folder))


def test_a_state_of_another_conformed_table_is_refused(spark: Any, databases: tuple[str, str], tmp_path: Path) -> None:
    lake = lake_of(databases, tmp_path)
    write_state(spark, lake.state, CurateState("lake.other.tag_values", 1, BERLIN_EVENING))
    message = f"is of lake.other.tag_values, not {lake.tag_values}; fix: give each conformed table its own"
    with pytest.raises(ValueError, match=message):
        lake.curate(spark, BERLIN_CONFIG, BERLIN_EVENING)
