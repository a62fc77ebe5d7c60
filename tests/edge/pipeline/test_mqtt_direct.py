"""Direct MQTT 5 transport and the whole runner against a real mosquitto with mutual TLS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mqtt_peers import GATEWAY, Recorder, gateway_transport, run, wait_until

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki, make_pki
from edge.pipeline.runner import Runner, RunnerConfig
from edge.pipeline.tag_map import TagMap
from edge.readings import TransportError
from edge.sources.backoff import ReconnectSettings
from edge.sources.simulator import SimulatorSettings, SimulatorSource

pytestmark = pytest.mark.network


def test_publish_returns_after_the_broker_acknowledged(broker: LocalMosquitto, pki: Pki, recorder: Recorder) -> None:
    transport = gateway_transport(broker, pki)

    async def scenario() -> None:
        await transport.connect()
        await transport.connect()  # again: already connected, returns at once
        for n in range(3):
            await transport.publish("dmc/plantA/plantA-gw-01/test", b'{"n":%d}' % n)
        await transport.close()

    run(scenario)
    wait_until(lambda: len(recorder.raw()) == 3, "three messages at the subscriber")
    assert recorder.raw() == [("dmc/plantA/plantA-gw-01/test", b'{"n":%d}' % n) for n in range(3)]


def test_a_certificate_from_another_ca_is_refused(broker: LocalMosquitto, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "other-ca", [GATEWAY])
    transport = gateway_transport(broker, stranger, connect_timeout_s=2.0)

    async def scenario() -> None:
        try:
            with pytest.raises(TransportError, match=rf"^no MQTT session with localhost:{broker.port} within 2\.0s"):
                await transport.connect()
        finally:
            await transport.close()

    run(scenario)


def test_publish_without_a_session_fails_instead_of_queueing(broker: LocalMosquitto, pki: Pki) -> None:
    transport = gateway_transport(broker, pki)

    async def scenario() -> None:
        with pytest.raises(TransportError, match=r"^not connected"):
            await transport.publish("dmc/plantA/plantA-gw-01/test", b"{}")
        await transport.connect()
        broker.stop()
        with pytest.raises(TransportError):  # failed at once, or at the disconnect: never queued for later
            await transport.publish("dmc/plantA/plantA-gw-01/test", b"{}")
        await transport.close()

    run(scenario)


def test_the_runner_streams_batches_and_heartbeats(
    broker: LocalMosquitto,
    pki: Pki,
    recorder: Recorder,
    example_map: TagMap,
    canonical_units: dict[str, str],
    tmp_path: Path,
) -> None:
    source = SimulatorSource(SimulatorSettings(seed=7, scan_interval_s=0.05), example_map.addresses("simulator"))
    config = RunnerConfig(
        spool_path=tmp_path / "spool.db",
        canonical_units=canonical_units,
        linger_s=0.3,
        tick_s=0.1,
        heartbeat_interval_s=1,
        reconnect=ReconnectSettings(initial_s=0.1, max_s=0.5),
    )
    runner = Runner(example_map, config, sources=[source], transport=gateway_transport(broker, pki))

    async def scenario() -> object:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(2.5, stop.set)
        return await runner.run(stop)

    summary = run(scenario)
    wait_until(lambda: len(recorder.batches()) == summary.sent, "every confirmed batch at the subscriber")
    batches = recorder.batches()
    assert summary.spool_depth == 0 and summary.batches == summary.sent == len(batches) > 3
    assert {batch["line"] for batch in batches} == {"acme/plantA/filling/line1"}
    assert [batch["batch_seq"] for batch in batches] == list(range(len(batches)))
    values = [value for batch in batches for value in batch["values"]]
    assert len(values) == summary.reported
    assert [value["seq"] for value in values] == list(range(len(values)))
    units = {value["path"].rsplit("/", 2)[-1]: value["unit"] for value in values}
    assert units["product_temperature"] == "degC" and units["nozzle_pressure"] == "bar"
    beats = recorder.messages("health")
    assert len(beats) >= 1
    assert beats[-1]["gateway"] == GATEWAY and beats[-1]["clients"] == 1 and beats[-1]["max_clients"] == 8
    assert [beat["seq"] for beat in beats] == list(range(len(beats)))
    assert beats[-1]["received"] > 0 and beats[-1]["sent"] <= summary.sent
