"""Entry point of com.dmc.CommandHandler: setpoint commands from IoT Core (IPC) to the OPC UA server.

``plan`` checks a configuration (keys, allow-list, accessControl, certificate
files) and raises ``ConfigurationError`` naming every problem; it answers
deployments and gates the start-up. ``CommandHost.serve`` connects to the OPC UA
server (jittered backoff until it answers; afterwards asyncua's own reconnect
keeps the session), re-sends audit records an earlier run could not publish,
subscribes to ``dmc/<site>/<thing>/commands`` at QoS 1 and hands each message
to ``CommandHandler``. A new configuration restarts that cycle.

Run by the recipe as ``python -m edge.greengrass.command_handler --work-dir {work:path}``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from asyncua import Client
from awsiot.greengrasscoreipc.model import QOS, IoTCoreMessage

from edge.commands.handler import CommandHandler
from edge.commands.ledger import CommandLedger
from edge.greengrass.component import first, run_component
from edge.greengrass.config import CommandHandlerConfig, ConfigurationError, parse
from edge.greengrass.ipc import (
    ConfigurationIpc,
    DeploymentValidator,
    keep_stream_open,
    read_configuration,
    watch_configuration,
)
from edge.sources.backoff import Backoff
from edge.sources.opcua import OpcUaSettings, close_client, open_client
from edge.transports.greengrass_ipc import GreengrassIpcTransport, IotCorePublisher

log = logging.getLogger(__name__)

COMPONENT = "com.dmc.CommandHandler"


class CommandIpc(ConfigurationIpc, IotCorePublisher, Protocol):
    """The IPC client of the component: configuration, the command subscription, audit publishing."""

    def subscribe_to_iot_core(
        self,
        *,
        topic_name: str,
        qos: str,
        on_stream_event: Callable[[IoTCoreMessage], None],
        on_stream_error: Callable[[Exception], bool],
    ) -> Any: ...


def plan(configuration: Mapping[str, Any]) -> CommandHandlerConfig:
    """Check a configuration completely; raises ConfigurationError listing every problem."""
    config = parse(CommandHandlerConfig, configuration)
    try:
        config.opcua.require_files(where="opcua")
    except ValueError as error:
        raise ConfigurationError(str(error).splitlines()) from None
    return config


async def connect(settings: OpcUaSettings, stop: asyncio.Event) -> Client | None:
    """A session with the OPC UA server, retried with jittered backoff; None when stopped first."""
    backoff = Backoff(settings.reconnect)
    while not stop.is_set():
        try:
            return await open_client(settings, auto_reconnect=True)
        except Exception as error:  # any failure to connect is retried; the configuration was checked already
            log.warning("OPC UA %s not reachable: %r", settings.endpoint, error)
        try:
            await asyncio.wait_for(stop.wait(), backoff.next_delay())
        except TimeoutError:
            continue
    return None


class CommandHost:
    """Runs the command handler with the IPC client of this process."""

    def __init__(self, ipc: CommandIpc, thing_name: str, work_dir: Path) -> None:
        self._ipc = ipc
        self._thing_name = thing_name
        self._work_dir = work_dir

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop``; a start-up configuration that fails ``plan`` raises ConfigurationError."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        DeploymentValidator(self._ipc, COMPONENT, plan).subscribe()
        watch_configuration(self._ipc, lambda: loop.call_soon_threadsafe(changed.set))
        while not stop.is_set():
            config = plan(read_configuration(self._ipc))
            changed.clear()
            client = await connect(config.opcua, stop)
            if client is None:
                return
            try:
                await self._handle_commands(config, client, loop, stop, changed)
            finally:
                await close_client(client, config.opcua.request_timeout_s)

    async def _handle_commands(
        self,
        config: CommandHandlerConfig,
        client: Client,
        loop: asyncio.AbstractEventLoop,
        stop: asyncio.Event,
        changed: asyncio.Event,
    ) -> None:
        handler = CommandHandler(
            site=config.site_id,
            gateway=self._thing_name,
            setpoints=config.setpoints,
            client=client,
            publisher=GreengrassIpcTransport(self._ipc),
            ledger=CommandLedger(self._work_dir / config.ledger_path),
        )
        await handler.publish_pending()  # audit records an earlier run could not deliver
        operation = subscribe_commands(self._ipc, handler.command_topic, handler.handle, loop)
        log.info("handling commands on %s", handler.command_topic)
        try:
            await first(stop, changed)
        finally:
            operation.close()


def subscribe_commands(
    ipc: CommandIpc,
    command_topic: str,
    handle: Callable[[bytes], Coroutine[Any, Any, dict[str, Any]]],
    loop: asyncio.AbstractEventLoop,
) -> Any:
    """Subscribe at QoS 1 and run ``handle`` on ``loop`` for each message; returns the IPC operation to close."""

    def on_command(event: IoTCoreMessage) -> None:  # on an IPC thread
        if event.message is not None and event.message.payload is not None:
            done = asyncio.run_coroutine_threadsafe(handle(event.message.payload), loop)
            done.add_done_callback(_log_failure)

    _, operation = ipc.subscribe_to_iot_core(
        topic_name=command_topic, qos=QOS.AT_LEAST_ONCE, on_stream_event=on_command, on_stream_error=keep_stream_open
    )
    return operation


def _log_failure(done: Future[dict[str, Any]]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("a command could not be handled", exc_info=done.exception())


def main(argv: list[str] | None = None) -> int:
    return run_component(COMPONENT, "edge.greengrass.command_handler", argv, CommandHost)


if __name__ == "__main__":
    sys.exit(main())
