"""The raw_to_conformed job's high-water mark: up to which modification time raw objects were read.

Glue's own job bookmarks work only through DynamicFrame readers, which parse JSON with Glue's type
inference; the job parses raw lines itself (explicit schema, the raw line kept for rejects), so it
keeps the equivalent state here: the ``modifiedBefore`` bound of the last successful run, stored as
one small JSON file in a folder outside any table (``--watermark_path``) and written only after both
tables' commits. A run that fails before then is read again in full by the next, which is harmless:
the merge inserts only keys the tables do not hold yet.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import SparkSession

from .lake import path_exists

_SCHEMA = "modified_before string"


def read_mark(spark: SparkSession, path: str) -> datetime | None:
    """The stored mark (aware UTC), or None before the first successful run."""
    if not path_exists(spark, path):
        return None
    rows = spark.read.schema(_SCHEMA).json(path).collect()
    marks = [datetime.fromisoformat(row.modified_before) for row in rows if row.modified_before]
    return max(marks) if marks else None


def write_mark(spark: SparkSession, path: str, mark: datetime) -> None:
    """Replace the stored mark (an aware datetime, stored as ISO 8601 UTC)."""
    text = mark.astimezone(UTC).isoformat()
    spark.createDataFrame([(text,)], _SCHEMA).coalesce(1).write.mode("overwrite").json(path)
