"""The two entry points' long-running parts, with the nucleus and stream manager faked at their clients."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from awsiot.greengrasscoreipc.model import QOS, ConfigurationValidityStatus
from component_configs import GATEWAY
from greengrass_fakes import FakeIpc, FakeStreamManager

from edge.greengrass.command_handler import CommandHost, connect, subscribe_commands
from edge.greengrass.config import ConfigurationError
from edge.greengrass.tag_pipeline import PipelineHost
from edge.sources.backoff import ReconnectSettings
from edge.sources.opcua import OpcUaSettings
from envelope.tag_envelope import decode

PRESSURE = {
    "source": "simulator",
    "address": "analog:filler:mean=43:noise=0.1",
    "path": "filling/line1/filler/nozzle_pressure",
    "quantity": "pressure",
    "unit": "psi",
    "deadband_abs": 0.3,
}


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``; the caller's deadline bounds the wait."""
    while not condition():
        await asyncio.sleep(0.02)


def tag_paths(messages: list[bytes]) -> set[str]:
    return {
        value["path"] for message in map(decode, messages) if message["kind"] == "tags" for value in message["values"]
    }


def test_pipeline_publishes_via_ipc_and_follows_accepted_configurations(
    pipeline_configuration: dict, tmp_path: Path
) -> None:
    ipc = FakeIpc(pipeline_configuration)
    telemetry = f"dmc/plantA/{GATEWAY}/telemetry"

    def sent() -> list[bytes]:
        return [payload for topic, _, payload in ipc.published if topic == telemetry]

    async def scenario() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(PipelineHost(ipc, GATEWAY, tmp_path, FakeStreamManager).serve(stop))
        await until(lambda: bool(sent()))
        assert "acme/plantA/filling/line1/filler/temperature" in tag_paths(sent())

        rejected = await asyncio.to_thread(ipc.propose, {**pipeline_configuration, "transport": "kinesis"}, "d-1")
        assert rejected.status == ConfigurationValidityStatus.REJECTED
        extended = copy.deepcopy(pipeline_configuration)
        extended["tag_maps"][GATEWAY]["tags"].append(PRESSURE)
        accepted = await asyncio.to_thread(ipc.propose, extended, "d-2")
        assert accepted.status == ConfigurationValidityStatus.ACCEPTED
        await asyncio.to_thread(ipc.apply, extended)
        await until(lambda: "acme/plantA/filling/line1/filler/nozzle_pressure" in tag_paths(sent()))

        stop.set()
        await serving

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert {qos for _, qos, _ in ipc.published} == {QOS.AT_LEAST_ONCE}
    assert {topic for topic, _, _ in ipc.published} <= {telemetry, f"dmc/plantA/{GATEWAY}/health"}


def test_pipeline_appends_to_stream_manager_when_configured(pipeline_configuration: dict, tmp_path: Path) -> None:
    configuration = {
        **pipeline_configuration,
        "transport": "stream-manager",
        "stream_manager": {"kinesis_stream_name": "plantA-tags"},
        "accessControl": {},
    }
    ipc = FakeIpc(configuration)
    streams = FakeStreamManager()

    async def scenario() -> None:
        stop = asyncio.Event()
        serving = asyncio.create_task(PipelineHost(ipc, GATEWAY, tmp_path, lambda: streams).serve(stop))
        await until(lambda: bool(streams.messages))
        stop.set()
        await serving

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert ipc.published == []
    assert {decode(payload)["kind"] for _, payload in streams.messages} <= {"tags", "heartbeat"}
    assert streams.closed


def test_pipeline_refuses_to_start_with_a_bad_configuration(pipeline_configuration: dict, tmp_path: Path) -> None:
    ipc = FakeIpc({**pipeline_configuration, "tag_maps": None})
    with pytest.raises(ConfigurationError, match="set exactly one of tag_map_path and tag_maps"):
        asyncio.run(PipelineHost(ipc, GATEWAY, tmp_path, FakeStreamManager).serve(asyncio.Event()))


def test_command_handler_refuses_to_start_with_a_bad_configuration(command_configuration: dict, tmp_path: Path) -> None:
    ipc = FakeIpc({**command_configuration, "setpoints": []})
    with pytest.raises(ConfigurationError, match=r"setpoints: List should have at least 1 item"):
        asyncio.run(CommandHost(ipc, GATEWAY, tmp_path).serve(asyncio.Event()))


def test_commands_from_ipc_threads_are_handled_on_the_event_loop() -> None:
    ipc = FakeIpc({})
    topic = f"dmc/plantA/{GATEWAY}/commands"
    handled: list[tuple[bytes, bool]] = []

    async def scenario() -> None:
        loop_thread = threading.current_thread()

        async def handle(payload: bytes) -> dict[str, Any]:
            handled.append((payload, threading.current_thread() is loop_thread))
            return {}

        operation = subscribe_commands(ipc, topic, handle, asyncio.get_running_loop())
        assert ipc.subscriptions[topic][0] == QOS.AT_LEAST_ONCE
        await asyncio.to_thread(ipc.deliver, topic, json.dumps({"command_id": "c-1"}).encode())
        await until(lambda: bool(handled))
        operation.close()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert handled == [(b'{"command_id": "c-1"}', True)]
    assert topic not in ipc.subscriptions


def test_connecting_retries_until_stopped(command_configuration: dict, tmp_path: Path) -> None:
    settings = OpcUaSettings(
        **{**command_configuration["opcua"], "endpoint": "opc.tcp://127.0.0.1:9/"},
        reconnect=ReconnectSettings(initial_s=0.01, max_s=0.05),
    )

    async def scenario() -> Any:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, stop.set)
        return await connect(settings, stop)

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) is None
