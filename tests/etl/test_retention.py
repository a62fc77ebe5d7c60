"""Row retention of the Iceberg zones (dmc_etl/retention.py) on the local Iceberg catalog."""

from datetime import date

import pytest
from dmc_etl.catalog import LOCAL_CATALOG, table_name
from dmc_etl.retention import cutoff, expire_days

pytestmark = pytest.mark.spark


def test_cutoff_keeps_retention_days_whole_days_up_to_today() -> None:
    assert cutoff(date(2026, 3, 10), 1) == date(2026, 3, 10)
    assert cutoff(date(2026, 3, 10), 10) == date(2026, 3, 1)
    with pytest.raises(ValueError, match=r"^retention_days 0 is below 1; fix: keep at least one day$"):
        cutoff(date(2026, 3, 10), 0)


def test_expire_days_drops_whole_old_partitions_without_rewriting_kept_files(spark, databases) -> None:
    table = table_name(LOCAL_CATALOG, databases[1], "downtime_events")
    rows = [("plantA", "stopped", day, "filling", "line1", date(2026, 3, day)) for day in (1, 2, 9, 10)]
    spark.createDataFrame(rows, "site string, state string, day int, area string, line string, date date").selectExpr(
        "site",
        "state",
        "cast(null as timestamp) start_ts",
        "cast(null as timestamp) end_ts",
        "cast(day as double) duration_s",
        "area",
        "line",
        "date",
    ).writeTo(table).append()
    kept_files = {
        row.file_path
        for row in spark.sql(f"SELECT file_path FROM {table}.files WHERE partition.date >= DATE '2026-03-09'").collect()
    }

    expire_days(spark, table, date(2026, 3, 10), 2)

    assert sorted(row.date.day for row in spark.table(table).collect()) == [9, 10]
    assert {row.file_path for row in spark.sql(f"SELECT file_path FROM {table}.files").collect()} == kept_files
    (operation,) = [
        row.operation
        for row in spark.sql(f"SELECT operation FROM {table}.snapshots ORDER BY committed_at DESC LIMIT 1").collect()
    ]
    assert operation == "delete"


def test_expire_days_commits_nothing_when_no_day_is_out_of_retention(spark, databases) -> None:
    table = table_name(LOCAL_CATALOG, databases[0], "tag_values")
    expire_days(spark, table, date(2026, 3, 10), 2)
    assert spark.table(f"{table}.snapshots").count() == 0
