"""Entry point of com.dmc.TagPipeline: the tag map's sources -> runner -> IPC or stream manager.

``plan`` turns a component configuration into everything the runner needs and
raises ``ConfigurationError`` naming every problem: of the configuration, of the
tag map (file or inline), of each source's settings and addresses (certificate
files included). The same ``plan`` answers deployments (``DeploymentValidator``)
and starts the component, so a configuration that was accepted also starts.

``serve`` runs the pipeline until stopped; when the nucleus applies a new
configuration it drains the runner (the spool keeps whatever is not yet sent)
and starts again with the new plan.

Run by the recipe as ``python -m edge.greengrass.tag_pipeline --work-dir {work:path}``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError
from stream_manager import StreamManagerClient

from edge.greengrass.component import first, run_component
from edge.greengrass.config import ConfigurationError, TagPipelineConfig, describe, parse
from edge.greengrass.ipc import ConfigurationIpc, DeploymentValidator, read_configuration, watch_configuration
from edge.pipeline.runner import Runner, RunnerConfig
from edge.pipeline.tag_map import SourceName, TagMap, TagMapError, load_tag_map, parse_tag_map
from edge.readings import Source, Transport
from edge.sources import modbus, opcua, simulator
from edge.transports.greengrass_ipc import GreengrassIpcTransport, IotCorePublisher
from edge.transports.stream_manager import MessageStreams, StreamManagerTransport

log = logging.getLogger(__name__)

COMPONENT = "com.dmc.TagPipeline"

_SOURCES: dict[SourceName, Callable[[Mapping[str, Any], list[str]], Source]] = {
    "opcua": lambda settings, addresses: opcua.OpcUaSource(opcua.parse_settings(settings), addresses),
    "modbus": lambda settings, addresses: modbus.ModbusSource(modbus.parse_settings(settings), addresses),
    "simulator": lambda settings, addresses: simulator.SimulatorSource(simulator.parse_settings(settings), addresses),
}


class PipelineIpc(ConfigurationIpc, IotCorePublisher, Protocol):
    """The IPC client of the component: configuration, and publishing when the transport is mqtt."""


class StreamManagerConnection(MessageStreams, Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True)
class Plan:
    """A checked configuration, ready to run."""

    config: TagPipelineConfig
    tag_map: TagMap
    runner: RunnerConfig
    sources: list[Source]


def _tag_map(config: TagPipelineConfig, thing_name: str) -> TagMap:
    units = config.canonical_units
    if config.tag_map_path is not None:
        return load_tag_map(Path(config.tag_map_path), canonical_units=units)
    assert config.tag_maps is not None  # the model guarantees exactly one of the two
    if thing_name not in config.tag_maps:
        raise TagMapError(
            f"tag_maps.{thing_name}",
            [f"missing (tag_maps has {sorted(config.tag_maps)}); fix: add this gateway's tag map under its thing name"],
        )
    return parse_tag_map(config.tag_maps[thing_name], origin=f"tag_maps.{thing_name}", canonical_units=units)


def plan(configuration: Mapping[str, Any], thing_name: str, work_dir: Path) -> Plan:
    """Check a configuration completely; raises ConfigurationError listing every problem."""
    config = parse(TagPipelineConfig, configuration)
    try:
        tag_map = _tag_map(config, thing_name)
    except TagMapError as error:
        where = "tag_map_path " if config.tag_map_path is not None else ""
        raise ConfigurationError([where + line for line in str(error).splitlines()]) from None
    problems = []
    if tag_map.site != config.site_id or tag_map.gateway != thing_name:
        problems.append(
            f"the tag map is for site {tag_map.site}, gateway {tag_map.gateway}, but this is site {config.site_id}, "
            f"gateway {thing_name}; fix: deploy this gateway's own tag map"
        )
    runner_config = None
    try:
        runner_config = RunnerConfig.model_validate(
            {**config.runner, "spool_path": work_dir / config.spool_path, "canonical_units": config.canonical_units}
        )
    except ValidationError as error:
        problems += describe(error, prefix="runner", reference="RunnerConfig in edge/pipeline/runner.py")
    sources = []
    for name in sorted({tag.source for tag in tag_map.tags}):
        try:
            sources.append(_SOURCES[name](tag_map.settings(name), tag_map.addresses(name)))
        except ValueError as error:
            problems += str(error).splitlines()
    if problems or runner_config is None:
        raise ConfigurationError(problems)
    return Plan(config, tag_map, runner_config, sources)


class PipelineHost:
    """Runs the planned pipeline with the IPC client of this process; restarts it on configuration changes."""

    def __init__(
        self,
        ipc: PipelineIpc,
        thing_name: str,
        work_dir: Path,
        stream_manager_client: Callable[[], StreamManagerConnection],
    ) -> None:
        self._ipc = ipc
        self._thing_name = thing_name
        self._work_dir = work_dir
        self._stream_manager_client = stream_manager_client

    def check(self, configuration: Mapping[str, Any]) -> Plan:
        return plan(configuration, self._thing_name, self._work_dir)

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop``; a start-up configuration that fails ``plan`` raises ConfigurationError."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        DeploymentValidator(self._ipc, COMPONENT, self.check).subscribe()
        watch_configuration(self._ipc, lambda: loop.call_soon_threadsafe(changed.set))
        while not stop.is_set():
            current = self.check(read_configuration(self._ipc))
            changed.clear()
            streams: StreamManagerConnection | None = None
            transport: Transport = GreengrassIpcTransport(self._ipc)
            if current.config.stream_manager is not None:
                streams = self._stream_manager_client()
                transport = StreamManagerTransport(streams, current.config.stream_manager)
            runner = Runner(current.tag_map, current.runner, sources=current.sources, transport=transport)
            run_stop = asyncio.Event()
            relay = asyncio.create_task(_set_on_first(run_stop, stop, changed))
            try:
                summary = await runner.run(run_stop)
            finally:
                relay.cancel()
                if streams is not None:
                    streams.close()
            log.info("pipeline stopped (%s): %s", "shutdown" if stop.is_set() else "new configuration", summary)


async def _set_on_first(target: asyncio.Event, *events: asyncio.Event) -> None:
    await first(*events)
    target.set()


def main(argv: list[str] | None = None) -> int:
    return run_component(
        COMPONENT,
        "edge.greengrass.tag_pipeline",
        argv,
        lambda ipc, thing_name, work_dir: PipelineHost(ipc, thing_name, work_dir, StreamManagerClient),
    )


if __name__ == "__main__":
    sys.exit(main())
