"""A second reader: pyiceberg opens the tables Spark wrote, from their metadata files alone, and finds the
same rows, the same schema and partitioning, and the same snapshot history as Spark does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dmc_etl.schemas import CONFORMED_TABLES
from pyiceberg.table import StaticTable

from tests.etl.conftest import write_raw
from tests.etl.test_conform import WRONG_TYPE, batch, conform_into, rejects_table, tag_values, value

pytestmark = pytest.mark.spark

# Spark's names of the table types (Glue/Hive names, as in schemas.py) and Iceberg's for the same.
ICEBERG_TYPE = {
    "string": "string",
    "timestamp": "timestamptz",  # Spark's TIMESTAMP is an instant: Iceberg's timestamp with time zone
    "double": "double",
    "boolean": "boolean",
    "bigint": "long",
    "int": "int",
    "date": "date",
}


def latest_metadata(spark: Any, table: str) -> str:
    """The table's current metadata file, as the Hadoop catalog records it (``version-hint.text``)."""
    details = {row.col_name: row.data_type for row in spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()}
    location = Path(details["Location"].removeprefix("file:"))
    version = (location / "metadata" / "version-hint.text").read_text(encoding="utf-8").strip()
    return str(location / "metadata" / f"v{version}.metadata.json")


def normalised(record: dict[str, Any]) -> tuple[Any, ...]:
    """A row as comparable values: instants as naive UTC (how Spark hands them over in a UTC session)."""
    return tuple(
        item.astimezone(UTC).replace(tzinfo=None) if isinstance(item, datetime) and item.tzinfo else item
        for item in record.values()
    )


@pytest.fixture
def written(spark: Any, tmp_path: Path, databases: tuple[str, str]) -> str:
    """Two runs into the conformed tables: values, a duplicate, a refused line and a refused value."""
    database = databases[0]
    values = [value("filler/speed", 1.5, 1), value("filler/state", "running", 2), value("filler/open", True, 3)]
    refused = {**value("filler/speed", 2.0, 4), "quality": "excellent"}
    first = write_raw(
        tmp_path / "raw", "filling", "line1", "2026-01-05", "08", "a.json", [batch(0, values), WRONG_TYPE]
    )
    conform_into(spark, database, first)
    later = [value("filler/speed", 1.5, 1), value("filler/speed", 2.5, 5, ts="2026-01-06T00:00:01.000Z"), refused]
    conform_into(
        spark,
        database,
        write_raw(tmp_path / "raw", "filling", "line1", "2026-01-06", "00", "b.json", [batch(1, later)]),
    )
    return database


@pytest.mark.parametrize("name", sorted(CONFORMED_TABLES))
def test_pyiceberg_reads_what_spark_wrote(spark: Any, written: str, name: str) -> None:
    table = tag_values(written) if name == "tag_values" else rejects_table(written)
    opened = StaticTable.from_metadata(latest_metadata(spark, table))

    frame = spark.table(table)
    columns, partition_keys = CONFORMED_TABLES[name]
    assert [(f.name, str(f.field_type)) for f in opened.schema().fields] == [
        (field.name, ICEBERG_TYPE[field.dataType.simpleString()]) for field in frame.schema.fields
    ]
    assert [f.name for f in opened.schema().fields] == [n for n, _ in columns + partition_keys]
    assert [(f.name, str(f.transform)) for f in opened.spec().fields] == [
        (key, "identity") for key, _ in partition_keys
    ]

    theirs = sorted((normalised(record) for record in opened.scan().to_arrow().to_pylist()), key=repr)
    ours = sorted((tuple(row) for row in frame.collect()), key=repr)
    assert theirs == ours and len(ours) >= 2

    spark_history = [
        (row.snapshot_id, row.parent_id, int(row.committed_at.replace(tzinfo=UTC).timestamp() * 1000), row.operation)
        for row in spark.table(f"{table}.snapshots").orderBy("committed_at").collect()
    ]
    history = [
        (s.snapshot_id, s.parent_snapshot_id, s.timestamp_ms, s.summary.operation.value if s.summary else None)
        for s in opened.snapshots()
    ]
    assert history == spark_history and len(history) == 2
    current = opened.current_snapshot()
    assert current is not None and current.snapshot_id == spark_history[-1][0]
