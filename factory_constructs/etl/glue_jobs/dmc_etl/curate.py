"""Conformed zone -> curated zone, incrementally: each run recomputes only the windows that received
new conformed rows since the last run, and replaces exactly those in the curated tables.

What a run recomputes (conformed values of quality "bad" are left out everywhere, so new bad values
change nothing):
* tag aggregates (``tag_minute``, ``tag_hour``): every (line, UTC hour) that received a value; the
  minutes and the hour of all tags of the line in that hour, from that hour's conformed rows;
* line state (``downtime_events``) and OEE (``line_shift_oee``), per configured line, from the first
  new value of its state tag (downtime) or of its state or counter tags (OEE) on to the end of the
  data: a value changes the state from its instant until the next value, and a counter reading changes
  the increment of the next reading, which may lie shifts later. So the downtime events from the one
  in progress at that instant on, and the ended shifts from the one holding it on, are recomputed.
  Late data mostly arrives as a gateway's replay up to now, which this covers exactly; a lone late
  value of an old hour costs the line's state and counter values since then;
* the shifts that ended since the last run's ``as_of``, for every configured line (also those that sent
  nothing: a shift without data has an OEE of 0).
``lookback_days`` adds whole days (a backfill): the UTC and plant-local days of the last
``lookback_days`` days up to ``as_of``, every line and hour of them, with the incremental windows.

Windows around a recomputed span are read as far as they matter: the state in force at its start and
each counter's previous reading come from the last value before it, looked for over at most
``_HISTORY`` (as before: an older state that was not re-sent is unknown until its next value, and a
counter silent for longer takes its next reading as the baseline); the downtime event in progress at
the first new state value is found in ``downtime_events`` itself, however long ago it started.

``as_of`` (aware) decides which shifts have ended: only those are written, and an open running
period counts up to ``as_of`` (never past a written shift's end). The curated windows are otherwise a
function of the conformed rows alone, so a run leaves nothing to be picked up later: a value after
``as_of`` (a gateway clock ahead) is aggregated like any other, and a downtime event is open (no end)
while the data shows no next state.

Every curated table is written with one Iceberg MERGE for exactly the recomputed windows
(``increments.replace_rows``, which says why MERGE); then, when given, ``announce`` is told what was
written (the job publishes it on the site's bus, ``events``); the state (the conformed snapshot
processed) is written last. A run that fails midway leaves the state as it was, so the next run
recomputes the same windows again (and announces them again), and replacing a window with its
recomputation is idempotent.
Aggregates and downtime events are filed by UTC day, OEE by the plant-local day a shift starts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from .aggregates import hour_aggregates, minute_aggregates
from .catalog import table_name
from .config import LineConfig, SiteConfig
from .downtime import downtime_events
from .events import CuratedRun, Span, TableWrite
from .increments import (
    CurateState,
    Partition,
    conformed_changes,
    partitions_of,
    read_at,
    read_state,
    replace_rows,
    write_state,
)
from .lake import partition_predicate, require_utc, shaped, sql_literal
from .oee import line_shift_oee
from .schemas import CURATED_TABLES
from .shifts import ShiftInstance, shift_instances
from .states import state_periods

CONFORMED_TABLE = "tag_values"
# How far back the last value before a recomputed span is looked for, in growing steps: most lines
# send their state and counters often, so the first, cheapest step usually finds them.
_CONTEXT_STEPS = (timedelta(hours=1), timedelta(hours=12), timedelta(days=2))
_HISTORY = _CONTEXT_STEPS[-1]
# Beyond this many partitions a read or a MERGE names no partitions as literals (an expression of
# thousands of terms costs more to plan than it saves): a first run or a long backfill, which reads
# most of the table anyway.
_LITERAL_PARTITIONS = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class CurateSummary:
    """What one run did: the conformed snapshots it went from and to, and what it recomputed."""

    conformed_snapshot: int | None  # the conformed snapshot the curated tables now reflect
    previous_snapshot: int | None  # the one processed before (None: first run)
    hours: int  # (line, UTC hour) windows whose minute and hour aggregates were recomputed
    shifts: int  # ended (line, shift) periods whose OEE was recomputed
    downtime_lines: int  # lines whose downtime events were recomputed from some instant on
    written: list[str] = field(default_factory=list)  # curated tables that received a commit


def lookback_dates(as_of: datetime, timezone: str, lookback_days: int) -> list[date]:
    """The UTC and plant-local calendar days of the last ``lookback_days`` days up to ``as_of``."""
    zones = (UTC, ZoneInfo(timezone))
    return sorted({(as_of - timedelta(days=i)).astimezone(zone).date() for zone in zones for i in range(lookback_days)})


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _instant(moment: datetime) -> Column:
    """An aware datetime as a Spark timestamp (epoch micros: no trip through the local time zone)."""
    return F.timestamp_micros(F.lit(_micros(moment)))


def _any(conditions: Iterable[Column]) -> Column:
    return reduce(lambda a, b: a | b, conditions, F.lit(False))


def _line_parts(line: LineConfig) -> tuple[str, str, str]:
    """(site, area, line) of a configured line (its path is enterprise/site/area/line)."""
    _, site, area, name = line.line_path.split("/")
    return site, area, name


def _partition_sql(partitions: Iterable[Partition]) -> str:
    """A literal predicate on ``t`` that holds in ``partitions``, or "true" when there are too many."""
    unique = sorted(set(partitions))
    if len(unique) > _LITERAL_PARTITIONS:
        return "true"
    return partition_predicate("t", [{"area": area, "line": line, "date": day} for area, line, day in unique])


# ---- what the new rows touch ---------------------------------------------------------------------


@dataclass
class _Touched:
    """What the new rows and the partitions recomputed whole touch."""

    hours: dict[Partition, set[int]] = field(default_factory=dict)  # UTC hours (epoch micros) per partition
    state: dict[str, datetime] = field(default_factory=dict)  # per line path: first changed state instant
    oee: dict[str, datetime] = field(default_factory=dict)  # per line path: first changed state or count

    def add_line(self, line_path: str, moment: datetime, *, state: bool) -> None:
        if state:
            self.state[line_path] = min(moment, self.state.get(line_path, moment))
        self.oee[line_path] = min(moment, self.oee.get(line_path, moment))


def _touched(
    appended: DataFrame | None, whole: Iterable[Partition], config: SiteConfig, backfill_from: datetime | None
) -> _Touched:
    """The hours and line spans to recompute. The new rows are summarised in one pass: per partition,
    hour and (for the lines' state and counter tags) tag path, the first instant."""
    touched = _Touched()
    paths: dict[str, tuple[str, bool]] = {}
    for line in config.lines:
        paths[line.tag_path(line.state_tag)] = (line.line_path, True)
        for tag in (line.good_count_tag, line.total_count_tag):
            paths[line.tag_path(tag)] = (line.line_path, False)
    if appended is not None:
        line_path = F.when(F.col("path").isin(list(paths)), F.col("path")).alias("line_tag")
        hour = F.unix_micros(F.date_trunc("hour", "ts")).alias("hour")
        keys = (
            appended.where(F.col("quality") != "bad")
            .groupBy("area", "line", "date", hour, line_path)
            .agg(F.min(F.unix_micros("ts")).alias("first"))
            .collect()
        )
        for row in keys:
            touched.hours.setdefault((row.area, row.line, row.date), set()).add(row.hour)
            if row.line_tag is not None:
                owner, is_state = paths[row.line_tag]
                touched.add_line(owner, _from_micros(row.first), state=is_state)
    by_partition = {_line_parts(line)[1:]: line.line_path for line in config.lines}
    for area, line_name, day in whole:
        start = datetime.combine(day, time(), tzinfo=UTC)
        touched.hours.setdefault((area, line_name, day), set()).update(_micros(start + i * _HOUR) for i in range(24))
        configured = by_partition.get((area, line_name))
        if configured is not None:
            touched.add_line(configured, start, state=True)
    if backfill_from is not None:
        for line in config.lines:
            touched.add_line(line.line_path, backfill_from, state=True)
    return touched


# ---- tag aggregates: (line, UTC hour) windows ----------------------------------------------------


def _hour_ranges(hours: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive hours (epoch micros) as [start, end) ranges."""
    step = _micros(_EPOCH + _HOUR)
    ranges: list[tuple[int, int]] = []
    for hour in sorted(hours):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + step)
        else:
            ranges.append((hour, hour + step))
    return ranges


def _values_in_hours(conformed: DataFrame, hours: dict[Partition, set[int]]) -> DataFrame:
    """The conformed values of ``hours``: a literal predicate per partition (Iceberg prunes partitions,
    and files by their ts bounds), or a join with the hours when there are too many partitions."""
    good = conformed.where(F.col("quality") != "bad")
    if len(hours) > _LITERAL_PARTITIONS:
        spark = conformed.sparkSession
        keys = spark.createDataFrame(
            [(area, line, day, hour) for (area, line, day), found in hours.items() for hour in found],
            "area string, line string, date date, hour bigint",
        )
        hour = F.unix_micros(F.date_trunc("hour", "ts")).alias("hour")
        return good.join(F.broadcast(keys), ["area", "line", "date"]).where(hour == F.col("hour")).drop("hour")
    conditions = []
    for (area, line, day), found in hours.items():
        in_partition = (F.col("area") == area) & (F.col("line") == line) & (F.col("date") == F.lit(day))
        ranges = [
            (F.col("ts") >= F.timestamp_micros(F.lit(start))) & (F.col("ts") < F.timestamp_micros(F.lit(end)))
            for start, end in _hour_ranges(found)
        ]
        conditions.append(in_partition & _any(ranges))
    return good.where(_any(conditions))


def _hour_spans(hours: dict[Partition, set[int]]) -> tuple[Span, ...]:
    """Per line, the span of the recomputed ``hours``: from the first one's start to the last one's end."""
    by_line: dict[tuple[str, str], list[tuple[date, int]]] = {}
    for (area, line, day), found in hours.items():
        by_line.setdefault((area, line), []).extend((day, hour) for hour in found)
    return tuple(
        Span(
            area,
            line,
            first_date=min(day for day, _ in found),
            last_date=max(day for day, _ in found),
            start=_from_micros(min(hour for _, hour in found)),
            end=_from_micros(max(hour for _, hour in found)) + _HOUR,
        )
        for (area, line), found in sorted(by_line.items())
    )


def _write_aggregates(
    spark: SparkSession, conformed: DataFrame, curated: dict[str, str], hours: dict[Partition, set[int]]
) -> list[TableWrite]:
    """Recompute and replace the minute and hour aggregates of ``hours``; what was written."""
    scope = spark.createDataFrame(
        [(area, line, day, hour) for (area, line, day), found in hours.items() for hour in found],
        "_scope_area string, _scope_line string, _scope_date date, _scope_hour bigint",
    ).withColumn("_scope_hour", F.timestamp_micros("_scope_hour"))
    match = (
        "t.area = s._scope_area AND t.line = s._scope_line AND t.date = s._scope_date "
        "AND date_trunc('HOUR', t.window_start) = s._scope_hour"
    )
    prune = _partition_sql(hours)
    minutes = minute_aggregates(_values_in_hours(conformed, hours)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        for name, rows in (("tag_minute", minutes), ("tag_hour", hour_aggregates(minutes))):
            replace_rows(spark, curated[name], shaped(rows, *CURATED_TABLES[name]), scope, match, prune)
    finally:
        minutes.unpersist()
    spans = _hour_spans(hours)
    return [TableWrite("tag_minute", spans), TableWrite("tag_hour", spans)]


# ---- line state and OEE: spans from an instant on ------------------------------------------------


def _shifts(
    config: SiteConfig, oee_from: dict[str, datetime], ended_after: datetime | None, as_of: datetime
) -> list[ShiftInstance]:
    """The shifts ended by ``as_of`` that end at or after their line's ``oee_from``, or after
    ``ended_after`` (every line)."""
    bounds = [*oee_from.values(), *([ended_after] if ended_after else [])]
    if not bounds:
        return []
    zone = ZoneInfo(config.timezone)
    first = (min(bounds) - timedelta(days=1)).astimezone(zone).date()
    last = as_of.astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    chosen = []
    for shift in shift_instances(config.lines, config.timezone, days):
        if shift.end > as_of:
            continue
        since = oee_from.get(shift.line_path)
        if (since is not None and shift.end >= since) or (ended_after is not None and shift.end > ended_after):
            chosen.append(shift)
    return chosen


@dataclass(frozen=True)
class _InProgress:
    """A line's downtime event in progress just before its first changed state instant."""

    start: datetime
    state: str


def _events_in_progress(
    spark: SparkSession, downtime_table: str, lines: dict[str, LineConfig], state_from: dict[str, datetime]
) -> dict[str, _InProgress]:
    """Per line: the downtime event in progress just before ``state_from`` (it gets a new end, or
    vanishes, so it is recomputed too), read from ``downtime_events`` itself: it may have started long
    before any value this run reads, and its start is all a recomputation needs of what came before.
    When two overlap (they should not), the earliest is taken: recomputing more is safe."""
    conditions = []
    for line_path, moment in state_from.items():
        site, area, name = _line_parts(lines[line_path])
        conditions.append(
            (F.col("site") == site)
            & (F.col("area") == area)
            & (F.col("line") == name)
            & (F.col("date") <= F.lit(moment.date()))
            & (F.col("start_ts") < _instant(moment))
            & (F.col("end_ts").isNull() | (F.col("end_ts") >= _instant(moment)))
        )
    if not conditions:
        return {}
    first = F.min(F.struct(F.unix_micros("start_ts").alias("start"), F.col("state"))).alias("first")
    found = spark.table(downtime_table).where(_any(conditions)).groupBy("site", "area", "line").agg(first).collect()
    started = {
        (row.site, row.area, row.line): _InProgress(_from_micros(row.first.start), row.first.state) for row in found
    }
    return {
        line_path: started[_line_parts(lines[line_path])]
        for line_path in state_from
        if _line_parts(lines[line_path]) in started
    }


def _last_before(good: DataFrame, wanted: dict[str, tuple[LineConfig, datetime]]) -> dict[str, datetime]:
    """Per tag path: the instant of its last value before the given instant, looked for in growing steps
    back to ``_HISTORY``; paths without one in that time are left out."""
    found: dict[str, datetime] = {}
    pending = dict(wanted)
    nearer = timedelta(0)
    for step in _CONTEXT_STEPS:
        if not pending:
            break
        conditions = []
        for path, (line, moment) in pending.items():
            _, area, name = _line_parts(line)
            start, end = moment - step, moment - nearer
            conditions.append(
                (F.col("area") == area)
                & (F.col("line") == name)
                & F.col("date").between(F.lit(start.date()), F.lit(end.date()))
                & (F.col("path") == path)
                & (F.col("ts") >= _instant(start))
                & (F.col("ts") < _instant(end))
            )
        rows = good.where(_any(conditions)).groupBy("path").agg(F.max(F.unix_micros("ts")).alias("last")).collect()
        for row in rows:
            found[row.path] = _from_micros(row.last)
            pending.pop(row.path, None)
        nearer = step
    return found


def _line_values(good: DataFrame, reads: dict[str, tuple[LineConfig, datetime]]) -> DataFrame:
    """The values of each path from its instant on (to the end of the data)."""
    conditions = []
    for path, (line, moment) in reads.items():
        _, area, name = _line_parts(line)
        conditions.append(
            (F.col("area") == area)
            & (F.col("line") == name)
            & (F.col("date") >= F.lit(moment.date()))
            & (F.col("path") == path)
            & (F.col("ts") >= _instant(moment))
        )
    return good.where(_any(conditions))


def _write_lines(
    spark: SparkSession,
    conformed: DataFrame,
    curated: dict[str, str],
    config: SiteConfig,
    state_from: dict[str, datetime],
    shifts: Sequence[ShiftInstance],
    as_of: datetime,
) -> list[TableWrite]:
    """Recompute and replace the downtime events of each line of ``state_from`` from the one in progress
    at that instant on, and the OEE of ``shifts``; what was written."""
    lines = {line.line_path: line for line in config.lines}
    in_progress = _events_in_progress(spark, curated["downtime_events"], lines, state_from)
    events_from = {
        path: min(moment, in_progress[path].start) if path in in_progress else moment
        for path, moment in state_from.items()
    }
    shifts_from: dict[str, datetime] = {}
    for shift in shifts:
        shifts_from[shift.line_path] = min(shift.start, shifts_from.get(shift.line_path, shift.start))
    # The instant each tag path is needed from: the state from the earlier of its first change and the
    # first shift's start, the counters from the first shift's start; each is then read from its last
    # value before that instant, which sets the state in force there and the counters' baseline.
    needed: dict[str, tuple[LineConfig, datetime]] = {}
    for line_path in state_from.keys() | shifts_from.keys():
        line = lines[line_path]
        moments = [m for m in (state_from.get(line_path), shifts_from.get(line_path)) if m is not None]
        needed[line.tag_path(line.state_tag)] = (line, min(moments))
        if line_path in shifts_from:
            for tag in (line.good_count_tag, line.total_count_tag):
                needed[line.tag_path(tag)] = (line, shifts_from[line_path])
    good = conformed.where(F.col("quality") != "bad")
    before = _last_before(good, needed)
    reads = {path: (line, before.get(path, moment)) for path, (line, moment) in needed.items()}
    values = _line_values(good, reads)
    if in_progress:
        # The event in progress starts the line's state history: the values between its start and the
        # first one read repeat its state (it was still in progress), so they are not read again.
        starts = spark.createDataFrame(
            [
                (lines[path].tag_path(lines[path].state_tag), _micros(event.start), event.state)
                for path, event in in_progress.items()
            ],
            "path string, ts bigint, value_string string",
        ).select("path", F.timestamp_micros("ts").alias("ts"), F.lit(-1).cast("bigint").alias("seq"), "value_string")
        values = values.unionByName(starts, allowMissingColumns=True)
    values = values.persist(StorageLevel.MEMORY_AND_DISK)
    written: list[TableWrite] = []
    try:
        periods = state_periods(values, config).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            if events_from:
                written.append(_write_events(spark, curated, lines, periods, events_from))
            if shifts:
                oee = line_shift_oee(spark, values, periods, config, shifts, as_of)
                written.append(_write_oee(spark, curated, lines, oee, shifts))
        finally:
            periods.unpersist()
    finally:
        values.unpersist()
    return written


def _write_events(
    spark: SparkSession,
    curated: dict[str, str],
    lines: dict[str, LineConfig],
    periods: DataFrame,
    events_from: dict[str, datetime],
) -> TableWrite:
    scope_rows = [(*_line_parts(lines[path]), _micros(moment)) for path, moment in events_from.items()]
    scope = spark.createDataFrame(
        scope_rows, "_scope_site string, _scope_area string, _scope_line string, _scope_from bigint"
    ).withColumn("_scope_from", F.timestamp_micros("_scope_from"))
    since = spark.createDataFrame(
        [(path, _micros(moment)) for path, moment in events_from.items()], "line_path string, from_ts bigint"
    ).withColumn("from_ts", F.timestamp_micros("from_ts"))
    recomputed = periods.join(F.broadcast(since), "line_path").where(F.col("start_ts") >= F.col("from_ts"))
    match = (
        "t.site = s._scope_site AND t.area = s._scope_area AND t.line = s._scope_line AND t.start_ts >= s._scope_from"
    )
    prune = " OR ".join(
        f"(t.area = {sql_literal(area)} AND t.line = {sql_literal(line)} "
        f"AND t.date >= {sql_literal(_from_micros(start).date())})"
        for _, area, line, start in scope_rows
    )
    name = "downtime_events"
    replace_rows(spark, curated[name], shaped(downtime_events(recomputed), *CURATED_TABLES[name]), scope, match, prune)
    # Recomputed from each line's instant on to the end of the data: the spans have no end.
    spans = tuple(
        Span(area, line, first_date=_from_micros(start).date(), last_date=None, start=_from_micros(start), end=None)
        for _, area, line, start in scope_rows
    )
    return TableWrite(name, spans)


def _write_oee(
    spark: SparkSession,
    curated: dict[str, str],
    lines: dict[str, LineConfig],
    oee: DataFrame,
    shifts: Sequence[ShiftInstance],
) -> TableWrite:
    keys = sorted({(*_line_parts(lines[s.line_path]), s.day, s.shift) for s in shifts})
    scope = spark.createDataFrame(
        keys, "_scope_site string, _scope_area string, _scope_line string, _scope_date date, _scope_shift string"
    )
    match = (
        "t.site = s._scope_site AND t.area = s._scope_area AND t.line = s._scope_line "
        "AND t.date = s._scope_date AND t.shift = s._scope_shift"
    )
    prune = _partition_sql((area, line, day) for _, area, line, day, _ in keys)
    name = "line_shift_oee"
    # Kept: the MERGE computes the rows, and the announcement takes them from here (one per line and shift).
    rows = shaped(oee, *CURATED_TABLES[name]).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        replace_rows(spark, curated[name], rows, scope, match, prune)
        collected = tuple(_aware(row.asDict()) for row in rows.collect())
    finally:
        rows.unpersist()
    return TableWrite(name, _shift_spans(lines, shifts), collected)


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    """A collected row with its timestamps as aware UTC datetimes (Spark returns them naive, in the
    session's time zone, which ``require_utc`` holds at UTC)."""
    return {name: value.replace(tzinfo=UTC) if isinstance(value, datetime) else value for name, value in row.items()}


def _shift_spans(lines: dict[str, LineConfig], shifts: Sequence[ShiftInstance]) -> tuple[Span, ...]:
    """Per line, the span of its recomputed ``shifts``, in the partitions of the days they start on."""
    by_line: dict[str, list[ShiftInstance]] = {}
    for shift in shifts:
        by_line.setdefault(shift.line_path, []).append(shift)
    spans = []
    for line_path, found in sorted(by_line.items()):
        _, area, line = _line_parts(lines[line_path])
        spans.append(
            Span(
                area,
                line,
                first_date=min(s.day for s in found),
                last_date=max(s.day for s in found),
                start=min(s.start for s in found),
                end=max(s.end for s in found),
            )
        )
    return tuple(spans)


# ---- the run -------------------------------------------------------------------------------------


def curate(
    spark: SparkSession,
    *,
    catalog: str,
    conformed_database: str,
    curated_database: str,
    config: SiteConfig,
    state_path: str,
    as_of: datetime,
    lookback_days: int | None = None,
    announce: Callable[[CuratedRun], None] | None = None,
) -> CurateSummary:
    """Bring the curated tables up to the conformed table's current snapshot, recomputing only the
    windows that received rows since the snapshot recorded under ``state_path`` (everything on a first
    run), plus the whole days of the last ``lookback_days`` days when given (a backfill).

    ``as_of`` (aware) decides which shifts have ended. Reads one conformed snapshot throughout.
    ``announce`` (default None: nothing is told) is called with what a run wrote, once the tables have
    committed and before the state is written; a run that wrote nothing does not call it.
    """
    require_utc(spark)
    problems = []
    if as_of.tzinfo is None:
        problems.append(f"as_of {as_of.isoformat()} has no time zone; fix: pass an aware datetime")
    if lookback_days is not None and (isinstance(lookback_days, bool) or lookback_days < 1):
        problems.append(f"lookback_days {lookback_days!r} is not a positive whole number; fix: pass e.g. 2")
    if problems:
        raise ValueError("\n".join(problems))
    conformed_table = table_name(catalog, conformed_database, CONFORMED_TABLE)
    curated = {name: table_name(catalog, curated_database, name) for name in CURATED_TABLES}
    state = read_state(spark, state_path)
    if state is not None and state.conformed_table != conformed_table:
        raise ValueError(
            f"the curated job state in {state_path} is of {state.conformed_table}, not {conformed_table}; "
            "fix: give each conformed table its own --state_path"
        )
    processed = state.snapshot_id if state else None
    changes = conformed_changes(spark, conformed_table, processed)
    if changes.lineage_broken and lookback_days is None:
        raise ValueError(
            f"{conformed_table}: snapshot {processed}, the last one processed (state in {state_path}), is not "
            f"an ancestor of the current snapshot {changes.snapshot_id} (the table was rolled back, or the "
            "snapshots in between expired); fix: run once with --lookback_days covering the days changed "
            "since, or delete the state files to recompute everything"
        )
    nothing = CurateSummary(
        conformed_snapshot=processed, previous_snapshot=processed, hours=0, shifts=0, downtime_lines=0
    )
    if changes.snapshot_id is None:
        return nothing
    snapshot = changes.snapshot_id
    whole = set(changes.rewritten)
    backfill_from = None
    if lookback_days is not None:
        days = lookback_dates(as_of, config.timezone, lookback_days)
        whole.update(partitions_of(spark, conformed_table, days))
        zone = ZoneInfo(config.timezone)
        backfill_from = min(min(datetime.combine(d, time(), tzinfo=z) for z in (UTC, zone)) for d in days)
    touched = _touched(changes.appended, whole, config, backfill_from)
    if state is not None:
        ended_after: datetime | None = state.as_of
    else:  # a first run: the shifts ended since the hour of the first value
        ended_after = min((_from_micros(min(found)) for found in touched.hours.values()), default=None)
    shifts = _shifts(config, touched.oee, ended_after, as_of)
    writes: list[TableWrite] = []
    conformed = read_at(spark, conformed_table, snapshot)
    if touched.hours:
        writes += _write_aggregates(spark, conformed, curated, touched.hours)
    if touched.state or shifts:
        writes += _write_lines(spark, conformed, curated, config, touched.state, shifts, as_of)
    if announce is not None and writes:
        # Before the state: when announcing fails, the state stays as it was and the next run recomputes
        # and announces the same windows again. Delivery is at least once; consumers deduplicate.
        site = _line_parts(config.lines[0])[0]  # the lines of a site's config are all of that site
        announce(CuratedRun(site, snapshot, processed, as_of, tuple(writes)))
    written = [write.table for write in writes]
    if snapshot != processed or written:
        # A run with an earlier as_of (a backfill of the past) does not make ended shifts unended.
        recorded = max(as_of, state.as_of) if state else as_of
        write_state(spark, state_path, CurateState(conformed_table, snapshot, recorded))
    return CurateSummary(
        conformed_snapshot=snapshot,
        previous_snapshot=processed,
        hours=sum(len(found) for found in touched.hours.values()),
        shifts=len(shifts),
        downtime_lines=len(touched.state),
        written=written,
    )
