"""Reading and writing lake tables: Parquet, Hive-style partitions, dynamic partition overwrite.

A run rewrites only the partitions its output touches, so re-running over the same input replaces
rows instead of adding them, and partitions the run did not touch stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from .schemas import Columns, ddl


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


def read_table(spark: SparkSession, path: str, columns: Columns, partition_keys: Columns) -> DataFrame | None:
    """The table at ``path`` with its declared schema, or None when nothing was written there yet."""
    if not path_exists(spark, path):
        return None
    return spark.read.schema(ddl(columns + partition_keys)).parquet(path)


# Partition values that Hive-style folder names hold as they are (Spark escapes others, and writes a
# null as __HIVE_DEFAULT_PARTITION__): ISA-95 segments, dates.
_PLAIN_PARTITION_VALUE = re.compile(r"[A-Za-z0-9_.\-]+")


def _partition_folder(path: str, keys: Sequence[str], partition: dict[str, Any]) -> str | None:
    """The folder of ``partition`` under the table at ``path`` (keys in table order; a partition that
    names only the first keys is the folder of all below it), or None when a value would be escaped."""
    names = []
    for key in keys:
        if key not in partition:
            break
        value = partition[key]
        if value is None or not _PLAIN_PARTITION_VALUE.fullmatch(str(value)):
            return None
        names.append(f"{key}={value}")
    return "/".join([path.rstrip("/"), *names])


def read_partitions(
    spark: SparkSession,
    path: str,
    columns: Columns,
    partition_keys: Columns,
    partitions: Sequence[dict[str, Any]],
) -> DataFrame | None:
    """The rows of the table at ``path`` in ``partitions`` (each a dict of partition key -> value), or
    None when none of them holds any yet.

    Only the folders of those partitions are listed (``basePath`` keeps their partition columns):
    listing the whole table, as a read of it does, costs more with every partition it gains. When a
    partition value would be escaped in its folder name, the whole table is read and filtered instead.
    """
    keys = [name for name, _ in partition_keys]
    folders = [_partition_folder(path, keys, partition) for partition in partitions]
    if any(folder is None for folder in folders):
        table = read_table(spark, path, columns, partition_keys)
        return None if table is None else table.where(partition_filter(partitions))
    present = [folder for folder in dict.fromkeys(folders) if folder is not None and path_exists(spark, folder)]
    if not present:
        return None
    return spark.read.schema(ddl(columns + partition_keys)).option("basePath", path).parquet(*present)


_LINE_PATH = ("site", "area", "line")  # after the enterprise


def line_path_parts(line_path: str = "line_path") -> list[Column]:
    """site, area and line (the partition columns) from an ISA-95 line path (a column, as SQL).

    As SQL text: one call into the JVM per column.
    """
    return [F.expr(f"split({line_path}, '/')[{index}] AS {name}") for index, name in enumerate(_LINE_PATH, 1)]


def partition_filter(partitions: Iterable[dict[str, Any]]) -> Column:
    """True for rows in one of ``partitions`` (each a dict of partition key -> value)."""
    matches = [reduce(lambda a, b: a & b, (F.col(k).eqNullSafe(F.lit(v)) for k, v in p.items())) for p in partitions]
    return reduce(lambda a, b: a | b, matches, F.lit(False))


def write_partitions(
    frame: DataFrame, path: str, columns: Columns, partition_keys: Columns, plain: Sequence[str] = ()
) -> None:
    """Overwrite the partitions present in ``frame``; every other partition is left alone.

    ``plain`` columns are written without a Parquet dictionary.
    """
    keys = [name for name, _ in partition_keys]
    writer = shaped(frame, columns, partition_keys).write.mode("overwrite").option("partitionOverwriteMode", "dynamic")
    for name in plain:
        writer = writer.option(f"parquet.enable.dictionary#{name}", "false")
    writer.partitionBy(*keys).parquet(path)


def merge_partitions(
    spark: SparkSession,
    new: DataFrame,
    path: str,
    columns: Columns,
    partition_keys: Columns,
    unique_key: Sequence[str],
    touched: Callable[[], Sequence[dict[str, Any]]],
    plain: Sequence[str] = (),
    clustered_by: Sequence[str] = (),
    observe: Callable[[DataFrame], DataFrame] | None = None,
    accepted: str | None = None,
) -> None:
    """Write ``new`` into the table together with the rows already in the partitions it touches, one row
    per key.

    ``touched`` returns those partitions (each a dict of partition key -> value; a superset is fine);
    it is called only when the table exists, so a run into a fresh table does not pay for finding them,
    and only their folders are read (``read_partitions``).
    ``plain`` columns are written without a Parquet dictionary (``write_partitions``).

    Rows are distributed by partition keys, so each output partition is deduplicated and written by
    one task (one file per partition and run). ``clustered_by`` names partition keys by which ``new``
    is already distributed (``DataFrame.repartition``): the rows already in the table are distributed
    the same way and ``new`` is not moved again (Spark 4 keeps the partitioning of a union whose
    inputs share it; Spark 3.5, Glue 5.0's, distributes the union once more, which is correct too).
    Without it, ``new`` is distributed by all partition keys here.

    ``observe``, when given, wraps the new rows where they enter the deduplication (for example
    ``DataFrame.observe`` over the partition keys) and returns them with the same columns: every row
    is built there anyway, while metrics observed upstream make Spark build each row once more
    (docs/performance.md, bench-etl).

    ``accepted``, when given, names a boolean column of ``new``: only its true rows are written, and
    the observed rows carry it too. The refused rows are dropped right above the observation, which
    Spark does not move a filter through: a filter on a computed column otherwise lands in the
    projection that computes it, where everything the check shares with the other columns is
    evaluated twice. Dropped there, before the deduplication, the aggregate's result is the written
    row itself, with no projection after it (the paired measurements of each placement are in
    docs/performance.md).

    One row per key is kept: the rows are sorted by key and the first of each key is kept (copies of a
    key carry the same value, so which one stays does not matter). Through the deduplication a row
    travels as its keys and one struct of the other columns, which is copied as one block instead of
    field by field: ``dropDuplicates`` copies every column of every row into an aggregation buffer,
    and a window's ``row_number() = 1`` does the same work plus a group-limit step Spark inserts
    before the window (both measured in docs/performance.md).
    """
    keys = [name for name, _ in partition_keys]
    cluster = list(clustered_by) or keys
    payload = [name for name, _ in columns if name not in unique_key]
    flag = [accepted] if accepted else []

    def packed(frame: DataFrame, *extra: str) -> DataFrame:  # as SQL text: one call into the JVM
        fields = ", ".join(f"`{name}`" for name in payload)
        return frame.selectExpr(*(f"`{name}`" for name in [*keys, *unique_key, *extra]), f"struct({fields}) AS _row")

    new_columns = [*columns, (accepted, "boolean")] if accepted else columns
    rows = packed(shaped(new, new_columns, partition_keys), *flag)
    if not clustered_by:
        rows = rows.repartition(*cluster)
    if observe is not None:
        rows = observe(rows)
    if accepted:
        rows = rows.where(F.col(accepted)).drop(accepted)
    existing = read_partitions(spark, path, columns, partition_keys, touched()) if path_exists(spark, path) else None
    if existing is not None:
        rows = rows.unionByName(packed(existing).repartition(*cluster))
    # One first() per key, its fields taken out as each row is emitted: no projection of its own (a
    # select of the fields after the aggregate would be one). As SQL text: one call into the JVM each.
    fields = [F.expr(f"first(_row).`{name}` AS `{name}`") for name in payload]
    deduplicated = rows.groupBy(*keys, *unique_key).agg(*fields)
    write_partitions(deduplicated, path, columns, partition_keys, plain)
