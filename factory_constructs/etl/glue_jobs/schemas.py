"""Output tables of the Glue ETL, for the catalog: columns as (name, Glue type), partition keys, the
tables of each zone and their Iceberg properties.

The definitions live in ``dmc_etl/schemas.py`` because the transforms shipped to Glue use them too
(inside Glue only ``dmc_etl`` is importable). This module is the CDK app's import path; it pulls in
no pyspark.
"""

from .dmc_etl.schemas import (
    CONFORMED_COLUMNS,
    CONFORMED_PARTITION_KEYS,
    CONFORMED_TABLES,
    CURATED_TABLES,
    DOWNTIME_EVENT_COLUMNS,
    DOWNTIME_EVENT_PARTITION_KEYS,
    LINE_SHIFT_OEE_COLUMNS,
    LINE_SHIFT_OEE_PARTITION_KEYS,
    REJECTS_COLUMNS,
    REJECTS_PARTITION_KEYS,
    TABLE_PROPERTIES,
    TAG_HOUR_COLUMNS,
    TAG_HOUR_PARTITION_KEYS,
    TAG_MINUTE_COLUMNS,
    TAG_MINUTE_PARTITION_KEYS,
    Columns,
)

__all__ = [
    "CONFORMED_COLUMNS",
    "CONFORMED_PARTITION_KEYS",
    "CONFORMED_TABLES",
    "CURATED_TABLES",
    "DOWNTIME_EVENT_COLUMNS",
    "DOWNTIME_EVENT_PARTITION_KEYS",
    "LINE_SHIFT_OEE_COLUMNS",
    "LINE_SHIFT_OEE_PARTITION_KEYS",
    "REJECTS_COLUMNS",
    "REJECTS_PARTITION_KEYS",
    "TABLE_PROPERTIES",
    "TAG_HOUR_COLUMNS",
    "TAG_HOUR_PARTITION_KEYS",
    "TAG_MINUTE_COLUMNS",
    "TAG_MINUTE_PARTITION_KEYS",
    "Columns",
]
