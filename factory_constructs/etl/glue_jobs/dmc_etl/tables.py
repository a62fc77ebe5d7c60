"""Creates the ETL's Iceberg tables where they are missing, from ``schemas``: the stack creates them in
the Glue Data Catalog, and a local catalog gets the very same tables here."""

from __future__ import annotations

from pyspark.sql import SparkSession

from .catalog import table_name
from .schemas import CONFORMED_TABLES, CURATED_TABLES, TABLE_PROPERTIES, Columns, ddl


def create_table(spark: SparkSession, name: str, columns: Columns, partition_keys: Columns) -> None:
    """``CREATE TABLE IF NOT EXISTS`` of one Iceberg table, partitioned by identity on its partition keys."""
    properties = ", ".join(f"'{key}' = '{value}'" for key, value in TABLE_PROPERTIES.items())
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {name} ({ddl(columns + partition_keys)}) USING iceberg "
        f"PARTITIONED BY ({', '.join(key for key, _ in partition_keys)}) TBLPROPERTIES ({properties})"
    )


def create_tables(spark: SparkSession, catalog: str, conformed_database: str, curated_database: str) -> None:
    """Every conformed and curated table (and the two databases) that does not exist yet."""
    for database, tables in ((conformed_database, CONFORMED_TABLES), (curated_database, CURATED_TABLES)):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {catalog}.{database}")
        for table, (columns, partition_keys) in tables.items():
            create_table(spark, table_name(catalog, database, table), columns, partition_keys)
