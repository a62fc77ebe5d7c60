"""What the model stage's end-to-end tests run against: a source with a fault to inject, a nucleus bridged to mosquitto.

(A module with its own name, not conftest, so that test modules can import it.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

from awscrt import mqtt
from awsiot import mqtt_connection_builder

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki
from edge.readings import Reading
from edge.sources.simulator import SimulatorSource
from tests.edge.greengrass.greengrass_fakes import FakeIpc
from tests.edge.pipeline.mqtt_peers import GATEWAY


class FaultySource:
    """The simulator, plus an offset on chosen addresses once a fault is injected (e.g. a fouled sensor)."""

    def __init__(self, source: SimulatorSource) -> None:
        self._source = source
        self._offsets: dict[str, float] = {}
        self.fault_ts: float | None = None  # source timestamp of the first faulty scan

    def inject(self, offsets: dict[str, float]) -> None:
        self._offsets = dict(offsets)

    async def start(self) -> None:
        await self._source.start()

    async def readings(self) -> AsyncIterator[list[Reading]]:
        async for scan in self._source.readings():
            if self._offsets:
                offsets = self._offsets
                scan = [
                    Reading(r.address, r.value + offsets[r.address], r.quality, r.source_ts)  # type: ignore[operator]
                    if r.address in offsets
                    else r
                    for r in scan
                ]
                if self.fault_ts is None:
                    self.fault_ts = scan[0].source_ts
            yield scan

    async def close(self) -> None:
        await self._source.close()


class BrokerIpc(FakeIpc):
    """The nucleus faked at the IPC client (``FakeIpc``), with a real MQTT connection behind PublishToIoTCore.

    What the component publishes goes to mosquitto under the gateway's certificate, as the nucleus
    forwards it to IoT Core; the returned future completes on the broker's PUBACK.
    """

    def __init__(self, configuration: dict[str, Any], broker: LocalMosquitto, pki: Pki) -> None:
        super().__init__(configuration)
        self._connection = mqtt_connection_builder.mtls_from_path(
            endpoint="localhost",
            port=broker.port,
            cert_filepath=str(pki.cert(GATEWAY)),
            pri_key_filepath=str(pki.key(GATEWAY)),
            ca_filepath=str(pki.ca),
            client_id=GATEWAY,
            clean_session=True,
        )

    def __enter__(self) -> BrokerIpc:
        self._connection.connect().result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        self._connection.disconnect().result(timeout=10)

    def publish_to_iot_core_async(self, *, topic_name: str, qos: str, payload: bytes) -> Future[Any]:
        published, _ = self._connection.publish(topic=topic_name, payload=payload, qos=mqtt.QoS.AT_LEAST_ONCE)
        return published
