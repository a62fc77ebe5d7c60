"""A Lambda function with the site's controls: in the VPC, bounded, encrypted logs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from factory_constructs.grant_findings import acknowledge_grant_policy
from factory_constructs.packaging import handler_bundle
from policies.acknowledge import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_14
LOG_RETENTION = logs.RetentionDays.THIRTEEN_MONTHS
VPC_ACCESS_POLICY = "service-role/AWSLambdaVPCAccessExecutionRole"
DEFAULT_TIMEOUT = Duration.minutes(1)


@dataclass(frozen=True)
class FunctionPlacement:
    """Where a site's functions run and what protects them; one per site, shared by its functions."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup
    key: kms.IKey  # environment variables, and the data the function's construct keeps
    logs_key: kms.IKey
    removal_policy: RemovalPolicy


class SiteFunction(Construct):
    """``handler_package`` (a folder) ships with the envelope beside it; ``handler`` is its dotted entry point.

    Runs in the site's private subnets with reserved concurrency (a flood of records
    cannot starve the account), X-Ray tracing, environment encrypted with the site
    key and its own KMS-encrypted log group kept 13 months.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler_package: Path,
        handler: str,
        description: str,
        placement: FunctionPlacement,
        environment: dict[str, str] | None = None,
        reserved_concurrency: int = 5,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_mb: int = 512,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=placement.logs_key,
            retention=LOG_RETENTION,
            removal_policy=placement.removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(VPC_ACCESS_POLICY)],
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(handler_bundle(handler_package))),
            handler=handler,
            description=description,
            role=self.role,
            vpc=placement.vpc,
            vpc_subnets=placement.subnets,
            security_groups=[placement.security_group],
            environment=environment,
            environment_encryption=placement.key,
            reserved_concurrent_executions=reserved_concurrency,
            timeout=timeout,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
        )
        acknowledge(
            self.role,
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
            "service-role/AWSLambdaVPCAccessExecutionRole]",
            "Creating and deleting the network interfaces of a VPC function has no resource-level scoping; "
            "AWS keeps this policy to exactly those EC2 actions and the log writes.",
        )
        # Lambda's X-Ray writes accept no resource scoping.
        acknowledge_grant_policy(
            self.role,
            [
                (
                    "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                    "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; "
                    "tracing needs them with Resource '*'.",
                )
            ],
        )
