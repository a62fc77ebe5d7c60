"""One local Spark session for every ETL test, and helpers that write raw objects like Firehose does.

``glue_jobs/`` goes on sys.path so tests import ``dmc_etl`` exactly as the Glue job does.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GLUE_JOBS = Path(__file__).resolve().parents[2] / "factory_constructs" / "etl" / "glue_jobs"
if str(GLUE_JOBS) not in sys.path:
    sys.path.insert(0, str(GLUE_JOBS))


ICEBERG_JAR = Path(__file__).resolve().parents[2] / ".spark-jars" / "iceberg-spark-runtime-3.5_2.12-1.10.0.jar"


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the local Iceberg catalog (a Hadoop catalog: real snapshots and atomic commits)."""
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="session")
def spark(warehouse: Path) -> Iterator[Any]:
    from dmc_etl.catalog import LOCAL_CATALOG, hadoop_catalog_conf
    from pyspark.sql import SparkSession

    assert ICEBERG_JAR.exists(), f"{ICEBERG_JAR} is missing; fix: run make setup"
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("dmc-etl-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        # Executors fetch the jar from the driver: both stay on loopback.
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.jars", str(ICEBERG_JAR))
    )
    for key, value in hadoop_catalog_conf(LOCAL_CATALOG, str(warehouse)).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def databases(spark: Any, request: pytest.FixtureRequest) -> tuple[str, str]:
    """(conformed, curated): a fresh pair of databases in the local catalog with every table created."""
    from dmc_etl.catalog import LOCAL_CATALOG
    from dmc_etl.tables import create_tables

    stem = "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    conformed, curated = f"{stem}_conformed", f"{stem}_curated"
    create_tables(spark, LOCAL_CATALOG, conformed, curated)
    return conformed, curated


def write_raw(raw: Path, area: str, line: str, day: str, hour: str, name: str, lines: list[Any]) -> Path:
    """One raw object: each item a dict (encoded as one JSON line) or a str (written as is)."""
    folder = raw / "tags" / f"area={area}" / f"line={line}" / f"date={day}" / f"hour={hour}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    text = [item if isinstance(item, str) else json.dumps(item, separators=(",", ":")) for item in lines]
    target.write_text("\n".join(text) + "\n", encoding="utf-8")
    return target
