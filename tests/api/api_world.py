"""The site API's AWS world in moto (tables, Glue catalog) and the site it serves; A2's tests share it.

The tables have the keys the interface fixes (docs: integration plane): latest ``path`` with the
``by_line`` index, commands ``command_id``, alerts ``site`` + ``at_id``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from envelope.tag_envelope import encode, tag_batch, tag_value
from factory_constructs.api.api_handler.latest_consumer import consume
from factory_constructs.api.api_handler.settings import VARIABLES, Settings, parse_environment

ENTERPRISE = "acme"
SITE = "plantA"
AREA = "press"
LINE = "line1"
LINE_PATH = f"{ENTERPRISE}/{SITE}/{AREA}/{LINE}"
GATEWAY = "plantA-gw1"
LATEST_TABLE = "plantA-latest"
COMMANDS_TABLE = "plantA-commands"
ALERTS_TABLE = "plantA-alerts"
CONFORMED_DATABASE = "planta_conformed"
CURATED_DATABASE = "planta_curated"
WORKGROUP = "plantA-api"


def environment(**overrides: str) -> dict[str, str]:
    """Every variable any API function reads, for this site."""
    values = {
        "SITE_ID": SITE,
        "ENTERPRISE": ENTERPRISE,
        "LATEST_TABLE": LATEST_TABLE,
        "COMMANDS_TABLE": COMMANDS_TABLE,
        "ALERTS_TABLE": ALERTS_TABLE,
        "CONFORMED_DATABASE": CONFORMED_DATABASE,
        "CURATED_DATABASE": CURATED_DATABASE,
        "ATHENA_WORKGROUP": WORKGROUP,
        "EVENT_BUS": "plantA-site-bus",
        "COMMAND_ALLOW_LIST": json.dumps([{"path": f"{LINE_PATH}/cell1/speed_sp", "min": 0, "max": 120}]),
        "GATEWAYS": json.dumps([GATEWAY]),
        "LINES": json.dumps([f"{AREA}/{LINE}"]),
        "MAX_RANGE_DAYS": "31",
        "PAGE_LIMIT_MAX": "1000",
    }
    values.update(overrides)
    return values


def settings(handler: str, **overrides: str) -> Settings:
    """The handler's settings from ``environment``, through the real parser."""
    every = environment(**overrides)
    return parse_environment(handler, {name: every[name] for name in VARIABLES[handler]})


def create_tables(dynamodb: Any) -> None:
    """The three tables, on demand, as the CDK construct declares them."""
    dynamodb.create_table(
        TableName=LATEST_TABLE,
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
        TableName=COMMANDS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "command_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "command_id", "KeyType": "HASH"}],
    )
    dynamodb.create_table(
        TableName=ALERTS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "site", "AttributeType": "S"},
            {"AttributeName": "at_id", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "site", "KeyType": "HASH"}, {"AttributeName": "at_id", "KeyType": "RANGE"}],
    )


def create_catalog(glue: Any) -> None:
    """The conformed and curated databases with the ETL's tables, as the lake catalog construct declares them."""
    from dmc_etl.schemas import CONFORMED_TABLES, CURATED_TABLES

    for zone, database, tables in (
        ("conformed", CONFORMED_DATABASE, CONFORMED_TABLES),
        ("curated", CURATED_DATABASE, CURATED_TABLES),
    ):
        glue.create_database(DatabaseInput={"Name": database, "Description": f"{zone} zone of site {SITE}"})
        for name, (columns, partition_keys) in tables.items():
            glue.create_table(
                DatabaseName=database,
                TableInput={
                    "Name": name,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {"table_type": "ICEBERG"},
                    "StorageDescriptor": {
                        "Columns": [{"Name": column, "Type": kind} for column, kind in columns],
                        "Location": f"s3://plantA-{zone}/{name}/",
                    },
                    "PartitionKeys": [{"Name": column, "Type": kind} for column, kind in partition_keys],
                },
            )


@dataclass
class ApiAws:
    """Clients of the moto world, created inside the mock."""

    dynamodb: Any
    glue: Any
    iot_data: Any
    kinesis_seq: int = 0

    def record(self, message: dict[str, Any], arrival: float = 1767600000.0) -> dict[str, Any]:
        """A Kinesis event record carrying ``message`` as the IoT rule forwards it."""
        self.kinesis_seq += 1
        return {
            "eventSource": "aws:kinesis",
            "eventID": f"shardId-000000000000:{self.kinesis_seq}",
            "kinesis": {
                "partitionKey": message.get("line", "x"),
                "sequenceNumber": str(49650000000000000000000000000000000000000000000000 + self.kinesis_seq),
                "data": base64.b64encode(encode(message)).decode(),
                "approximateArrivalTimestamp": arrival,
            },
        }

    def seed_latest(self, values: list[tuple[str, Any, str, str, int]], *, gateway: str = GATEWAY) -> None:
        """Values (``cell/tag``, value, quality, ts, seq) of LINE_PATH through the real consumer."""
        batch = tag_batch(
            site=SITE,
            gateway=gateway,
            line=LINE_PATH,
            batch_seq=0,
            values=[
                tag_value(
                    path=f"{LINE_PATH}/{tag}",
                    value=value,
                    unit=_unit(tag),
                    quality=quality,
                    ts=ts,
                    seq=seq,
                    gateway=gateway,
                )
                for tag, value, quality, ts, seq in values
            ],
        )
        outcome = consume([self.record(batch)], dynamodb=self.dynamodb, table=LATEST_TABLE)
        assert not outcome.failures


def _unit(tag: str) -> str:
    return {"cell1/temp": "degC", "cell1/speed_sp": "rpm"}.get(tag, "")


@contextmanager
def api_world() -> Iterator[ApiAws]:
    """moto with the tables and the Glue catalog; clients made inside the mock."""
    with mock_aws():
        world = ApiAws(
            dynamodb=boto3.client("dynamodb", region_name="eu-central-1"),
            glue=boto3.client("glue", region_name="eu-central-1"),
            iot_data=boto3.client("iot-data", region_name="eu-central-1"),
        )
        create_tables(world.dynamodb)
        create_catalog(world.glue)
        yield world
