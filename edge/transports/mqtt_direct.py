"""Direct MQTT 5 over mutual TLS with the AWS IoT Device SDK (awscrt): publish, wait for PUBACK.

For gateways that talk to AWS IoT Core themselves (``edge.transport: mqtt``).
The client authenticates with the gateway's X.509 certificate and uses the
thing name as client id, which the IoT policy scopes topics by. Messages go out
at QoS 1 and ``publish`` returns only after the broker's PUBACK; anything else
raises ``TransportError`` and the runner keeps the message in its spool.

The SDK's default flow control (``AWS_IOT_CORE_DEFAULTS``) holds the client to
IoT Core's per-connection limits (about 100 publishes/s, 512 KiB/s); batching
keeps the pipeline well inside them. The client reconnects by itself with
backoff; ``connect`` may be called again after a failure and then only waits
for that reconnection. Operations still queued when a connection drops fail at
once (``FAIL_ALL_ON_DISCONNECT``), so the spool, not the SDK, owns every retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awscrt import mqtt5
from awscrt.exceptions import AwsCrtError
from awsiot import mqtt5_client_builder
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.readings import TransportError

log = logging.getLogger(__name__)


class MqttDirectSettings(BaseModel):
    """Where and as whom the gateway connects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field(min_length=1, description="IoT Core ATS endpoint (xxxx-ats.iot.<region>.amazonaws.com).")
    port: int = Field(8883, ge=1, le=65535)
    client_id: str = Field(min_length=1, max_length=128, description="The gateway's thing name.")
    certificate: Path = Field(description="The gateway's X.509 certificate (PEM).")
    private_key: Path = Field(description="Its private key (PEM).")
    ca: Path = Field(description="The CA that signed the broker's certificate (Amazon Root CA 1 for IoT Core).")
    connect_timeout_s: float = Field(10.0, gt=0, le=300, description="How long connect waits for a session.")
    publish_timeout_s: float = Field(30.0, gt=0, le=600, description="How long publish waits for the PUBACK.")
    reconnect_min_s: float = Field(1.0, gt=0, le=60, description="First delay of the client's own reconnects.")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600, description="Longest delay between reconnect attempts.")

    @model_validator(mode="after")
    def _ordered(self) -> MqttDirectSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s {self.reconnect_max_s} is below reconnect_min_s {self.reconnect_min_s}; "
                "fix: set reconnect_max_s >= reconnect_min_s"
            )
        return self


class MqttDirectTransport:
    """``Transport`` over one awscrt MQTT 5 client."""

    def __init__(self, settings: MqttDirectSettings) -> None:
        self.settings = settings
        self._client: mqtt5.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._stopped = asyncio.Event()
        self._last_error = "no attempt finished yet"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _signal(self, action: Callable[[], Any]) -> None:
        """Run ``action`` on the event loop; the SDK calls back from its own threads."""
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody waits for this event any more
            self._loop.call_soon_threadsafe(action)

    def _on_success(self, _: mqtt5.LifecycleConnectSuccessData) -> None:
        log.info("connected to %s:%s", self.settings.endpoint, self.settings.port)
        self._signal(self._connected.set)

    def _on_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        self._last_error = str(data.exception)

    def _on_disconnect(self, data: mqtt5.LifecycleDisconnectData) -> None:
        self._last_error = str(data.exception)
        if self._client is not None:  # close() clears it first: a requested stop is no warning
            log.warning("disconnected from %s:%s: %s", self.settings.endpoint, self.settings.port, data.exception)
        self._signal(self._connected.clear)

    def _on_stopped(self, _: mqtt5.LifecycleStoppedData) -> None:
        self._signal(self._stopped.set)

    def _build(self) -> mqtt5.Client:
        settings = self.settings
        return mqtt5_client_builder.mtls_from_path(
            endpoint=settings.endpoint,
            port=settings.port,
            cert_filepath=str(settings.certificate),
            pri_key_filepath=str(settings.private_key),
            ca_filepath=str(settings.ca),
            client_id=settings.client_id,
            offline_queue_behavior=mqtt5.ClientOperationQueueBehaviorType.FAIL_ALL_ON_DISCONNECT,
            min_reconnect_delay_ms=int(settings.reconnect_min_s * 1000),
            max_reconnect_delay_ms=int(settings.reconnect_max_s * 1000),
            on_lifecycle_connection_success=self._on_success,
            on_lifecycle_connection_failure=self._on_failure,
            on_lifecycle_disconnection=self._on_disconnect,
            on_lifecycle_stopped=self._on_stopped,
        )

    async def connect(self) -> None:
        """Start the client (once) and wait until it holds a session."""
        if self._client is None:
            self._loop = asyncio.get_running_loop()
            self._stopped.clear()
            self._client = self._build()
            self._client.start()
        try:
            await asyncio.wait_for(self._connected.wait(), self.settings.connect_timeout_s)
        except TimeoutError:
            raise TransportError(
                f"no MQTT session with {self.settings.endpoint}:{self.settings.port} within "
                f"{self.settings.connect_timeout_s}s (last error: {self._last_error}); "
                "fix: check the endpoint, the certificate and key, the CA and the network"
            ) from None

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1; returns after the PUBACK."""
        if self._client is None or not self._connected.is_set():
            raise TransportError(f"not connected to {self.settings.endpoint}:{self.settings.port}")
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)
        try:
            done = await asyncio.wait_for(
                asyncio.wrap_future(self._client.publish(packet)), self.settings.publish_timeout_s
            )
        except TimeoutError:
            raise TransportError(f"no PUBACK for {topic} within {self.settings.publish_timeout_s}s") from None
        except AwsCrtError as error:
            raise TransportError(f"publish to {topic} failed: {error.name}") from error
        reason = done.puback.reason_code if done.puback else None
        if reason is None or reason >= 128:  # MQTT 5: codes from 128 on are refusals
            raise TransportError(f"publish to {topic} refused by the broker: {reason!r}")

    async def close(self) -> None:
        """Disconnect and wait until the client stopped."""
        client, self._client = self._client, None
        if client is None:
            return
        client.stop()
        try:
            await asyncio.wait_for(self._stopped.wait(), self.settings.connect_timeout_s)
        except TimeoutError:
            log.warning("MQTT client did not report stopping within %ss", self.settings.connect_timeout_s)
        self._connected.clear()
