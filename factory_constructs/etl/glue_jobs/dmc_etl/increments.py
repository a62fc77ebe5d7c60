"""The bookkeeping of the incremental conformed -> curated job: which conformed snapshot it processed
last (its state), what the conformed table received since, and the one-commit replacement of the
curated rows a run recomputed.

State: one small JSON file per successful run under the state folder (``state-<run>.json``, the run
number zero-padded so that names sort), holding the conformed table, the last conformed snapshot
processed and the run's ``as_of``. A run adds a new file and never rewrites one: creating an object is
atomic on S3, and a run that fails before it leaves the previous state in force. The newest few files
are kept, the older ones deleted.

Changes: the conformed table's snapshots since the processed one, along the current snapshot's
ancestry. Rows of ``append`` snapshots are read incrementally (Iceberg's incremental append scan,
``start-snapshot-id`` exclusive to ``end-snapshot-id`` inclusive); the conformed job's ``MERGE INTO ...
WHEN NOT MATCHED THEN INSERT`` commits such snapshots (Spark rewrites a MERGE with only that clause as
an append). That scan silently skips every other operation, so those are looked at here: ``replace``
(compaction) changes no row and is ignored; ``overwrite`` and ``delete`` (or an operation unknown
here) may have changed or removed rows, which no incremental read returns, so the partitions their
manifest entries touch are recomputed whole.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .schemas import CONFORMED_PARTITION_KEYS

_STATE_PREFIX = "state-"
_STATE_SUFFIX = ".json"
_STATE_KEPT = 10
_NO_ROW_CHANGE = "replace"  # Iceberg's operation of a compaction: same rows, other files
_APPEND = "append"

# (area, line, date): a partition of the conformed table, and of every curated table.
Partition = tuple[str, str, date]


@dataclass(frozen=True)
class CurateState:
    """What the last successful run processed: the conformed table, its snapshot and the run's as_of."""

    conformed_table: str
    snapshot_id: int
    as_of: datetime  # aware
    run: int = 0


@dataclass(frozen=True)
class Changes:
    """What the conformed table received after the processed snapshot, up to its current one."""

    snapshot_id: int | None  # the current snapshot (None: the table has none yet)
    appended: DataFrame | None  # rows of the append snapshots since (every row on a first run)
    rewritten: list[Partition]  # partitions changed by overwrite / delete snapshots since
    lineage_broken: bool = False  # the processed snapshot is no ancestor of the current one


def _hadoop(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """The Hadoop file system and path object of ``path`` (local, S3): the same one Spark reads with.

    PySpark has no public file API, so this goes through the context's JVM handles (as
    ``lake.path_exists`` does).
    """
    context = spark.sparkContext
    hadoop_path = context._jvm.org.apache.hadoop.fs.Path(path)  # type: ignore[union-attr]
    return hadoop_path.getFileSystem(context._jsc.hadoopConfiguration()), hadoop_path  # type: ignore[union-attr]


def _state_files(spark: SparkSession, state_path: str) -> list[tuple[int, Any]]:
    """(run, path) of the state files under ``state_path``, oldest first."""
    fs, folder = _hadoop(spark, f"{state_path.rstrip('/')}/{_STATE_PREFIX}*{_STATE_SUFFIX}")
    found = fs.globStatus(folder) or []
    runs = []
    for status in found:
        name = status.getPath().getName()
        number = name[len(_STATE_PREFIX) : -len(_STATE_SUFFIX)]
        if number.isdigit():
            runs.append((int(number), status.getPath()))
    return sorted(runs, key=lambda item: item[0])


def read_state(spark: SparkSession, state_path: str) -> CurateState | None:
    """The newest state under ``state_path``, or None before the first successful run."""
    files = _state_files(spark, state_path)
    if not files:
        return None
    run, path = files[-1]
    fs, _ = _hadoop(spark, state_path)
    stream = fs.open(path)
    try:
        text = spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")  # type: ignore[union-attr]
    finally:
        stream.close()
    try:
        data = json.loads(text)
        return CurateState(
            conformed_table=str(data["conformed_table"]),
            snapshot_id=int(data["snapshot_id"]),
            as_of=datetime.fromisoformat(data["as_of"]),
            run=run,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"curated job state {path.toString()} is unreadable ({error}); fix: delete that file, and the "
            "next run continues from the state before it"
        ) from None


def write_state(spark: SparkSession, state_path: str, state: CurateState) -> CurateState:
    """Add the state of a successful run (numbered after the newest one) and drop the oldest files.

    The file is created without overwriting: where the file system checks that (HDFS, local), a second
    run at the same time fails instead of recording its state over the other's; on S3 the job's single
    concurrent run is what rules that out.
    """
    files = _state_files(spark, state_path)
    run = files[-1][0] + 1 if files else 1
    fs, target = _hadoop(spark, f"{state_path.rstrip('/')}/{_STATE_PREFIX}{run:010d}{_STATE_SUFFIX}")
    text = json.dumps(
        {
            "conformed_table": state.conformed_table,
            "snapshot_id": state.snapshot_id,
            "as_of": state.as_of.astimezone(UTC).isoformat(),
        }
    )
    stream = fs.create(target, False)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    for _, old in files[: max(0, len(files) + 1 - _STATE_KEPT)]:
        fs.delete(old, False)
    return CurateState(state.conformed_table, state.snapshot_id, state.as_of, run)


def current_snapshot(spark: SparkSession, table: str) -> int | None:
    """The snapshot the table's main branch points at, or None while it has none."""
    rows = spark.sql(f"SELECT snapshot_id FROM {table}.refs WHERE name = 'main'").collect()
    return int(rows[0].snapshot_id) if rows else None


def _since(spark: SparkSession, table: str, processed: int, current: int) -> list[tuple[int, str]] | None:
    """(snapshot, operation) of the snapshots after ``processed`` up to ``current``, oldest first, or
    None when ``processed`` is not an ancestor of ``current`` (rolled back, or expired)."""
    rows = spark.sql(f"SELECT snapshot_id, parent_id, operation FROM {table}.snapshots").collect()
    snapshots = {row.snapshot_id: (row.parent_id, row.operation) for row in rows}
    if processed not in snapshots:
        return None
    chain = []
    walking: int | None = current
    while walking != processed:
        if walking is None or walking not in snapshots:
            return None
        parent, operation = snapshots[walking]
        chain.append((walking, operation))
        walking = parent
    return chain[::-1]


def _touched_partitions(spark: SparkSession, table: str, snapshot_ids: Sequence[int]) -> list[Partition]:
    """The partitions in which ``snapshot_ids`` added or deleted files (data or delete files)."""
    keys = ", ".join(f"data_file.partition.`{name}` AS `{name}`" for name, _ in CONFORMED_PARTITION_KEYS)
    ids = ", ".join(str(int(i)) for i in snapshot_ids)
    rows = spark.sql(
        f"SELECT DISTINCT {keys} FROM {table}.all_entries WHERE snapshot_id IN ({ids}) AND status <> 0"
    ).collect()
    return sorted((row.area, row.line, row.date) for row in rows)


def read_at(spark: SparkSession, table: str, snapshot_id: int) -> DataFrame:
    """The table as of ``snapshot_id``: a run reads one snapshot throughout, whatever commits meanwhile."""
    return spark.read.format("iceberg").option("snapshot-id", snapshot_id).load(table)


def conformed_changes(spark: SparkSession, table: str, processed: int | None) -> Changes:
    """What ``table`` received after snapshot ``processed`` (None: never processed, so everything)."""
    current = current_snapshot(spark, table)
    if current is None or current == processed:
        return Changes(snapshot_id=current, appended=None, rewritten=[])
    if processed is None:
        return Changes(snapshot_id=current, appended=read_at(spark, table, current), rewritten=[])
    chain = _since(spark, table, processed, current)
    if chain is None:
        return Changes(snapshot_id=current, appended=None, rewritten=[], lineage_broken=True)
    appends = [snapshot for snapshot, operation in chain if operation == _APPEND]
    rewrites = [snapshot for snapshot, operation in chain if operation not in (_APPEND, _NO_ROW_CHANGE)]
    appended = None
    if appends:
        appended = (
            spark.read.format("iceberg")
            .option("start-snapshot-id", processed)
            .option("end-snapshot-id", current)
            .load(table)
        )
    rewritten = _touched_partitions(spark, table, rewrites) if rewrites else []
    return Changes(snapshot_id=current, appended=appended, rewritten=rewritten)


def partitions_of(spark: SparkSession, table: str, days: Sequence[date]) -> list[Partition]:
    """The partitions of ``table`` (current snapshot) on ``days``, from its metadata: no data is read."""
    keys = ", ".join(f"partition.`{name}` AS `{name}`" for name, _ in CONFORMED_PARTITION_KEYS)
    frame = spark.sql(f"SELECT {keys} FROM {table}.partitions").where(F.col("date").isin(*sorted(set(days))))
    return sorted((row.area, row.line, row.date) for row in frame.collect())


def replace_rows(
    spark: SparkSession,
    table: str,
    rows: DataFrame,
    scope: DataFrame,
    match: str,
    prune: str,
) -> None:
    """Replace, in one commit, the rows of ``table`` inside ``scope`` by ``rows``.

    ``scope`` holds keys (columns named ``_scope_*``, distinct); a target row ``t`` is inside when
    ``match`` holds for one of them (``s``), e.g. ``t.line = s._scope_line AND t.start_ts >=
    s._scope_from``; no target row may match two. ``rows`` (the table's columns) must all lie inside the
    scope. ``prune`` is a predicate on ``t`` alone, with literal values, that holds for every row inside
    (the scope's partitions): Iceberg plans the target scan with it, so the commit does not read the
    rest of the table.

    Why MERGE INTO and not ``overwritePartitions()``: a run recomputes windows (hours of a line,
    shifts, the events from some instant on), not whole days; replacing whole partitions would mean
    recomputing whole days, reading every conformed row of the day on every run, so a run's cost
    would grow with the day again. One MERGE deletes the scope's old rows and inserts the new ones
    atomically (readers see the old or the new windows, never a mix), and copy-on-write rewrites only
    the data files that hold a deleted row: files of other windows and partitions stay as they are.
    Delete-then-insert rather than update-on-key: a scope also loses rows (a late state value can
    merge two downtime events into one), and keys need not be unique (two state changes at one instant).
    """
    row_columns = rows.columns
    # Kept while the MERGE runs: it reads its source twice (to find the files holding matches, then to
    # write), and the source is a recomputation.
    source = (
        rows.withColumn("_op", F.lit("insert"))
        .unionByName(scope.withColumn("_op", F.lit("delete")), allowMissingColumns=True)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    view = f"_curate_source_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    try:
        names = ", ".join(f"`{name}`" for name in row_columns)
        values = ", ".join(f"s.`{name}`" for name in row_columns)
        spark.sql(
            f"MERGE INTO {table} t USING {view} s ON s._op = 'delete' AND ({prune}) AND ({match}) "
            f"WHEN MATCHED THEN DELETE "
            f"WHEN NOT MATCHED AND s._op = 'insert' THEN INSERT ({names}) VALUES ({values})"
        )
    finally:
        spark.catalog.dropTempView(view)
        source.unpersist()
