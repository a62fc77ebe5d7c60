"""The query port on local Spark: the statement text the handlers would send to Athena, run as is on the
Iceberg tables the ETL wrote, so the tests check the SQL itself (queries.py says what both engines share).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from factory_constructs.api.api_handler.queries import QueryFailed, Row


class SparkQueries:
    """Runs each statement with ``catalog`` as the session's current catalog (Athena's default catalog's role).

    ``statements`` keeps every text it ran, for the tests that check which table a route read and for the
    Trino parse check. A statement Spark refuses comes back as ``QueryFailed``, like a failed Athena query.
    """

    def __init__(self, spark: Any, catalog: str) -> None:
        self._spark = spark
        self._catalog = catalog
        self.statements: list[str] = []

    def run_many(self, statements: Sequence[str]) -> list[list[Row] | QueryFailed]:
        results: list[list[Row] | QueryFailed] = []
        previous = self._spark.catalog.currentCatalog()
        self._spark.catalog.setCurrentCatalog(self._catalog)
        try:
            for statement in statements:
                self.statements.append(statement)
                try:
                    rows = self._spark.sql(statement).collect()
                except Exception as error:  # Spark's AnalysisException and parse errors: what Athena's FAILED is
                    results.append(QueryFailed(str(error).splitlines()[0]))
                    continue
                results.append([{key: _value(value) for key, value in row.asDict().items()} for row in rows])
        finally:
            self._spark.catalog.setCurrentCatalog(previous)
        return results


def _value(value: Any) -> Any:
    # PySpark hands timestamps back as naive datetimes in the driver's local zone: make them aware UTC.
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is None else value
    return value
