"""The AWS Config recorder and delivery channel of an account and region: what every site's Config rules
evaluate. AWS Config allows one recorder per account and region, so exactly one site's stack there (the
one whose site file lists the region in audit.region_baseline) creates it."""

from __future__ import annotations

import re
from typing import cast

from aws_cdk import Stack, Token
from aws_cdk import aws_config as config
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from factory_constructs.grant_findings import acknowledge_grant_policy, resource_wildcard
from policies.acknowledge import acknowledge

CONFIG_ROLE_POLICY = "service-role/AWS_ConfigRole"
PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")


class ConfigRecorder(Construct):
    """Records the configuration of every resource type AWS Config supports in this region, continuously, and
    delivers the history and a daily snapshot to ``bucket`` under ``prefix`` (default ``config``), encrypted
    with ``key``. Global resource types (IAM users, roles, policies) are not recorded: AWS Config records them
    once per account, which is the enterprise's home-region baseline, not every region a site is in (the synth
    packs check the site's own IAM resources).

    The recorder uses a role of its own (``AWS_ConfigRole``, AWS's read-only policy for describing every
    recorded type), which may write only under the prefix and encrypt with ``key``.
    ``recorder``, ``delivery_channel``: depend on ``recorder`` for anything that needs recording to run (the
    site's Config rules in the same stack).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, key: kms.IKey, prefix: str = "config"
    ) -> None:
        super().__init__(scope, construct_id)
        if not Token.is_unresolved(prefix) and not PREFIX.match(prefix):
            raise ValueError(
                f"ConfigRecorder {construct_id}: prefix {prefix!r} is not an S3 key prefix without a leading or "
                "trailing '/'; fix: use e.g. config"
            )
        account = Stack.of(self).account
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("config.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(CONFIG_ROLE_POLICY)],
            description="AWS Config recorder: describes the recorded resources, delivers to the audit bucket",
        )
        # AWS Config developer guide, "Permissions for the Amazon S3 Bucket" (an IAM role of the account).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetBucketAcl", "s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{prefix}/AWSLogs/{account}/Config/*")],
            )
        )
        key.grant(self.role, "kms:GenerateDataKey", "kms:Decrypt")
        self.recorder = config.CfnConfigurationRecorder(
            self,
            "Recorder",
            role_arn=self.role.role_arn,
            recording_group=config.CfnConfigurationRecorder.RecordingGroupProperty(
                all_supported=True, include_global_resource_types=False
            ),
            recording_mode=config.CfnConfigurationRecorder.RecordingModeProperty(recording_frequency="CONTINUOUS"),
        )
        self.delivery_channel = config.CfnDeliveryChannel(
            self,
            "DeliveryChannel",
            s3_bucket_name=bucket.bucket_name,
            s3_key_prefix=prefix,
            s3_kms_key_arn=key.key_arn,
            config_snapshot_delivery_properties=config.CfnDeliveryChannel.ConfigSnapshotDeliveryPropertiesProperty(
                delivery_frequency="TwentyFour_Hours"
            ),
        )
        # AWS Config needs the recorder before the delivery channel, and the role's policy before either.
        self.delivery_channel.node.add_dependency(self.recorder)
        policy = cast(IConstruct, self.role.node.find_child("DefaultPolicy"))
        self.recorder.node.add_dependency(policy)
        acknowledge(
            self.role,
            f"AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{CONFIG_ROLE_POLICY}]",
            "AWS_ConfigRole is AWS's read-only policy for describing every resource type the recorder records; AWS "
            "updates it as the recorder learns new types, which a hand-written list would miss.",
        )
        # The finding names the account as the stack knows it: a token on an account-agnostic stack.
        shown = "<AWS::AccountId>" if Token.is_unresolved(account) else account
        acknowledge_grant_policy(
            self.role,
            [
                (
                    resource_wildcard(bucket, f"/{prefix}/AWSLogs/{shown}/Config/*"),
                    "The recorder names its history and snapshot files by date and time; the wildcard covers only "
                    "the files under the recorder's own prefix of this one bucket, write-only.",
                )
            ],
        )
