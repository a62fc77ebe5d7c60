"""Property-based fuzzing of the whole API: schemathesis generates requests from the OpenAPI document
(valid and invalid ones), an in-process gateway (``gateway_adapter``) turns them into proxy events for the
real entry points, against moto and the local lake. At least 1,000 requests; no 5xx, only documented
status codes, and bodies that fit the documented schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from api_world import ApiAws, api_world, environment
from gateway_adapter import Gateway
from hypothesis import HealthCheck, given, settings
from lake_data import CATALOG, CONFORMED, CURATED, DOOR_VALUES, TEMP_VALUES
from local_queries import SparkQueries
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from factory_constructs.api.api_handler import entry

pytestmark = pytest.mark.spark
EXAMPLES = {GenerationMode.POSITIVE: 70, GenerationMode.NEGATIVE: 30}  # per operation
MINIMUM_REQUESTS = 1000


@pytest.fixture
def world(fresh_entry: None, lake: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiAws]:
    # fresh_entry first: its teardown runs after monkeypatch has put entry._athena back
    for name, value in environment(CONFORMED_DATABASE=CONFORMED, CURATED_DATABASE=CURATED).items():
        monkeypatch.setenv(name, value)
    port = SparkQueries(lake, CATALOG)
    monkeypatch.setattr(entry, "_athena", lambda workgroup: port)  # the lake stands in for Athena
    with api_world() as aws:
        last_temp, last_door = TEMP_VALUES[-1], DOOR_VALUES[-1]
        aws.seed_latest(
            [
                ("cell1/temp", last_temp.value, last_temp.quality, "2026-01-05T09:59:50.000Z", last_temp.seq),
                ("cell1/door", last_door.value, last_door.quality, "2026-01-05T08:29:00.000Z", last_door.seq),
            ]
        )
        yield aws


def test_generated_requests_get_only_documented_answers(world: ApiAws) -> None:
    gateway = Gateway(
        {name: getattr(entry, name) for name in ("catalog", "values", "commands", "alerts")},
        groups=("operator", "engineer", "analyst"),
    )
    schema = schemathesis.openapi.from_wsgi("/openapi.json", gateway)
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err would raise here, failing the test
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def probe(case: Any) -> None:
                response = case.call()
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                case.validate_response(response, checks=checks)

            probe()
    print(f"fuzz: {gateway.calls} requests, answers by status {dict(sorted(statuses.items()))}")
    assert gateway.calls >= MINIMUM_REQUESTS, gateway.calls
    assert not [status for status in statuses if status >= 500], statuses
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0, statuses
