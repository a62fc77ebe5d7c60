"""Component configurations of com.dmc.TagPipeline and com.dmc.CommandHandler, and how their problems read.

Both are checked twice with the same code: when a deployment arrives (the
nucleus asks, the component answers ACCEPTED or REJECTED, see ``ipc.py``) and at
start-up. Every problem is one line naming the key, the bad value and the fix.

Besides its own keys, a component configuration holds Greengrass's
``accessControl``: it is checked too, so a deployment cannot widen a component's
MQTT topics beyond ``dmc/<site>/{iot:thingName}/...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.commands.handler import Setpoint
from edge.sources.opcua import OpcUaSettings
from edge.transports.stream_manager import StreamManagerSettings
from ml.model_card import COMPONENT_PREFIX, NAME_RE
from validation.messages import Describer

SITE_ID_PATTERN = r"^[a-z][A-Za-z0-9]{1,19}$"  # as the site model's Site.id
THING_NAME = "{iot:thingName}"  # recipe variable, interpolated by the nucleus (>= 2.6.0) in accessControl
MQTT_PROXY = "aws.greengrass.ipc.mqttproxy"
PUBLISH = "aws.greengrass#PublishToIoTCore"
SUBSCRIBE = "aws.greengrass#SubscribeToIoTCore"

# Fixes in the terms of a configuration (keys); the rest are validation.messages.COMMON_FIXES.
_DESCRIBER = Describer(
    subject="configuration",
    default_fix="see the configuration models in edge/greengrass/config.py",
    fixes={"missing": "add the key", "extra_forbidden": "remove the key or correct its spelling"},
)


class ConfigurationError(ValueError):
    """A configuration the component cannot run with; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def describe(
    error: ValidationError, prefix: str = "", reference: str = "the configuration models in edge/greengrass/config.py"
) -> list[str]:
    """One line per problem: ``key.path: what is wrong (got value); fix: how`` (else: see ``reference``)."""
    return replace(_DESCRIBER, default_fix=f"see {reference}").describe(error.errors(), prefix=prefix)


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], configuration: Mapping[str, Any]) -> Model:
    """Validate a component configuration; raises ConfigurationError listing every problem."""
    try:
        return model.model_validate(dict(configuration))
    except ValidationError as error:
        raise ConfigurationError(describe(error)) from None


def topics(site_id: str, channels: tuple[str, ...]) -> set[str]:
    """The accessControl resources of this gateway's channels (``{iot:thingName}`` left to the nucleus)."""
    return {f"dmc/{site_id}/{THING_NAME}/{channel}" for channel in channels}


def access_problems(access_control: Mapping[str, Any], allowed: Mapping[str, set[str]]) -> list[str]:
    """Every mqttproxy operation or topic beyond ``allowed`` (operation -> topics); other IPC services are refused."""
    problems = []
    for service, policies in access_control.items():
        if service != MQTT_PROXY:
            problems.append(f"accessControl.{service}: this component uses no such IPC service; fix: remove it")
            continue
        if not isinstance(policies, dict):
            problems.append(f"accessControl.{MQTT_PROXY}: expected a mapping of policies; fix: see the recipe")
            continue
        for name, policy in policies.items():
            where = f"accessControl.{MQTT_PROXY}.{name}"
            if not isinstance(policy, dict):
                problems.append(f"{where}: expected a mapping with operations and resources; fix: see the recipe")
                continue
            operations, resources = policy.get("operations", []), policy.get("resources", [])
            for operation in operations:
                permitted = allowed.get(operation)
                if not permitted:
                    needed = f" (it needs only {sorted(allowed)})" if allowed else " (it needs no MQTT access)"
                    problems.append(f"{where}: operation {operation!r} is not needed{needed}; fix: remove it")
                    continue
                for resource in resources:
                    if resource not in permitted:
                        problems.append(
                            f"{where}: {operation} on {resource!r} reaches beyond this gateway's own topics; "
                            f"fix: use only {sorted(permitted)}"
                        )
    return problems


class _Component(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    site_id: str = Field(pattern=SITE_ID_PATTERN, description="The site id (tenants/<site>.yaml); set by the build.")
    access_control: dict[str, Any] = Field(default_factory=dict, alias="accessControl")


class ModelEntry(BaseModel):
    """A deployed model version the pipeline scores with (written by the release Lambda's deployment revision)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(
        pattern=NAME_RE.pattern, description=f"The model's name: its component is {COMPONENT_PREFIX}<name>."
    )
    artifact_dir: str = Field(
        alias="artifactDir",
        description=f"Absolute path of the folder holding the {COMPONENT_PREFIX}<name> version's artifacts "
        "(its {artifacts:path}): model-card.json and the ONNX file the card names.",
    )

    @model_validator(mode="after")
    def _absolute(self) -> ModelEntry:
        if "{" in self.artifact_dir:
            raise ValueError(
                f"artifactDir {self.artifact_dir!r} holds a recipe variable the nucleus did not resolve; "
                "fix: set interpolateComponentConfiguration: true on aws.greengrass.Nucleus, or write the absolute "
                "path of the model component's artifacts"
            )
        if not self.artifact_dir.startswith("/"):
            raise ValueError(
                f"artifactDir {self.artifact_dir!r} is relative; fix: write the absolute path on the gateway"
            )
        return self


class TagPipelineConfig(_Component):
    """Configuration of com.dmc.TagPipeline."""

    transport: Literal["mqtt", "stream-manager"] = Field(description="IPC to IoT Core, or stream manager to Kinesis.")
    canonical_units: dict[str, str] = Field(description="The site's edge.canonical_units; set by the build.")
    tag_map_path: str | None = Field(default=None, description="Absolute path of this gateway's tag map file.")
    tag_maps: dict[str, dict[str, Any]] | None = Field(
        default=None, description="Tag maps inline, keyed by gateway thing name: one deployment serves a group."
    )
    stream_manager: StreamManagerSettings | None = Field(default=None, description="With transport stream-manager.")
    spool_path: str = Field(default="spool.db", min_length=1, description="Spool file, relative to the work folder.")
    runner: dict[str, Any] = Field(
        default_factory=dict,
        description="RunnerConfig options of edge/pipeline/runner.py: spool_fsync, batch_bytes, linger_s, ...",
    )
    models: list[ModelEntry] = Field(
        default_factory=list,
        description="Deployed model versions to score with (edge/inference); a change of this key alone swaps the "
        "models in the running pipeline.",
    )
    score_interval_s: float = Field(
        10.0, gt=0, le=3600, description="How often the models score their machines; at most each card's window_s."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TagPipelineConfig:
        problems = []
        if (self.tag_map_path is None) == (self.tag_maps is None):
            problems.append(
                "set exactly one of tag_map_path and tag_maps "
                f"(got {'both' if self.tag_maps is not None else 'neither'}); "
                "fix: point tag_map_path at the gateway's tag map file, or put the tag maps under tag_maps"
            )
        if self.tag_map_path is not None and not self.tag_map_path.startswith("/"):
            problems.append(
                f"tag_map_path {self.tag_map_path!r} is relative; fix: write the absolute path on the gateway"
            )
        if self.transport == "stream-manager" and self.stream_manager is None:
            problems.append(
                "transport stream-manager needs stream_manager; fix: add stream_manager.kinesis_stream_name "
                "(the site's Kinesis stream)"
            )
        if self.transport == "mqtt" and self.stream_manager is not None:
            problems.append(
                "stream_manager is set but transport is mqtt; fix: remove it or set transport: stream-manager"
            )
        names = [model.name for model in self.models]
        for name in sorted({name for name in names if names.count(name) > 1}):
            problems.append(
                f"models lists {name!r} twice; fix: list each model once, with the artifactDir of the version to run"
            )
        for key in ("spool_path", "canonical_units"):
            if key in self.runner:
                problems.append(f"runner.{key} is not a runner option here; fix: set the top-level {key} instead")
        # With stream manager the pipeline publishes no MQTT at all.
        allowed = {PUBLISH: topics(self.site_id, ("telemetry", "health"))} if self.transport == "mqtt" else {}
        problems += access_problems(self.access_control, allowed)
        if problems:
            raise ValueError("\n".join(problems))
        return self


class CommandHandlerConfig(_Component):
    """Configuration of com.dmc.CommandHandler."""

    opcua: OpcUaSettings = Field(description="The OPC UA server the setpoints are written to.")
    setpoints: list[Setpoint] = Field(min_length=1, description="The allow-list: tags the cloud may write, and ranges.")
    ledger_path: str = Field(
        default="command-ledger.jsonl", min_length=1, description="Handled commands, relative to the work folder."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CommandHandlerConfig:
        problems = []
        seen: set[str] = set()
        for index, setpoint in enumerate(self.setpoints):
            if setpoint.path in seen:
                problems.append(f"setpoints[{index}].path {setpoint.path!r} is listed twice; fix: list each tag once")
            seen.add(setpoint.path)
            if setpoint.path.split("/")[1] != self.site_id:
                problems.append(
                    f"setpoints[{index}].path {setpoint.path!r} is not in site {self.site_id}; "
                    "fix: use enterprise/<site>/area/line/cell/tag paths of this site"
                )
        allowed = {
            SUBSCRIBE: topics(self.site_id, ("commands",)),
            PUBLISH: topics(self.site_id, ("commands/audit",)),
        }
        problems += access_problems(self.access_control, allowed)
        if problems:
            raise ValueError("\n".join(problems))
        return self
