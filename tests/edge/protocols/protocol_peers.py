"""Real protocol peers on 127.0.0.1 for the source and command tests.

Every peer binds a free port, runs inside the test's own event loop and is
stopped by the context manager that started it. Tests drive their scenario with
``run`` (``asyncio.run`` under a deadline), so a broken peer fails the test
instead of hanging it. (A module with a unique name, not conftest, so that test
modules can import these helpers.)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key, generate_self_signed_app_certificate
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.readings import Reading
from edge.sources.backoff import ReconnectSettings
from edge.sources.opcua import OpcUaSettings

CLIENT_URI = "urn:dmc:test:gateway"
SERVER_URI = "urn:dmc:test:plc"
NAMESPACE = "urn:dmc:test:filler"
DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one async scenario under a deadline."""

    async def bounded() -> None:
        async with asyncio.timeout(DEADLINE_S):
            await scenario()

    asyncio.run(bounded())


@dataclass(frozen=True)
class Pki:
    client_cert: Path
    client_key: Path
    server_cert: Path
    server_key: Path
    trusted: Path  # folder of client certificates the server trusts
    intruder_cert: Path  # a valid certificate the server does not trust
    intruder_key: Path


def _write_identity(folder: Path, name: str, uri: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
    key = generate_private_key()
    cert = generate_self_signed_app_certificate(
        key,
        name,
        {"organizationName": "DMC test"},
        [
            x509.UniformResourceIdentifier(uri),
            x509.DNSName("localhost"),
            x509.DNSName(socket.gethostname()),
        ],
        extended=[usage],
        days=2,
    )
    cert_path, key_path = folder / f"{name}-cert.der", folder / f"{name}-key.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    key_path.write_bytes(dump_private_key_as_pem(key))
    return cert_path, key_path


def make_pki(folder: Path) -> Pki:
    """Self-signed identities of the gateway (trusted by the server) and the PLC, plus an untrusted intruder."""
    trusted = folder / "trusted"
    trusted.mkdir()
    client_cert, client_key = _write_identity(folder, "gateway", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH)
    server_cert, server_key = _write_identity(folder, "plc", SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH)
    intruder_cert, intruder_key = _write_identity(folder, "intruder", CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH)
    (trusted / client_cert.name).write_bytes(client_cert.read_bytes())
    return Pki(client_cert, client_key, server_cert, server_key, trusted, intruder_cert, intruder_key)


def opcua_settings(pki: Pki, port: int, **overrides: Any) -> OpcUaSettings:
    """Client settings for the test server; reconnects quickly so restarts resolve fast."""
    values: dict[str, Any] = {
        "endpoint": f"opc.tcp://127.0.0.1:{port}/dmc/",
        "certificate": pki.client_cert,
        "private_key": pki.client_key,
        "server_certificate": pki.server_cert,
        "application_uri": CLIENT_URI,
        "publishing_interval_ms": 50,
        "sampling_interval_ms": 0,
        "request_timeout_s": 2.0,
        "reconnect": ReconnectSettings(initial_s=0.05, max_s=0.3),
    }
    values.update(overrides)
    return OpcUaSettings(**values)


@dataclass
class Plc:
    """A running test OPC UA server and the NodeId strings of its tags."""

    server: Server
    temperature: str  # Double, read-only from the client's side
    setpoint: str  # Float, writable
    speed: str  # Int16, writable

    async def write(self, address: str, value: ua.Variant, status: int = ua.StatusCodes.Good, ts: Any = None) -> None:
        """Change a value the way the PLC would, with a status code and source timestamp."""
        data_value = ua.DataValue(value, StatusCode=ua.StatusCode(ua.UInt32(status)), SourceTimestamp=ts)
        await self.server.write_attribute_value(ua.NodeId.from_string(address), data_value)

    async def read(self, address: str) -> Any:
        return await self.server.get_node(address).read_value()


@asynccontextmanager
async def opcua_plc(pki: Pki, port: int, temperature: float = 20.0) -> AsyncIterator[Plc]:
    """An OPC UA server offering only Basic256Sha256 SignAndEncrypt and trusting only the gateway's certificate."""
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/dmc/")
    await server.set_application_uri(SERVER_URI)
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    await server.load_certificate(str(pki.server_cert))
    await server.load_private_key(str(pki.server_key))
    trust_store = TrustStore([pki.trusted], [])
    await trust_store.load()
    validator = CertificateValidator(
        CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT, trust_store
    )
    server.set_certificate_validator(validator)
    ns = await server.register_namespace(NAMESPACE)
    filler = await server.nodes.objects.add_object(f"ns={ns};s=Filler", "Filler")
    await filler.add_variable(f"ns={ns};s=Filler.Temperature", "Temperature", temperature, ua.VariantType.Double)
    setpoint = await filler.add_variable(f"ns={ns};s=Filler.Setpoint", "Setpoint", 70.0, ua.VariantType.Float)
    speed = await filler.add_variable(f"ns={ns};s=Filler.Speed", "Speed", 100, ua.VariantType.Int16)
    await setpoint.set_writable()
    await speed.set_writable()
    await server.start()
    try:
        yield Plc(server, f"ns={ns};s=Filler.Temperature", f"ns={ns};s=Filler.Setpoint", f"ns={ns};s=Filler.Speed")
    finally:
        await server.stop()


async def next_reading(readings: AsyncIterator[list[Reading]], wanted: Callable[[Reading], bool]) -> Reading:
    """The first reading that matches, skipping the others (the scenario deadline bounds the wait)."""
    async for batch in readings:
        for reading in batch:
            if wanted(reading):
                return reading
    raise AssertionError("the source ended before the wanted reading arrived")


@dataclass
class ModbusPlc:
    """A running pymodbus server; ``failing`` makes it answer every request with exception 4 (device failure)."""

    server: ModbusTcpServer
    failing: bool = False
    requests: list[tuple[int, int, int]] = field(default_factory=list)  # (function code, address, count) served


@asynccontextmanager
async def modbus_plc(
    port: int, *, holding: list[int], inputs: list[int], coils: list[bool], discrete: list[bool]
) -> AsyncIterator[ModbusPlc]:
    """Unit 1 with the given values from address 0 of each table; other addresses are illegal."""

    async def action(
        function_code: int, start: int, address: int, count: int, registers: list[int], values: Any
    ) -> ExcCodes | None:
        plc.requests.append((function_code, address, count))
        return ExcCodes.DEVICE_FAILURE if plc.failing else None

    device = SimDevice(
        1,
        simdata=(
            [SimData(0, values=coils, datatype=DataType.BITS)],
            [SimData(0, values=discrete, datatype=DataType.BITS)],
            [SimData(0, values=holding, datatype=DataType.REGISTERS)],
            [SimData(0, values=inputs, datatype=DataType.REGISTERS)],
        ),
        action=action,
    )
    plc = ModbusPlc(ModbusTcpServer(device, address=("127.0.0.1", port)))
    await plc.server.serve_forever(background=True)
    try:
        yield plc
    finally:
        await plc.server.shutdown()
