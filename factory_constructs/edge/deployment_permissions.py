"""What a function needs to revise the site's Greengrass deployment: the edge stack's deployment resource
and the model release both read the thing group's latest deployment and create its next revision."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam

from factory_constructs.grant_findings import arn_wildcard


def _arn(stack: Stack, service: str, resource: str, name: str, arn_format: ArnFormat) -> str:
    return stack.format_arn(service=service, resource=resource, resource_name=name, arn_format=arn_format)


def deployment_statements(stack: Stack, *, thing_group_arn: str, gateways: Sequence[str]) -> list[iam.PolicyStatement]:
    """Read the target's deployments, create a revision on the site's thing group, and what Greengrass does in
    IoT on the caller's behalf to roll it out (its dependent actions) for the site's gateways."""
    deployments = _arn(stack, "greengrass", "deployments", "*", ArnFormat.COLON_RESOURCE_NAME)
    jobs = _arn(stack, "iot", "job", "*", ArnFormat.SLASH_RESOURCE_NAME)
    things = [_arn(stack, "iot", "thing", gateway, ArnFormat.SLASH_RESOURCE_NAME) for gateway in gateways]
    return [
        iam.PolicyStatement(sid="ReadDeployments", actions=["greengrass:GetDeployment"], resources=[deployments]),
        # Neither action has a resource type; the target is bounded by iot:CreateJob below.
        iam.PolicyStatement(
            sid="ListAndCreateDeployments",
            actions=["greengrass:ListDeployments", "greengrass:CreateDeployment"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="DeployToTheSiteThingGroup",
            actions=["iot:CreateJob", "iot:DescribeThingGroup"],
            resources=[thing_group_arn],
        ),
        iam.PolicyStatement(
            sid="DeploymentJobs",
            actions=["iot:CreateJob", "iot:CancelJob", "iot:DescribeJob", "iot:UpdateJob"],
            resources=[jobs],
        ),
        iam.PolicyStatement(
            sid="GatewayThings",
            actions=["iot:DescribeThing", "iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow"],
            resources=things,
        ),
    ]


def deployment_findings(stack: Stack) -> list[tuple[str, str]]:
    """The wildcard findings of ``deployment_statements`` with their reasons."""
    deployments = _arn(stack, "greengrass", "deployments", "*", ArnFormat.COLON_RESOURCE_NAME)
    jobs = _arn(stack, "iot", "job", "*", ArnFormat.SLASH_RESOURCE_NAME)
    return [
        (
            arn_wildcard(stack, deployments),
            "Deployment ids are assigned by Greengrass at each revision; GetDeployment is read-only and the "
            "function asks only for the latest deployment of the site's thing group.",
        ),
        (
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "greengrass:ListDeployments and greengrass:CreateDeployment support no resource-level permissions; "
            "the deployment target is bounded by iot:CreateJob, allowed only on the site's thing group.",
        ),
        (
            arn_wildcard(stack, jobs),
            "Greengrass names the IoT job of each deployment revision itself; the job actions are the ones "
            "Greengrass needs to replace the previous revision's job, in this account and region only.",
        ),
    ]
