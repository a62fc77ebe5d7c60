"""Reading a table as it was: Iceberg time travel, for audit.

"What did the conformed data look like on that day?" is a query of the snapshot that was current
then, not a restore: every run commits a snapshot, and a snapshot stays readable for as long as the
table's snapshot retention keeps it (the stack keeps at least the site's audit window).

In Spark (Glue, EMR, a SageMaker notebook), by time or by snapshot id (``<table>.snapshots`` lists
them, with ``committed_at``):

    SELECT * FROM glue_catalog.planta_conformed.tag_values TIMESTAMP AS OF '2026-01-05 12:00:00'
    SELECT * FROM glue_catalog.planta_conformed.tag_values VERSION AS OF 4348509206431658412
    spark.read.option("as-of-timestamp", "1767614400000").table("glue_catalog.planta_conformed.tag_values")
    spark.read.option("snapshot-id", 4348509206431658412).table("glue_catalog.planta_conformed.tag_values")

(``TIMESTAMP AS OF`` reads its text in the session time zone, UTC in the jobs; ``as-of-timestamp``
is in milliseconds since the epoch.) In Athena (engine version 3):

    SELECT * FROM "planta_conformed"."tag_values" FOR TIMESTAMP AS OF TIMESTAMP '2026-01-05 12:00:00 UTC'
    SELECT * FROM "planta_conformed"."tag_values" FOR VERSION AS OF 4348509206431658412
    SELECT * FROM "planta_conformed"."tag_values$snapshots"

``as_of`` below is the same read as a function; ``snapshots`` lists what can be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Snapshot:
    """One commit of a table: its id, when it was committed (aware, UTC), its parent and operation."""

    snapshot_id: int
    committed_at: datetime
    parent_id: int | None
    operation: str


def snapshots(spark: SparkSession, table: str) -> list[Snapshot]:
    """The table's snapshots, oldest first (Iceberg's ``<table>.snapshots`` metadata table)."""
    rows = spark.table(f"{table}.snapshots").orderBy("committed_at").collect()
    # Spark hands timestamps over as naive datetimes in the session time zone, which the ETL keeps at UTC.
    return [
        Snapshot(row.snapshot_id, row.committed_at.replace(tzinfo=UTC), row.parent_id, row.operation) for row in rows
    ]


def as_of(
    spark: SparkSession, table: str, *, timestamp: datetime | None = None, snapshot_id: int | None = None
) -> DataFrame:
    """``table`` as it was at ``timestamp`` (aware: the snapshot current then) or at ``snapshot_id``.

    Exactly one of the two. Iceberg refuses a time before the table's first snapshot and an unknown id.
    """
    problems = []
    if (timestamp is None) == (snapshot_id is None):
        problems.append("pass exactly one of timestamp and snapshot_id; fix: name the moment or the snapshot")
    if timestamp is not None and timestamp.tzinfo is None:
        problems.append(f"timestamp {timestamp.isoformat()} has no time zone; fix: pass an aware datetime")
    if problems:
        raise ValueError("\n".join(problems))
    reader = spark.read
    if timestamp is not None:
        reader = reader.option("as-of-timestamp", str(int(timestamp.timestamp() * 1000)))
    else:
        reader = reader.option("snapshot-id", str(snapshot_id))
    return reader.table(table)
