"""Writing the lake's Iceberg tables: new rows only, one per key, in one atomic commit.

A run inserts the rows whose key the table does not hold yet: ``MERGE INTO ... WHEN NOT MATCHED THEN
INSERT *`` (``insert_new``), which Iceberg turns into an append of the source rows that find no match.
The ON clause names the partition keys with the key, and it restricts the table's side to the
partitions the new rows fall in (and, within a partition, to a range of a column that a key
determines, such as the conformed rows' timestamp): Iceberg then lists and reads only those files,
and of them only the key columns. A run costs what it brings plus the keys it must compare, never a
rewrite; a re-run over the same input finds every key and appends nothing.

Concurrent writers: Spark plans a MERGE whose only clause is ``WHEN NOT MATCHED THEN INSERT`` as a
plain append of ``rows LEFT ANTI JOIN table`` (``AppendData`` in its plan, the same plan as ``INSERT
INTO ... SELECT`` of that join), and Iceberg commits an append on top of any snapshot committed
meanwhile without checking what that snapshot added. Two runs at once over the same input could
therefore both insert a key. The jobs run one at a time (the Glue jobs' maximum concurrent runs is 1,
``etl_jobs.py``), so a run, which re-reads the objects of the watermark's overlap, always plans its
join on a snapshot that holds every earlier run's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from .schemas import Columns


def require_utc(spark: SparkSession) -> None:
    """Dates of timestamps (partitions, windows) follow the session time zone: it must be UTC."""
    zone = spark.conf.get("spark.sql.session.timeZone")
    if zone not in ("UTC", "Etc/UTC", "Z", "+00:00"):
        raise ValueError(
            f"spark.sql.session.timeZone is {zone!r}; fix: set it to 'UTC' before running the ETL "
            "(the entry scripts do; partitions and windows are UTC days)"
        )


def shaped(frame: DataFrame, columns: Columns, partition_keys: Columns) -> DataFrame:
    """``frame`` with exactly the table's columns, in order and cast to their types.

    As SQL text, one call into the JVM instead of three per column.
    """
    return frame.selectExpr(
        *(f"CAST(`{name}` AS {glue_type}) AS `{name}`" for name, glue_type in columns + partition_keys)
    )


def path_exists(spark: SparkSession, path: str) -> bool:
    """True when something exists at ``path``, asked of the Hadoop file system that reads it (local, S3).

    A read of a missing path fails in the JVM, and turning that error into a Python exception is
    slow (docs/performance.md); PySpark has no public call for this, so it goes through the context's JVM handles.
    """
    context = spark.sparkContext
    hadoop_path = context._jvm.org.apache.hadoop.fs.Path(path)  # type: ignore[union-attr]
    return bool(hadoop_path.getFileSystem(context._jsc.hadoopConfiguration()).exists(hadoop_path))  # type: ignore[union-attr]


_LINE_PATH = ("site", "area", "line")  # after the enterprise


def line_path_parts(line_path: str = "line_path") -> list[Column]:
    """site, area and line (the partition columns) from an ISA-95 line path (a column, as SQL).

    As SQL text: one call into the JVM per column.
    """
    return [F.expr(f"split({line_path}, '/')[{index}] AS {name}") for index, name in enumerate(_LINE_PATH, 1)]


def sql_literal(value: object) -> str:
    """``value`` (a string, a whole number, a date or an aware datetime) as a Spark SQL literal."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, datetime):  # before date: a datetime is a date too
        if value.utcoffset() is None:
            raise TypeError(f"no SQL literal for the naive {value!r}; fix: pass an aware datetime (e.g. in UTC)")
        # With its zone: the text is read the same whatever the session's time zone.
        return f"TIMESTAMP '{value.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}Z'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(
        f"no SQL literal for {value!r} ({type(value).__name__}); fix: pass a str, int, date or aware datetime"
    )


@dataclass(frozen=True)
class Between:
    """The values ``low`` to ``high`` (both included) of a column, in ``partition_predicate``: for a column
    whose value the rows of a partition do not share, such as a timestamp."""

    low: object
    high: object


def partition_predicate(alias: str, partitions: Sequence[Mapping[str, Any]]) -> str:
    """SQL: true for rows of ``alias`` in one of ``partitions`` (each a dict of column -> value, a value
    None matching null and a ``Between`` a range). Only literals, comparisons, ANDs and ORs: Iceberg
    prunes files by it, by partition values and by the columns' bounds in each file's metadata."""
    if not partitions:
        return "false"

    def condition(key: str, value: object) -> str:
        column = f"{alias}.`{key}`"
        if isinstance(value, Between):
            return f"{column} BETWEEN {sql_literal(value.low)} AND {sql_literal(value.high)}"
        return f"{column} IS NULL" if value is None else f"{column} = {sql_literal(value)}"

    return " OR ".join(
        "(" + " AND ".join(condition(key, value) for key, value in partition.items()) + ")" for partition in partitions
    )


def one_row_per_key(frame: DataFrame, key: Sequence[str]) -> DataFrame:
    """``frame`` with one row per ``key``.

    Copies of a key carry the same value, so which one stays does not matter: the rows are sorted by
    key and the first of each is kept (``row_number() = 1`` over the key, as SQL text: one call into
    the JVM). A window passes each row through once; ``groupBy(key).agg(first(...))`` copies every
    row into a partial and then a final aggregate, neither compiled, and ``dropDuplicates`` copies
    every column into an aggregation buffer (docs/performance.md, bench-etl).
    """
    columns = ", ".join(f"`{name}`" for name in key)
    ranked = frame.selectExpr("*", f"row_number() OVER (PARTITION BY {columns} ORDER BY `{key[-1]}`) AS _copy")
    return ranked.where("_copy = 1").drop("_copy")


def insert_new(
    spark: SparkSession,
    rows: DataFrame,
    table: str,
    *,
    key: Sequence[str],
    partitions: Sequence[Mapping[str, Any]],
    null_safe: Collection[str] = (),
    clustered: bool = False,
) -> None:
    """Insert the ``rows`` whose ``key`` the Iceberg ``table`` does not hold yet, in one commit:

    ``MERGE INTO <table> t USING <rows> s ON t.k1 = s.k1 AND ... AND (<t in partitions>)
    WHEN NOT MATCHED THEN INSERT *``.

    ``rows`` has the table's columns (by name) and at most one row per key (``one_row_per_key``);
    ``key`` starts with the partition keys. ``partitions`` lists every partition the rows fall in
    (each a dict of partition key -> value; a superset is fine): the table's side of the merge is
    restricted to them, so only their files are read. An entry may also bound a column that is not a
    partition key (``Between``): exact only when every table row that holds the key of one of the rows
    lies within it, i.e. when the key determines that column (``conform`` bounds the timestamp).
    No partitions, no statement; rows whose keys the table all holds still make a commit, an append
    of no file (Iceberg commits every MERGE). ``null_safe`` key columns match null to null.

    ``clustered``: the rows are already in the task of their partition, sorted by ``key`` (as
    ``conform`` leaves them), and stay there through the join and the write: one file per partition
    and task, and no exchange of the rows. Otherwise Iceberg distributes them by partition first (its
    default ``hash`` mode), which suits rows spread over many tasks, such as rejects.
    """
    if not partitions:
        return
    view = f"new_rows_{uuid.uuid4().hex}"
    rows.createOrReplaceTempView(view)
    try:
        on = " AND ".join(f"t.`{name}` {'<=>' if name in null_safe else '='} s.`{name}`" for name in key)
        with session_conf(spark, _CLUSTERED if clustered else {}):
            spark.sql(
                f"MERGE INTO {table} t USING {view} s ON {on} AND ({partition_predicate('t', partitions)}) "
                "WHEN NOT MATCHED THEN INSERT *"
            )
    finally:
        spark.catalog.dropTempView(view)


# A merge of rows that are already clustered (see insert_new), kept so through the write:
_CLUSTERED = {
    # the join with the table's keys uses the rows' distribution by the leading partition keys: the
    # table's keys are moved to them, instead of both sides being moved by the whole key;
    "spark.sql.requireAllClusterKeysForCoPartition": "false",
    # and Iceberg writes each task's rows as they come (each partition's rows together), not moved again
    # (measured in docs/performance.md, bench-etl).
    "spark.sql.iceberg.distribution-mode": "none",
}


@contextmanager
def session_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` in the session for the duration of the block, then back to what they were."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, previous in before.items():
            if previous is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, previous)
