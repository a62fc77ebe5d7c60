"""Row retention of the Iceberg zones: a table keeps the days its zone's retention names.

The zone buckets have no expiration rule (it would delete data files that live snapshots still
reference), so each job deletes the whole days that fell out of retention. The tables are partitioned
by ``date``, so such a delete drops whole partitions: a metadata commit that rewrites no data file.
The files leave storage when the table optimizers expire the snapshots that still reference them.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import SparkSession


def cutoff(today: date, retention_days: int) -> date:
    """The first day a table keeps: ``retention_days`` whole days up to and including ``today``."""
    if retention_days < 1:
        raise ValueError(f"retention_days {retention_days} is below 1; fix: keep at least one day")
    return today - timedelta(days=retention_days - 1)


def expire_days(spark: SparkSession, table: str, today: date, retention_days: int) -> None:
    """Delete the rows of days before the retention window (no commit when there are none)."""
    first_kept = cutoff(today, retention_days)
    # A string literal compares with a date column as a date and with the rejects' string day as text.
    expired = f"date < '{first_kept.isoformat()}'"
    # Iceberg commits a DELETE even when it matches nothing: ask first (the partition filter prunes the scan).
    if spark.sql(f"SELECT 1 FROM {table} WHERE {expired} LIMIT 1").count():
        spark.sql(f"DELETE FROM {table} WHERE {expired}")


def retention_days(text: str) -> int:
    """The ``--retention_days`` job argument as a number of days."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--retention_days {text!r} is not a positive whole number; fix: pass the zone's retention")
    return int(text)
