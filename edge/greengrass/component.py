"""What both entry points share: process start-up under Greengrass and waiting for the first of several events."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edge.greengrass.config import ConfigurationError

log = logging.getLogger(__name__)


class Host(Protocol):
    """A component's long-running part."""

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raise ConfigurationError when the configuration cannot run."""


async def first(*events: asyncio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    waits = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _serve(component: str, host: Host) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # the nucleus stops a component with SIGTERM
        loop.add_signal_handler(signum, stop.set)
    try:
        await host.serve(stop)
    except ConfigurationError as error:
        log.error("%s configuration rejected at start-up:\n%s", component, error)
        return 1
    return 0


def run_component(
    component: str,
    module: str,
    argv: list[str] | None,
    make_host: Callable[[GreengrassCoreIPCClientV2, str, Path], Host],
) -> int:
    """Parse ``--work-dir``, connect to the nucleus, serve until SIGTERM; the exit code tells the nucleus."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=component)
    parser.add_argument("--work-dir", type=Path, required=True, help="the component's work folder ({work:path})")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    thing_name = os.environ.get("AWS_IOT_THING_NAME")
    if not thing_name:
        log.error("AWS_IOT_THING_NAME is not set: run %s as a Greengrass component", component)
        return 2
    ipc = GreengrassCoreIPCClientV2()
    try:
        return asyncio.run(_serve(component, make_host(ipc, thing_name, arguments.work_dir)))
    finally:
        ipc.close()
