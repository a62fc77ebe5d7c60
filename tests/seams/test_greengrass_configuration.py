"""Seam: the site model -> the Greengrass deployment (the Edge stack's template, through the deployment handler's
request) -> each component's check.

Greengrass starts a component from its recipe's DefaultConfiguration (in the AWS::GreengrassV2::ComponentVersion
InlineRecipe) and merges the deployment's configuration update over it. The recipe comes from the synthesized
template, the update from the request the deployment handler sends for the template's deployment resource,
tokens resolved, merged the way the nucleus merges, and handed to what the component answers a deployment
with: ``validity_report`` around the component's own ``plan``. ``{iot:thingName}`` stays as
written: the nucleus substitutes it when it authorizes IPC calls, and the component checks the literal.

A gateway's own files (its tag map, the OPC UA certificates) are not part of a deployment: each test installs
them below a temporary root standing in for the gateway's file system, and only those paths are looked up
there.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from awsiot.greengrasscoreipc.model import ConfigurationValidityReport, ConfigurationValidityStatus
from botocore.validate import validate_parameters
from site_templates import SynthesizedSite

from edge.greengrass import command_handler, tag_pipeline
from edge.greengrass.build_artifacts import COMPONENTS
from edge.greengrass.config import (
    MQTT_PROXY,
    PUBLISH,
    SUBSCRIBE,
    CommandHandlerConfig,
    TagPipelineConfig,
    parse,
    topics,
)
from edge.greengrass.ipc import validity_report
from factory_constructs.edge.deployment_handler import handler as deployment_handler
from factory_constructs.edge.edge_deployment import DEPLOYMENT_TYPE
from site_model import Site

pytestmark = pytest.mark.synth

PIPELINE = COMPONENTS["tag-pipeline"]
COMMANDS = COMPONENTS["command-handler"]
OPCUA_FILES = ("certificate", "private_key", "server_certificate")


@dataclass(frozen=True)
class Deployed:
    """One component of the site's deployment, as the nucleus receives it."""

    recipe: dict[str, Any]
    merge: dict[str, Any]

    @property
    def configuration(self) -> dict[str, Any]:
        """The configuration the component runs with after a first deployment."""
        return greengrass_merge(self.recipe["ComponentConfiguration"]["DefaultConfiguration"], self.merge)


def greengrass_merge(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A deployment's MERGE update: objects are merged key by key, at any depth; any other value replaces."""
    merged = copy.deepcopy(dict(current))
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = greengrass_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class FirstDeployment:
    """The greengrassv2 calls of the deployment handler on a thing group with no deployment yet: the request it
    sends is checked against the service model and kept."""

    def __init__(self, region: str) -> None:
        operation = boto3.client("greengrassv2", region_name=region).meta.service_model.operation_model
        self.shape = operation("CreateDeployment").input_shape
        self.created: list[dict[str, Any]] = []

    def list_deployments(self, **_: Any) -> dict[str, Any]:
        return {"deployments": []}

    def create_deployment(self, **request: Any) -> dict[str, Any]:
        validate_parameters(request, self.shape)
        self.created.append(request)
        return {"deploymentId": "first"}


def deployed(synthesized: SynthesizedSite) -> dict[str, Deployed]:
    """Component name -> its recipe and merge update, from the request the deployment handler sends for the
    Edge stack's one deployment resource (its properties resolved as CloudFormation would pass them)."""
    (properties,) = synthesized.resources("Edge", DEPLOYMENT_TYPE).values()
    greengrass = FirstDeployment(synthesized.region)
    create = {"RequestType": "Create", "ResourceProperties": synthesized.resolve(properties, "Edge")}
    assert deployment_handler.apply(create, greengrass) == {"DeploymentId": "first"}
    (request,) = greengrass.created
    versions = synthesized.resources("Edge", "AWS::GreengrassV2::ComponentVersion")
    found = {}
    for name, specification in request["components"].items():
        resource_type, attribute = synthesized.points_at(specification["componentVersion"])
        assert (resource_type, attribute) == ("AWS::GreengrassV2::ComponentVersion", "ComponentVersion"), name
        logical_id = specification["componentVersion"].split(":")[-1].split("/")[0]
        recipe = json.loads(synthesized.resolve(versions[logical_id]["InlineRecipe"], "Edge"))
        assert recipe["ComponentName"] == name  # the deployment names the version it deploys
        found[name] = Deployed(recipe, json.loads(specification["configurationUpdate"]["merge"]))
    return found


def tag_map(site: Site, gateway: str) -> dict[str, Any]:
    """The gateway's tag map, as its OT engineer writes it: each line's state and a temperature."""
    first = site.lines[0]
    return {
        "enterprise": site.enterprise,
        "site": site.id,
        "gateway": gateway,
        "sources": {"simulator": {"seed": 7}},
        "tags": [
            *[
                {
                    "source": "simulator",
                    "address": f"state:{line.state_tag.split('/')[0]}",
                    "path": f"{line.area}/{line.line}/{line.state_tag}",
                    "kind": "state",
                }
                for line in site.lines
            ],
            {
                "source": "simulator",
                "address": "analog:oven:mean=68:noise=0.05",
                "path": f"{first.area}/{first.line}/oven/temperature",
                "quantity": "temperature",
                "unit": "degC",
                "deadband_abs": 0.5,
            },
        ],
    }


def on_gateway(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def install_on_gateway(root: Path, configuration: Mapping[str, Any], site: Site, gateway: str) -> dict[str, Any]:
    """Install the files the configuration names below ``root``; returns it with those paths under ``root``."""
    installed = copy.deepcopy(dict(configuration))
    if isinstance(installed.get("tag_map_path"), str):
        target = on_gateway(root, installed["tag_map_path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(tag_map(site, gateway)), encoding="utf-8")
        installed["tag_map_path"] = str(target)
    opcua = installed.get("opcua")
    if not isinstance(opcua, dict):
        return installed
    for key in OPCUA_FILES:
        if isinstance(opcua.get(key), str):
            target = on_gateway(root, opcua[key])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("installed by the OT engineer\n", encoding="utf-8")
            opcua[key] = str(target)
    return installed


def checks(gateway: str, work_dir: Path) -> dict[str, Callable[[Mapping[str, Any]], Any]]:
    """Component -> the check its host hands DeploymentValidator on this gateway."""
    return {
        PIPELINE: lambda configuration: tag_pipeline.plan(configuration, gateway, work_dir),
        COMMANDS: command_handler.plan,
    }


def rejection(report: ConfigurationValidityReport) -> list[str]:
    """The key each problem of a REJECTED report names (its lines read ``<key>: <problem>; fix: <how>``)."""
    first, *problems = report.message.splitlines()
    assert report.status == ConfigurationValidityStatus.REJECTED
    assert first.endswith(" configuration rejected:"), report.message
    assert all("; fix: " in line for line in problems), problems
    return [line.split(": ", 1)[0] for line in problems]


def test_the_deployment_carries_exactly_the_sites_components(synthesized: SynthesizedSite) -> None:
    assert sorted(deployed(synthesized)) == sorted(COMPONENTS[name] for name in synthesized.site.edge.components)


def test_every_gateway_accepts_the_merged_configuration_of_each_component(
    synthesized: SynthesizedSite, tmp_path: Path
) -> None:
    site = synthesized.site
    for gateway in site.edge.gateways:
        root = tmp_path / gateway
        for name, component in deployed(synthesized).items():
            proposed = install_on_gateway(root, component.configuration, site, gateway)
            report = validity_report(name, proposed, "seam-deployment", checks(gateway, root / "work")[name])
            assert (gateway, report.status, report.message) == (
                gateway,
                ConfigurationValidityStatus.ACCEPTED,
                f"{name} configuration accepted",
            )


def test_pipeline_configuration_holds_the_site_models_values(synthesized: SynthesizedSite) -> None:
    edge = synthesized.site.edge
    config = parse(TagPipelineConfig, deployed(synthesized)[PIPELINE].configuration)
    assert (config.site_id, config.transport, config.canonical_units, config.tag_map_path, config.tag_maps) == (
        synthesized.site.id,
        edge.transport,
        edge.canonical_units,
        edge.tag_map_path,
        None,
    )
    published = {
        resource for policy in config.access_control.get(MQTT_PROXY, {}).values() for resource in policy["resources"]
    }
    if edge.transport == "stream-manager":
        assert config.stream_manager is not None
        # The site's own stream, by name (a Ref of a Kinesis stream is its name, what stream manager exports to).
        assert synthesized.points_at(config.stream_manager.kinesis_stream_name) == ("AWS::Kinesis::Stream", "Ref")
        assert published == set()  # stream manager exports to Kinesis: no MQTT at all
    else:
        assert config.stream_manager is None
        assert published == topics(synthesized.site.id, ("telemetry", "health"))


def test_command_handler_configuration_holds_the_site_models_setpoints(synthesized: SynthesizedSite) -> None:
    commands = synthesized.site.edge.commands
    if commands is None:
        pytest.skip(f"{synthesized.name} deploys no command handler")
    config = parse(CommandHandlerConfig, deployed(synthesized)[COMMANDS].configuration)
    certificates = Path(commands.certificate_dir)
    assert (config.site_id, config.opcua.endpoint) == (synthesized.site.id, commands.opcua_endpoint)
    assert (config.opcua.certificate, config.opcua.private_key, config.opcua.server_certificate) == (
        certificates / "client.pem",
        certificates / "client.key",
        certificates / "server.pem",
    )
    assert [(point.path, point.node_id, point.min, point.max) for point in config.setpoints] == [
        (point.path, point.node_id, point.min, point.max) for point in commands.setpoints
    ]


def test_command_handler_is_granted_only_its_gateways_command_topics(synthesized: SynthesizedSite) -> None:
    components = deployed(synthesized)
    if COMMANDS not in components:
        pytest.skip(f"{synthesized.name} deploys no command handler")
    config = parse(CommandHandlerConfig, components[COMMANDS].configuration)
    granted = {
        operation: set(policy["resources"])
        for policy in config.access_control[MQTT_PROXY].values()
        for operation in policy["operations"]
    }
    assert granted == {
        SUBSCRIBE: topics(synthesized.site.id, ("commands",)),
        PUBLISH: topics(synthesized.site.id, ("commands/audit",)),
    }


@pytest.mark.parametrize(
    ("component", "change"),
    [(PIPELINE, {"tag_map_file": "/greengrass/v2/dmc/tag-map.yaml"}), (COMMANDS, {"allow_list": []})],
)
def test_a_merge_with_an_unknown_key_is_rejected_naming_the_key(
    synthesized: SynthesizedSite, tmp_path: Path, component: str, change: dict[str, Any]
) -> None:
    components = deployed(synthesized)
    if component not in components:
        pytest.skip(f"{synthesized.name} deploys no {component}")
    site, gateway = synthesized.site, synthesized.site.edge.gateways[0]
    proposed = install_on_gateway(
        tmp_path, greengrass_merge(components[component].configuration, change), site, gateway
    )
    report = validity_report(component, proposed, "seam-deployment", checks(gateway, tmp_path / "work")[component])
    (key,) = change
    assert rejection(report) == [key]


def test_an_unknown_key_inside_a_setpoint_is_rejected_naming_its_place(synthesized: SynthesizedSite) -> None:
    components = deployed(synthesized)
    if COMMANDS not in components:
        pytest.skip(f"{synthesized.name} deploys no command handler")
    merge = copy.deepcopy(components[COMMANDS].merge)
    merge["setpoints"][-1]["unit"] = "degC"  # lists are replaced whole by a merge, so the producer's list is edited
    defaults = components[COMMANDS].recipe["ComponentConfiguration"]["DefaultConfiguration"]
    last = len(merge["setpoints"]) - 1
    report = validity_report(COMMANDS, greengrass_merge(defaults, merge), "seam-deployment", command_handler.plan)
    assert rejection(report) == [f"setpoints[{last}].unit"]
