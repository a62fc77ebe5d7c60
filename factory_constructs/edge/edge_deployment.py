"""The site's edge components as Greengrass component versions, deployed to its thing group.

The runtime lives in the top-level ``edge/`` folder (it ships to gateways on its own);
``edge.greengrass.build_artifacts`` zips it deterministically and versions it by content.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Stack, Token
from aws_cdk import aws_greengrassv2 as greengrass
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from edge.greengrass.build_artifacts import COMPONENTS, ComponentBuild, build, recipe_with_artifact_uri
from factory_constructs.grant_findings import acknowledge_grant_policy, asset_objects

PIPELINE = COMPONENTS["tag-pipeline"]
COMMANDS = COMPONENTS["command-handler"]


@dataclass(frozen=True)
class SetpointWrite:
    """A tag the cloud may write on a gateway: its ISA-95 path, OPC UA node and allowed range."""

    path: str
    node_id: str
    min: float
    max: float


@dataclass(frozen=True)
class CommandWrites:
    """What the command handler writes to: the OPC UA server, where its certificates are, the allow-list."""

    opcua_endpoint: str
    certificate_dir: str
    setpoints: Sequence[SetpointWrite]


class EdgeDeployment(Construct):
    """Artifact assets, one ``CfnComponentVersion`` per component and one ``CfnDeployment``
    to ``thing_group``.

    ``components``: the edge components' names ("tag-pipeline", "command-handler").
    ``transport``: "mqtt" (IoT Core over Greengrass IPC) or "stream-manager" (straight to ``stream``).
    ``canonical_units``: quantity -> unit the pipeline converts every value to.
    ``tag_map_path``: where each gateway keeps its tag map (an absolute path on the gateway).
    ``commands`` (default None): the command handler's OPC UA server, certificate folder (absolute) and
    allow-list; required with "command-handler". None deploys no command handler configuration.
    The gateways' ``token_exchange_role`` may read exactly these artifacts and, on
    stream-manager sites, put records into the site's stream.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        thing_group: iot.CfnThingGroup,
        token_exchange_role: iam.IRole,
        stream: kinesis.IStream,
        components: Sequence[str],
        transport: str,
        canonical_units: Mapping[str, str],
        tag_map_path: str,
        commands: CommandWrites | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(tag_map_path) and not tag_map_path.startswith("/"):
            problems.append(f"tag_map_path {tag_map_path!r} is not absolute; fix: give the full path on the gateway")
        if "command-handler" in components and commands is None:
            problems.append("components has command-handler but commands is None; fix: pass its CommandWrites")
        if (
            commands is not None
            and not Token.is_unresolved(commands.certificate_dir)
            and not commands.certificate_dir.startswith("/")
        ):
            problems.append(
                f"commands.certificate_dir {commands.certificate_dir!r} is not absolute; "
                "fix: give the full path of the certificates folder on the gateway"
            )
        stack = Stack.of(self)
        output = Path(tempfile.gettempdir()) / "dmc-assets" / f"edge-{site_id}"
        built: list[ComponentBuild] = []
        try:
            built = build(
                output, site_id=site_id, transport=transport, canonical_units=canonical_units, components=components
            )
        except ValueError as error:
            # The build checks site_id, transport, canonical_units and components (one problem a line)
            # before it writes anything: reported with ours, so every problem shows at once.
            problems.extend(str(error).splitlines())
        if problems:
            raise ValueError(f"EdgeDeployment {construct_id}: " + "; ".join(problems))
        self.versions: dict[str, greengrass.CfnComponentVersion] = {}
        for component in built:
            artifact = assets.Asset(self, f"{component.component_name}Artifact", path=str(component.zip_path))
            artifact.grant_read(token_exchange_role)
            uri = f"s3://{artifact.s3_bucket_name}/{artifact.s3_object_key}"
            recipe = recipe_with_artifact_uri(component.recipe, uri)
            self.versions[component.component_name] = greengrass.CfnComponentVersion(
                self, component.component_name, inline_recipe=stack.to_json_string(recipe)
            )
        if transport == "stream-manager":
            stream.grant_write(token_exchange_role)
        acknowledge_grant_policy(token_exchange_role, [asset_objects(stack, "Gateways")])
        configurations = {
            PIPELINE: self._pipeline_configuration(transport, tag_map_path, stream),
            **({COMMANDS: self._command_configuration(commands)} if commands is not None else {}),
        }
        self.deployment = greengrass.CfnDeployment(
            self,
            "Deployment",
            target_arn=thing_group.attr_arn,
            deployment_name=f"{site_id}-edge",
            components={
                name: greengrass.CfnDeployment.ComponentDeploymentSpecificationProperty(
                    component_version=version.attr_component_version,
                    configuration_update=greengrass.CfnDeployment.ComponentConfigurationUpdateProperty(
                        merge=stack.to_json_string(configurations[name])
                    ),
                )
                for name, version in self.versions.items()
            },
            deployment_policies=greengrass.CfnDeployment.DeploymentPoliciesProperty(
                failure_handling_policy="ROLLBACK",
                component_update_policy=greengrass.CfnDeployment.DeploymentComponentUpdatePolicyProperty(
                    action="NOTIFY_COMPONENTS", timeout_in_seconds=60
                ),
                configuration_validation_policy=greengrass.CfnDeployment.DeploymentConfigurationValidationPolicyProperty(
                    timeout_in_seconds=60
                ),
            ),
        )

    @staticmethod
    def _pipeline_configuration(transport: str, tag_map_path: str, stream: kinesis.IStream) -> dict[str, Any]:
        """What a deployment merges into the pipeline's default configuration (validated on the gateway)."""
        merge: dict[str, Any] = {"tag_map_path": tag_map_path}
        if transport == "stream-manager":
            merge["stream_manager"] = {"kinesis_stream_name": stream.stream_name}
        return merge

    @staticmethod
    def _command_configuration(commands: CommandWrites) -> dict[str, Any]:
        """What a deployment merges into the command handler's default configuration."""
        certificates = commands.certificate_dir.rstrip("/")
        return {
            "opcua": {
                "endpoint": commands.opcua_endpoint,
                "certificate": f"{certificates}/client.pem",
                "private_key": f"{certificates}/client.key",
                "server_certificate": f"{certificates}/server.pem",
            },
            "setpoints": [
                {"path": point.path, "node_id": point.node_id, "min": point.min, "max": point.max}
                for point in commands.setpoints
            ],
        }
