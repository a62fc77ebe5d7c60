"""One local Spark session for every ETL test, and helpers that write raw objects like Firehose does.

``glue_jobs/`` goes on sys.path so tests import ``dmc_etl`` exactly as the Glue job does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GLUE_JOBS = Path(__file__).resolve().parents[2] / "factory_constructs" / "etl" / "glue_jobs"
if str(GLUE_JOBS) not in sys.path:
    sys.path.insert(0, str(GLUE_JOBS))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("dmc-etl-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def write_raw(raw: Path, area: str, line: str, day: str, hour: str, name: str, lines: list[Any]) -> Path:
    """One raw object: each item a dict (encoded as one JSON line) or a str (written as is)."""
    folder = raw / "tags" / f"area={area}" / f"line={line}" / f"date={day}" / f"hour={hour}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    text = [item if isinstance(item, str) else json.dumps(item, separators=(",", ":")) for item in lines]
    target.write_text("\n".join(text) + "\n", encoding="utf-8")
    return target
