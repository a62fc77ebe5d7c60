"""Entry point of com.dmc.TagPipeline: the tag map's sources -> runner -> IPC or stream manager.

``plan`` turns a component configuration into everything the runner needs and
raises ``ConfigurationError`` naming every problem: of the configuration, of the
tag map (file or inline), of each source's settings and addresses (certificate
files included). The same ``plan`` answers deployments (``DeploymentValidator``)
and starts the component, so a configuration that was accepted also starts.

``serve`` runs the pipeline until stopped; when the nucleus applies a new
configuration it drains the runner (the spool keeps whatever is not yet sent)
and starts again with the new plan.

Models (``models``: ``[{name, artifactDir}]``, see ``edge/inference``): a
deployment naming a model that does not load or does not fit this gateway's tag
map is rejected with the model's problems. A configuration change of ``models``
alone does not restart the runner: the new versions load beside it and replace
the old ones between two scorings, while values keep flowing. Should a model
still fail at start-up or on a swap (e.g. its files changed after the deployment
was accepted), the problems are logged and the pipeline runs on with the
previous version of that model, or without it.

Run by the recipe as ``python -m edge.greengrass.tag_pipeline --work-dir {work:path}``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

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

if TYPE_CHECKING:
    from edge.inference.model import LoadedModel
    from edge.inference.stage import ScoringStage

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
    models: tuple[LoadedModel, ...] = ()  # the models that loaded and fit this gateway
    model_problems: tuple[str, ...] = ()  # why the others were refused


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


def load_models(config: TagPipelineConfig, tag_map: TagMap) -> tuple[list[LoadedModel], list[str]]:
    """The configured models that load and fit the tag map, and the problems of the others."""
    if not config.models:
        return [], []
    # Imported only when models are configured: a gateway without models does not carry onnxruntime and numpy
    # in its memory (docs/performance.md, bench-edge-inference).
    from edge.inference import model

    return model.load_models(
        [(entry.name, Path(entry.artifact_dir)) for entry in config.models],
        tag_kinds={tag_map.tag_path(spec): spec.kind for spec in tag_map.tags},
        gateway=tag_map.gateway,
        interval_s=config.score_interval_s,
    )


def plan(configuration: Mapping[str, Any], thing_name: str, work_dir: Path) -> Plan:
    """Check a configuration completely; raises ConfigurationError listing every problem.

    Model problems alone do not raise: they are in ``Plan.model_problems`` (``PipelineHost.check``,
    which answers deployments, refuses them too).
    """
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
    models, model_problems = load_models(config, tag_map)
    if problems or runner_config is None:
        raise ConfigurationError(problems + model_problems)
    return Plan(config, tag_map, runner_config, sources, tuple(models), tuple(model_problems))


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
        self.stage: ScoringStage | None = None  # outlives runner restarts, so its windows carry over

    def check(self, configuration: Mapping[str, Any]) -> Plan:
        """A deployment's configuration: accepted only if the pipeline and every model it names pass."""
        checked = plan(configuration, self._thing_name, self._work_dir)
        if checked.model_problems:
            raise ConfigurationError(list(checked.model_problems))
        return checked

    async def serve(self, stop: asyncio.Event) -> None:
        """Run until ``stop``; a start-up configuration that fails ``plan`` raises ConfigurationError."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        DeploymentValidator(self._ipc, COMPONENT, self.check).subscribe()
        watch_configuration(self._ipc, lambda: loop.call_soon_threadsafe(changed.set))
        while not stop.is_set():
            current = plan(read_configuration(self._ipc), self._thing_name, self._work_dir)
            changed.clear()
            self._adopt(current.config, current.models, current.model_problems)
            streams: StreamManagerConnection | None = None
            transport: Transport = GreengrassIpcTransport(self._ipc)
            if current.config.stream_manager is not None:
                streams = self._stream_manager_client()
                transport = StreamManagerTransport(streams, current.config.stream_manager)
            runner = Runner(
                current.tag_map, current.runner, sources=current.sources, transport=transport, stage=self.stage
            )
            run_stop = asyncio.Event()
            follow = asyncio.create_task(self._follow(runner, current, changed, stop, run_stop))
            try:
                summary = await runner.run(run_stop)
            finally:
                follow.cancel()
                await asyncio.gather(follow, return_exceptions=True)
                if streams is not None:
                    streams.close()
            if not follow.cancelled() and (error := follow.exception()) is not None:
                raise error
            log.info("pipeline stopped (%s): %s", "shutdown" if stop.is_set() else "new configuration", summary)

    async def _follow(
        self, runner: Runner, current: Plan, changed: asyncio.Event, stop: asyncio.Event, run_stop: asyncio.Event
    ) -> None:
        """Swap models into the running pipeline while only ``models`` changes; stop it for any other change."""
        try:
            while True:
                await first(stop, changed)
                if stop.is_set():
                    return
                changed.clear()
                try:
                    config = parse(TagPipelineConfig, read_configuration(self._ipc))
                except ConfigurationError:
                    return  # the restart's plan reports the problems
                if config.model_copy(update={"models": current.config.models}) != current.config:
                    return
                current = replace(current, config=config)
                models, problems = await asyncio.to_thread(load_models, config, current.tag_map)
                runner.pipeline.use(self._adopt(config, models, problems))
        finally:
            run_stop.set()

    def _adopt(
        self, config: TagPipelineConfig, models: Sequence[LoadedModel], problems: Sequence[str]
    ) -> ScoringStage | None:
        """Score with ``models``; a configured model that failed keeps its previous version, if one runs."""
        for problem in problems:
            log.error("model refused, %s", problem)
        loaded = {model.name: model for model in models}
        previous = {model.name: model for model in self.stage.models} if self.stage is not None else {}
        claimed = {path for model in models for path in model.score_paths}
        chosen = []
        for entry in config.models:
            model = loaded.get(entry.name)
            if model is None and entry.name in previous and claimed.isdisjoint(previous[entry.name].score_paths):
                model = previous[entry.name]
                log.error("model %s: running on with the previous version %s", entry.name, model.version)
            if model is not None:
                chosen.append(model)
        if not chosen:
            self.stage = None
        elif self.stage is not None and self.stage.interval_s == config.score_interval_s:
            self.stage.deploy(chosen)
        else:
            from edge.inference.stage import ScoringStage  # only with models: see load_models

            self.stage = ScoringStage(config.score_interval_s, chosen)
        log.info("models scoring: %s", ", ".join(f"{m.name} {m.version}" for m in chosen) or "none")
        return self.stage


def main(argv: list[str] | None = None) -> int:
    return run_component(
        COMPONENT,
        "edge.greengrass.tag_pipeline",
        argv,
        lambda ipc, thing_name, work_dir: PipelineHost(ipc, thing_name, work_dir, StreamManagerClient),
    )


if __name__ == "__main__":
    sys.exit(main())
