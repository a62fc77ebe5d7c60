"""OPC UA source: a secured asyncua client subscribed to data changes.

Tag map addresses are NodeId strings, e.g. ``ns=2;s=Filler.Temperature`` or
``ns=3;i=1001``. The connection settings sit under ``sources.opcua`` in the tag
map (``OpcUaSettings``)::

    sources:
      opcua:
        endpoint: opc.tcp://plc-filler.plant.local:4840
        certificate: /greengrass/v2/work/opcua/client-cert.der   # this gateway's certificate
        private_key: /greengrass/v2/work/opcua/client-key.pem
        server_certificate: /greengrass/v2/work/opcua/server-cert.der  # pinned: the only server trusted

The channel is always signed (and by default encrypted); the server's
certificate is pinned rather than fetched, so a rogue server on the plant
network cannot impersonate the PLC. Each connection attempt uses a fresh client;
between attempts the source waits with jittered exponential backoff and reports
every tag it knew as quality ``bad`` so consumers see the gap instead of a frozen value.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from asyncua import Client, Node, ua
from asyncua.common.subscription import DataChangeNotif
from asyncua.crypto import security_policies
from pydantic import BaseModel, ConfigDict, Field

from edge.readings import Reading
from edge.sources.backoff import Backoff, ReconnectSettings
from edge.sources.settings import parse_source_settings

log = logging.getLogger(__name__)

_POLICIES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128Sha256RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256Sha256RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}

Value = float | int | bool | str
_NODE_ID_EXAMPLE = "ns=2;s=Filler.Temperature or ns=3;i=1001"


class OpcUaSettings(BaseModel):
    """``sources.opcua`` of a tag map (also the ``opcua`` key of the command handler's configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field(pattern=r"^opc\.tcp://\S+$", description="Server URL, e.g. opc.tcp://plc:4840.")
    security_policy: Literal["Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"] = "Basic256Sha256"
    security_mode: Literal["SignAndEncrypt", "Sign"] = "SignAndEncrypt"
    certificate: Path = Field(description="This client's certificate (PEM or DER); its URI SAN is application_uri.")
    private_key: Path = Field(description="This client's private key (PEM or DER, unencrypted).")
    server_certificate: Path = Field(description="The server's certificate, pinned: no other server is trusted.")
    application_uri: str = Field(default="urn:dmc:edge:opcua-client", min_length=1)
    publishing_interval_ms: int = Field(
        default=500, ge=10, le=60_000, description="How often the server sends changes."
    )
    sampling_interval_ms: int = Field(
        default=250, ge=0, le=60_000, description="How often the server samples each tag."
    )
    queue_size: int = Field(
        default=10, ge=1, le=1000, description="Changes the server keeps per tag between two sends."
    )
    request_timeout_s: float = Field(default=4.0, gt=0, le=120)
    reconnect: ReconnectSettings = Field(default_factory=ReconnectSettings)

    def require_files(self, where: str = "sources.opcua") -> None:
        """Raise ValueError naming every certificate or key file that does not exist; ``where`` names the settings."""
        missing = [
            f"{where}.{key}: file {path} does not exist; fix: install it on the gateway or correct the path"
            for key, path in (
                ("certificate", self.certificate),
                ("private_key", self.private_key),
                ("server_certificate", self.server_certificate),
            )
            if not path.is_file()
        ]
        if missing:
            raise ValueError("\n".join(missing))


def parse_settings(data: Mapping[str, Any]) -> OpcUaSettings:
    """Validate ``sources.opcua`` of a tag map; raises ValueError naming each bad field, its value and the fix."""
    return parse_source_settings(OpcUaSettings, data, source="opcua", module="edge/sources/opcua.py")


def parse_node_ids(addresses: list[str]) -> dict[ua.NodeId, str]:
    """NodeId -> tag map address; raises ValueError naming every address that is not a NodeId."""
    nodes: dict[ua.NodeId, str] = {}
    problems = []
    for address in addresses:
        try:
            nodes[ua.NodeId.from_string(address)] = address
        except ua.UaStringParsingError:
            problems.append(f"opcua address {address!r} is not a NodeId; fix: write it like {_NODE_ID_EXAMPLE}")
    if problems:
        raise ValueError("\n".join(problems))
    return nodes


def quality_of(status: ua.StatusCode | None) -> str:
    """OPC UA severity bits -> envelope quality (a missing status code means Good)."""
    if status is None or status.is_good():
        return "good"
    if status.is_uncertain():
        return "uncertain"
    return "bad"


def epoch_seconds(moment: datetime | None, fallback: float) -> float:
    """UTC epoch seconds of an OPC UA timestamp (always UTC on the wire: a naive datetime is taken as UTC)."""
    if moment is None:
        return fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def plain_value(value: Any) -> Value | None:
    """A value the envelope can carry; None when the server sent none (or NaN/inf, which cannot be stored)."""
    if value is None:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, ua.LocalizedText):
        return value.Text or ""
    return str(value)


def reading_from(address: str, data_value: ua.DataValue, last: Value | None, now: float) -> Reading | None:
    """One Reading from a data change; a change without a usable value repeats the last one as bad.

    Returns None when there is nothing to report: no value now and none ever seen.
    """
    quality = quality_of(data_value.StatusCode)
    value = plain_value(data_value.Value.Value if data_value.Value is not None else None)
    if value is None:
        if last is None:
            return None
        value, quality = last, "bad"
    timestamp = epoch_seconds(data_value.SourceTimestamp or data_value.ServerTimestamp, now)
    return Reading(address=address, value=value, quality=quality, source_ts=timestamp)


async def open_client(
    settings: OpcUaSettings,
    *,
    on_lost: Callable[[Exception], Coroutine[Any, Any, None]] | None = None,
    auto_reconnect: bool = False,
) -> Client:
    """A connected, secured client. ``on_lost`` is set before connecting so no loss goes unseen."""
    client = Client(settings.endpoint, timeout=settings.request_timeout_s)
    client.application_uri = settings.application_uri
    client.connection_lost_callback = on_lost
    await client.set_security(
        _POLICIES[settings.security_policy],
        certificate=str(settings.certificate),
        private_key=str(settings.private_key),
        server_certificate=str(settings.server_certificate),
        mode=getattr(ua.MessageSecurityMode, settings.security_mode),
    )
    await client.connect(auto_reconnect=auto_reconnect, reconnect_max_delay=settings.reconnect.max_s)
    return client


async def close_client(client: Client, timeout_s: float) -> None:
    """Disconnect without raising: after a loss the server is gone and closing the session must fail."""
    try:
        await asyncio.wait_for(client.disconnect(), timeout_s)
    except (OSError, ua.UaError) as error:  # TimeoutError is an OSError
        log.debug("OPC UA disconnect after loss: %r", error)


class _Handler:
    """asyncua subscription callbacks -> the source's queue."""

    def __init__(self, source: OpcUaSource, lost: asyncio.Event) -> None:
        self._source = source
        self._lost = lost

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        self._source.deliver(node.nodeid, data.monitored_item.Value)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        # The server ended the subscription (e.g. session timeout): treat it as a lost connection.
        if status.Status is not None and not status.Status.is_good():
            log.warning("OPC UA subscription status %s; reconnecting", status.Status.name)
            self._lost.set()


class OpcUaSource:
    """Readings of the given NodeIds, delivered as the server reports changes."""

    def __init__(self, settings: OpcUaSettings, addresses: list[str]) -> None:
        settings.require_files()
        self._settings = settings
        self._nodes = parse_node_ids(addresses)
        self._queue: asyncio.Queue[list[Reading] | None] = asyncio.Queue()
        self._last: dict[str, Value] = {}
        self._stale = True  # no live subscription: the last values are not current
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin connecting in the background; the first attempt happens at once."""
        self._task = asyncio.create_task(self._run(), name=f"opcua-source {self._settings.endpoint}")

    async def readings(self) -> AsyncIterator[list[Reading]]:
        """Yields each burst of changes as one list; ends after ``close``."""
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            # Merge whatever else already arrived so the pipeline handles one list per burst.
            while not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    yield batch
                    return
                batch.extend(more)
            yield batch

    async def close(self) -> None:
        """Stop reconnecting, disconnect, and end ``readings``."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._queue.put_nowait(None)

    def deliver(self, node_id: ua.NodeId, data_value: ua.DataValue) -> None:
        """Queue the Reading of one data change (called by the subscription handler)."""
        address = self._nodes.get(node_id)
        if address is None:
            return
        reading = reading_from(address, data_value, self._last.get(address), time.time())
        if reading is None:
            log.warning("OPC UA %s reported %s without a value", address, data_value.StatusCode)
            return
        self._last[address] = reading.value
        self._queue.put_nowait([reading])

    def _mark_all_bad(self) -> None:
        # Once per outage, not once per failed attempt: the first bad value is the news.
        if self._stale:
            return
        self._stale = True
        now = time.time()
        stale = [Reading(address, value, "bad", now) for address, value in self._last.items()]
        if stale:
            self._queue.put_nowait(stale)

    async def _run(self) -> None:
        backoff = Backoff(self._settings.reconnect)
        while True:
            try:
                await self._session(backoff)
            except Exception as error:  # whatever ends a session, the source reconnects rather than dies
                expected = isinstance(error, OSError | ua.UaError)
                log.warning(
                    "OPC UA %s: connection failed or lost: %r", self._settings.endpoint, error, exc_info=not expected
                )
            self._mark_all_bad()
            await asyncio.sleep(backoff.next_delay())

    async def _session(self, backoff: Backoff) -> None:
        lost = asyncio.Event()

        async def on_lost(error: Exception) -> None:
            lost.set()

        client = await open_client(self._settings, on_lost=on_lost)
        try:
            subscription = await client.create_subscription(self._settings.publishing_interval_ms, _Handler(self, lost))
            node_ids = list(self._nodes)
            results = await subscription.subscribe_data_change(
                [client.get_node(node_id) for node_id in node_ids],
                queuesize=self._settings.queue_size,
                sampling_interval=ua.Double(self._settings.sampling_interval_ms),
            )
            for node_id, result in zip(node_ids, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    log.error(
                        "OPC UA %s refused %s: %s; fix: correct the NodeId in the tag map",
                        self._settings.endpoint,
                        self._nodes[node_id],
                        result.name,
                    )
            backoff.reset()
            self._stale = False
            log.info("OPC UA %s: subscribed to %d tags", self._settings.endpoint, len(node_ids))
            await lost.wait()
        finally:
            await close_client(client, self._settings.request_timeout_s)
