"""A recording MQTT subscriber and small waiting helpers for the pipeline tests.

(A module with a unique name, not conftest, so that test modules can import it.)
The recorder is a real awsiotsdk client with its own certificate and a
persistent session, so messages published while a broker restart cut it off are
queued by the broker and still reach it. It speaks MQTT 3.1.1 (clean session
off): mosquitto 2.0.11 does not restore MQTT 5 sessions from its persistence
file after a restart, but does restore 3.1.1 ones. The gateway under test uses
MQTT 5.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from awscrt import mqtt
from awsiot import mqtt_connection_builder

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki
from edge.transports.mqtt_direct import MqttDirectSettings, MqttDirectTransport
from envelope.tag_envelope import KIND_TAGS, decode

GATEWAY = "plantA-gw-01"
RECORDER = "recorder"
DEADLINE_S = 60.0


def run(scenario: Callable[[], Coroutine[Any, Any, Any]], deadline_s: float = DEADLINE_S) -> Any:
    """Run one async scenario under a deadline, so a broken peer fails the test instead of hanging it."""

    async def bounded() -> Any:
        async with asyncio.timeout(deadline_s):
            return await scenario()

    return asyncio.run(bounded())


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` if it never does."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


class Recorder:
    """Subscribes to dmc/# and keeps every message in arrival order."""

    def __init__(self, broker: LocalMosquitto, pki: Pki, client_id: str = RECORDER) -> None:
        self._lock = threading.Lock()
        self._messages: list[tuple[str, bytes]] = []
        self._connection = mqtt_connection_builder.mtls_from_path(
            endpoint="localhost",
            port=broker.port,
            cert_filepath=str(pki.cert(client_id)),
            pri_key_filepath=str(pki.key(client_id)),
            ca_filepath=str(pki.ca),
            client_id=client_id,
            clean_session=False,
            reconnect_min_timeout_secs=1,
            reconnect_max_timeout_secs=2,
        )

    def _on_message(self, topic: str, payload: bytes, **_: Any) -> None:
        with self._lock:
            self._messages.append((topic, bytes(payload)))

    def __enter__(self) -> Recorder:
        self._connection.connect().result(timeout=10)
        subscribed, _ = self._connection.subscribe("dmc/#", mqtt.QoS.AT_LEAST_ONCE, callback=self._on_message)
        subscribed.result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        self._connection.disconnect().result(timeout=10)

    def raw(self) -> list[tuple[str, bytes]]:
        """(topic, payload) of every message so far."""
        with self._lock:
            return list(self._messages)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Decoded (and so validated) messages of one channel (telemetry, health), in arrival order."""
        return [decode(payload) for topic, payload in self.raw() if topic.endswith(f"/{channel}")]

    def batches(self) -> list[dict[str, Any]]:
        return [message for message in self.messages("telemetry") if message["kind"] == KIND_TAGS]

    def batch_seqs(self) -> dict[str, set[int]]:
        """The batch_seq values received per line."""
        seen: dict[str, set[int]] = {}
        for batch in self.batches():
            seen.setdefault(batch["line"], set()).add(batch["batch_seq"])
        return seen


def gateway_transport(broker: LocalMosquitto, pki: Pki, connect_timeout_s: float = 5.0) -> MqttDirectTransport:
    """The gateway's transport to the test broker, with short timeouts and reconnect delays."""
    return MqttDirectTransport(
        MqttDirectSettings(
            endpoint="localhost",
            port=broker.port,
            client_id=GATEWAY,
            certificate=pki.cert(GATEWAY),
            private_key=pki.key(GATEWAY),
            ca=pki.ca,
            connect_timeout_s=connect_timeout_s,
            publish_timeout_s=5,
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
        )
    )
