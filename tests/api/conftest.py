"""Fixtures of the site API tests: the moto world (shared with the commands tests), local Spark and a lake
curated by the real ETL, and the route dependencies built from them.

``glue_jobs/`` goes on sys.path, as in tests/etl, so ``dmc_etl`` imports exactly as the Glue job does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import ApiAws, api_world, settings
from lake_data import CATALOG, CONFORMED, CURATED, build_lake
from local_queries import SparkQueries

from factory_constructs.api.api_handler import entry
from factory_constructs.api.api_handler import values as value_routes

ROOT = Path(__file__).resolve().parents[2]
GLUE_JOBS = ROOT / "factory_constructs" / "etl" / "glue_jobs"
if str(GLUE_JOBS) not in sys.path:
    sys.path.insert(0, str(GLUE_JOBS))
ICEBERG_JAR = ROOT / ".spark-jars" / "iceberg-spark-runtime-3.5_2.12-1.10.0.jar"


@pytest.fixture
def aws() -> Iterator[ApiAws]:
    """moto with the API's tables and Glue catalog (fake credentials come from the root conftest)."""
    with api_world() as world:
        yield world


@pytest.fixture
def fresh_entry() -> Iterator[None]:
    """The entry module's cached settings and clients dropped before and after: each test its own world."""
    entry.aws_client.cache_clear()
    entry.settings.cache_clear()
    entry._athena.cache_clear()
    yield
    entry.aws_client.cache_clear()
    entry.settings.cache_clear()
    entry._athena.cache_clear()


@pytest.fixture(scope="session")
def api_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Spark session with the Iceberg catalog ``lake`` (or the one tests/etl started: the same settings)."""
    from dmc_etl.catalog import LOCAL_CATALOG, hadoop_catalog_conf
    from pyspark.sql import SparkSession

    assert ICEBERG_JAR.exists(), f"{ICEBERG_JAR} is missing; fix: run make setup"
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("dmc-api-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.jars", str(ICEBERG_JAR))
    )
    for key, value in hadoop_catalog_conf(LOCAL_CATALOG, str(tmp_path_factory.mktemp("api-warehouse"))).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lake(api_spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The lake of ``lake_data``, curated once per test run."""
    build_lake(api_spark, str(tmp_path_factory.mktemp("api-curate-state") / "conformed_to_curated"))
    return api_spark


@pytest.fixture
def queries(lake: Any) -> SparkQueries:
    """The query port on the local lake, with a fresh record of the statements it ran."""
    return SparkQueries(lake, CATALOG)


@pytest.fixture
def values_deps(aws: ApiAws, queries: SparkQueries) -> value_routes.Deps:
    """The values routes' dependencies: moto's DynamoDB and the local lake."""
    found = settings("values", CONFORMED_DATABASE=CONFORMED, CURATED_DATABASE=CURATED)
    return value_routes.Deps(settings=found, dynamodb=aws.dynamodb, queries=queries)
