"""Time travel for audit: a conformed table read as it was, by time and by snapshot, in Spark's API and SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dmc_etl.time_travel import as_of, snapshots

from tests.etl.conftest import write_raw
from tests.etl.test_conform import batch, conform_into, tag_values, value

pytestmark = pytest.mark.spark


def ids(frame: Any) -> list[str]:
    return sorted(row.id for row in frame.collect())


@pytest.fixture
def two_runs(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> str:
    """The conformed table after two runs: gw-01:1 merged by the first, gw-01:2 by the second."""
    database = databases[0]
    first = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "a.json", [batch(0, [value("filler/speed", 1.0, 1)])]
    )
    conform_into(spark, database, first)
    second = [value("filler/speed", 1.0, 1), value("filler/speed", 2.0, 2)]  # a copy, and a new value
    conform_into(
        spark,
        database,
        write_raw(tmp_path / "raw", "filling", "line1", "2026-01-05", "09", "b.json", [batch(1, second)]),
    )
    return tag_values(database)


def test_a_row_merged_later_is_absent_as_of_before(spark: Any, two_runs: str) -> None:
    before, after = snapshots(spark, two_runs)
    assert (before.operation, after.operation, after.parent_id) == ("append", "append", before.snapshot_id)
    assert before.committed_at <= after.committed_at and before.committed_at.tzinfo is UTC
    assert ids(as_of(spark, two_runs, timestamp=before.committed_at)) == ["gw-01:1"]
    assert ids(as_of(spark, two_runs, snapshot_id=before.snapshot_id)) == ["gw-01:1"]
    assert ids(as_of(spark, two_runs, timestamp=after.committed_at)) == ["gw-01:1", "gw-01:2"]
    assert ids(spark.table(two_runs)) == ["gw-01:1", "gw-01:2"]


def test_the_documented_sql_reads_the_same(spark: Any, two_runs: str) -> None:
    before, _ = snapshots(spark, two_runs)
    moment = before.committed_at.strftime("%Y-%m-%d %H:%M:%S.%f")  # the session time zone is UTC
    assert ids(spark.sql(f"SELECT id FROM {two_runs} TIMESTAMP AS OF '{moment}'")) == ["gw-01:1"]
    assert ids(spark.sql(f"SELECT id FROM {two_runs} VERSION AS OF {before.snapshot_id}")) == ["gw-01:1"]


def test_a_time_before_the_first_snapshot_is_refused(spark: Any, two_runs: str) -> None:
    first, _ = snapshots(spark, two_runs)
    with pytest.raises(Exception, match="Cannot find a snapshot older than"):
        as_of(spark, two_runs, timestamp=first.committed_at - timedelta(days=1)).collect()


def test_the_moment_must_be_one_aware_time_or_one_snapshot(spark: Any) -> None:
    with pytest.raises(ValueError) as both:
        as_of(spark, "lake.x.y", timestamp=datetime(2026, 1, 5, 12, 0), snapshot_id=1)
    assert str(both.value) == (
        "pass exactly one of timestamp and snapshot_id; fix: name the moment or the snapshot\n"
        "timestamp 2026-01-05T12:00:00 has no time zone; fix: pass an aware datetime"
    )
    with pytest.raises(
        ValueError, match=r"^pass exactly one of timestamp and snapshot_id; fix: name the moment or the snapshot$"
    ):
        as_of(spark, "lake.x.y")
