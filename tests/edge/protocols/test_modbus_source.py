"""Modbus source against a real pymodbus TCP server; addresses, decoding and request planning."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from protocol_peers import modbus_plc, next_reading, run

from edge.readings import Reading
from edge.sources.backoff import ReconnectSettings
from edge.sources.modbus import ModbusSettings, ModbusSource, parse_address, plan_blocks


def words(fmt: str, value: float, order: str = "big") -> list[int]:
    """The registers a PLC stores ``value`` in (independent of the code under test)."""
    raw = struct.pack(fmt, value)
    registers = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return registers if order == "big" else registers[::-1]


def settings(port: int) -> ModbusSettings:
    return ModbusSettings(
        host="127.0.0.1",
        port=port,
        poll_interval_s=0.05,
        timeout_s=1.0,
        reconnect=ReconnectSettings(initial_s=0.05, max_s=0.3),
    )


HOLDING = [
    *words(">h", -1234),  # 0
    *words(">H", 65000),  # 1
    *words(">i", -100000),  # 2-3
    *words(">i", -100000, "little"),  # 4-5
    *words(">I", 3_000_000_000),  # 6-7
    *words(">f", 12.5),  # 8-9
    *words(">f", -3.25, "little"),  # 10-11
    *words(">h", 215),  # 12: tenths of a degree
    *words(">H", 1000),  # 13: hundredths, offset -5
]
EXPECTED = {
    "holding:0:int16": -1234,
    "holding:1": 65000,
    "holding:2:int32": -100000,
    "holding:4:int32:words=little": -100000,
    "holding:6:uint32": 3_000_000_000,
    "holding:8:float32": 12.5,
    "holding:10:float32:words=little": -3.25,
    "holding:12:int16:scale=0.1": pytest.approx(21.5),
    "holding:13:uint16:scale=0.01:offset=-5": pytest.approx(5.0),
    "input:0": 42,
    "input:1:float32": 1.5,
    "coil:0": True,
    "coil:2": True,
    "discrete:1": True,
}


async def poll_once(source: ModbusSource) -> dict[str, Reading]:
    async for batch in source.readings():
        return {reading.address: reading for reading in batch}
    raise AssertionError("the source ended without a poll")


@pytest.mark.network
def test_data_types_scaling_and_word_order(port: int) -> None:
    async def scenario() -> None:
        async with modbus_plc(
            port, holding=HOLDING, inputs=[42, *words(">f", 1.5)], coils=[True, False, True], discrete=[False, True]
        ) as plc:
            source = ModbusSource(settings(port), list(EXPECTED))
            await source.start()
            polled = await poll_once(source)
            await source.close()
        assert {address: reading.value for address, reading in polled.items()} == EXPECTED
        assert {reading.quality for reading in polled.values()} == {"good"}
        assert all(isinstance(polled[address].value, int) for address in ("holding:0:int16", "holding:6:uint32"))
        # One poll: contiguous addresses share a request (function code, address, count); coil 1 is not read,
        # so coils 0 and 2 take two.
        assert plc.requests[:5] == [(3, 0, 14), (4, 0, 3), (1, 0, 1), (1, 2, 1), (2, 1, 1)]

    run(scenario)


@pytest.mark.network
def test_refused_reads_mark_tags_bad_and_polling_goes_on(port: int) -> None:
    async def scenario() -> None:
        async with modbus_plc(port, holding=words(">h", 7), inputs=[1], coils=[False], discrete=[False]) as plc:
            # holding:500 is not served: that request fails on every poll, the other one keeps reading.
            source = ModbusSource(settings(port), ["holding:0:int16", "holding:500"])
            await source.start()
            first = await poll_once(source)
            assert list(first) == ["holding:0:int16"]
            assert (first["holding:0:int16"].value, first["holding:0:int16"].quality) == (7, "good")

            plc.failing = True
            failed = await next_reading(source.readings(), lambda r: r.quality == "bad")
            assert (failed.address, failed.value) == ("holding:0:int16", 7)

            plc.failing = False
            recovered = await next_reading(source.readings(), lambda r: r.quality == "good")
            assert recovered.value == 7
            await source.close()

    run(scenario)


@pytest.mark.network
def test_lost_connection_marks_tags_bad_then_source_reconnects(port: int) -> None:
    async def scenario() -> None:
        values: dict[str, Any] = {"holding": words(">H", 11), "inputs": [0], "coils": [False], "discrete": [False]}
        async with modbus_plc(port, **values):
            source = ModbusSource(settings(port), ["holding:0"])
            await source.start()
            assert (await poll_once(source))["holding:0"].value == 11
        outage = await next_reading(source.readings(), lambda r: r.quality == "bad")
        assert outage.value == 11
        values["holding"] = words(">H", 12)
        async with modbus_plc(port, **values):
            resumed = await next_reading(source.readings(), lambda r: r.quality == "good")
            assert resumed.value == 12
            await source.close()

    run(scenario)


def test_contiguous_addresses_share_a_request_within_protocol_limits() -> None:
    points = [
        parse_address(text)
        for text in ("holding:0:float32", "holding:2", "holding:3:int32", "holding:10", "holding:124", "input:0")
    ]
    blocks = [(b.table, b.start, b.count, [p.address for p in b.points]) for b in plan_blocks(points)]
    assert blocks == [
        ("holding", 0, 5, ["holding:0:float32", "holding:2", "holding:3:int32"]),
        ("holding", 10, 1, ["holding:10"]),
        ("holding", 124, 1, ["holding:124"]),
        ("input", 0, 1, ["input:0"]),
    ]
    # 130 adjacent registers need two requests: one request carries at most 125.
    many = [parse_address(f"holding:{n}") for n in range(130)]
    assert [(b.start, b.count) for b in plan_blocks(many)] == [(0, 125), (125, 5)]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("register:1", "modbus address 'register:1': table must be one of holding, input, coil, discrete"),
        ("holding:70000", "modbus address 'holding:70000': '70000' is not an address 0..65535"),
        ("holding:1:float64", "modbus address 'holding:1:float64': type 'float64' is not one of int16, uint16"),
        ("coil:1:int16", "modbus address 'coil:1:int16': coil values are booleans and take no type; fix: coil:N"),
        ("holding:1:int16:factor=2", "modbus address 'holding:1:int16:factor=2': unknown option 'factor=2'"),
        ("holding:1:int32:words=middle", "modbus address 'holding:1:int32:words=middle': words=middle is not"),
        ("holding:65535:float32", "modbus address 'holding:65535:float32': float32 at 65535 runs past register 65535"),
        ("holding:1:scale=abc", "modbus address 'holding:1:scale=abc': scale and offset must be numbers"),
    ],
)
def test_bad_addresses_say_what_is_wrong(address: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_address(address)
    assert str(caught.value).startswith(message)


def test_source_reports_every_bad_address_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        ModbusSource(settings(502), ["holding:0", "holding:x", "input:1:double"])
    assert len(str(caught.value).splitlines()) == 2
