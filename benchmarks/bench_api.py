"""Latency of the site API's handlers, in-process, against moto: latest value, catalog and commands.

Each route is called through its real entry point (``api_handler.entry``) with API Gateway REST proxy
events, one request at a time, and the p50 / p99 latency and requests per second are printed per route.
moto answers every DynamoDB and IoT call in-process, so the figures hold the handlers' own work plus
botocore's request building and parsing and moto's, and no network: a real call adds its round trip.

* Cold start, apart: in a fresh process, the import of the entry module (boto3 included) plus the
  first call (settings, clients, the contract's routes). moto is started after the import is timed.
  Three processes per handler; the median is reported.
* How cost grows with the work: the catalog with 100 / 1,000 / 10,000 tags, for a first page, an
  ``area`` filter that matches 1 % of the tags (a Scan reads them all) and a walk over every page.

The last line is ``bench-api: p50_ms=<ms> p99_ms=<ms> rps=<n> cold_start_ms=<ms>``: latency and rate over
every warm request of the three routes with 1,000 tags, and the slowest handler's cold start.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from the repo root

SITE, ENTERPRISE, AREA, LINE = "plantA", "acme", "press", "line1"
GATEWAY = "plantA-gw1"
SETPOINT = f"{ENTERPRISE}/{SITE}/{AREA}/{LINE}/cell0/speed_sp"
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "SITE_ID": SITE,
    "ENTERPRISE": ENTERPRISE,
    "LATEST_TABLE": "plantA-latest",
    "COMMANDS_TABLE": "plantA-commands",
    "CONFORMED_DATABASE": "planta_conformed",
    "CURATED_DATABASE": "planta_curated",
    "ATHENA_WORKGROUP": "plantA-api",
    "LINES": json.dumps([f"{AREA}/{LINE}"]),
    "MAX_RANGE_DAYS": "31",
    "PAGE_LIMIT_MAX": "1000",
    "COMMAND_ALLOW_LIST": json.dumps([{"path": SETPOINT, "min": 0, "max": 120}]),
    "GATEWAYS": json.dumps([GATEWAY]),
}
WARM_REQUESTS = 400
SIZES = (100, 1_000, 10_000)
BASE_SIZE = 1_000
COLD_RUNS = 3
ROUTES = ("GET /tags/{path}/latest", "GET /tags (100 per page)", "POST /commands")


def _event(method: str, resource: str, path_parameters: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    query = extra.pop("query", None)
    groups = "operator,engineer,analyst"
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {key: [value] for key, value in query.items()} if query else None,
        "pathParameters": path_parameters,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "identity": {"userArn": None},
            "authorizer": {"claims": {"sub": "bench", "cognito:username": "bench", "cognito:groups": groups}},
        },
        "body": None,
        **extra,
    }


def _tag(index: int) -> str:
    area = "paint" if index % 100 == 0 else AREA  # 1 % of the tags in another area
    return f"{ENTERPRISE}/{SITE}/{area}/{LINE}/cell{index % 10}/tag{index:05d}"


def _latest_event(index: int) -> dict[str, Any]:
    return _event("GET", "/tags/{path}/latest", {"path": _tag(index).replace("/", "~")})


def _command_event(value: float) -> dict[str, Any]:
    body = {"gateway": GATEWAY, "path": SETPOINT, "value": value, "reason": "bench"}
    return _event("POST", "/commands", body=json.dumps(body))


def _create_tables(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=ENVIRONMENT["LATEST_TABLE"],
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "path", "AttributeType": "S"},
            {"AttributeName": "line_path", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "path", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_line",
                "KeySchema": [
                    {"AttributeName": "line_path", "KeyType": "HASH"},
                    {"AttributeName": "path", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.create_table(
        TableName=ENVIRONMENT["COMMANDS_TABLE"],
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "command_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "command_id", "KeyType": "HASH"}],
    )


def _seed(dynamodb: Any, first: int, count: int) -> None:
    """Tags ``first`` .. ``first + count - 1`` in the latest-value table, in the consumer's item format."""
    from factory_constructs.api.api_handler.latest_store import item

    items = [
        item(
            {
                "path": _tag(index),
                "value": 20.0 + index % 7,
                "unit": "degC",
                "quality": "good",
                "ts": "2026-01-05T08:00:00.000Z",
                "seq": index,
                "id": f"{GATEWAY}:{index}",
            },
            gateway=GATEWAY,
            arrival_ts="2026-01-05T08:00:00.100Z",
        )
        for index in range(first, first + count)
    ]
    for start in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": one}} for one in items[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={ENVIRONMENT["LATEST_TABLE"]: chunk})


class Timed:
    """A boto3 client whose calls add their time to ``spent``: what moto (and botocore) took of a request."""

    spent: ClassVar[list[float]] = [0.0]

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found) or isinstance(found, type):
            return found

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return found(*args, **kwargs)
            finally:
                Timed.spent[0] += (time.perf_counter() - started) * 1000

        return timed


def _time(call: Callable[[], dict[str, Any]], expected: int, own: list[float] | None = None) -> float:
    """Milliseconds of one call; ``own`` gets the part spent outside the AWS clients (the handler's own)."""
    Timed.spent[0] = 0.0
    started = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    if response["statusCode"] != expected:
        raise SystemExit(f"bench-api: expected {expected}, got {response['statusCode']}: {response['body'][:300]}")
    if own is not None:
        own.append(elapsed - Timed.spent[0])
    return elapsed


def _summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99, len(ordered) / (sum(ordered) / 1000)


def _cold(handler: str) -> None:
    """One cold start in this fresh process: prints the import and first-call times as JSON."""
    os.environ.update(ENVIRONMENT)
    started = time.perf_counter()
    from factory_constructs.api.api_handler import entry

    imported = time.perf_counter()
    import boto3
    from moto import mock_aws

    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        _create_tables(dynamodb)
        _seed(dynamodb, 0, 1)
        calls = {
            "values": (lambda: entry.values(_latest_event(0), None), 200),
            "catalog": (lambda: entry.catalog(_event("GET", "/tags", query={"limit": "100"}), None), 200),
            "commands": (lambda: entry.commands(_command_event(50.0), None), 202),
        }
        call, status = calls[handler]
        first = _time(call, status)
    print(json.dumps({"import_ms": (imported - started) * 1000, "first_call_ms": first}))


def _cold_starts() -> dict[str, dict[str, float]]:
    found = {}
    for handler in ("values", "catalog", "commands"):
        runs = []
        for _ in range(COLD_RUNS):
            output = subprocess.run(
                [sys.executable, __file__, "--cold", handler],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            ).stdout.splitlines()[-1]
            runs.append(json.loads(output))
        found[handler] = {
            "import_ms": statistics.median(run["import_ms"] for run in runs),
            "first_call_ms": statistics.median(run["first_call_ms"] for run in runs),
            "total_ms": statistics.median(run["import_ms"] + run["first_call_ms"] for run in runs),
        }
    return found


def _warm() -> tuple[dict[str, list[float]], dict[str, list[float]], dict[int, dict[str, float]]]:
    import contextlib
    import functools
    import io

    import boto3
    from moto import mock_aws

    from factory_constructs.api.api_handler import entry

    os.environ.update(ENVIRONMENT)
    real_client = entry.aws_client
    entry.aws_client = functools.cache(lambda service: Timed(real_client(service)))  # type: ignore[assignment]
    samples: dict[str, list[float]] = {}
    own: dict[str, list[float]] = {route: [] for route in ROUTES}
    growth: dict[int, dict[str, float]] = {}
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):  # the handlers' JSON log lines
        dynamodb = boto3.client("dynamodb")
        _create_tables(dynamodb)
        seeded = 0
        for size in SIZES:
            _seed(dynamodb, seeded, size - seeded)
            seeded = size
            first_page = [
                _time(lambda: entry.catalog(_event("GET", "/tags", query={"limit": "100"}), None), 200)
                for _ in range(40)
            ]
            area = [
                _time(lambda: entry.catalog(_event("GET", "/tags", query={"limit": "100", "area": "paint"}), None), 200)
                for _ in range(5)
            ]
            walk_started = time.perf_counter()
            cursor: str | None = None
            pages = 0
            while True:
                query = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
                response = entry.catalog(_event("GET", "/tags", query=query), None)
                pages += 1
                cursor = json.loads(response["body"]).get("nextCursor")
                if not cursor:
                    break
            growth[size] = {
                "first_page_p50_ms": statistics.median(first_page),
                "area_filter_p50_ms": statistics.median(area),
                "all_pages_ms": (time.perf_counter() - walk_started) * 1000,
                "pages": pages,
            }
            if size == BASE_SIZE:
                latest, tags, commands = ROUTES
                samples[latest] = [
                    _time(lambda i=i: entry.values(_latest_event(i % BASE_SIZE), None), 200, own[latest])  # type: ignore[misc]
                    for i in range(WARM_REQUESTS)
                ]
                samples[tags] = [
                    _time(lambda: entry.catalog(_event("GET", "/tags", query={"limit": "100"}), None), 200, own[tags])
                    for _ in range(WARM_REQUESTS // 4)  # each reads 100 items through moto: slow, and steady
                ]
                samples[commands] = [
                    _time(lambda i=i: entry.commands(_command_event(float(i % 120)), None), 202, own[commands])  # type: ignore[misc]
                    for i in range(WARM_REQUESTS)
                ]
    return samples, own, growth


def main() -> None:
    if sys.argv[1:2] == ["--cold"]:
        _cold(sys.argv[2])
        return
    cold = _cold_starts()
    samples, own, growth = _warm()
    print(f"{'route':28} {'p50_ms':>8} {'p99_ms':>8} {'req/s':>8} {'own_p50_ms':>11}  (own: outside the AWS clients)")
    for route, found in samples.items():
        p50, p99, rps = _summary(found)
        print(f"{route:28} {p50:8.2f} {p99:8.2f} {rps:8.0f} {statistics.median(own[route]):11.2f}")
    print("cold start (fresh process, median of 3): import + first call")
    for handler, figures in cold.items():
        parts = " ".join(f"{name}={value:.0f}" for name, value in figures.items())
        print(f"  {handler:10} {parts}")
    print("catalog growth (tags: first page p50, area filter p50 (1 % match), every page of 1,000)")
    for size, figures in growth.items():
        parts = " ".join(f"{name}={value:.1f}" for name, value in figures.items())
        print(f"  {size:6} tags: {parts}")
    every = [sample for found in samples.values() for sample in found]
    p50, p99, rps = _summary(every)
    worst = max(figures["total_ms"] for figures in cold.values())
    print(f"bench-api: p50_ms={p50:.2f} p99_ms={p99:.2f} rps={rps:.0f} cold_start_ms={worst:.0f}")


if __name__ == "__main__":
    main()
