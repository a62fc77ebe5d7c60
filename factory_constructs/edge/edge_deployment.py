"""The site's edge components as Greengrass component versions, deployed to its thing group.

The runtime lives in the top-level ``edge/`` folder (it ships to gateways on its own);
``edge.greengrass.build_artifacts`` zips it deterministically and versions it by content.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_greengrassv2 as greengrass
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from edge.greengrass.build_artifacts import build, recipe_with_artifact_uri
from factory_constructs.grant_findings import acknowledge_grant_policy, asset_objects
from site_model.model import Edge

PIPELINE = "com.dmc.TagPipeline"
COMMANDS = "com.dmc.CommandHandler"


class EdgeDeployment(Construct):
    """Artifact assets, one ``CfnComponentVersion`` per component and one ``CfnDeployment``.

    The gateways' token-exchange role may read exactly these artifacts and, on
    stream-manager sites, put records into the site's stream.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        edge: Edge,
        thing_group_name: str,
        token_exchange_role: iam.Role,
        stream: kinesis.IStream,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        output = Path(tempfile.gettempdir()) / "dmc-assets" / f"edge-{site_id}"
        built = build(
            output,
            site_id=site_id,
            transport=edge.transport,
            canonical_units=edge.canonical_units,
            components=edge.components,
        )
        self.versions: dict[str, greengrass.CfnComponentVersion] = {}
        for component in built:
            artifact = assets.Asset(self, f"{component.component_name}Artifact", path=str(component.zip_path))
            artifact.grant_read(token_exchange_role)
            uri = f"s3://{artifact.s3_bucket_name}/{artifact.s3_object_key}"
            recipe = recipe_with_artifact_uri(component.recipe, uri)
            self.versions[component.component_name] = greengrass.CfnComponentVersion(
                self, component.component_name, inline_recipe=stack.to_json_string(recipe)
            )
        if edge.transport == "stream-manager":
            stream.grant_write(token_exchange_role)
        acknowledge_grant_policy(token_exchange_role, [asset_objects(stack, "Gateways")])
        self.deployment = greengrass.CfnDeployment(
            self,
            "Deployment",
            target_arn=stack.format_arn(service="iot", resource="thinggroup", resource_name=thing_group_name),
            deployment_name=f"{site_id}-edge",
            components={
                name: greengrass.CfnDeployment.ComponentDeploymentSpecificationProperty(
                    component_version=version.attr_component_version,
                    configuration_update=greengrass.CfnDeployment.ComponentConfigurationUpdateProperty(
                        merge=stack.to_json_string(self._configuration(name, edge, stream))
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
    def _configuration(component: str, edge: Edge, stream: kinesis.IStream) -> dict[str, Any]:
        """What a deployment merges into a component's default configuration (validated on the gateway)."""
        if component == PIPELINE:
            merge: dict[str, Any] = {"tag_map_path": edge.tag_map_path}
            if edge.transport == "stream-manager":
                merge["stream_manager"] = {"kinesis_stream_name": stream.stream_name}
            return merge
        commands = edge.commands
        if component != COMMANDS or commands is None:
            raise ValueError(f"no deployment configuration for component {component!r}")
        certificates = commands.certificate_dir.rstrip("/")
        return {
            "opcua": {
                "endpoint": commands.opcua_endpoint,
                "certificate": f"{certificates}/client.pem",
                "private_key": f"{certificates}/client.key",
                "server_certificate": f"{certificates}/server.pem",
            },
            "setpoints": [point.model_dump() for point in commands.setpoints],
        }
