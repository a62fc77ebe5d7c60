"""raw -> conformed on a local Spark session: typing, units, duplicates, rejects, late data, re-runs."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dmc_etl import lake
from dmc_etl.config import parse_site_config
from dmc_etl.conform import ConformSummary, RawObjects, conform
from dmc_etl.jobs import raw_to_conformed
from dmc_etl.schemas import CONFORMED_COLUMNS, CONFORMED_PLAIN, REJECTS_COLUMNS

from envelope.tag_envelope import encode, tag_batch, tag_value
from tests.etl.conftest import write_raw

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


def args(tmp_path: Path) -> dict[str, str]:
    return {
        "raw_path": str(tmp_path / "raw" / "tags"),
        "conformed_path": str(tmp_path / "conformed"),
        "rejects_path": str(tmp_path / "rejects"),
        "site_config": SITE_CONFIG,
    }


def conform_into(spark: Any, tmp_path: Path, *paths: Path) -> ConformSummary:
    """``conform`` of the objects under ``paths`` into the conformed and rejects tables of ``tmp_path``."""
    return conform(
        spark,
        RawObjects([str(path) for path in paths]),
        conformed_path=str(tmp_path / "conformed"),
        rejects_path=str(tmp_path / "rejects"),
        config=parse_site_config(SITE_CONFIG),
    )


def set_mtime(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def rows(spark: Any, path: Path) -> list[dict[str, Any]]:
    return [row.asDict() for row in spark.read.parquet(str(path)).collect()]


NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# A line whose batch_seq has the wrong JSON type.
WRONG_TYPE = encode(batch(1, [value("filler/speed", 1.0, 11)])).decode().replace('"batch_seq":1', '"batch_seq":"one"')


@pytest.fixture(scope="module")
def conformed_once(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One run over two raw objects: typed values, units, a duplicated batch, every kind of malformed line."""
    tmp_path = tmp_path_factory.mktemp("conform")
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
    summary = raw_to_conformed(spark, args(tmp_path), NOW)
    return tmp_path, summary


def test_values_are_typed_converted_and_deduplicated(spark: Any, conformed_once: tuple[Path, Any]) -> None:
    tmp_path, summary = conformed_once
    found = {row["id"]: row for row in rows(spark, tmp_path / "conformed")}
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
    assert [name for name in spark.read.parquet(str(tmp_path / "conformed")).columns] == [
        *(name for name, _ in CONFORMED_COLUMNS),
        "area",
        "line",
        "date",
    ]


def test_columns_with_a_value_per_row_are_written_without_a_dictionary(
    spark: Any, conformed_once: tuple[Path, Any]
) -> None:
    tmp_path, _ = conformed_once
    jvm = spark._jvm
    written = next((tmp_path / "conformed").rglob("*.parquet"))
    source = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(
        jvm.org.apache.hadoop.fs.Path(str(written)), spark._jsc.hadoopConfiguration()
    )
    reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(source)
    try:
        chunks = reader.getFooter().getBlocks().get(0).getColumns()
        encodings = {chunk.getPath().toDotString(): chunk.getEncodings().toString() for chunk in chunks}
    finally:
        reader.close()
    assert all("DICTIONARY" not in encodings[name] for name in CONFORMED_PLAIN), encodings
    assert "DICTIONARY" in encodings["path"]  # repeating columns keep theirs


def test_each_kind_of_malformed_input_is_counted_and_kept_with_its_reason(
    spark: Any, conformed_once: tuple[Path, Any]
) -> None:
    tmp_path, summary = conformed_once
    assert summary.rejects == {
        "message": 2,
        "line": 1,
        "v": 1,
        "values": 1,
        "values[].quality": 2,
        "values[].path": 2,
        "values[].ts": 2,
    }
    rejects = rows(spark, tmp_path / "rejects")
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
    assert {r["date"] for r in rejects} == {date(2026, 1, 5)}  # the raw object's date partition
    assert [c for c in spark.read.parquet(str(tmp_path / "rejects")).columns] == [
        *(name for name, _ in REJECTS_COLUMNS),
        "date",
    ]


def test_late_data_lands_in_its_day_and_reruns_change_nothing(spark: Any, tmp_path: Path) -> None:
    before_midnight = [
        value("filler/speed", 1.0, 1, ts="2026-01-05T23:59:00.000Z"),
        value("filler/speed", 2.0, 2, ts="2026-01-06T00:00:30.000Z"),
    ]
    first = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "23", "x.json", [batch(0, before_midnight)])
    run1 = datetime(2026, 1, 6, 1, 0, tzinfo=UTC)
    set_mtime(first, run1 - timedelta(hours=2))
    assert raw_to_conformed(spark, args(tmp_path), run1).values == 2

    # Replayed from an edge spool an hour later: a value of the 5th, and a copy of one already conformed.
    late = [
        value("filler/speed", 3.0, 3, ts="2026-01-05T22:00:00.000Z"),
        value("filler/speed", 1.0, 1, ts="2026-01-05T23:59:00.000Z"),
    ]
    second = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "22", "y.json", [batch(1, late)])
    run2 = run1 + timedelta(hours=1)
    set_mtime(second, run1 + timedelta(minutes=10))
    summary = raw_to_conformed(spark, args(tmp_path), run2)
    assert summary.values == 2  # only the new object was read
    assert summary.partitions == [{"area": "filling", "line": "line1", "date": date(2026, 1, 5)}]

    def by_day() -> dict[date, list[str]]:
        days: dict[date, list[str]] = {}
        for row in rows(spark, tmp_path / "conformed"):
            days.setdefault(row["date"], []).append(row["id"])
        return {day: sorted(ids) for day, ids in days.items()}

    expected = {date(2026, 1, 5): ["gw-01:1", "gw-01:3"], date(2026, 1, 6): ["gw-01:2"]}
    assert by_day() == expected

    # The same run again reads nothing new; a run from scratch (no watermark) reads both objects again.
    assert raw_to_conformed(spark, args(tmp_path), run2).values == 0
    fresh = {**args(tmp_path), "watermark_path": str(tmp_path / "other-watermark")}
    assert raw_to_conformed(spark, fresh, run2 + timedelta(hours=1)).values == 4
    assert by_day() == expected
    files = list((tmp_path / "conformed" / "area=filling" / "line=line1" / "date=2026-01-05").glob("*.parquet"))
    assert len(files) == 1  # the partition was rewritten, not appended to


def test_a_fresh_raw_zone_is_not_an_error(spark: Any, tmp_path: Path) -> None:
    summary = raw_to_conformed(spark, args(tmp_path), NOW)
    assert (summary.values, summary.rejects, summary.partitions) == (0, {}, [])


def test_a_raw_folder_that_does_not_exist_is_skipped_and_the_others_are_read(spark: Any, tmp_path: Path) -> None:
    write_raw(
        tmp_path / "raw",
        "filling",
        "line1",
        "2026-01-05",
        "08",
        "one.json",
        [batch(0, [value("filler/speed", 1.0, 1)])],
    )
    summary = conform_into(spark, tmp_path, tmp_path / "not-yet", tmp_path / "raw" / "tags")
    assert (summary.values, summary.rejects) == (1, {})
    assert [row["id"] for row in rows(spark, tmp_path / "conformed")] == ["gw-01:1"]


def test_objects_of_blank_lines_conform_to_nothing(spark: Any, tmp_path: Path) -> None:
    blank = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "blank.json", ["", "  "])
    set_mtime(blank, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path), NOW)
    assert (summary.values, summary.rejects, summary.partitions) == (0, {}, [])


def test_only_a_timestamp_ending_in_one_z_is_read_as_utc(spark: Any, tmp_path: Path) -> None:
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
    summary = raw_to_conformed(spark, args(tmp_path), NOW)
    assert (summary.values, summary.rejects) == (1, {"values[].ts": 4})
    assert [row["ts"] for row in rows(spark, tmp_path / "conformed")] == [datetime(2026, 1, 5, 8, 0, 0, 250000)]


def test_a_path_must_name_a_cell_and_a_tag_below_the_line(spark: Any, tmp_path: Path) -> None:
    tags = ["filler/speed", "/speed", "filler/", "filler/speed/extra"]  # the first is the only good one
    values = [value(tag, 1.0, seq) for seq, tag in enumerate(tags, start=1)]
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "paths.json", [batch(0, values)])
    set_mtime(raw, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path), NOW)
    assert (summary.values, summary.rejects) == (1, {"values[].path": 3})
    assert [(row["cell"], row["tag"]) for row in rows(spark, tmp_path / "conformed")] == [("filler", "speed")]


def test_a_refused_copy_of_a_value_never_displaces_the_accepted_one(spark: Any, tmp_path: Path) -> None:
    good = value("filler/speed", 1.0, 1)
    refused = {**good, "quality": "excellent"}  # the same id, refused
    first = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "a.json", [batch(0, [refused]), batch(1, [good])]
    )
    set_mtime(first, NOW - timedelta(minutes=5))
    summary = raw_to_conformed(spark, args(tmp_path), NOW)
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
    summary = conform_into(spark, tmp_path, second)
    assert (summary.values, summary.rejects) == (2, {"values[].quality": 2})
    conformed = sorted((row["id"], row["quality"], row["value_double"]) for row in rows(spark, tmp_path / "conformed"))
    assert conformed == [("gw-01:1", "good", 1.0), ("gw-01:2", "good", 2.0)]


def test_values_are_not_moved_between_tasks_only_their_batches(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's one exchange moves whole batches to the task of their line, before they are exploded;
    rows already in the table join them distributed the same way, with no exchange after the union."""
    plans: list[str] = []
    write = lake.write_partitions

    def recording(frame: Any, *rest: Any, **options: Any) -> None:
        plans.append(frame._jdf.queryExecution().executedPlan().toString())
        write(frame, *rest, **options)

    monkeypatch.setattr(lake, "write_partitions", recording)
    one = [batch(0, [value("filler/speed", 1.0, 1)])]
    raw = write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "p.json", one)
    set_mtime(raw, NOW - timedelta(minutes=5))
    raw_to_conformed(spark, args(tmp_path), NOW)
    rerun = {**args(tmp_path), "watermark_path": str(tmp_path / "other-watermark")}
    raw_to_conformed(spark, rerun, NOW)  # reads the object again, into the now existing partition

    fresh, merge = plans
    exchanges = [line for line in fresh.splitlines() if "Exchange" in line]
    assert len(exchanges) == 1 and "hashpartitioning(area" in exchanges[0], fresh
    assert fresh.index("Exchange") > fresh.index("Generate posexplode"), fresh  # below: batches, not values
    # The checks are computed in the projection that builds the rows, not in a filter of their own:
    # refused rows are dropped above the observation, and the aggregate's result is the written row.
    below_observation = fresh[fresh.index("CollectMetrics") :]
    assert "+- Filter" not in below_observation and "+- Filter" in fresh[: fresh.index("CollectMetrics")], fresh
    assert fresh.splitlines()[1].lstrip("+- ").startswith("SortAggregate"), fresh
    union = merge.index("Union")
    assert "Exchange" not in merge[:union] and merge.count("Exchange hashpartitioning(area") == 2, merge


def test_the_summary_names_only_partitions_that_received_accepted_values(spark: Any, tmp_path: Path) -> None:
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
    summary = conform_into(spark, tmp_path, raw)
    assert (summary.values, summary.rejects) == (1, {"values[].quality": 2})
    assert summary.partitions == [{"area": "filling", "line": "line1", "date": date(2026, 1, 5)}]
