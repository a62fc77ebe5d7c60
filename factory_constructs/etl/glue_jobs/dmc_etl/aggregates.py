"""Per-tag aggregates over fixed windows: 1 minute from the values, 1 hour from the minutes."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

_TAG = ["site", "area", "line", "cell", "tag", "path", "unit"]


def minute_aggregates(values: DataFrame) -> DataFrame:
    """Count, min, max, avg, sum, first and last of each tag's numeric values per UTC minute."""
    numeric = values.where(F.col("value_double").isNotNull())
    # Values of one timestamp are ordered by the gateway's sequence number, so first/last are stable.
    order = F.struct("ts", "seq")
    minutes = numeric.groupBy(*_TAG, F.date_trunc("minute", "ts").alias("window_start")).agg(
        F.count("*").alias("value_count"),
        F.min("value_double").alias("value_min"),
        F.max("value_double").alias("value_max"),
        F.avg("value_double").alias("value_avg"),
        F.sum("value_double").alias("value_sum"),
        F.min_by("value_double", order).alias("first_value"),
        F.min("ts").alias("first_ts"),
        F.max_by("value_double", order).alias("last_value"),
        F.max("ts").alias("last_ts"),
    )
    return _dated(minutes, "1 minute")


def hour_aggregates(minutes: DataFrame) -> DataFrame:
    """The minute aggregates rolled up per UTC hour (exact: counts and sums add, extremes compare)."""
    hours = minutes.groupBy(*_TAG, F.date_trunc("hour", "window_start").alias("window_start")).agg(
        F.sum("value_count").alias("value_count"),
        F.min("value_min").alias("value_min"),
        F.max("value_max").alias("value_max"),
        F.sum("value_sum").alias("value_sum"),
        F.min_by("first_value", "first_ts").alias("first_value"),
        F.min("first_ts").alias("first_ts"),
        F.max_by("last_value", "last_ts").alias("last_value"),
        F.max("last_ts").alias("last_ts"),
    )
    return _dated(hours.withColumn("value_avg", F.col("value_sum") / F.col("value_count")), "1 hour")


def _dated(windows: DataFrame, length: str) -> DataFrame:
    return windows.withColumn("window_end", F.col("window_start") + F.expr(f"INTERVAL {length}")).withColumn(
        "date", F.to_date("window_start")
    )
