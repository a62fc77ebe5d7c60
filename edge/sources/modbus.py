"""Modbus TCP source: polls registers and bits with the pymodbus async client.

Address syntax in the tag map (0-based protocol addresses, as on the wire)::

    <table>:<address>[:<type>][:<option>=<value>]...

    table    holding | input | coil | discrete
    address  0..65535
    type     int16 | uint16 | int32 | uint32 | float32   (registers only; default uint16)
    options  scale=<number>   value = raw * scale + offset   (registers only; default 1)
             offset=<number>                                  (registers only; default 0)
             words=big|little  order of the two registers of a 32-bit value (default big:
                               high word first); bytes inside a register are always big-endian

Examples: ``holding:0:float32``, ``holding:10:int32:words=little``,
``input:3:int16:scale=0.1``, ``coil:5``, ``discrete:12``.

Settings sit under ``sources.modbus`` in the tag map (``ModbusSettings``). Each
poll reads contiguous addresses of one table in a single request (up to the
protocol's 125 registers or 2000 bits). A refused request (exception response,
timeout) makes its tags quality ``bad`` and polling goes on; a lost connection
makes every tag ``bad`` and the source reconnects with jittered backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU

from edge.readings import Reading
from edge.sources.backoff import Backoff, ReconnectSettings
from edge.sources.settings import parse_source_settings

log = logging.getLogger(__name__)

Table = Literal["holding", "input", "coil", "discrete"]
DataType = Literal["int16", "uint16", "int32", "uint32", "float32"]

_TABLES: tuple[Table, ...] = ("holding", "input", "coil", "discrete")
# struct format (big-endian) and register count of each data type
_FORMATS: dict[DataType, tuple[str, int]] = {
    "int16": (">h", 1),
    "uint16": (">H", 1),
    "int32": (">i", 2),
    "uint32": (">I", 2),
    "float32": (">f", 2),
}
# Protocol limits of one read request (Modbus Application Protocol v1.1b3, 6.1-6.4).
_MAX_REGISTERS = 125
_MAX_BITS = 2000


class ModbusSettings(BaseModel):
    """``sources.modbus`` of a tag map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, description="PLC or gateway host name / IP address.")
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255, description="Modbus unit (device) id behind the TCP endpoint.")
    poll_interval_s: float = Field(default=1.0, ge=0.01, le=3600, description="Time between the starts of two polls.")
    timeout_s: float = Field(
        default=3.0, gt=0, le=60, description="Wait for one response before the request counts as failed."
    )
    reconnect: ReconnectSettings = Field(default_factory=ReconnectSettings)


def parse_settings(data: Mapping[str, Any]) -> ModbusSettings:
    """Validate ``sources.modbus`` of a tag map; raises ValueError naming each bad field, its value and the fix."""
    return parse_source_settings(ModbusSettings, data, source="modbus", module="edge/sources/modbus.py")


@dataclass(frozen=True)
class Point:
    """One parsed tag map address."""

    address: str
    table: Table
    start: int
    data_type: DataType | None  # None for coils and discrete inputs (booleans)
    scale: float = 1.0
    offset: float = 0.0
    word_order: Literal["big", "little"] = "big"

    @property
    def count(self) -> int:
        """Registers (or bits) this point occupies."""
        return 1 if self.data_type is None else _FORMATS[self.data_type][1]

    def decode(self, words: Sequence[int]) -> float | int:
        """The scaled value of this point's registers; NaN/inf raise ValueError (they cannot be stored)."""
        assert self.data_type is not None, "coils and discrete inputs are not registers"
        ordered = words if self.word_order == "big" else words[::-1]
        raw = struct.unpack(_FORMATS[self.data_type][0], b"".join(word.to_bytes(2, "big") for word in ordered))[0]
        if isinstance(raw, float) and not math.isfinite(raw):
            raise ValueError(f"{self.address} holds {raw}")
        if self.scale == 1.0 and self.offset == 0.0:
            return raw  # keep integers integral when nothing scales them
        return raw * self.scale + self.offset


_FIX = "fix: write it like holding:0:float32, input:3:int16:scale=0.1 or coil:5"


def parse_address(text: str) -> Point:
    """Parse one address; raises ValueError saying what is wrong and how to write it."""
    parts = text.split(":")
    if len(parts) < 2 or parts[0] not in _TABLES:
        raise ValueError(f"modbus address {text!r}: table must be one of {', '.join(_TABLES)}; {_FIX}")
    table: Table = parts[0]  # type: ignore[assignment]
    if not parts[1].isdigit() or not 0 <= int(parts[1]) <= 65535:
        raise ValueError(f"modbus address {text!r}: {parts[1]!r} is not an address 0..65535; {_FIX}")
    rest = parts[2:]
    bits = table in ("coil", "discrete")
    data_type: DataType | None = None if bits else "uint16"
    if rest and "=" not in rest[0]:
        if bits:
            raise ValueError(f"modbus address {text!r}: {table} values are booleans and take no type; fix: {table}:N")
        if rest[0] not in _FORMATS:
            raise ValueError(f"modbus address {text!r}: type {rest[0]!r} is not one of {', '.join(_FORMATS)}; {_FIX}")
        data_type = rest.pop(0)  # type: ignore[assignment]
    options: dict[str, str] = {}
    for option in rest:
        key, _, value = option.partition("=")
        if key not in ("scale", "offset", "words") or not value:
            raise ValueError(f"modbus address {text!r}: unknown option {option!r}; use scale=, offset= or words=")
        if bits:
            raise ValueError(f"modbus address {text!r}: {table} values are booleans and take no {key}=")
        options[key] = value
    words = options.get("words", "big")
    if words not in ("big", "little"):
        raise ValueError(f"modbus address {text!r}: words={words} is not big or little")
    try:
        scale, offset = float(options.get("scale", 1)), float(options.get("offset", 0))
    except ValueError:
        raise ValueError(f"modbus address {text!r}: scale and offset must be numbers, e.g. scale=0.1") from None
    if not (math.isfinite(scale) and math.isfinite(offset)) or scale == 0:
        raise ValueError(f"modbus address {text!r}: scale must be a finite non-zero number and offset finite")
    point = Point(text, table, int(parts[1]), data_type, scale, offset, words)  # type: ignore[arg-type]
    if point.start + point.count > 65536:
        raise ValueError(f"modbus address {text!r}: {data_type} at {point.start} runs past register 65535")
    return point


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers or bits of one table from ``start``."""

    table: Table
    start: int
    count: int
    points: tuple[Point, ...]


def plan_blocks(points: list[Point]) -> list[Block]:
    """Group points into as few requests as possible: contiguous or overlapping addresses, within protocol limits."""
    blocks: list[Block] = []
    for table in _TABLES:
        limit = _MAX_BITS if table in ("coil", "discrete") else _MAX_REGISTERS
        current: list[Point] = []
        start = end = 0
        for point in sorted((p for p in points if p.table == table), key=lambda p: p.start):
            point_end = point.start + point.count
            if current and point.start <= end and max(end, point_end) - start <= limit:
                current.append(point)
                end = max(end, point_end)
                continue
            if current:
                blocks.append(Block(table, start, end - start, tuple(current)))
            current, start, end = [point], point.start, point_end
        if current:
            blocks.append(Block(table, start, end - start, tuple(current)))
    return blocks


class ModbusSource:
    """Polled readings of the given Modbus addresses."""

    def __init__(self, settings: ModbusSettings, addresses: list[str]) -> None:
        problems, points = [], []
        for address in addresses:
            try:
                points.append(parse_address(address))
            except ValueError as error:
                problems.append(str(error))
        if problems:
            raise ValueError("\n".join(problems))
        self._settings = settings
        self._points = points
        self._blocks = plan_blocks(points)
        self._queue: asyncio.Queue[list[Reading] | None] = asyncio.Queue()
        self._last: dict[str, float | int | bool] = {}
        self._failing: set[Block] = set()  # blocks whose last read failed: log the change, not every poll
        self._stale = True  # not connected: the last values are not current
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Begin connecting and polling in the background."""
        self._task = asyncio.create_task(self._run(), name=f"modbus-source {self._settings.host}")

    async def readings(self) -> AsyncIterator[list[Reading]]:
        """Yields one list per poll (or per outage); ends after ``close``."""
        while (batch := await self._queue.get()) is not None:
            yield batch

    async def close(self) -> None:
        """Stop polling, disconnect, and end ``readings``."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._queue.put_nowait(None)

    async def _run(self) -> None:
        backoff = Backoff(self._settings.reconnect)
        while True:
            client = _tcp_client(self._settings)
            try:
                if not await client.connect():
                    raise ConnectionException(f"cannot connect to {self._settings.host}:{self._settings.port}")
                self._stale = False
                await self._poll_forever(client, backoff)
            except Exception as error:  # whatever ends a session, the source reconnects rather than dies
                where = f"{self._settings.host}:{self._settings.port}"
                expected = isinstance(error, ModbusException | OSError)
                log.warning("Modbus %s: %s; reconnecting", where, error, exc_info=not expected)
            finally:
                client.close()
            stale = self._bad(self._points, time.time())
            if not self._stale and stale:  # once per outage, not once per failed attempt
                self._queue.put_nowait(stale)
            self._stale = True
            await asyncio.sleep(backoff.next_delay())

    async def _poll_forever(self, client: AsyncModbusTcpClient, backoff: Backoff) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while True:
            readings: list[Reading] = []
            for block in self._blocks:
                readings.extend(await self._read_block(client, block))
            backoff.reset()  # a whole poll kept the connection: the next outage starts from the initial delay
            if readings:
                self._queue.put_nowait(readings)
            next_poll += self._settings.poll_interval_s
            # A poll that overran its interval starts the next one at once instead of bursting to catch up.
            next_poll = max(next_poll, loop.time())
            await asyncio.sleep(next_poll - loop.time())

    async def _read_block(self, client: AsyncModbusTcpClient, block: Block) -> list[Reading]:
        try:
            response = await _READERS[block.table](client, block.start, block.count, self._settings.unit_id)
        except ConnectionException:
            raise
        except ModbusException as error:  # no (valid) response to this request; the connection may live on
            if not client.connected:
                raise ConnectionException(str(error)) from error
            return self._block_failed(block, str(error))
        if response.isError():
            code = getattr(response, "exception_code", "?")
            return self._block_failed(block, f"exception code {code}; fix: check the addresses and unit_id")
        if block in self._failing:
            self._failing.discard(block)
            log.info("Modbus %s %d+%d reads again", block.table, block.start, block.count)
        now = time.time()
        readings = []
        for point in block.points:
            index = point.start - block.start
            try:
                value = (
                    bool(response.bits[index])
                    if point.data_type is None
                    else point.decode(response.registers[index : index + point.count])
                )
            except ValueError as error:
                log.warning("Modbus %s", error)
                readings.extend(self._bad([point], now))
                continue
            self._last[point.address] = value
            readings.append(Reading(point.address, value, "good", now))
        return readings

    def _block_failed(self, block: Block, reason: str) -> list[Reading]:
        if block not in self._failing:
            self._failing.add(block)
            log.warning("Modbus %s %d+%d failed: %s", block.table, block.start, block.count, reason)
        return self._bad(block.points, time.time())

    def _bad(self, points: Sequence[Point], now: float) -> list[Reading]:
        """Bad readings carrying each tag's last good value (the envelope needs a value and forbids NaN).

        A tag that never read successfully has no value to carry and is left out; its failure is logged.
        """
        return [Reading(p.address, self._last[p.address], "bad", now) for p in points if p.address in self._last]


def _tcp_client(settings: ModbusSettings) -> AsyncModbusTcpClient:
    # reconnect_delay=0: pymodbus must not reconnect on its own; the source paces reconnects with jitter.
    return AsyncModbusTcpClient(
        settings.host, port=settings.port, timeout=settings.timeout_s, retries=0, reconnect_delay=0
    )


async def _read_holding(client: AsyncModbusTcpClient, start: int, count: int, unit: int) -> ModbusPDU:
    return await client.read_holding_registers(start, count=count, device_id=unit)


async def _read_input(client: AsyncModbusTcpClient, start: int, count: int, unit: int) -> ModbusPDU:
    return await client.read_input_registers(start, count=count, device_id=unit)


async def _read_coils(client: AsyncModbusTcpClient, start: int, count: int, unit: int) -> ModbusPDU:
    return await client.read_coils(start, count=count, device_id=unit)


async def _read_discrete(client: AsyncModbusTcpClient, start: int, count: int, unit: int) -> ModbusPDU:
    return await client.read_discrete_inputs(start, count=count, device_id=unit)


_READERS = {"holding": _read_holding, "input": _read_input, "coil": _read_coils, "discrete": _read_discrete}
