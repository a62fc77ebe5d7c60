"""The command routes' world: plantA's settings, moto tables, IoT data plane and site bus, and a real gateway.

The allow-list and the gateways come from ``tenants/plantA.yaml``, the file both the API's
``COMMAND_ALLOW_LIST`` and the gateways' command-handler configuration are made from. Events are A1's
(``api_events``: built from the contract), the tables A1's (``api_world``: the keys the CDK declares).
The gateway is the edge's own ``CommandHandler`` on a real OPC UA server (asyncua on a thread of its
own, started once per session; no security, which the edge protocol tests cover), so an audit record
here is exactly what a gateway publishes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from api_events import api_event
from api_world import COMMANDS_TABLE, LATEST_TABLE, create_tables
from asyncua import Client, Server, ua
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

from edge.commands.handler import CommandHandler, Setpoint
from edge.commands.ledger import CommandLedger
from envelope.tag_envelope import encode, tag_value, utc_timestamp
from factory_constructs.api.api_handler import entry, latest_store
from factory_constructs.api.api_handler.command_store import from_attributes
from factory_constructs.api.api_handler.contract import load_contract
from factory_constructs.api.api_handler.schema import check
from site_model import Site, load_site

ROOT = Path(__file__).resolve().parents[2]
SITE: Site = load_site(ROOT / "tenants" / "plantA.yaml")
assert SITE.edge.commands is not None, "plantA's site file must keep its command allow-list"
SETPOINTS = SITE.edge.commands.setpoints
GATEWAY, OTHER_GATEWAY = SITE.edge.gateways[0], SITE.edge.gateways[1]
TEMPERATURE = next(point for point in SETPOINTS if point.path.endswith("/temperature_setpoint"))
SPEED = next(point for point in SETPOINTS if point.path.endswith("/speed_setpoint"))
REGION = "eu-central-1"
EVENT_BUS = "plantA-site-bus"
ENVIRONMENT = {
    "SITE_ID": SITE.id,
    "LATEST_TABLE": LATEST_TABLE,
    "COMMANDS_TABLE": COMMANDS_TABLE,
    "COMMAND_ALLOW_LIST": json.dumps([{"path": point.path, "min": point.min, "max": point.max} for point in SETPOINTS]),
    "GATEWAYS": json.dumps(SITE.edge.gateways),
    "EVENT_BUS": EVENT_BUS,
}
_KEYS = {COMMANDS_TABLE: "command_id", LATEST_TABLE: "path"}


def command(value: Any = 5.0, *, path: str = TEMPERATURE.path, gateway: str = GATEWAY, **extra: Any) -> dict[str, Any]:
    """A ``CommandRequest`` body."""
    return {"gateway": gateway, "path": path, "value": value, **extra}


def post_event(
    body: Any, *, groups: tuple[str, ...] = ("engineer",), iam: bool = False, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """``POST /commands`` as API Gateway's REST proxy integration hands it over (a str body is sent as is)."""
    if isinstance(body, str):
        return api_event("postCommand", raw_body=body, groups=groups, iam=iam, headers=headers)
    return api_event("postCommand", body=body, groups=groups, iam=iam, headers=headers)


def get_event(command_id: str, *, groups: tuple[str, ...] = ("operator",)) -> dict[str, Any]:
    """``GET /commands/{commandId}``."""
    return api_event("getCommand", path={"commandId": command_id}, groups=groups)


def claims(event: dict[str, Any]) -> dict[str, Any]:
    """The Cognito claims of an event, to change who calls."""
    found: dict[str, Any] = event["requestContext"]["authorizer"]["claims"]
    return found


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def command_shown(response: dict[str, Any]) -> dict[str, Any]:
    """The ``Command`` of a 200 or 202 answer, checked against the document's schema first."""
    assert response["statusCode"] in (200, 202), response["body"]
    found: dict[str, Any] = body_of(response)
    contract = load_contract()
    check(contract, contract["components"]["schemas"]["Command"], found, "")  # raises SchemaError on a misfit
    return found


@dataclass
class CommandAws:
    """moto's DynamoDB and IoT data plane, as the command functions see them."""

    dynamodb: Any
    sqs: Any
    bus_queue: str  # every event of the site's bus, through a rule that matches them all

    def bus_events(self) -> list[dict[str, Any]]:
        """The events put on the site's bus since the last reset, as EventBridge delivers them."""
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.bus_queue, MaxNumberOfMessages=10).get("Messages"):
            found += [json.loads(message["Body"]) for message in messages]
            self.sqs.delete_message_batch(
                QueueUrl=self.bus_queue,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
        return found

    def published(self) -> list[tuple[str, dict[str, Any]]]:
        """Every message published to IoT Core so far: (topic, payload)."""
        backend = iotdata_backends[DEFAULT_ACCOUNT_ID][REGION]
        return [(topic, json.loads(payload)) for topic, payload in backend.published_payloads]

    def record(self, command_id: str) -> dict[str, Any]:
        found = self.dynamodb.get_item(TableName=COMMANDS_TABLE, Key={"command_id": {"S": command_id}}).get("Item")
        assert found is not None, f"command {command_id} is not recorded"
        return from_attributes(found)

    def records(self) -> list[dict[str, Any]]:
        return [from_attributes(item) for item in self.dynamodb.scan(TableName=COMMANDS_TABLE)["Items"]]

    def seed_latest(self, path: str, value: float, *, ts: float = 1_800_000_000.0) -> None:
        """The latest-value table's item for ``path``, as the stream consumer writes it."""
        envelope_value = tag_value(
            path=path, value=value, unit="degC", quality="good", ts=utc_timestamp(ts), seq=41, gateway=GATEWAY
        )
        self.dynamodb.put_item(
            TableName=LATEST_TABLE,
            Item=latest_store.item(envelope_value, gateway=GATEWAY, arrival_ts=utc_timestamp(ts + 0.5)),
        )

    def reset(self) -> None:
        """Empty tables and no message published: what each test starts from."""
        for table, key in _KEYS.items():
            scanned = self.dynamodb.scan(
                TableName=table, ProjectionExpression="#k", ExpressionAttributeNames={"#k": key}
            )
            for item in scanned["Items"]:
                self.dynamodb.delete_item(TableName=table, Key=item)
        iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads.clear()
        self.bus_events()  # drained (SQS purges at most once a minute)


@contextmanager
def command_aws() -> Iterator[CommandAws]:
    """The entry points' world in moto: their environment, the tables, and the entry module's cached
    clients and settings, made inside the mock and dropped on the way out."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in {**ENVIRONMENT, "AWS_DEFAULT_REGION": REGION}.items():
            patch.setenv(name, value)
        entry.aws_client.cache_clear()
        entry.settings.cache_clear()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tables(dynamodb)
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="bus-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus_events = boto3.client("events", region_name=REGION)
        bus_events.create_event_bus(Name=EVENT_BUS)
        bus_events.put_rule(
            Name="everything", EventBusName=EVENT_BUS, EventPattern=json.dumps({"source": [{"prefix": ""}]})
        )
        bus_events.put_targets(Rule="everything", EventBusName=EVENT_BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])
        try:
            yield CommandAws(dynamodb=dynamodb, sqs=sqs, bus_queue=queue)
        finally:
            entry.aws_client.cache_clear()
            entry.settings.cache_clear()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the gateway -------------------------------------------------------------------------------------------------


@dataclass
class RecordingPublisher:
    """The command handler's publisher (IPC in Greengrass): what it would send to IoT Core."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, json.loads(payload)))


class Plc:
    """A real OPC UA server with plantA's setpoint nodes, running on a thread of its own."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="plc", daemon=True)
        self._server = Server()
        self.endpoint = ""

    def start(self, port: int) -> None:
        self._thread.start()
        self._call(self._start(port))

    def stop(self) -> None:
        self._call(self._server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def read(self, node_id: str) -> Any:
        return self._call(self._server.get_node(node_id).read_value())

    def write(self, node_id: str, value: float) -> None:
        node = self._server.get_node(node_id)
        self._call(node.write_value(ua.DataValue(ua.Variant(value, ua.VariantType.Double))))

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def _start(self, port: int) -> None:
        await self._server.init()
        self.endpoint = f"opc.tcp://127.0.0.1:{port}/plc/"
        self._server.set_endpoint(self.endpoint)
        self._server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        namespace = await self._server.register_namespace("urn:dmc:test:filler")
        filler = await self._server.nodes.objects.add_object(f"ns={namespace};s=Filler", "Filler")
        for point in SETPOINTS:
            if ua.NodeId.from_string(point.node_id).NamespaceIndex != namespace:
                raise AssertionError(f"{point.node_id} is not in the test server's namespace {namespace}")
            variable = await filler.add_variable(point.node_id, point.node_id, point.min, ua.VariantType.Double)
            await variable.set_writable()
        await self._server.start()


def gateway_answers(
    plc: Plc, ledger: Path, payloads: list[bytes], *, gateway: str = GATEWAY, clock_offset_s: float = 0.0
) -> list[dict[str, Any]]:
    """What the edge's command handler of ``gateway`` answers to ``payloads``, each as the audit topic rule's
    Lambda event: the record plus ``topic_gateway`` (``SELECT *, topic(3) AS topic_gateway``).

    ``clock_offset_s`` runs the gateway's clock ahead, as if the commands had waited in IoT Core that long.
    """
    publisher = RecordingPublisher()

    async def scenario() -> None:
        client = Client(plc.endpoint, timeout=5)
        await client.connect()
        try:
            handler = CommandHandler(
                site=SITE.id,
                gateway=gateway,
                setpoints=[Setpoint(path=p.path, node_id=p.node_id, min=p.min, max=p.max) for p in SETPOINTS],
                client=client,
                publisher=publisher,
                ledger=CommandLedger(ledger),
                clock=lambda: time.time() + clock_offset_s,
            )
            for payload in payloads:
                await handler.handle(payload)
        finally:
            await client.disconnect()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    # IoT's topic(3) is the third level, counting from 1: dmc/<site>/<gateway>/commands/audit.
    return [{**record, "topic_gateway": topic.split("/")[2]} for topic, record in publisher.sent]


def payload_of(message: dict[str, Any]) -> bytes:
    """A published command as the gateway's MQTT subscription delivers it."""
    return encode(message)
