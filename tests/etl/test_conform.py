"""raw -> conformed on local Spark and Iceberg: typing, units, duplicates, rejects, late data, re-runs, and a
merge that reads only the partitions it writes to."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dmc_etl.conform as conform_module
import pytest
from dmc_etl.catalog import LOCAL_CATALOG, table_name
from dmc_etl.config import parse_site_config
from dmc_etl.conform import ConformSummary, RawObjects, conform, line_tasks
from dmc_etl.jobs import conformed_to_curated, raw_to_conformed
from dmc_etl.lake import session_conf
from dmc_etl.schemas import CONFORMED_COLUMNS, REJECTS_COLUMNS

from envelope.tag_envelope import encode, tag_batch, tag_value
from tests.etl.conftest import write_raw
from tests.etl.test_lake import MergeRecorder, node_names, plan_nodes

pytestmark = pytest.mark.spark

LINE = "acme/plantA/filling/line1"
SITE_CONFIG = json.dumps(
    {
        "timezone": "Europe/Berlin",
        "canonical_units": {"temperature": "degC", "pressure": "bar"},
        "lines": [
            {
                "line_path": LINE,
                "ideal_cycle_time_s": 1,
                "state_tag": "filler/state",
                "running_states": ["running"],
                "good_count_tag": "filler/good_count",
                "total_count_tag": "filler/total_count",
                "shifts": [{"name": "early", "start": "06:00", "end": "14:00"}],
            }
        ],
    }
)


def value(tag: str, v: Any, seq: int, ts: str = "2026-01-05T08:00:00.000Z", unit: str = "", **extra: Any) -> dict:
    item = tag_value(path=f"{LINE}/{tag}", value=v, unit=unit, quality="good", ts=ts, seq=seq, gateway="gw-01")
    return {**item, **extra}


def batch(batch_seq: int, values: list[dict], **extra: Any) -> dict:
    message = tag_batch(site="plantA", gateway="gw-01", line=LINE, batch_seq=batch_seq, values=values)
    return {**message, **extra}


# Long enough that the tests' days stay in the tables (the job deletes older days after it merged).
RETENTION_DAYS = 3650


def args(tmp_path: Path, database: str) -> dict[str, str]:
    """The job's arguments, as the stack passes them, for the local catalog's ``database``."""
    return {
        "raw_path": str(tmp_path / "raw" / "tags"),
        "catalog": LOCAL_CATALOG,
        "conformed_database": database,
        "site_config": SITE_CONFIG,
        "watermark_path": str(tmp_path / "watermark"),
        "retention_days": "3650",
    }


def tag_values(database: str) -> str:
    return table_name(LOCAL_CATALOG, database, "tag_values")


def rejects_table(database: str) -> str:
    return table_name(LOCAL_CATALOG, database, "rejects")


def conform_into(spark: Any, database: str, *paths: Path) -> ConformSummary:
    """``conform`` of the objects under ``paths`` into the conformed and rejects tables of ``database``."""
    return conform(
        spark,
        RawObjects([str(path) for path in paths]),
        conformed_table=tag_values(database),
        rejects_table=rejects_table(database),
        config=parse_site_config(SITE_CONFIG),
    )


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def rows(spark: Any, table: str) -> list[dict[str, Any]]:
    return [row.asDict() for row in spark.table(table).collect()]


def reject_keys(spark: Any, database: str) -> list[tuple[str, int, str]]:
    """(object name, value index or -1 for a whole line, reason) of every reject, sorted."""
    found = rows(spark, rejects_table(database))
    return sorted(
        (Path(r["source_file"]).name, -1 if r["value_index"] is None else r["value_index"], r["reason"]) for r in found
    )


def data_files(spark: Any, table: str) -> list[dict[str, Any]]:
    """The table's current data files (Iceberg's ``files`` metadata table): path, partition, rows."""
    frame = spark.table(f"{table}.files").selectExpr("file_path", "partition", "record_count")
    return [row.asDict(recursive=True) for row in frame.collect()]


NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# A line whose batch_seq has the wrong JSON type.
WRONG_TYPE = encode(batch(1, [value("filler/speed", 1.0, 11)])).decode().replace('"batch_seq":1', '"batch_seq":"one"')


@pytest.fixture(scope="module")
def conformed_once(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """One run over two raw objects: typed values, units, a duplicated batch, every kind of malformed line.

    The job creates its database's tables itself (a new database in the local catalog)."""
    tmp_path = tmp_path_factory.mktemp("conform")
    database = "conformed_once"
    good = batch(
        0,
        [
            value("filler/temperature", 212.0, 1, unit="°F"),
            value("filler/temperature", 21.5, 2, unit="celsius"),
            value("filler/pressure", 1013, 3, unit="mbar"),
            value("filler/state", "running", 4),
            value("filler/door_closed", True, 5),
            value("filler/lot", "L-42", 6),
            value("filler/speed", 3.5, 7, unit="rpm"),
            value("filler/temperature", 20.0, 8, unit="C", quality="excellent"),
            value("filler/temperature", 20.0, 9, unit="C", path="acme/plantA/filling/line2/filler/temperature"),
            value("filler/temperature", 20.0, 10, unit="C", ts="2026-01-05 08:00:00"),
        ],
    )
    missing_line = {k: v for k, v in batch(2, [value("filler/speed", 1.0, 12)]).items() if k != "line"}
    first = write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "08",
        "a.json",
        # Blank lines carry nothing: neither values nor rejects.
        [
            good,
            "",
            "not json",
            WRONG_TYPE,
            "  ",
            missing_line,
            batch(3, [value("filler/speed", 1.0, 13)], v=2),
            batch(4, []),
        ],
    )
    # At-least-once delivery: the same batch again in a later object, beside a new one.
    second = write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "09",
        "b.json",
        [good, batch(5, [value("filler/speed", 4.0, 14)])],
    )
    for path in (first, second):
        set_mtime(path, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path, database), NOW)
    return database, summary


def test_values_are_typed_converted_and_deduplicated(spark: Any, conformed_once: tuple[str, Any]) -> None:
    database, summary = conformed_once
    found = {row["id"]: row for row in rows(spark, tag_values(database))}
    assert sorted(found) == ["gw-01:1", "gw-01:14", "gw-01:2", "gw-01:3", "gw-01:4", "gw-01:5", "gw-01:6", "gw-01:7"]
    assert summary.values == 15  # 7 values twice (the repeated batch) and one new value, before deduplication
    typed = {
        key: (row["value_double"], row["value_bool"], row["value_string"], row["unit"]) for key, row in found.items()
    }
    assert typed["gw-01:1"][0] == pytest.approx(100.0, abs=1e-9)
    assert typed["gw-01:1"][1:] == (None, None, "degC")
    assert typed["gw-01:2"] == (21.5, None, None, "degC")
    assert typed["gw-01:3"][0] == pytest.approx(1.013, abs=1e-12)
    assert typed["gw-01:3"][3] == "bar"
    assert typed["gw-01:4"] == (None, None, "running", "")
    assert typed["gw-01:5"] == (None, True, None, "")
    assert typed["gw-01:6"] == (None, None, "L-42", "")
    assert typed["gw-01:7"] == (3.5, None, None, "rpm")
    row = found["gw-01:4"]
    assert (row["site"], row["gateway"], row["area"], row["line"], row["cell"], row["tag"], row["seq"]) == (
        "plantA",
        "gw-01",
        "filling",
        "line1",
        "filler",
        "state",
        4,
    )
    assert row["ts"] == datetime(2026, 1, 5, 8, 0)  # UTC wall time (the session time zone)
    assert row["date"] == date(2026, 1, 5)
    assert spark.table(tag_values(database)).columns == [
        *(name for name, _ in CONFORMED_COLUMNS),
        "area",
        "line",
        "date",
    ]


def appends(spark: Any, table: str) -> int:
    """How many snapshots of ``table`` added rows (the job's retention deletes are snapshots of their own)."""
    return int(spark.table(f"{table}.snapshots").where("operation = 'append'").count())


def test_one_run_is_one_commit_of_each_table(spark: Any, conformed_once: tuple[str, Any]) -> None:
    database, _ = conformed_once
    for table in (tag_values(database), rejects_table(database)):
        assert appends(spark, table) == 1, table
    # The new rows of a line land in one file per partition.
    assert [(f["partition"]["area"], f["partition"]["line"]) for f in data_files(spark, tag_values(database))] == [
        ("filling", "line1")
    ]


def test_each_kind_of_malformed_input_is_counted_and_kept_with_its_reason(
    spark: Any, conformed_once: tuple[str, Any]
) -> None:
    database, summary = conformed_once
    assert summary.rejects == {
        "message": 2,
        "line": 1,
        "v": 1,
        "values": 1,
        "values[].quality": 2,
        "values[].path": 2,
        "values[].ts": 2,
    }
    rejects = rows(spark, rejects_table(database))
    # value_index is null for a whole refused line: -1 here, so the rows sort.
    reasons = sorted(
        (Path(r["source_file"]).name, -1 if r["value_index"] is None else r["value_index"], r["reason"])
        for r in rejects
    )
    assert reasons == [
        ("a.json", -1, "line: 'null' is not enterprise/site/area/line"),
        ("a.json", -1, "message: not a JSON object of the tag envelope's types"),
        ("a.json", -1, "message: not a JSON object of the tag envelope's types"),
        ("a.json", -1, "v: 2 is not the supported schema version 1"),
        ("a.json", -1, "values: expected a non-empty list of tag values"),
        ("a.json", 7, "values[7].quality: 'excellent' is not one of good, uncertain, bad"),
        (
            "a.json",
            8,
            "values[8].path: 'acme/plantA/filling/line2/filler/temperature' is not on the batch's line "
            "'acme/plantA/filling/line1'",
        ),
        ("a.json", 9, "values[9].ts: '2026-01-05 08:00:00' is not ISO 8601 UTC like 2026-01-31T08:00:00.000Z"),
        ("b.json", 7, "values[7].quality: 'excellent' is not one of good, uncertain, bad"),
        (
            "b.json",
            8,
            "values[8].path: 'acme/plantA/filling/line2/filler/temperature' is not on the batch's line "
            "'acme/plantA/filling/line1'",
        ),
        ("b.json", 9, "values[9].ts: '2026-01-05 08:00:00' is not ISO 8601 UTC like 2026-01-31T08:00:00.000Z"),
    ]
    by_reason = {r["reason"]: r for r in rejects}
    assert by_reason["message: not a JSON object of the tag envelope's types"]["record"] in (
        "not json",
        WRONG_TYPE,
    )
    assert (
        json.loads(by_reason["values[7].quality: 'excellent' is not one of good, uncertain, bad"]["record"])["quality"]
        == "excellent"
    )
    assert {r["date"] for r in rejects} == {"2026-01-05"}  # the raw object's date partition
    assert spark.table(rejects_table(database)).columns == [*(name for name, _ in REJECTS_COLUMNS), "date"]


def test_late_data_lands_in_its_day_and_reruns_change_nothing(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    database = databases[0]
    before_midnight = [
        value("filler/speed", 1.0, 1, ts="2026-01-05T23:59:00.000Z"),
        value("filler/speed", 2.0, 2, ts="2026-01-06T00:00:30.000Z"),
    ]
    first = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "23", "x.json", [batch(0, before_midnight)])
    run1 = datetime(2026, 1, 6, 1, 0, tzinfo=UTC)
    set_mtime(first, run1 - timedelta(hours=2))
    assert raw_to_conformed(spark, args(tmp_path, database), run1).values == 2

    # Replayed from an edge spool an hour later: a value of the 5th, and a copy of one already conformed.
    late = [
        value("filler/speed", 3.0, 3, ts="2026-01-05T22:00:00.000Z"),
        value("filler/speed", 1.0, 1, ts="2026-01-05T23:59:00.000Z"),
    ]
    second = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "22", "y.json", [batch(1, late)])
    run2 = run1 + timedelta(hours=1)
    set_mtime(second, run1 + timedelta(minutes=10))
    summary = raw_to_conformed(spark, args(tmp_path, database), run2)
    assert summary.values == 2  # only the new object was read
    assert summary.partitions == [{"area": "filling", "line": "line1", "date": date(2026, 1, 5)}]

    def by_day() -> dict[date, list[str]]:
        days: dict[date, list[str]] = {}
        for row in rows(spark, tag_values(database)):
            days.setdefault(row["date"], []).append(row["id"])
        return {day: sorted(ids) for day, ids in days.items()}

    expected = {date(2026, 1, 5): ["gw-01:1", "gw-01:3"], date(2026, 1, 6): ["gw-01:2"]}
    assert by_day() == expected
    # The late value was appended to its old day: the rows already there were not rewritten.
    day_files = sorted(
        f["record_count"] for f in data_files(spark, tag_values(database)) if f["partition"]["date"] == date(2026, 1, 5)
    )
    assert day_files == [1, 1]

    # The same run again reads nothing new; a run from scratch (no watermark) reads both objects again,
    # and adds neither rows nor files.
    assert raw_to_conformed(spark, args(tmp_path, database), run2).values == 0
    files = data_files(spark, tag_values(database))
    fresh = {**args(tmp_path, database), "watermark_path": str(tmp_path / "other-watermark")}
    assert raw_to_conformed(spark, fresh, run2 + timedelta(hours=1)).values == 4
    assert by_day() == expected
    assert data_files(spark, tag_values(database)) == files


def test_a_rerun_over_refused_input_adds_no_rejects(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> None:
    database = databases[0]
    refused = {**value("filler/speed", 1.0, 1), "quality": "excellent"}
    raw = write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "08",
        "r.json",
        ["not json", "not json", batch(0, [refused])],
    )
    set_mtime(raw, NOW - timedelta(minutes=5))
    assert raw_to_conformed(spark, args(tmp_path, database), NOW).rejects == {"message": 2, "values[].quality": 1}
    kept = reject_keys(spark, database)
    # Two identical refused lines of one object are one reject: the same place, reason and text.
    assert kept == [
        ("r.json", -1, "message: not a JSON object of the tag envelope's types"),
        ("r.json", 0, "values[0].quality: 'excellent' is not one of good, uncertain, bad"),
    ]
    fresh = {**args(tmp_path, database), "watermark_path": str(tmp_path / "other-watermark")}
    assert raw_to_conformed(spark, fresh, NOW).rejects == {"message": 2, "values[].quality": 1}
    assert reject_keys(spark, database) == kept


def test_a_fresh_raw_zone_is_not_an_error(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> None:
    summary = raw_to_conformed(spark, args(tmp_path, databases[0]), NOW)
    assert (summary.values, summary.rejects, summary.partitions) == (0, {}, [])
    assert appends(spark, tag_values(databases[0])) == 0  # nothing merged


def test_a_raw_folder_that_does_not_exist_is_skipped_and_the_others_are_read(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "08",
        "one.json",
        [batch(0, [value("filler/speed", 1.0, 1)])],
    )
    summary = conform_into(spark, databases[0], tmp_path / "not-yet", tmp_path / "raw" / "tags")
    assert (summary.values, summary.rejects) == (1, {})
    assert [row["id"] for row in rows(spark, tag_values(databases[0]))] == ["gw-01:1"]


def test_objects_of_blank_lines_conform_to_nothing(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> None:
    blank = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "blank.json", ["", "  "])
    set_mtime(blank, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path, databases[0]), NOW)
    assert (summary.values, summary.rejects, summary.partitions) == (0, {}, [])


def test_only_refused_lines_are_counted_and_kept(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> None:
    """No value to insert: the conformed table gets no commit, the rejects table its lines."""
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "bad.json", ["not json"])
    set_mtime(raw, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path, databases[0]), NOW)
    assert (summary.values, summary.rejects, summary.partitions) == (0, {"message": 1}, [])
    assert appends(spark, tag_values(databases[0])) == 0
    assert [r["record"] for r in rows(spark, rejects_table(databases[0]))] == ["not json"]


def test_only_a_timestamp_ending_in_one_z_is_read_as_utc(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    stamps = [
        "2026-01-05T08:00:00.250Z",
        "2026-01-05T08Z00:00Z",
        "2026-01-05T08:00:00ZZ",
        "2026-01-05T09:00:00+01:00",
        "2026-01-05T08:00:00",
    ]
    values = [value("filler/speed", 1.0, seq, ts=ts) for seq, ts in enumerate(stamps, start=1)]
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "z.json", [batch(0, values)])
    set_mtime(raw, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path, databases[0]), NOW)
    assert (summary.values, summary.rejects) == (1, {"values[].ts": 4})
    assert [row["ts"] for row in rows(spark, tag_values(databases[0]))] == [datetime(2026, 1, 5, 8, 0, 0, 250000)]


def test_an_offset_before_the_z_files_the_value_under_its_utc_day(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    """The leniency of the module docstring: the merge reads the partition of the UTC day, not of the text."""
    values = [value("filler/speed", 1.0, 1, ts="2026-01-05T00:30:00+01:00Z")]
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "00", "o.json", [batch(0, values)])
    set_mtime(raw, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path, databases[0]), NOW)
    assert summary.partitions == [{"area": "filling", "line": "line1", "date": date(2026, 1, 4)}]
    fresh = {**args(tmp_path, databases[0]), "watermark_path": str(tmp_path / "other-watermark")}
    raw_to_conformed(spark, fresh, NOW)
    assert [(row["ts"], row["date"]) for row in rows(spark, tag_values(databases[0]))] == [
        (datetime(2026, 1, 4, 23, 30), date(2026, 1, 4))
    ]


def test_a_path_must_name_a_cell_and_a_tag_below_the_line(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    tags = ["filler/speed", "/speed", "filler/", "filler/speed/extra"]  # the first is the only good one
    values = [value(tag, 1.0, seq) for seq, tag in enumerate(tags, start=1)]
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "paths.json", [batch(0, values)])
    set_mtime(raw, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path, databases[0]), NOW)
    assert (summary.values, summary.rejects) == (1, {"values[].path": 3})
    assert [(row["cell"], row["tag"]) for row in rows(spark, tag_values(databases[0]))] == [("filler", "speed")]


def test_a_refused_copy_of_a_value_never_displaces_the_accepted_one(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    database = databases[0]
    good = value("filler/speed", 1.0, 1)
    refused = {**good, "quality": "excellent"}  # the same id, refused
    first = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "a.json", [batch(0, [refused]), batch(1, [good])]
    )
    set_mtime(first, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path, database), NOW)
    assert (summary.values, summary.rejects) == (1, {"values[].quality": 1})
    # Later, into the partition that now holds the accepted copy: a refused copy alone, then both orders.
    second = write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "09",
        "b.json",
        [batch(2, [refused]), batch(3, [good, {**refused, "seq": 2, "id": "gw-01:2"}, value("filler/speed", 2.0, 2)])],
    )
    summary = conform_into(spark, database, second)
    assert (summary.values, summary.rejects) == (2, {"values[].quality": 2})
    conformed = sorted((row["id"], row["quality"], row["value_double"]) for row in rows(spark, tag_values(database)))
    assert conformed == [("gw-01:1", "good", 1.0), ("gw-01:2", "good", 2.0)]


def test_the_merge_reads_only_the_partitions_of_the_new_rows(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    """A data file of a partition the run does not write to is never opened: removed from disk, the run
    still succeeds; the scan of the table's side lists only the touched partition's file."""
    database = databases[0]
    day5 = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "5.json", [batch(0, [value("filler/speed", 1.0, 1)])]
    )
    day6 = [value("filler/speed", 2.0, 2, ts="2026-01-06T08:00:00.000Z")]
    conform_into(
        spark,
        database,
        day5,
        write_raw(tmp_path / "raw", "filling", "line1", "2026-01-06", "08", "6.json", [batch(1, day6)]),
    )
    other = [value("filler/speed", 3.0, 3, ts="2026-01-05T08:00:00.000Z")]
    line2 = batch(2, other, line="acme/plantA/filling/line2")
    line2["values"][0]["path"] = "acme/plantA/filling/line2/filler/speed"
    conform_into(
        spark, database, write_raw(tmp_path / "raw", "filling", "line2", "2026-01-05", "08", "l2.json", [line2])
    )
    for f in data_files(spark, tag_values(database)):
        if (f["partition"]["line"], f["partition"]["date"]) != ("line1", date(2026, 1, 5)):
            Path(f["file_path"].removeprefix("file:")).unlink()

    late = write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "09",
        "late.json",
        [batch(3, [value("filler/speed", 1.0, 1), value("filler/speed", 4.0, 4)])],
    )
    with MergeRecorder(spark) as recorder:
        summary = conform_into(spark, database, late)
    assert summary.partitions == [{"area": "filling", "line": "line1", "date": date(2026, 1, 5)}]
    assert [(s["table"], s["result_data_files"]) for s in recorder.scans] == [(tag_values(database), 1)]
    kept = spark.table(tag_values(database)).where("line = 'line1' AND date = DATE '2026-01-05'")
    assert sorted(row.id for row in kept.collect()) == ["gw-01:1", "gw-01:4"]


def test_only_batches_move_between_tasks_and_only_the_tables_keys_join_them(
    spark: Any, tmp_path: Path, databases: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's one exchange of new data moves whole batches to the task of their line, before they are
    taken apart; the new rows stay there through checks, deduplication, the merge and the write, and
    only the keys of the partitions the table already holds are moved to them."""
    database = databases[0]
    raw = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "p.json", [batch(0, [value("filler/speed", 1.0, 1)])]
    )
    set_mtime(raw, NOW - timedelta(minutes=5))
    keeping: list[Any] = []  # the plan each run's kept batches were computed by
    keep = conform_module.kept_batches

    def recording(session: Any, moved: Any) -> Any:
        batches = keep(session, moved)
        keeping.append(moved._jdf.queryExecution().executedPlan())
        return batches

    monkeypatch.setattr(conform_module, "kept_batches", recording)
    with MergeRecorder(spark) as recorder:
        raw_to_conformed(spark, args(tmp_path, database), NOW)
        rerun = {**args(tmp_path, database), "watermark_path": str(tmp_path / "other-watermark")}
        with session_conf(spark, {"spark.sql.autoBroadcastJoinThreshold": "-1"}):  # as for a large table
            raw_to_conformed(spark, rerun, NOW)  # reads the object again, into the now existing partition
    fresh, merge = recorder.plans
    # The batches are kept as they arrive at their line's task: read, moved once, not yet taken apart,
    # by a plan that keeps its hash partitioning (no adaptive coalescing).
    kept = node_names(keeping[0])
    assert kept.count("ShuffleExchangeExec") == 1 and "GenerateExec" not in kept, kept
    assert "AdaptiveSparkPlanExec" not in kept, kept
    (exchange,) = [n for n in plan_nodes(keeping[0]) if n.getClass().getSimpleName() == "ShuffleExchangeExec"]
    assert exchange.simpleString(200).startswith("Exchange hashpartitioning(area"), exchange.simpleString(200)
    # Into an empty partition: the new rows go from the kept batches to the write without moving.
    names = node_names(fresh)
    assert "RDDScanExec" in names and "GenerateExec" in names and "ShuffleExchangeExec" not in names, names
    # Into the partition: the table's keys of that partition alone are moved to the new rows.
    names = node_names(merge)
    assert "SortMergeJoinExec" in names and names.count("ShuffleExchangeExec") == 1, names
    (moved,) = [n for n in plan_nodes(merge) if n.getClass().getSimpleName() == "ShuffleExchangeExec"]
    assert node_names(moved)[-1] == "BatchScanExec", node_names(moved)
    assert "RDDScanExec" not in node_names(moved), node_names(moved)


def test_a_run_leaves_no_kept_batches_on_the_executors(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> None:
    raw = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "p.json", [batch(0, [value("filler/speed", 1.0, 1)])]
    )
    persisted = spark.sparkContext._jsc.getPersistentRDDs().size()
    conform_into(spark, databases[0], raw)
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == persisted


def test_a_run_compares_only_the_rows_of_the_hours_it_brings(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    """Within a partition the merge compares the table's rows of the new rows' time range: a value replayed
    from an earlier hour merges to one row, and a file of other hours is never opened (removed from
    disk, the run still succeeds; the scan of the table's side lists only the file of the range)."""
    database = databases[0]
    eight = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "8.json", [batch(0, [value("filler/speed", 1.0, 1)])]
    )
    conform_into(spark, database, eight)
    before = {f["file_path"] for f in data_files(spark, tag_values(database))}
    ten = [value("filler/speed", 3.0, 3, ts="2026-01-05T10:00:00.000Z")]
    conform_into(
        spark, database, write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "10", "10.json", [batch(1, ten)])
    )
    (later,) = [f["file_path"] for f in data_files(spark, tag_values(database)) if f["file_path"] not in before]
    Path(later.removeprefix("file:")).unlink()

    # Replayed from an edge spool with a new value of 09:00: a copy of the value of 08:00.
    replay = [value("filler/speed", 1.0, 1), value("filler/speed", 2.0, 2, ts="2026-01-05T09:00:00.000Z")]
    with MergeRecorder(spark) as recorder:
        summary = conform_into(
            spark,
            database,
            write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "r.json", [batch(2, replay)]),
        )
    assert summary.values == 2
    assert [(s["table"], s["result_data_files"]) for s in recorder.scans] == [(tag_values(database), 1)]
    (merge,) = recorder.statements
    assert (
        "(t.`area` = 'filling' AND t.`line` = 'line1' AND t.`date` = DATE '2026-01-05' AND t.`ts` BETWEEN "
        "TIMESTAMP '2026-01-05 08:00:00.000000Z' AND TIMESTAMP '2026-01-05 09:00:00.000000Z')"
    ) in merge, merge
    kept = spark.table(tag_values(database)).where("ts < TIMESTAMP '2026-01-05 10:00:00Z'")  # skips the removed file
    assert sorted(row.id for row in kept.collect()) == ["gw-01:1", "gw-01:2"]


def test_a_batch_across_midnight_bounds_each_of_its_days_by_its_own_range(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    """The range of a partition covers every value a batch brings to it: a superset is exact too."""
    values = [
        value("filler/speed", 1.0, 1, ts="2026-01-05T23:59:00.000Z"),
        value("filler/speed", 2.0, 2, ts="2026-01-06T00:00:30.500Z"),
        value("filler/speed", 3.0, 3, ts="not a time"),  # refused; bounds nothing
    ]
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "23", "m.json", [batch(0, values)])
    with MergeRecorder(spark) as recorder:
        summary = conform_into(spark, databases[0], raw)
    assert (summary.values, summary.rejects) == (2, {"values[].ts": 1})
    (merge,) = [statement for statement in recorder.statements if tag_values(databases[0]) in statement]
    span = "t.`ts` BETWEEN TIMESTAMP '2026-01-05 23:59:00.000000Z' AND TIMESTAMP '2026-01-06 00:00:30.500000Z'"
    assert f"t.`date` = DATE '2026-01-05' AND {span})" in merge and f"t.`date` = DATE '2026-01-06' AND {span})" in merge


TWO_LINES = [("filling", "line1"), ("filling", "line2")]  # one task of two for both, by Spark's hash


def hash_tasks(spark: Any, lines: list[tuple[str, str]], tasks: int) -> list[int]:
    """The task of each (area, line) among ``tasks``, as Spark's hash partitioning computes it."""
    tasks_of = ", ".join(f"pmod(hash('{area}', '{line}'), {tasks})" for area, line in lines)
    ((spread,),) = spark.sql(f"SELECT array({tasks_of})").collect()
    return list(spread)


def test_each_line_the_raw_objects_are_filed_under_gets_a_task_of_its_own(spark: Any) -> None:
    four = [*TWO_LINES, ("packing", "line3"), ("packing", "line4")]
    files = [f"s3://raw/tags/area={area}/line={line}/date=2026-01-05/hour=08/part-0.json" for area, line in four]
    tasks = line_tasks(spark, [*files, files[0].replace("part-0", "part-1")])
    assert tasks == 9  # from 4 to 8 tasks, two of these lines share one (Spark's hash)
    assert len(set(hash_tasks(spark, four, 9))) == 4
    assert all(len(set(hash_tasks(spark, four, fewer))) < 4 for fewer in range(4, 9))
    assert line_tasks(spark, ["s3://raw/elsewhere/part-0.json"]) is None


def test_the_lines_of_a_run_are_conformed_in_tasks_of_their_own(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    """Two lines that Spark's hash puts in one task of the session's two do not share one: each line's
    file is written by a task of its own (an Iceberg data file's name starts with its task's partition)."""
    assert int(spark.conf.get("spark.sql.shuffle.partitions")) == 2
    assert len(set(hash_tasks(spark, TWO_LINES, 2))) == 1
    objects = []
    for number, (area, line) in enumerate(TWO_LINES):
        item = {**value("filler/speed", 1.0, number), "path": f"acme/plantA/{area}/{line}/filler/speed"}
        message = batch(number, [item], line=f"acme/plantA/{area}/{line}")
        objects.append(write_raw(tmp_path / "raw", area, line, "2026-01-05", "08", "p.json", [message]))
    conform_into(spark, databases[0], *objects)
    files = data_files(spark, tag_values(databases[0]))
    tasks = {f["partition"]["line"]: Path(f["file_path"]).name.split("-")[0] for f in files}
    assert sorted(tasks) == ["line1", "line2"] and len(set(tasks.values())) == 2, tasks


def test_the_summary_names_only_partitions_that_received_accepted_values(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    """A refused value of another day and line does not make its partition appear in the summary."""
    kept = value("filler/speed", 1.0, 1)
    refused_next_day = value("filler/speed", 2.0, 2, ts="2026-01-06T08:00:00.000Z", quality="excellent")
    other_line = {
        **value("filler/speed", 3.0, 3, ts="2026-01-07T08:00:00.000Z"),
        "path": "acme/plantA/filling/line2/filler/speed",
        "quality": "excellent",
    }
    raw = write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "08",
        "p.json",
        [batch(0, [refused_next_day, kept]), batch(1, [other_line], line="acme/plantA/filling/line2")],
    )
    summary = conform_into(spark, databases[0], raw)
    assert (summary.values, summary.rejects) == (1, {"values[].quality": 2})
    assert summary.partitions == [{"area": "filling", "line": "line1", "date": date(2026, 1, 5)}]


def test_a_job_names_every_missing_argument_at_once(spark: Any, tmp_path: Path) -> None:
    partial = {key: item for key, item in args(tmp_path, "unused").items() if key not in ("catalog", "watermark_path")}
    with pytest.raises(ValueError, match=r"^missing job argument\(s\) --catalog, --watermark_path; fix: pass them$"):
        raw_to_conformed(spark, partial, NOW)
    with pytest.raises(
        ValueError,
        match=r"^missing job argument\(s\) --curated_database, --state_path, --retention_days; fix: pass them$",
    ):
        conformed_to_curated(spark, {"catalog": LOCAL_CATALOG, "conformed_database": "x", "site_config": "{}"}, NOW)


def test_lookback_days_must_be_a_positive_whole_number(spark: Any, tmp_path: Path) -> None:
    arguments = {
        "catalog": LOCAL_CATALOG,
        "conformed_database": "x_conformed",
        "curated_database": "x_curated",
        "site_config": SITE_CONFIG,
        "state_path": str(tmp_path / "state"),
        "retention_days": "3650",
    }
    for text in ("two", "0", "-1", ""):
        with pytest.raises(
            ValueError, match=rf"^--lookback_days '{text}' is not a positive whole number; fix: pass e.g. 2$"
        ):
            conformed_to_curated(spark, {**arguments, "lookback_days": text}, NOW)


def test_the_jobs_run_raw_to_curated_on_the_arguments_the_stack_passes(
    spark: Any, tmp_path: Path, databases: tuple[str, str]
) -> None:
    """Both job functions, end to end on the contract's arguments: raw objects in, curated rows out."""
    conformed, curated = databases
    temperatures = [
        value("filler/temperature", 20.0 + i, i, ts=f"2026-01-05T08:0{i}:00.000Z", unit="degC") for i in range(3)
    ]
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "t.json", [batch(0, temperatures)])
    set_mtime(raw, NOW - timedelta(minutes=5))
    assert raw_to_conformed(spark, args(tmp_path, conformed), NOW).values == 3
    curate_args = {
        "catalog": LOCAL_CATALOG,
        "conformed_database": conformed,
        "curated_database": curated,
        "site_config": SITE_CONFIG,
        "state_path": str(tmp_path / "_state" / "conformed_to_curated"),
        "retention_days": "3650",
    }
    conformed_to_curated(spark, curate_args, NOW)
    minutes = spark.table(table_name(LOCAL_CATALOG, curated, "tag_minute")).collect()
    assert sorted((row.window_start, row.value_avg) for row in minutes) == [
        (datetime(2026, 1, 5, 8, minute), 20.0 + minute) for minute in range(3)
    ]


def test_each_job_keeps_only_its_zones_retention_days(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> None:
    """The zone buckets expire no object (live snapshots reference them): the jobs drop days out of retention."""
    conformed, curated = databases
    old = [value("filler/temperature", 1.0, 0, ts="2026-01-01T08:00:00.000Z", unit="degC")]
    new = [value("filler/temperature", 2.0, 1, ts="2026-01-05T08:00:00.000Z", unit="degC")]
    for day, values in (("2026-01-01", old), ("2026-01-05", new)):
        raw = write_raw(
            tmp_path / "raw", "filling", "line1", day, "08", f"{day}.json", [batch(0 if values is old else 1, values)]
        )
        set_mtime(raw, NOW - timedelta(minutes=5))
    keep = (NOW.date() - date(2026, 1, 5)).days + 1  # keeps 2026-01-05, drops 2026-01-01
    raw_to_conformed(spark, {**args(tmp_path, conformed), "retention_days": str(keep)}, NOW)
    assert [row.ts.day for row in spark.table(tag_values(conformed)).collect()] == [5]
    curate_args = {
        "catalog": LOCAL_CATALOG,
        "conformed_database": conformed,
        "curated_database": curated,
        "site_config": SITE_CONFIG,
        "state_path": str(tmp_path / "_state" / "conformed_to_curated"),
        "retention_days": str(keep),
    }
    conformed_to_curated(spark, curate_args, NOW)
    minutes = spark.table(table_name(LOCAL_CATALOG, curated, "tag_minute")).collect()
    assert [row.window_start.day for row in minutes] == [5]
