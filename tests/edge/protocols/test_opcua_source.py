"""OPC UA source against a real asyncua server (Basic256Sha256, SignAndEncrypt, pinned and trusted certificates)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asyncua import ua
from protocol_peers import Pki, next_reading, opcua_plc, opcua_settings, run

from edge.sources.opcua import OpcUaSource, epoch_seconds, open_client, parse_node_ids, quality_of, reading_from


@pytest.mark.network
def test_subscription_delivers_changes_with_source_timestamps(pki: Pki, port: int) -> None:
    async def scenario() -> None:
        async with opcua_plc(pki, port) as plc:
            source = OpcUaSource(opcua_settings(pki, port), [plc.temperature, plc.setpoint])
            await source.start()
            readings = source.readings()
            initial = await next_reading(readings, lambda r: r.address == plc.setpoint)
            assert (initial.value, initial.quality) == (70.0, "good")

            measured_at = datetime(2026, 1, 31, 8, 0, 0, 250000, tzinfo=UTC)
            await plc.write(plc.temperature, ua.Variant(25.5, ua.VariantType.Double), ts=measured_at)
            change = await next_reading(readings, lambda r: r.address == plc.temperature and r.value == 25.5)
            assert change.quality == "good"
            assert change.source_ts == measured_at.timestamp()
            await source.close()

    run(scenario)


@pytest.mark.network
def test_status_codes_map_to_quality(pki: Pki, port: int) -> None:
    async def scenario() -> None:
        async with opcua_plc(pki, port, temperature=20.0) as plc:
            source = OpcUaSource(opcua_settings(pki, port), [plc.temperature])
            await source.start()
            readings = source.readings()
            await next_reading(readings, lambda r: r.value == 20.0)
            double = ua.VariantType.Double

            await plc.write(plc.temperature, ua.Variant(21.0, double), ua.StatusCodes.UncertainLastUsableValue)
            assert (await next_reading(readings, lambda r: r.value == 21.0)).quality == "uncertain"

            # A Bad status nulls the value (OPC UA Part 4, 7.7.1): the last value is repeated, flagged bad.
            await plc.write(plc.temperature, ua.Variant(22.0, double), ua.StatusCodes.BadSensorFailure)
            failed = await next_reading(readings, lambda r: True)
            assert (failed.value, failed.quality) == (21.0, "bad")

            await plc.write(plc.temperature, ua.Variant(23.0, double))
            recovered = await next_reading(readings, lambda r: True)
            assert (recovered.value, recovered.quality) == (23.0, "good")
            await source.close()

    run(scenario)


@pytest.mark.network
def test_server_restart_marks_tags_bad_then_source_resumes(pki: Pki, port: int) -> None:
    async def scenario() -> None:
        source = None
        async with opcua_plc(pki, port, temperature=20.0) as plc:
            source = OpcUaSource(opcua_settings(pki, port), [plc.temperature])
            await source.start()
            readings = source.readings()
            assert (await next_reading(readings, lambda r: True)).value == 20.0
        # The server is gone: the last value is reported again, flagged bad.
        outage = await next_reading(readings, lambda r: True)
        assert (outage.value, outage.quality) == (20.0, "bad")
        async with opcua_plc(pki, port, temperature=31.0):
            resumed = await next_reading(readings, lambda r: r.quality == "good")
            assert resumed.value == 31.0
            await source.close()

    run(scenario)


@pytest.mark.network
def test_server_refuses_a_client_certificate_it_does_not_trust(pki: Pki, port: int) -> None:
    async def scenario() -> None:
        async with opcua_plc(pki, port):
            settings = opcua_settings(pki, port, certificate=pki.intruder_cert, private_key=pki.intruder_key)
            with pytest.raises(ua.UaError):
                await open_client(settings)

    run(scenario)


@pytest.mark.network
def test_client_refuses_a_server_other_than_the_pinned_one(pki: Pki, port: int) -> None:
    async def scenario() -> None:
        async with opcua_plc(pki, port):
            settings = opcua_settings(pki, port, server_certificate=pki.intruder_cert)
            with pytest.raises((ua.UaError, OSError)):
                await open_client(settings)

    run(scenario)


def test_addresses_that_are_not_node_ids_are_all_named() -> None:
    with pytest.raises(ValueError) as caught:
        parse_node_ids(["ns=2;s=Filler.Temperature", "Filler.Temperature", "ns=x;i=3"])
    lines = str(caught.value).splitlines()
    assert lines == [
        "opcua address 'Filler.Temperature' is not a NodeId; "
        "fix: write it like ns=2;s=Filler.Temperature or ns=3;i=1001",
        "opcua address 'ns=x;i=3' is not a NodeId; fix: write it like ns=2;s=Filler.Temperature or ns=3;i=1001",
    ]


def test_missing_certificate_files_are_named(pki: Pki, tmp_path: object) -> None:
    settings = opcua_settings(pki, 4840, private_key=pki.trusted / "absent-key.pem")
    with pytest.raises(ValueError) as caught:
        OpcUaSource(settings, ["ns=2;s=A"])
    assert str(caught.value) == (
        f"sources.opcua.private_key: file {pki.trusted / 'absent-key.pem'} does not exist; "
        "fix: install it on the gateway or correct the path"
    )


@pytest.mark.parametrize(
    ("code", "quality"),
    [
        (ua.StatusCodes.Good, "good"),
        (ua.StatusCodes.GoodClamped, "good"),
        (ua.StatusCodes.UncertainSensorNotAccurate, "uncertain"),
        (ua.StatusCodes.BadNodeIdUnknown, "bad"),
        (ua.StatusCodes.BadOutOfService, "bad"),
    ],
)
def test_quality_follows_status_severity(code: int, quality: str) -> None:
    assert quality_of(ua.StatusCode(ua.UInt32(code))) == quality


def test_naive_opcua_timestamps_are_utc() -> None:
    assert epoch_seconds(datetime(1970, 1, 2), fallback=0.0) == 86400.0
    assert epoch_seconds(None, fallback=12.5) == 12.5


def test_change_without_value_and_no_history_is_not_reported() -> None:
    empty = ua.DataValue(ua.Variant(None), StatusCode=ua.StatusCode(ua.UInt32(ua.StatusCodes.BadWaitingForInitialData)))
    assert reading_from("ns=2;s=A", empty, last=None, now=1.0) is None
    repeated = reading_from("ns=2;s=A", empty, last=4.0, now=1.0)
    assert repeated is not None and (repeated.value, repeated.quality, repeated.source_ts) == (4.0, "bad", 1.0)
