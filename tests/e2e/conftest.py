"""Fixtures of the end-to-end test, borrowed from the suites of each part so every part is set up one way.

The helper modules of those suites (``mqtt_peers``, ``lambda_events``, ``api_world`` ...) are imported by their
bare names there, as pytest puts each test folder on sys.path; this folder needs them too, so their folders go
on sys.path before the fixtures are imported. The mosquitto, PKI and Spark fixtures are the pipeline's and the
ETL's own (one Spark session per run, shared with tests/etl, tests/ml and tests/api).
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "edge" / "pipeline", TESTS / "lambdas", TESTS / "api"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from tests.edge.pipeline.conftest import broker, canonical_units, example_map, pki, recorder  # noqa: E402
from tests.etl.conftest import spark, warehouse  # noqa: E402

__all__ = ["broker", "canonical_units", "example_map", "pki", "recorder", "spark", "warehouse"]
