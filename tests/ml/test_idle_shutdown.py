"""The workspace's idle check against a real Jupyter server (jupyter_server + ipykernel, as a JupyterLab app
runs them), its SageMaker call through botocore's Stubber, and the lifecycle script that installs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from factory_constructs.ml.idle_shutdown import IDLE_SHUTDOWN, idle_shutdown, lifecycle_script
from factory_constructs.ml.idle_shutdown.idle_shutdown import delete_app, is_idle, watch

BASE_URL = "/jupyterlab/default/"  # where SageMaker Studio serves a JupyterLab space's server
MINUTE = 60.0


class Server:
    """A Jupyter server on 127.0.0.1 with SageMaker's base URL and no token, as inside a JupyterLab app."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{BASE_URL.rstrip('/')}"
        self.runtime = root / "runtime"
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime), "JUPYTER_CONFIG_DIR": str(root / "config")}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                f"--ServerApp.base_url={BASE_URL}",
                f"--ServerApp.root_dir={root}",
                "--IdentityProvider.token=",
                "--ServerApp.disable_check_xsrf=True",
                "--allow-root",  # CI and this machine run as root
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/api/status")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the Jupyter server did not start") from None
                time.sleep(0.1)

    def get(self, path: str) -> Any:
        return idle_shutdown.fetch_json(f"{self.url}{path}")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def delete(self, path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}{path}", method="DELETE"), timeout=30).close()

    def started(self) -> float:
        return instant(self.get("/api/status")["started"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (it takes seconds to start); a test that starts a kernel shuts it down."""
    running = Server(tmp_path_factory.mktemp("jupyter"))
    yield running
    running.stop()


@dataclass
class Kernel:
    id: str
    client: Any  # jupyter_client.BlockingKernelClient on the kernel's connection file


@pytest.fixture
def kernel(server: Server) -> Iterator[Kernel]:
    """A python3 kernel of the server with a client connected to it, as a notebook tab would be."""
    from jupyter_client import BlockingKernelClient

    started = server.post("/api/kernels", {"name": "python3"})
    client = BlockingKernelClient(connection_file=str(server.runtime / f"kernel-{started['id']}.json"))
    client.load_connection_file()
    client.start_channels()
    deadline = time.monotonic() + 60
    while True:
        try:
            client.wait_for_ready(timeout=10)
            break
        except RuntimeError:  # no heartbeat yet: the kernel is still starting
            assert time.monotonic() < deadline, "the kernel did not start"
            time.sleep(0.5)
    yield Kernel(started["id"], client)
    client.stop_channels()
    server.delete(f"/api/kernels/{started['id']}")


def test_a_server_without_kernels_is_idle_once_the_timeout_has_passed_since_it_started(server: Server) -> None:
    started = server.started()
    assert not is_idle(server.url, 1, started + 59)
    assert is_idle(server.url, 1, started + 61)
    # Checking is not activity: the answer for the same instant stays the same.
    assert is_idle(server.url, 1, started + 61)


def test_kernel_activity_counts_from_the_kernels_last_activity(server: Server, kernel: Kernel) -> None:
    active = instant(server.get(f"/api/kernels/{kernel.id}")["last_activity"])
    later = active + 10 * MINUTE
    assert not is_idle(server.url, 15, later)  # the server started long before, but the kernel ran 10 min ago
    assert is_idle(server.url, 5, later)


def test_terminal_activity_counts_too(server: Server) -> None:
    terminal = server.post("/api/terminals", {})
    try:
        active = instant(server.get(f"/api/terminals/{terminal['name']}")["last_activity"])
        assert not is_idle(server.url, 15, active + 10 * MINUTE)
        assert is_idle(server.url, 5, active + 10 * MINUTE)
    finally:
        server.delete(f"/api/terminals/{terminal['name']}")


def test_a_busy_kernel_is_never_idle_however_long_it_has_been_silent(server: Server, kernel: Kernel) -> None:
    def state() -> str:
        return str(server.get(f"/api/kernels/{kernel.id}")["execution_state"])

    kernel.client.execute("import time; time.sleep(3)")
    deadline = time.monotonic() + 10
    while state() != "busy":
        assert time.monotonic() < deadline, "the kernel never reported busy"
        time.sleep(0.05)
    assert not is_idle(server.url, 1, time.time() + 24 * 60 * MINUTE)
    while state() == "busy":
        time.sleep(0.1)
    assert is_idle(server.url, 1, time.time() + 24 * 60 * MINUTE)


def test_watch_retries_a_failed_check_and_shuts_the_app_down_once_idle(server: Server) -> None:
    started = server.started()
    clock = iter([started + 30, started + 30, started + 120])
    calls: list[str] = []
    log: list[str] = []
    attempts = {"n": 0}

    def flaky(url: str) -> Any:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise urllib.error.URLError("connection refused")  # the server is still starting
        return idle_shutdown.fetch_json(url)

    watch(
        server_url=server.url,
        idle_minutes=1,
        interval_s=60,
        shut_down=lambda: calls.append("deleted"),
        fetch=flaky,
        clock=lambda: next(clock),
        sleep=lambda seconds: log.append(f"slept {seconds:g}"),
        log=log.append,
    )

    assert calls == ["deleted"]
    assert log[0].startswith("idle check failed, retrying in 60 s: URLError")
    assert log[1:] == ["slept 60", "slept 60", "idle for 1 minutes: deleting the app"]


def test_delete_app_deletes_the_app_its_metadata_names(tmp_path: Path) -> None:
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(
        json.dumps({"DomainId": "d-abc123", "SpaceName": "anna-space", "ResourceName": "default", "AppType": "x"})
    )
    client = boto3.client("sagemaker", region_name="eu-central-1")
    expected = {"DomainId": "d-abc123", "SpaceName": "anna-space", "AppType": "JupyterLab", "AppName": "default"}
    with Stubber(client) as stub:  # the real service model checks the request's shape
        stub.add_response("delete_app", {}, expected)
        delete_app(metadata, client)
        stub.assert_no_pending_responses()


def test_the_lifecycle_script_installs_the_program_and_starts_it_in_the_background(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = tmp_path / "argv"
    fake_python = bin_dir / "python3"
    fake_python.write_text(f'#!/bin/sh\necho "$@" > {recorded}\n')
    fake_python.chmod(0o755)
    script = tmp_path / "on_start.sh"
    script.write_text(lifecycle_script(45, "eu-central-1"))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(tmp_path)}

    subprocess.run(["bash", str(script)], env=env, check=True, timeout=30)

    folder = tmp_path / "dmc-idle-shutdown"
    program = folder / "idle_shutdown.py"
    assert program.read_text() == (IDLE_SHUTDOWN / "idle_shutdown.py").read_text()
    deadline = time.monotonic() + 10
    while not recorded.exists():
        assert time.monotonic() < deadline, "the idle check was not started"
        time.sleep(0.05)
    assert recorded.read_text().split() == [str(program), "--idle-minutes", "45", "--region", "eu-central-1"]


def test_the_program_refuses_a_timeout_of_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        idle_shutdown.main(["--idle-minutes", "0", "--region", "eu-central-1"])
    assert "--idle-minutes and --interval-s must be above 0" in capsys.readouterr().err
