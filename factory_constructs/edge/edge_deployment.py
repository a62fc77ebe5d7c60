"""The site's edge components as Greengrass component versions, deployed to its thing group.

The runtime lives in the top-level ``edge/`` folder (it ships to gateways on its own);
``edge.greengrass.build_artifacts`` zips it deterministically and versions it by content.

The deployment is a custom resource (``deployment_handler``), not an ``AWS::GreengrassV2::Deployment``:
the thing group's one deployment also runs the models the model release adds, and CloudFormation's
resource would replace it with the stack's components alone at the next ``cdk deploy``, uninstalling
them from every gateway. The handler revises the deployment with the stack's components and keeps
the models (``ml.edge_models``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from aws_cdk import CustomResource, RemovalPolicy, Stack, Token
from aws_cdk import aws_greengrassv2 as greengrass
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as assets
from constructs import Construct, IConstruct

from edge.greengrass.build_artifacts import COMPONENTS, ComponentBuild, build, recipe_with_artifact_uri
from factory_constructs.edge.deployment_permissions import deployment_findings, deployment_statements
from factory_constructs.grant_findings import acknowledge_grant_policy, asset_objects
from factory_constructs.site_function import FunctionPlacement, SiteFunction
from policies.acknowledge import acknowledge

PIPELINE = COMPONENTS["tag-pipeline"]
COMMANDS = COMPONENTS["command-handler"]
DEPLOYMENT_HANDLER = Path(__file__).resolve().parent / "deployment_handler"
EDGE_MODELS = Path(__file__).resolve().parents[2] / "ml" / "edge_models.py"
MODEL_CARD = EDGE_MODELS.with_name("model_card.py")
DEPLOYMENT_TYPE = "Custom::GreengrassDeployment"


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
    """Artifact assets, one ``CfnComponentVersion`` per component and the deployment of them to
    ``thing_group`` (a ``Custom::GreengrassDeployment`` whose handler keeps the released models).

    ``components``: the edge components' names ("tag-pipeline", "command-handler").
    ``transport``: "mqtt" (IoT Core over Greengrass IPC) or "stream-manager" (straight to ``stream``).
    ``canonical_units``: quantity -> unit the pipeline converts every value to.
    ``tag_map_path``: where each gateway keeps its tag map (an absolute path on the gateway).
    ``commands`` (default None): the command handler's OPC UA server, certificate folder (absolute) and
    allow-list; required with "command-handler". None deploys no command handler configuration.
    The gateways' ``token_exchange_role`` may read exactly these artifacts and, on
    stream-manager sites, put records into the site's stream.
    ``gateways``: the thing names of the site's cores (the deployment's IoT job updates their shadows);
    ``greengrass_root`` (default ``/greengrass/v2``): their Greengrass root folder, under which the
    pipeline finds the models' artifacts.
    The deployment handler runs where ``placement`` says (it needs HTTPS to Greengrass and to S3 for its
    answer to CloudFormation), its environment encrypted with ``key``, its logs with ``logs_key``, kept
    per ``removal_policy`` (default RETAIN).
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
        gateways: Sequence[str],
        placement: FunctionPlacement,
        key: kms.IKey,
        logs_key: kms.IKey,
        commands: CommandWrites | None = None,
        greengrass_root: str = "/greengrass/v2",
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(tag_map_path) and not tag_map_path.startswith("/"):
            problems.append(f"tag_map_path {tag_map_path!r} is not absolute; fix: give the full path on the gateway")
        if Token.is_unresolved(greengrass_root) or not greengrass_root.startswith("/"):
            problems.append(
                f"greengrass_root {greengrass_root!r} is not a literal absolute path; "
                "fix: give the gateways' Greengrass root folder, e.g. /greengrass/v2"
            )
        if not gateways:
            problems.append("gateways is empty; fix: name the thing of each Greengrass core of the site")
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
        self.handler = SiteFunction(
            self,
            "DeploymentHandler",
            handler_package=DEPLOYMENT_HANDLER,
            handler="deployment_handler.handler.handler",
            description=f"Greengrass deployment of site {site_id}'s edge components, keeping its released models",
            placement=placement,
            environment_key=key,
            logs_key=logs_key,
            modules=[EDGE_MODELS, MODEL_CARD],
            removal_policy=removal_policy,
            # A revision is a read-modify-write of the thing group's one deployment.
            reserved_concurrency=1,
        )
        self._allow_deployments(stack, thing_group, gateways)
        self.specification: dict[str, Any] = {
            "deploymentName": f"{site_id}-edge",
            "components": {
                name: {
                    "componentVersion": version.attr_component_version,
                    "configurationUpdate": {"merge": stack.to_json_string(configurations[name])},
                }
                for name, version in self.versions.items()
            },
            "deploymentPolicies": {
                "failureHandlingPolicy": "ROLLBACK",
                "componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS", "timeoutInSeconds": 60},
                "configurationValidationPolicy": {"timeoutInSeconds": 60},
            },
        }
        self.deployment = CustomResource(
            self,
            "Deployment",
            service_token=self.handler.function.function_arn,
            resource_type=DEPLOYMENT_TYPE,
            properties={
                "TargetArn": thing_group.attr_arn,
                "Deployment": stack.to_json_string(self.specification),
                "PipelineComponent": PIPELINE,
                "GreengrassRoot": greengrass_root,
            },
        )

    def _allow_deployments(self, stack: Stack, thing_group: iot.CfnThingGroup, gateways: Sequence[str]) -> None:
        function = self.handler.function
        policy = iam.ManagedPolicy(
            self,
            "DeploymentPolicy",
            description="Edge deployment: revise the site's Greengrass deployment",
            statements=deployment_statements(stack, thing_group_arn=thing_group.attr_arn, gateways=gateways),
            roles=[self.handler.role],
        )
        for finding, reason in deployment_findings(stack):
            acknowledge(cast(IConstruct, policy.node.default_child), finding, reason)
        acknowledge(
            function,
            ["HIPAA.Security::HIPAA.Security-LambdaDLQ", "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ"],
            "Only CloudFormation invokes the handler, once per operation of the deployment resource, and the "
            "handler answers every failure to CloudFormation, which fails the stack operation: a dead-letter "
            "queue would never receive anything.",
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
