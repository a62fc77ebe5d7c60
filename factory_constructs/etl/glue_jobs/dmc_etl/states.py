"""Machine state of each line over time, from its state tag: the periods between state changes."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from .config import LineConfig, SiteConfig


def _matches(state: str) -> Column:
    """A configured state against a conformed value: strings compare as text, numbers and booleans by value."""
    if state in ("true", "false"):
        return F.col("value_bool") == (state == "true")
    try:
        return F.col("value_double") == float(state)
    except ValueError:
        return F.col("value_string") == state


def _running(line: LineConfig) -> Column:
    condition = F.lit(False)
    for state in line.running_states:
        condition = condition | _matches(state)
    return (F.col("path") == line.tag_path(line.state_tag)) & condition


def state_text(value_double: Column, value_bool: Column, value_string: Column) -> Column:
    """A state as text: the string, "true"/"false", or the number without a needless ".0"."""
    whole = value_double == F.floor(value_double)
    number = F.when(whole, value_double.cast("bigint").cast("string")).otherwise(value_double.cast("string"))
    return F.coalesce(value_string, value_bool.cast("string"), number)


def state_periods(values: DataFrame, config: SiteConfig) -> DataFrame:
    """One row per state change of each line: line_path, state, running, start_ts, end_ts (null while open).

    Repeated values of the same state (re-sends, restarts) do not start a new period.
    """
    state_paths = [line.tag_path(line.state_tag) for line in config.lines]
    running = F.lit(False)
    for line in config.lines:
        running = running | _running(line)
    states = values.where(F.col("path").isin(state_paths)).select(
        F.substring_index("path", "/", 4).alias("line_path"),
        "ts",
        "seq",
        state_text(F.col("value_double"), F.col("value_bool"), F.col("value_string")).alias("state"),
        F.coalesce(running, F.lit(False)).alias("running"),
    )
    by_time = Window.partitionBy("line_path").orderBy("ts", "seq")
    changes = states.withColumn("previous", F.lag("state").over(by_time)).where(
        F.col("previous").isNull() | (F.col("previous") != F.col("state"))
    )
    return changes.select(
        "line_path",
        "state",
        "running",
        F.col("ts").alias("start_ts"),
        F.lead("ts").over(by_time).alias("end_ts"),
    )
