"""The statements behind history, aggregates, interpolation and OEE: one text for Athena and local Spark.

``queries.py`` says what the text may contain and why. Every statement filters on the tables' identity
partitions (``area``, ``line``, ``date``) first, so Athena reads only the days of the range, and pages with
a key (``ts, id``; a window start; ``shift_start, shift``) instead of OFFSET, so a page costs the same
however deep it is. Each asks for one row more than the page holds: its presence says there is a next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .queries import day, identifier, integer, text, timestamp

# Windows and the table they are read from when no raw values are needed. 15m and 1d are rolled up
# from the next finer table exactly: count, min, max and sum combine; avg is sum / count.
CURATED_SOURCE = {"1m": "tag_minute", "15m": "tag_minute", "1h": "tag_hour", "1d": "tag_hour"}
WINDOW = {"1m": timedelta(minutes=1), "15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
_TRUNC = {"1m": "minute", "15m": "hour", "1h": "hour", "1d": "day"}


@dataclass(frozen=True)
class TagRef:
    """A tag's place in the lake's partitions."""

    path: str
    area: str
    line: str


def _tag_filter(tag: TagRef, first: date, last: date, prefix: str = "") -> str:
    return (
        f"{prefix}area = {text(tag.area)} AND {prefix}line = {text(tag.line)} "
        f"AND {prefix}date BETWEEN {day(first)} AND {day(last)} AND {prefix}path = {text(tag.path)}"
    )


def _quality(quality: str | None, prefix: str = "") -> str:
    """No filter is "every quality" for raw values; the aggregate readers pass "not bad" themselves."""
    return f" AND {prefix}quality = {text(quality)}" if quality else ""


def raw_history(
    database: str,
    tag: TagRef,
    *,
    after: datetime,
    until: datetime,
    quality: str | None,
    resume: tuple[datetime, str] | None,
    rows: int,
) -> str:
    """Values with ``after < ts <= until`` in (ts, id) order, from ``resume`` (exclusive) on."""
    low = resume[0] if resume else after
    keyset = ""
    if resume:
        keyset = f" AND (ts > {timestamp(resume[0])} OR (ts = {timestamp(resume[0])} AND id > {text(resume[1])}))"
    return (
        "SELECT ts, value_double, value_bool, value_string, unit, quality, id "
        f"FROM {identifier(database)}.tag_values "
        f"WHERE {_tag_filter(tag, low.date(), until.date())} "
        f"AND ts > {timestamp(after)} AND ts <= {timestamp(until)}{_quality(quality)}{keyset} "
        f"ORDER BY ts, id LIMIT {integer(rows)}"
    )


def _buckets(resolution: str, column: str) -> tuple[str, str]:
    """The SELECT expressions of a window (its truncated start, and minutes past it for 15m) and GROUP BY."""
    start = f"date_trunc('{_TRUNC[resolution]}', {column})"
    if resolution == "15m":  # no 15-minute truncation in either engine: the hour, then whole quarters
        minute = f"minute({column}) - minute({column}) % 15"
        return f"{start} AS window_hour, {minute} AS window_minute", f"{start}, {minute}"
    return f"{start} AS window_hour, 0 AS window_minute", start


def curated_aggregates(
    database: str, tag: TagRef, *, resolution: str, first: datetime, end: datetime, rows: int
) -> str:
    """count/min/max/sum per window of ``resolution`` with ``first <= window start < end`` (curated tables)."""
    table = CURATED_SOURCE[resolution]
    select, group = _buckets(resolution, "window_start")
    return (
        f"SELECT {select}, sum(value_count) AS value_count, min(value_min) AS value_min, "
        f"max(value_max) AS value_max, sum(value_sum) AS value_sum "
        f"FROM {identifier(database)}.{table} "
        f"WHERE {_tag_filter(tag, first.date(), end.date())} "
        f"AND window_start >= {timestamp(first)} AND window_start < {timestamp(end)} "
        f"GROUP BY {group} ORDER BY window_hour, window_minute LIMIT {integer(rows)}"
    )


def raw_aggregates(
    database: str, tag: TagRef, *, resolution: str, first: datetime, end: datetime, quality: str | None, rows: int
) -> str:
    """The same windows computed from conformed values (for stddev, or one quality): ``first <= ts < end``."""
    select, group = _buckets(resolution, "ts")
    qualities = _quality(quality) if quality else " AND quality <> 'bad'"
    return (
        f"SELECT {select}, count(value_double) AS value_count, min(value_double) AS value_min, "
        f"max(value_double) AS value_max, sum(value_double) AS value_sum, stddev_samp(value_double) AS value_stddev "
        f"FROM {identifier(database)}.tag_values "
        f"WHERE {_tag_filter(tag, first.date(), end.date())} AND value_double IS NOT NULL "
        f"AND ts >= {timestamp(first)} AND ts < {timestamp(end)}{qualities} "
        f"GROUP BY {group} ORDER BY window_hour, window_minute LIMIT {integer(rows)}"
    )


def interpolation_buckets(
    database: str, tag: TagRef, *, buckets: list[tuple[int, datetime, datetime]], quality: str | None
) -> str:
    """First and last numeric observation in each bucket ``(k, low, high)`` (``low < ts <= high``).

    The buckets are a VALUES table joined on the range, so each value lands in the one bucket that holds
    it without any epoch arithmetic (whose functions differ between Trino and Spark).
    """
    qualities = _quality(quality, "v.") if quality else " AND v.quality <> 'bad'"
    values = ", ".join(f"({integer(k)}, {timestamp(low)}, {timestamp(high)})" for k, low, high in buckets)
    low = min(bucket[1] for bucket in buckets)
    high = max(bucket[2] for bucket in buckets)
    return (
        "SELECT b.k AS k, min(v.ts) AS first_ts, min_by(v.value_double, v.ts) AS first_value, "
        "max(v.ts) AS last_ts, max_by(v.value_double, v.ts) AS last_value "
        f"FROM (VALUES {values}) AS b (k, low, high) "
        f"JOIN {identifier(database)}.tag_values AS v ON v.ts > b.low AND v.ts <= b.high "
        f"WHERE {_tag_filter(tag, low.date(), high.date(), 'v.')} AND v.value_double IS NOT NULL "
        f"AND v.ts > {timestamp(low)} AND v.ts <= {timestamp(high)}{qualities} "
        "GROUP BY b.k ORDER BY k"
    )


def line_oee(
    database: str,
    *,
    area: str,
    line: str,
    after: datetime,
    until: datetime,
    shift: str | None,
    resume: tuple[datetime, str] | None,
    rows: int,
) -> str:
    """Completed shifts with ``after < shift_start <= until``, in (shift_start, shift) order.

    ``date`` is the plant-local day a shift starts on, up to a day off the UTC one: the partition filter
    is one day wider on each side.
    """
    low = resume[0] if resume else after
    shift_filter = f" AND shift = {text(shift)}" if shift else ""
    keyset = ""
    if resume:
        start = timestamp(resume[0])
        keyset = f" AND (shift_start > {start} OR (shift_start = {start} AND shift > {text(resume[1])}))"
    return (
        "SELECT shift, shift_start, shift_end, planned_s, run_s, total_count, good_count, "
        "availability, performance, quality, oee "
        f"FROM {identifier(database)}.line_shift_oee "
        f"WHERE area = {text(area)} AND line = {text(line)} "
        f"AND date BETWEEN {day(low.date() - timedelta(days=1))} AND {day(until.date() + timedelta(days=1))} "
        f"AND shift_start > {timestamp(after)} AND shift_start <= {timestamp(until)}{shift_filter}{keyset} "
        f"ORDER BY shift_start, shift LIMIT {integer(rows)}"
    )
