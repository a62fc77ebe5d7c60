"""Every table the ETL writes: columns as (name, Glue type) pairs, identity partition keys and the
Iceberg table properties.

Plain data, no pyspark: the CDK construct declares the Glue catalog's Iceberg tables from these lists,
the jobs create the same tables where they are missing (``tables.create_tables``) and select and cast
their output by them, so the catalog and the data cannot drift apart.
Type names are Glue/Hive names that Spark's DDL parser also reads.
"""

from __future__ import annotations

Columns = list[tuple[str, str]]

# Partitions of every table except the rejects: the line (ISA-95 area and line segments) and a day.
_LINE_DAY: Columns = [("area", "string"), ("line", "string"), ("date", "date")]

# One row per tag value, deduplicated on ``id``; ``date`` is the UTC day of ``ts``. Exactly one of
# value_double / value_bool / value_string is set; value_double is in ``unit`` (the site's canonical
# unit when the sent unit is convertible).
CONFORMED_COLUMNS: Columns = [
    ("site", "string"),
    ("gateway", "string"),
    ("cell", "string"),
    ("tag", "string"),
    ("path", "string"),
    ("ts", "timestamp"),
    ("value_double", "double"),
    ("value_bool", "boolean"),
    ("value_string", "string"),
    ("unit", "string"),
    ("quality", "string"),
    ("seq", "bigint"),
    ("id", "string"),
]
CONFORMED_PARTITION_KEYS: Columns = _LINE_DAY

# Raw records or single values the conformed layer refused, with the reason. A whole record when it
# cannot be read as a tags batch (``value_index`` null, ``record`` is the raw line); a single value
# otherwise (``record`` is that value as JSON). ``date`` is the raw object's date partition (UTC).
REJECTS_COLUMNS: Columns = [
    ("source_file", "string"),
    ("value_index", "int"),
    ("reason", "string"),
    ("record", "string"),
    ("gateway", "string"),
    ("line_path", "string"),
    ("batch_seq", "bigint"),
]
REJECTS_PARTITION_KEYS: Columns = [("date", "string")]

# Per tag and window of numeric values whose quality is not "bad"; ``date`` is the UTC day of
# window_start. value_sum lets readers roll windows up exactly.
TAG_AGGREGATE_COLUMNS: Columns = [
    ("site", "string"),
    ("cell", "string"),
    ("tag", "string"),
    ("path", "string"),
    ("unit", "string"),
    ("window_start", "timestamp"),
    ("window_end", "timestamp"),
    ("value_count", "bigint"),
    ("value_min", "double"),
    ("value_max", "double"),
    ("value_avg", "double"),
    ("value_sum", "double"),
    ("first_value", "double"),
    ("first_ts", "timestamp"),
    ("last_value", "double"),
    ("last_ts", "timestamp"),
]
TAG_MINUTE_COLUMNS: Columns = TAG_AGGREGATE_COLUMNS
TAG_MINUTE_PARTITION_KEYS: Columns = _LINE_DAY
TAG_HOUR_COLUMNS: Columns = TAG_AGGREGATE_COLUMNS
TAG_HOUR_PARTITION_KEYS: Columns = _LINE_DAY

# One row per line and completed shift; ``date`` is the plant-local day the shift starts on.
LINE_SHIFT_OEE_COLUMNS: Columns = [
    ("site", "string"),
    ("shift", "string"),
    ("shift_start", "timestamp"),
    ("shift_end", "timestamp"),
    ("planned_s", "double"),
    ("run_s", "double"),
    ("total_count", "bigint"),
    ("good_count", "bigint"),
    ("availability", "double"),
    ("performance", "double"),
    ("quality", "double"),
    ("oee", "double"),
]
LINE_SHIFT_OEE_PARTITION_KEYS: Columns = _LINE_DAY

# One row per period in a state outside running_states; end_ts and duration_s are null while the
# period is still open. ``date`` is the UTC day of start_ts.
DOWNTIME_EVENT_COLUMNS: Columns = [
    ("site", "string"),
    ("state", "string"),
    ("start_ts", "timestamp"),
    ("end_ts", "timestamp"),
    ("duration_s", "double"),
]
DOWNTIME_EVENT_PARTITION_KEYS: Columns = _LINE_DAY

# The tables of the conformed database, with their columns and partition keys.
CONFORMED_TABLES: dict[str, tuple[Columns, Columns]] = {
    "tag_values": (CONFORMED_COLUMNS, CONFORMED_PARTITION_KEYS),
    "rejects": (REJECTS_COLUMNS, REJECTS_PARTITION_KEYS),
}

# The tables of the curated database, with their columns and partition keys.
CURATED_TABLES: dict[str, tuple[Columns, Columns]] = {
    "tag_minute": (TAG_MINUTE_COLUMNS, TAG_MINUTE_PARTITION_KEYS),
    "tag_hour": (TAG_HOUR_COLUMNS, TAG_HOUR_PARTITION_KEYS),
    "line_shift_oee": (LINE_SHIFT_OEE_COLUMNS, LINE_SHIFT_OEE_PARTITION_KEYS),
    "downtime_events": (DOWNTIME_EVENT_COLUMNS, DOWNTIME_EVENT_PARTITION_KEYS),
}


# Iceberg properties of every table the ETL writes; the stack's Glue tables are created with the same.
TABLE_PROPERTIES: dict[str, str] = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
}


def ddl(columns: Columns) -> str:
    """Spark DDL of a column list, e.g. ``"site string, ts timestamp"``."""
    return ", ".join(f"{name} {glue_type}" for name, glue_type in columns)
