"""Availability, performance, quality and OEE per line and shift.

* availability = run time / planned shift time, where run time is the time the state tag spent in one
  of the line's running states (the last known state holds until the next change, or until ``as_of``);
* performance = ideal_cycle_time_s * total count / run time (null without run time);
* quality = good count / total count (null without production);
* OEE = availability * performance * quality, and 0 when the line never ran.

Counts come from cumulative counters: each reading adds its increase over the previous reading of the
same counter, and a reading below the previous one is a counter reset (it adds its own value, the
count since the reset). A reading belongs to the shift with start < ts <= end, because its increase
happened before it was read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from .config import SiteConfig
from .lake import line_path_parts
from .shifts import ShiftInstance


def _seconds(later: str, earlier: str) -> F.Column:
    return (F.unix_micros(F.col(later)) - F.unix_micros(F.col(earlier))) / 1e6


def _shifts(spark: SparkSession, shifts: Sequence[ShiftInstance]) -> DataFrame:
    # Epoch seconds, not datetimes: pyspark would convert naive datetimes through the local time zone.
    rows = [(s.line_path, s.shift, s.day, s.start.timestamp(), s.end.timestamp()) for s in shifts]
    frame = spark.createDataFrame(rows, "line_path string, shift string, date date, start double, end double")
    return frame.select(
        "line_path",
        "shift",
        "date",
        F.timestamp_seconds("start").alias("shift_start"),
        F.timestamp_seconds("end").alias("shift_end"),
    )


def _run_seconds(periods: DataFrame, shifts: DataFrame, as_of: datetime) -> DataFrame:
    running = periods.where("running").select(
        "line_path",
        F.col("start_ts").alias("run_start"),
        F.coalesce("end_ts", F.lit(as_of)).alias("run_end"),
    )
    overlap = shifts.join(
        running,
        (shifts.line_path == running.line_path)
        & (running.run_start < shifts.shift_end)
        & (running.run_end > shifts.shift_start),
    ).select(
        shifts.line_path,
        "shift_start",
        F.greatest("run_start", "shift_start").alias("from"),
        F.least("run_end", "shift_end").alias("to"),
    )
    return overlap.groupBy("line_path", "shift_start").agg(F.sum(_seconds("to", "from")).alias("run_s"))


def _counts(values: DataFrame, shifts: DataFrame, config: SiteConfig) -> DataFrame:
    kinds = {line.tag_path(line.good_count_tag): "good" for line in config.lines}
    kinds.update({line.tag_path(line.total_count_tag): "total" for line in config.lines})
    counters = values.where(F.col("path").isin(list(kinds)) & F.col("value_double").isNotNull())
    previous = F.lag("value_double").over(Window.partitionBy("path").orderBy("ts", "seq"))
    increments = counters.select(
        F.substring_index("path", "/", 4).alias("line_path"),
        F.create_map(*[F.lit(x) for pair in kinds.items() for x in pair])[F.col("path")].alias("kind"),
        "ts",
        F.when(previous.isNull(), 0.0)
        .when(F.col("value_double") >= previous, F.col("value_double") - previous)
        .otherwise(F.col("value_double"))
        .alias("increment"),
    )
    joined = shifts.join(
        increments,
        (shifts.line_path == increments.line_path)
        & (increments.ts > shifts.shift_start)
        & (increments.ts <= shifts.shift_end),
    )
    return joined.groupBy(shifts.line_path, "shift_start").agg(
        F.sum(F.when(F.col("kind") == "good", F.col("increment"))).alias("good"),
        F.sum(F.when(F.col("kind") == "total", F.col("increment"))).alias("total"),
    )


def line_shift_oee(
    spark: SparkSession,
    values: DataFrame,
    periods: DataFrame,
    config: SiteConfig,
    shifts: Sequence[ShiftInstance],
    as_of: datetime,
) -> DataFrame:
    """One row per line and shift of ``shifts`` that ended by ``as_of``, from conformed values and state periods."""
    ended = [s for s in shifts if s.end <= as_of]
    frame = _shifts(spark, ended)
    cycle = F.create_map(*[F.lit(x) for line in config.lines for x in (line.line_path, line.ideal_cycle_time_s)])
    joined = frame.join(_run_seconds(periods, frame, as_of), ["line_path", "shift_start"], "left").join(
        _counts(values, frame, config), ["line_path", "shift_start"], "left"
    )
    planned = _seconds("shift_end", "shift_start")
    run = F.coalesce(F.col("run_s"), F.lit(0.0))
    total = F.coalesce(F.col("total"), F.lit(0.0))
    good = F.coalesce(F.col("good"), F.lit(0.0))
    availability = run / planned
    performance = F.when(run > 0, cycle[F.col("line_path")] * total / run)
    quality = F.when(total > 0, good / total)
    return joined.select(
        *line_path_parts(),
        "date",
        "shift",
        "shift_start",
        "shift_end",
        planned.alias("planned_s"),
        run.alias("run_s"),
        total.cast("bigint").alias("total_count"),
        good.cast("bigint").alias("good_count"),
        availability.alias("availability"),
        performance.alias("performance"),
        quality.alias("quality"),
        F.when(availability == 0, 0.0).otherwise(availability * performance * quality).alias("oee"),
    )
