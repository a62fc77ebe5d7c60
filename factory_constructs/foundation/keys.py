"""Per-site KMS keys: one for data at rest, one for logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class SiteKeys(Construct):
    """The site's customer-managed keys, rotated yearly.

    ``data`` encrypts the lake, streams, catalog and job output; ``logs`` encrypts
    CloudWatch log groups (the logs service needs its own grant, scoped by the
    encryption context to log groups of this account and region).

    ``removal_policy`` applies to both keys; a deleted key stays recoverable for its
    30-day pending window.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.data = self._key("Data", "Site data at rest: lake, streams, catalog, jobs", removal_policy)
        self.logs = self._key("Logs", "Site log groups", removal_policy)
        log_groups_here = stack.format_arn(service="logs", resource="log-group", resource_name="*", arn_format=None)
        self.logs.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups_here}},
            )
        )

    def _key(self, construct_id: str, description: str, removal_policy: RemovalPolicy) -> kms.Key:
        return kms.Key(
            self,
            construct_id,
            description=description,
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=Duration.days(30),
        )
