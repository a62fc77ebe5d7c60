"""Where the ETL's Iceberg tables live: one Spark catalog name, configured for the Glue Data Catalog in
AWS and for a Hadoop catalog in a folder on this machine. The jobs only ever name tables as
``<catalog>.<database>.<table>``; which catalog that is, is configuration (the Glue job's ``--conf``
arguments, or a local session's settings), never a code path of its own.

Plain Python (no pyspark): the CDK construct renders the Glue job's ``--conf`` from it too.
"""

from __future__ import annotations

# Glue 5.1 ships this runtime with --datalake-formats iceberg; local sessions load the same jar,
# fetched by `make setup` (Makefile: ICEBERG_JAR).
ICEBERG_VERSION = "1.10.0"
ICEBERG_RUNTIME = f"org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:{ICEBERG_VERSION}"
EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
GLUE_CATALOG = "glue_catalog"  # the catalog name the Glue jobs use
LOCAL_CATALOG = "lake"  # the catalog name of local sessions (tests, benchmarks)


def glue_catalog_conf(catalog: str, warehouse: str) -> dict[str, str]:
    """Spark settings of an Iceberg catalog backed by the account's Glue Data Catalog, data on S3."""
    prefix = f"spark.sql.catalog.{catalog}"
    return {
        "spark.sql.extensions": EXTENSIONS,
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.warehouse": warehouse,
    }


def hadoop_catalog_conf(catalog: str, warehouse: str) -> dict[str, str]:
    """Spark settings of an Iceberg catalog kept in a folder (a real catalog: atomic commits, snapshots)."""
    prefix = f"spark.sql.catalog.{catalog}"
    return {
        "spark.sql.extensions": EXTENSIONS,
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.type": "hadoop",
        f"{prefix}.warehouse": warehouse,
    }


def glue_conf_argument(settings: dict[str, str]) -> str:
    """The Glue job's ``--conf`` value: Glue takes one argument and splits further ``--conf`` inside it."""
    return " --conf ".join(f"{key}={value}" for key, value in settings.items())


def table_name(catalog: str, database: str, table: str) -> str:
    """The name a job reads and writes a table by."""
    return f"{catalog}.{database}.{table}"
