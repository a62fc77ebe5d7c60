"""A local mosquitto broker with mutual TLS, and the certificates it needs.

For ``make edge-run`` and the pipeline tests only; gateways talk to IoT Core.
The broker listens on 127.0.0.1 only, on a free port, and accepts only clients
whose certificate the generated CA signed (their common name becomes the MQTT
username, as IoT Core ties a certificate to a thing). Certificates are EC P-256,
made with the openssl command line, valid for two days.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_DAYS = "2"
_SERVER_NAMES = "subjectAltName=DNS:localhost,IP:127.0.0.1\n"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Pki:
    """A folder of PEM files: ca.crt, server.crt/.key and <client>.crt/.key."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    def cert(self, name: str) -> Path:
        return self.folder / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.folder / f"{name}.key"


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, timeout=60)
    if result.returncode:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def _issue(pki: Pki, name: str, common_name: str, extensions: str | None) -> None:
    request = pki.folder / f"{name}.csr"
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(pki.key(name)), "-out", str(request), "-subj", f"/CN={common_name}",
    )  # fmt: skip
    signing = ["x509", "-req", "-in", str(request), "-CA", str(pki.ca), "-CAkey", str(pki.key("ca"))]
    signing += ["-CAcreateserial", "-days", _DAYS, "-out", str(pki.cert(name))]
    if extensions is not None:
        extfile = pki.folder / f"{name}.ext"
        extfile.write_text(extensions, encoding="utf-8")
        signing += ["-extfile", str(extfile)]
    _openssl(*signing)
    request.unlink()


def make_pki(folder: Path, clients: Sequence[str]) -> Pki:
    """A fresh CA, a server certificate for localhost/127.0.0.1 and one client certificate per name."""
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(pki.key("ca")), "-out", str(pki.ca), "-subj", "/CN=dmc-local-ca", "-days", _DAYS,
    )  # fmt: skip
    _issue(pki, "server", "localhost", _SERVER_NAMES)
    for name in clients:
        _issue(pki, name, name, None)
    return pki


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
    if found is None:
        raise RuntimeError("mosquitto is not installed; fix: run `make setup` (installs the Debian package)")
    return found


class LocalMosquitto:
    """One mosquitto process; ``stop`` and ``start`` again keep its port and its persisted sessions."""

    def __init__(self, folder: Path, pki: Pki, port: int | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.pki = pki
        self.port = port or free_port()
        self.log = folder / "mosquitto.log"
        self._output = folder / "mosquitto.out"  # what it prints before the log file is open
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        config = self.folder / "mosquitto.conf"
        lines = [
            # Run as whoever starts it (as root mosquitto would switch to a user that cannot read the keys).
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "persistence true",  # sessions and queued QoS 1 messages survive a broker restart
            f"persistence_location {self.folder}/",
            f"log_dest file {self.log}",
            "max_queued_messages 100000",
            f"listener {self.port} 127.0.0.1",
            f"cafile {self.pki.ca}",
            f"certfile {self.pki.cert('server')}",
            f"keyfile {self.pki.key('server')}",
            "require_certificate true",
            "use_identity_as_username true",
        ]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return config

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        with self._output.open("ab") as output:
            self._process = subprocess.Popen([_mosquitto(), "-c", str(self._config())], stdout=output, stderr=output)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self._process.returncode}: {self._log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout_s}s: {self._log_tail()}")

    def stop(self) -> None:
        """Stop the broker (it saves its sessions on the way out)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _log_tail(self) -> str:
        lines = []
        for path in (self._output, self.log):
            if path.exists():
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        return " | ".join(lines) or "(no output)"

    def __enter__(self) -> LocalMosquitto:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
