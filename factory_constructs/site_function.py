"""A Lambda function with the site's controls: in the VPC, bounded, encrypted logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Token
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
MAX_TIMEOUT_SECONDS = 900  # Lambda stops any invocation after 15 minutes
# A site function that needs more than this is a design problem, not a capacity setting.
MAX_RESERVED_CONCURRENCY = 100
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240


@dataclass(frozen=True)
class FunctionPlacement:
    """Where a site's functions run: its VPC, the private subnets and the functions' security group."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup


class SiteFunction(Construct):
    """``handler_package`` (a folder) ships with the envelope beside it; ``handler`` is its dotted entry point.

    Runs where ``placement`` says, with reserved concurrency (a flood of records cannot
    starve the account), X-Ray tracing, its environment encrypted with ``environment_key``
    and its own log group encrypted with ``logs_key``, kept 13 months.

    ``environment`` (default none): variables the handler reads.
    ``modules`` (default none): single .py files of other top-level packages shipped beside the handler,
    each as ``<its package folder>/<file>`` (e.g. ``ml/model_card.py``; see ``packaging``).
    ``removal_policy`` (default RETAIN): applies to the log group.
    ``reserved_concurrency`` (default 5, 1-100), ``timeout`` (default 1 minute, whole seconds up to 15 minutes),
    ``memory_mb`` (default 512, 128-10240).

    No dead-letter queue: how the function is invoked decides whether one can receive anything,
    so the caller adds one or acknowledges the LambdaDLQ findings on ``function``.
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
        environment_key: kms.IKey,
        logs_key: kms.IKey,
        environment: dict[str, str] | None = None,
        modules: Sequence[Path] = (),
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        reserved_concurrency: int = 5,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_mb: int = 512,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not handler_package.is_dir():
            problems.append(
                f"handler_package {handler_package} is not a folder; fix: pass the handler's package folder"
            )
        elif not _names_a_module(handler_package, handler):
            problems.append(
                f"handler {handler!r} names no module of handler_package {handler_package.name!r}; "
                f"fix: use '{handler_package.name}.<module>.<function>' after a .py file in {handler_package}"
            )
        for module in modules:
            if module.suffix != ".py" or not module.is_file():
                problems.append(f"module {module} is not a .py file; fix: name the module file to ship")
        if not Token.is_unresolved(reserved_concurrency) and not 1 <= reserved_concurrency <= MAX_RESERVED_CONCURRENCY:
            problems.append(
                f"reserved_concurrency {reserved_concurrency} is outside 1-{MAX_RESERVED_CONCURRENCY}; "
                "fix: reserve at least one and at most what one site's functions need"
            )
        if not timeout.is_unresolved() and not _whole_seconds_up_to(timeout, MAX_TIMEOUT_SECONDS):
            problems.append(
                f"timeout {timeout.to_human_string()} is not 1-{MAX_TIMEOUT_SECONDS} whole seconds; "
                "fix: Lambda counts whole seconds and stops a function after 15 minutes"
            )
        if not Token.is_unresolved(memory_mb) and not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
            problems.append(
                f"memory_mb {memory_mb} is outside {MIN_MEMORY_MB}-{MAX_MEMORY_MB}; fix: use a size Lambda offers"
            )
        if problems:
            raise ValueError(f"SiteFunction {construct_id}: " + "; ".join(problems))
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=logs_key, retention=LOG_RETENTION, removal_policy=removal_policy
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
            code=lambda_.Code.from_asset(str(handler_bundle(handler_package, tuple(modules)))),
            handler=handler,
            description=description,
            role=self.role,
            vpc=placement.vpc,
            vpc_subnets=placement.subnets,
            security_groups=[placement.security_group],
            environment=environment,
            environment_encryption=environment_key,
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


def _names_a_module(handler_package: Path, handler: str) -> bool:
    """Whether ``handler`` ('<package>.<module>.<function>') names a module file inside ``handler_package``."""
    *module, function = handler.split(".")
    if not function or not module or module[0] != handler_package.name:
        return False
    path = handler_package.parent.joinpath(*module)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _whole_seconds_up_to(duration: Duration, most: int) -> bool:
    milliseconds = duration.to_milliseconds()
    return milliseconds % 1000 == 0 and 1 <= milliseconds // 1000 <= most
