"""Setpoint commands from the cloud: written to OPC UA only within an allow-list, verified, and audited.

A command is one JSON object on ``dmc/<site>/<gateway>/commands``::

    {"command_id": "7f3c9a",                                   # unique per command: redeliveries are ignored
     "path": "acme/plantA/filling/line1/filler/temp_setpoint",  # ISA-95 tag path on the allow-list
     "value": 72.5,                                             # a number within the allowed range
     "requested_by": "alice@example.com",                       # the authenticated caller, set by the cloud API
     "requested_at": "2026-01-31T08:00:00.000Z",                # optional
     "expires_at": "2026-01-31T08:05:00.000Z"}                  # optional: later arrivals are rejected

Every command received, valid or not, produces one audit record on
``dmc/<site>/<gateway>/commands/audit`` (see ``AUDIT_FIELDS``) whose ``result`` is

* ``applied``: written, and the read-back equals what the node can hold of the value;
* ``rejected``: not written: malformed JSON, a field missing or invalid, a path not
  on the allow-list, a value out of range or not representable by the node, expired;
* ``failed``: the PLC refused the write or was unreachable, or the read-back differed;
* ``duplicate``: the command id was handled before; nothing is written again.

Commands run one at a time (read old value, write, read back), so two commands
to the same node cannot interleave. Audit records are kept in the ledger before
they are published and re-sent until the publisher confirms them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from asyncua import Client, ua
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.commands.ledger import CommandLedger
from edge.readings import TransportError
from edge.sources.opcua import plain_value
from envelope.tag_envelope import SCHEMA_VERSION, TAG_PATH_RE, encode, parse_timestamp, topic, utc_timestamp

log = logging.getLogger(__name__)

KIND_COMMAND_AUDIT = "command_audit"
AUDIT_FIELDS = (
    "v",
    "kind",
    "audit_id",  # unique per record: the idempotency key of the audit trail
    "site",
    "gateway",
    "command_id",
    "path",
    "node_id",
    "requested_by",
    "requested_value",
    "old_value",  # the node's value before the write
    "new_value",  # the node's value read back after the write
    "result",
    "reason",
    "requested_at",
    "received_at",
    "completed_at",
)
_EXAMPLE = '{"command_id": "7f3c9a", "path": "<tag path>", "value": 72.5, "requested_by": "<user>"}'

# Integer node types and the values they hold; floats are checked through struct packing.
_INTEGER_RANGES = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}


class Setpoint(BaseModel):
    """One allow-list entry: a tag the cloud may write, and the range it may write."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(pattern=TAG_PATH_RE.pattern, description="ISA-95 tag path: enterprise/site/area/line/cell/tag.")
    node_id: str = Field(description="The OPC UA node written, e.g. ns=2;s=Filler.TempSetpoint.")
    min: float = Field(allow_inf_nan=False, description="Lowest value a command may write.")
    max: float = Field(allow_inf_nan=False, description="Highest value a command may write.")

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str) -> str:
        try:
            ua.NodeId.from_string(value)
        except ua.UaStringParsingError:
            raise ValueError("is not a NodeId; fix: write it like ns=2;s=Filler.TempSetpoint") from None
        return value

    @model_validator(mode="after")
    def _range(self) -> Setpoint:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}; fix: swap them")
        return self


class CommandRequest(BaseModel):
    """The command payload (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: str = Field(pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")
    path: str = Field(pattern=TAG_PATH_RE.pattern)
    value: float = Field(strict=True, allow_inf_nan=False, description="A JSON number; not a string or boolean.")
    requested_by: str = Field(min_length=1, max_length=256)
    requested_at: str | None = None
    expires_at: str | None = None

    @field_validator("requested_at", "expires_at")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timestamp(value)
        return value


class Publisher(Protocol):
    """Where audit records go: the IPC or MQTT transport."""

    async def publish(self, topic: str, payload: bytes) -> None: ...


def _stored(value: float, variant_type: ua.VariantType, path: str) -> float | int:
    """The value as a node of ``variant_type`` holds it; ValueError when it cannot hold it."""
    if variant_type in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[variant_type]
        if not float(value).is_integer():
            raise ValueError(f"value {value} is not a whole number but {path} is {variant_type.name}")
        if not low <= int(value) <= high:
            raise ValueError(f"value {value} does not fit {path}'s type {variant_type.name} ({low}..{high})")
        return int(value)
    if variant_type is ua.VariantType.Double:
        return float(value)
    if variant_type is ua.VariantType.Float:
        try:
            return float(struct.unpack("<f", struct.pack("<f", value))[0])  # rounded to 32 bits, as the PLC stores it
        except OverflowError:
            raise ValueError(f"value {value} does not fit {path}'s type Float") from None
    raise ValueError(f"{path} is a {variant_type.name} node and setpoints write numbers only")


def _echo(data: Any, key: str) -> str | int | float | None:
    """A field of a rejected payload, for the audit record, if it is a plain scalar."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, str):
        return value[:256]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


class CommandHandler:
    """Executes setpoint commands against one OPC UA server and audits each one."""

    def __init__(
        self,
        *,
        site: str,
        gateway: str,
        setpoints: Sequence[Setpoint],
        client: Client,
        publisher: Publisher,
        ledger: CommandLedger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.site = site
        self.gateway = gateway
        self.command_topic = topic(site, gateway, "commands")
        self.audit_topic = topic(site, gateway, "commands/audit")
        self._setpoints = {setpoint.path: setpoint for setpoint in setpoints}
        self._client = client
        self._publisher = publisher
        self._ledger = ledger
        self._clock = clock
        self._executing = asyncio.Lock()
        self._publishing = asyncio.Lock()

    async def handle(self, payload: bytes) -> dict[str, Any]:
        """Execute (or reject) one command; returns its audit record, which is also kept and published."""
        async with self._executing:
            audit = await self._execute(payload, self._clock())
            self._ledger.record(audit)
        log.info("command %s: %s %s", audit["command_id"], audit["result"], audit["reason"])
        await self.publish_pending()
        return audit

    async def publish_pending(self) -> None:
        """Send every audit record the cloud has not confirmed yet, oldest first; stop at the first failure."""
        async with self._publishing:
            for audit in self._ledger.unpublished():
                try:
                    await self._publisher.publish(self.audit_topic, encode(audit))
                except TransportError as error:
                    log.warning("audit record %s kept for a later attempt: %s", audit["audit_id"], error)
                    return
                self._ledger.mark_published(audit["audit_id"])

    async def _execute(self, payload: bytes, received_at: float) -> dict[str, Any]:
        try:
            data = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return self._audit(None, received_at, "rejected", f"malformed JSON ({error}); fix: send {_EXAMPLE}")
        try:
            request = CommandRequest.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'payload'}: {item['msg']}" for item in error.errors()
            )
            return self._audit(data, received_at, "rejected", f"{problems}; fix: send {_EXAMPLE}")
        fields = request.model_dump()
        earlier = self._ledger.outcome(request.command_id)
        if earlier is not None:
            reason = (
                f"command {request.command_id} was handled at {earlier['completed_at']} "
                f"(result {earlier['result']}); it is not executed again"
            )
            return self._audit(fields, received_at, "duplicate", reason)
        setpoint = self._setpoints.get(request.path)
        if setpoint is None:
            allowed = ", ".join(sorted(self._setpoints))
            reason = (
                f"path {request.path} is not on the setpoint allow-list of gateway {self.gateway}; fix: use one of "
                f"{allowed}, or add it to 'setpoints' in the com.dmc.CommandHandler configuration"
            )
            return self._audit(fields, received_at, "rejected", reason)
        if request.expires_at is not None and parse_timestamp(request.expires_at).timestamp() < received_at:
            reason = f"command expired at {request.expires_at}, before it arrived; fix: send a new command"
            return self._audit(fields, received_at, "rejected", reason, setpoint)
        if not setpoint.min <= request.value <= setpoint.max:
            reason = (
                f"value {request.value} is outside the allowed range {setpoint.min}..{setpoint.max} of {request.path}; "
                "fix: send a value within the range"
            )
            return self._audit(fields, received_at, "rejected", reason, setpoint)
        return await self._write(fields, request.value, setpoint, received_at)

    async def _write(
        self, fields: dict[str, Any], value: float, setpoint: Setpoint, received_at: float
    ) -> dict[str, Any]:
        node = self._client.get_node(setpoint.node_id)
        try:
            old = plain_value(await node.read_value())
            variant_type = await node.read_data_type_as_variant_type()
        except (ua.UaError, OSError) as error:  # a Bad status or a lost connection
            reason = f"cannot read {setpoint.node_id} before writing: {error!r}; nothing was written"
            return self._audit(fields, received_at, "failed", reason, setpoint)
        try:
            stored = _stored(value, variant_type, setpoint.path)
        except ValueError as error:
            return self._audit(fields, received_at, "rejected", f"{error}; fix: send a value the node holds", setpoint)
        try:
            await node.write_value(ua.DataValue(ua.Variant(stored, variant_type)))
            new = plain_value(await node.read_value())
        except (ua.UaError, OSError) as error:
            reason = f"the PLC did not confirm the write: {error!r}; it is not retried, send a new command"
            return self._audit(fields, received_at, "failed", reason, setpoint, old=old)
        if new != stored:
            reason = f"read-back {new!r} differs from the written {stored!r}: the PLC changed or refused it"
            return self._audit(fields, received_at, "failed", reason, setpoint, old=old, new=new)
        return self._audit(
            fields, received_at, "applied", "written and verified by read-back", setpoint, old=old, new=new
        )

    def _audit(
        self,
        data: Any,
        received_at: float,
        result: str,
        reason: str,
        setpoint: Setpoint | None = None,
        *,
        old: Any = None,
        new: Any = None,
    ) -> dict[str, Any]:
        return {
            "v": SCHEMA_VERSION,
            "kind": KIND_COMMAND_AUDIT,
            "audit_id": uuid.uuid4().hex,
            "site": self.site,
            "gateway": self.gateway,
            "command_id": _echo(data, "command_id"),
            "path": _echo(data, "path"),
            "node_id": setpoint.node_id if setpoint else None,
            "requested_by": _echo(data, "requested_by"),
            "requested_value": _echo(data, "value"),
            "old_value": old,
            "new_value": new,
            "result": result,
            "reason": reason,
            "requested_at": _echo(data, "requested_at"),
            "received_at": utc_timestamp(received_at),
            "completed_at": utc_timestamp(self._clock()),
        }
