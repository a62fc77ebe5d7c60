"""Reading the partitions of a lake table that a merge touches, without listing the whole table."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from dmc_etl.lake import read_partitions, write_partitions

pytestmark = pytest.mark.spark

COLUMNS = [("id", "string"), ("value", "double")]
KEYS = [("line", "string"), ("date", "date")]


@pytest.fixture
def table(spark: Any, tmp_path: Path) -> str:
    """Three partitions: line1 on two days, and a null line (an escaped folder name) on one."""
    rows = [
        ("a", 1.0, "line1", date(2026, 1, 5)),
        ("b", 2.0, "line1", date(2026, 1, 6)),
        ("c", 3.0, None, date(2026, 1, 5)),
    ]
    frame = spark.createDataFrame(rows, "id string, value double, line string, date date")
    write_partitions(frame, str(tmp_path / "table"), COLUMNS, KEYS)
    return str(tmp_path / "table")


def ids(frame: Any) -> list[str]:
    return sorted(row["id"] for row in frame.collect())


def test_only_the_folders_of_the_touched_partitions_are_read(spark: Any, table: str) -> None:
    frame = read_partitions(spark, table, COLUMNS, KEYS, [{"line": "line1", "date": date(2026, 1, 6)}])
    assert frame is not None
    assert ids(frame) == ["b"]
    assert all("/line=line1/date=2026-01-06/" in name for name in frame.inputFiles())
    assert [row.asDict() for row in frame.select("line", "date").collect()] == [
        {"line": "line1", "date": date(2026, 1, 6)}
    ]


def test_a_partition_naming_only_the_first_keys_reads_everything_below_it(spark: Any, table: str) -> None:
    frame = read_partitions(spark, table, COLUMNS, KEYS, [{"line": "line1"}])
    assert frame is not None and ids(frame) == ["a", "b"]


def test_partitions_without_rows_yet_read_as_nothing(spark: Any, table: str) -> None:
    missing = [{"line": "line9", "date": date(2026, 1, 5)}]
    assert read_partitions(spark, table, COLUMNS, KEYS, missing) is None
    some = read_partitions(spark, table, COLUMNS, KEYS, [*missing, {"line": "line1", "date": date(2026, 1, 5)}])
    assert some is not None and ids(some) == ["a"]


def test_a_value_whose_folder_name_is_escaped_reads_the_table_filtered(spark: Any, table: str) -> None:
    frame = read_partitions(spark, table, COLUMNS, KEYS, [{"line": None, "date": date(2026, 1, 5)}])
    assert frame is not None and ids(frame) == ["c"]
