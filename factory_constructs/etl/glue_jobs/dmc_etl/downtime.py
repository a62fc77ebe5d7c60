"""Downtime events: each period a line spends in a state outside its running states."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .lake import line_path_parts


def downtime_events(periods: DataFrame) -> DataFrame:
    """Events from ``states.state_periods``: start, end and duration (null while open) and the state."""
    down = periods.where(~F.col("running"))
    duration = (F.unix_micros(F.col("end_ts")) - F.unix_micros(F.col("start_ts"))) / 1e6
    return down.select(
        *line_path_parts(),
        "state",
        "start_ts",
        "end_ts",
        duration.alias("duration_s"),
        F.to_date("start_ts").alias("date"),
    )
