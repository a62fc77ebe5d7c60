"""Conformed zone -> curated zone, for a set of days: tag aggregates, OEE per shift, downtime events.

Each run recomputes whole partitions of the given days and overwrites them (dynamic partition
overwrite), so re-running a day after late data arrived replaces its figures. Aggregates and downtime
events are filed by UTC day, OEE by the plant-local day a shift starts on.

Conformed values are read from two days before the first day on: the state and counter readings
before a day's first shift set the state it starts in and the counters' baseline (the edge reports by
exception, so a state that did not change is not repeated). Values of quality "bad" are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from .aggregates import hour_aggregates, minute_aggregates
from .config import SiteConfig
from .downtime import downtime_events
from .lake import read_table, require_utc, write_partitions
from .oee import line_shift_oee
from .schemas import CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS, CURATED_TABLES
from .shifts import shift_instances
from .states import state_periods

# Values read before the first day: covers any time zone offset plus one day of state history.
_HISTORY = timedelta(days=2)


@dataclass(frozen=True)
class CurateSummary:
    days: list[date]
    shifts: int  # completed shifts computed


def curate(
    spark: SparkSession,
    *,
    conformed_path: str,
    curated_path: str,
    config: SiteConfig,
    days: Sequence[date],
    as_of: datetime,
) -> CurateSummary:
    """Recompute the curated tables for ``days``; ``as_of`` (aware) closes open states and open shifts."""
    require_utc(spark)
    conformed = read_table(spark, conformed_path, CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS)
    if conformed is None or not days:
        return CurateSummary(days=sorted(days), shifts=0)
    wanted = [F.lit(day) for day in sorted(days)]
    values = (
        conformed.where((F.col("date") >= F.lit(min(days) - _HISTORY)) & (F.col("quality") != "bad"))
        .where(F.col("ts") <= F.lit(as_of))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        minutes = minute_aggregates(values.where(F.col("date").isin(*wanted))).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            write_partitions(minutes, f"{curated_path}/tag_minute", *CURATED_TABLES["tag_minute"])
            write_partitions(hour_aggregates(minutes), f"{curated_path}/tag_hour", *CURATED_TABLES["tag_hour"])
        finally:
            minutes.unpersist()
        periods = state_periods(values, config)
        events = downtime_events(periods).where(F.col("date").isin(*wanted))
        write_partitions(events, f"{curated_path}/downtime_events", *CURATED_TABLES["downtime_events"])
        shifts = shift_instances(config.lines, config.timezone, days)
        oee = line_shift_oee(spark, values, periods, config, shifts, as_of)
        write_partitions(oee, f"{curated_path}/line_shift_oee", *CURATED_TABLES["line_shift_oee"])
    finally:
        values.unpersist()
    return CurateSummary(days=sorted(days), shifts=sum(1 for s in shifts if s.end <= as_of))
