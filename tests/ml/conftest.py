"""The ETL tests' local Spark session and Iceberg warehouse, shared with the training tests (one session per run)."""

from tests.etl.conftest import spark, warehouse

__all__ = ["spark", "warehouse"]
