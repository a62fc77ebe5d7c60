"""The Greengrass IPC and stream manager transports, against fakes of their SDK clients."""

from __future__ import annotations

import asyncio

import pytest
from awsiot.eventstreamrpc import EventStreamError
from awsiot.greengrasscoreipc.model import QOS, UnauthorizedError
from greengrass_fakes import FakeIpc, FakeStreamManager
from stream_manager import ConnectFailedException, Persistence, StrategyOnFull, UnknownFailureException

from edge.readings import TransportError
from edge.transports.greengrass_ipc import GreengrassIpcTransport
from edge.transports.stream_manager import StreamManagerSettings, StreamManagerTransport

TOPIC = "dmc/plantA/plantA-gw-01/telemetry"


def test_ipc_publish_is_qos1_and_returns_once_the_nucleus_took_it() -> None:
    ipc = FakeIpc({})

    async def scenario() -> None:
        transport = GreengrassIpcTransport(ipc)
        await transport.connect()
        await transport.publish(TOPIC, b'{"kind":"tags"}')
        await transport.close()

    asyncio.run(scenario())
    assert ipc.published == [(TOPIC, QOS.AT_LEAST_ONCE, b'{"kind":"tags"}')]


def test_ipc_refusal_names_the_access_control_fix() -> None:
    ipc = FakeIpc({})
    ipc.publish_error = UnauthorizedError(message="not authorized")
    with pytest.raises(TransportError) as caught:
        asyncio.run(GreengrassIpcTransport(ipc).publish(TOPIC, b"{}"))
    assert str(caught.value) == (
        f"the nucleus refused publishing to {TOPIC}: not authorized; fix: allow the topic in the recipe's "
        "accessControl (aws.greengrass.ipc.mqttproxy, aws.greengrass#PublishToIoTCore)"
    )


@pytest.mark.parametrize("error", [EventStreamError("connection closed"), ConnectionResetError("nucleus restarted")])
def test_ipc_failures_become_transport_errors(error: Exception) -> None:
    ipc = FakeIpc({})
    ipc.publish_error = error
    with pytest.raises(TransportError, match=f"IPC publish to {TOPIC} failed"):
        asyncio.run(GreengrassIpcTransport(ipc).publish(TOPIC, b"{}"))


def test_ipc_publish_without_an_answer_is_not_confirmed() -> None:
    ipc = FakeIpc({})
    ipc.publish_hangs = True
    with pytest.raises(TransportError) as caught:
        asyncio.run(GreengrassIpcTransport(ipc, publish_timeout_s=0.01).publish(TOPIC, b"{}"))
    assert str(caught.value) == f"no answer from the nucleus for {TOPIC} within 0.01s"


def test_stream_manager_creates_a_durable_stream_exported_to_kinesis_then_appends() -> None:
    client = FakeStreamManager()
    settings = StreamManagerSettings(kinesis_stream_name="plantA-tags")

    async def scenario() -> None:
        transport = StreamManagerTransport(client, settings)
        await transport.connect()
        await transport.publish(TOPIC, b"batch-1")
        await transport.publish("dmc/plantA/plantA-gw-01/health", b"beat-1")
        await transport.connect()  # again, e.g. after an error: the existing stream is brought up to date

    asyncio.run(scenario())
    definition = client.definitions["dmc-telemetry"]
    assert (definition.strategy_on_full, definition.persistence, definition.flush_on_write) == (
        StrategyOnFull.RejectNewData,
        Persistence.File,
        True,
    )
    (export,) = definition.export_definition.kinesis
    assert (export.identifier, export.kinesis_stream_name, export.batch_size) == (
        "dmc-telemetry-to-kinesis",
        "plantA-tags",
        500,
    )
    assert client.messages == [("dmc-telemetry", b"batch-1"), ("dmc-telemetry", b"beat-1")]
    assert client.calls == [
        "list_streams",
        "create_message_stream",
        "append_message",
        "append_message",
        "list_streams",
        "update_message_stream",
    ]


def test_stream_manager_unreachable_names_the_fix() -> None:
    client = FakeStreamManager()
    client.error = ConnectFailedException("connection refused")
    with pytest.raises(TransportError) as caught:
        asyncio.run(StreamManagerTransport(client, StreamManagerSettings(kinesis_stream_name="s")).connect())
    assert str(caught.value) == (
        "cannot set up message stream dmc-telemetry: ConnectFailedException('connection refused'); "
        "fix: deploy aws.greengrass.StreamManager to this core and check that it runs"
    )


@pytest.mark.parametrize("error", [UnknownFailureException("stream is full"), TimeoutError()])
def test_stream_manager_append_failures_become_transport_errors(error: Exception) -> None:
    client = FakeStreamManager()

    async def scenario() -> None:
        transport = StreamManagerTransport(client, StreamManagerSettings(kinesis_stream_name="s"))
        await transport.connect()
        client.error = error
        await transport.publish(TOPIC, b"batch")

    with pytest.raises(TransportError, match="append to dmc-telemetry failed"):
        asyncio.run(scenario())
    assert client.messages == []
