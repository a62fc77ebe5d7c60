"""Setpoint commands against a real asyncua server: allow-list, ranges, read-back, audit, idempotency."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua
from protocol_peers import Pki, Plc, opcua_plc, opcua_settings, run

from edge.commands.handler import AUDIT_FIELDS, CommandHandler, Setpoint
from edge.commands.ledger import CommandLedger
from edge.readings import TransportError
from edge.sources.opcua import close_client, open_client
from envelope.tag_envelope import parse_timestamp

SITE, GATEWAY = "plantA", "plantA-gw-01"
SETPOINT_PATH = "acme/plantA/filling/line1/filler/temp_setpoint"
SPEED_PATH = "acme/plantA/filling/line1/filler/speed"
TEMPERATURE_PATH = "acme/plantA/filling/line1/filler/temperature"


class RecordingPublisher:
    """Stands in for the IPC or MQTT transport; ``down`` makes every publish fail like a lost connection."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    async def publish(self, topic: str, payload: bytes) -> None:
        if self.down:
            raise TransportError("not connected")
        self.sent.append((topic, json.loads(payload)))


def command(command_id: str = "c-1", path: str = SETPOINT_PATH, value: Any = 72.5, **extra: Any) -> bytes:
    return json.dumps(
        {"command_id": command_id, "path": path, "value": value, "requested_by": "alice@example.com", **extra}
    ).encode()


def allow_list(plc: Plc) -> list[Setpoint]:
    return [
        Setpoint(path=SETPOINT_PATH, node_id=plc.setpoint, min=60, max=80),
        Setpoint(path=SPEED_PATH, node_id=plc.speed, min=0, max=200),
        # Read-only on the PLC: listing it is a configuration mistake the handler must survive.
        Setpoint(path=TEMPERATURE_PATH, node_id=plc.temperature, min=0, max=100),
    ]


@asynccontextmanager
async def handler_at_plc(
    pki: Pki, port: int, ledger_path: Path, publisher: RecordingPublisher
) -> AsyncIterator[tuple[CommandHandler, Plc, Callable[[], CommandHandler]]]:
    """A PLC, a connected handler, and a factory for a second handler (a restart) on the same ledger file."""
    async with opcua_plc(pki, port) as plc:
        client: Client = await open_client(opcua_settings(pki, port))

        def new_handler() -> CommandHandler:
            return CommandHandler(
                site=SITE,
                gateway=GATEWAY,
                setpoints=allow_list(plc),
                client=client,
                publisher=publisher,
                ledger=CommandLedger(ledger_path),
            )

        try:
            yield new_handler(), plc, new_handler
        finally:
            await close_client(client, 2.0)


@pytest.mark.network
def test_allowed_write_is_verified_and_audited(pki: Pki, port: int, tmp_path: Path) -> None:
    publisher = RecordingPublisher()

    async def scenario() -> None:
        async with handler_at_plc(pki, port, tmp_path / "ledger.jsonl", publisher) as (handler, plc, _):
            audit = await handler.handle(command("c-1", value=72.5, requested_at="2026-01-31T08:00:00.000Z"))
            assert await plc.read(plc.setpoint) == 72.5
            speed = await handler.handle(command("c-2", SPEED_PATH, 120))
            assert await plc.read(plc.speed) == 120

        assert tuple(audit) == AUDIT_FIELDS
        assert {key: audit[key] for key in ("result", "old_value", "new_value", "requested_value", "node_id")} == {
            "result": "applied",
            "old_value": 70.0,
            "new_value": 72.5,
            "requested_value": 72.5,
            "node_id": plc.setpoint,
        }
        assert (audit["command_id"], audit["requested_by"], audit["site"], audit["gateway"]) == (
            "c-1",
            "alice@example.com",
            SITE,
            GATEWAY,
        )
        assert audit["requested_at"] == "2026-01-31T08:00:00.000Z"
        assert parse_timestamp(audit["received_at"]) <= parse_timestamp(audit["completed_at"])
        assert (speed["result"], speed["old_value"], speed["new_value"]) == ("applied", 100, 120)
        assert publisher.sent == [
            ("dmc/plantA/plantA-gw-01/commands/audit", audit),
            ("dmc/plantA/plantA-gw-01/commands/audit", speed),
        ]

    run(scenario)


@pytest.mark.network
def test_rejections_write_nothing_and_are_audited(pki: Pki, port: int, tmp_path: Path) -> None:
    publisher = RecordingPublisher()

    async def scenario() -> None:
        async with handler_at_plc(pki, port, tmp_path / "ledger.jsonl", publisher) as (handler, plc, _):
            out_of_range = await handler.handle(command("c-1", value=95.0))
            unknown = await handler.handle(command("c-2", path="acme/plantA/filling/line1/filler/valve"))
            malformed = await handler.handle(b'{"command_id": "c-3", "value": 7')
            invalid = await handler.handle(
                json.dumps({"command_id": "c-4", "path": SETPOINT_PATH, "value": "hot"}).encode()
            )
            fraction = await handler.handle(command("c-5", SPEED_PATH, 12.5))
            expired = await handler.handle(command("c-6", value=71.0, expires_at="2020-01-01T00:00:00.000Z"))
            assert (await plc.read(plc.setpoint), await plc.read(plc.speed)) == (70.0, 100)

        assert out_of_range["result"] == "rejected"
        assert out_of_range["reason"] == (
            f"value 95.0 is outside the allowed range 60.0..80.0 of {SETPOINT_PATH}; fix: send a value within the range"
        )
        assert (out_of_range["requested_value"], out_of_range["old_value"]) == (95.0, None)
        assert unknown["reason"] == (
            "path acme/plantA/filling/line1/filler/valve is not on the setpoint allow-list of gateway plantA-gw-01; "
            f"fix: use one of {SPEED_PATH}, {SETPOINT_PATH}, {TEMPERATURE_PATH}, "
            "or add it to 'setpoints' in the com.dmc.CommandHandler configuration"
        )
        assert malformed["command_id"] is None
        assert malformed["reason"] == (
            "malformed JSON (Expecting ',' delimiter: line 1 column 33 (char 32)); fix: send "
            '{"command_id": "7f3c9a", "path": "<tag path>", "value": 72.5, "requested_by": "<user>"}'
        )
        assert invalid["command_id"] == "c-4"
        assert invalid["reason"].startswith(
            "value: Input should be a valid number; requested_by: Field required; fix: send {"
        )
        assert fraction["reason"] == (
            f"value 12.5 is not a whole number but {SPEED_PATH} is Int16; fix: send a value the node holds"
        )
        assert expired["reason"].startswith("command expired at 2020-01-01T00:00:00.000Z, before it arrived")
        rejected = [out_of_range, unknown, malformed, invalid, fraction, expired]
        assert {audit["result"] for audit in rejected} == {"rejected"}
        assert [audit for _, audit in publisher.sent] == rejected

    run(scenario)


@pytest.mark.network
def test_redelivered_command_is_not_executed_again_even_after_a_restart(pki: Pki, port: int, tmp_path: Path) -> None:
    publisher = RecordingPublisher()

    async def scenario() -> None:
        async with handler_at_plc(pki, port, tmp_path / "ledger.jsonl", publisher) as (handler, plc, restart):
            first = await handler.handle(command("c-1", value=72.5))
            # The operator changes the setpoint locally; a late redelivery must not undo that.
            await plc.write(plc.setpoint, ua.Variant(65.0, ua.VariantType.Float))
            again = await handler.handle(command("c-1", value=72.5))
            after_restart = await restart().handle(command("c-1", value=72.5))
            assert await plc.read(plc.setpoint) == 65.0

        assert first["result"] == "applied"
        for duplicate in (again, after_restart):
            assert duplicate["result"] == "duplicate"
            assert duplicate["reason"] == (
                f"command c-1 was handled at {first['completed_at']} (result applied); it is not executed again"
            )

    run(scenario)


@pytest.mark.network
def test_refused_write_is_audited_as_failed(pki: Pki, port: int, tmp_path: Path) -> None:
    publisher = RecordingPublisher()

    async def scenario() -> None:
        async with handler_at_plc(pki, port, tmp_path / "ledger.jsonl", publisher) as (handler, plc, _):
            audit = await handler.handle(command("c-1", TEMPERATURE_PATH, 30.0))
            assert await plc.read(plc.temperature) == 20.0

        assert (audit["result"], audit["old_value"], audit["new_value"]) == ("failed", 20.0, None)
        assert audit["reason"].startswith("the PLC did not confirm the write: BadUserAccessDenied")

    run(scenario)


@pytest.mark.network
def test_audit_records_wait_for_the_publisher_and_survive_a_restart(pki: Pki, port: int, tmp_path: Path) -> None:
    publisher = RecordingPublisher()

    async def scenario() -> None:
        async with handler_at_plc(pki, port, tmp_path / "ledger.jsonl", publisher) as (handler, plc, restart):
            publisher.down = True
            first = await handler.handle(command("c-1", value=71.0))
            second = await handler.handle(command("c-2", value=79.0))
            assert publisher.sent == []
            assert await plc.read(plc.setpoint) == 79.0  # a cloud outage delays the audit, not the command
            publisher.down = False
            await restart().publish_pending()
            assert [audit["command_id"] for _, audit in publisher.sent] == ["c-1", "c-2"]
            assert [audit for _, audit in publisher.sent] == [first, second]
            await restart().publish_pending()  # confirmed records are not sent again
            assert len(publisher.sent) == 2

    run(scenario)
