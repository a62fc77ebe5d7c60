"""Approved models to the gateways: a rule on the site's model package group, the release Lambda, and the
bucket that holds the model components' artifacts.

The runtime is ``release_handler/`` beside this file (it ships with ``ml/model_card.py``, the one parser
of model cards); what it does on approval, rejection and deletion is in its ``release`` module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from factory_constructs.edge.deployment_permissions import deployment_findings, deployment_statements
from factory_constructs.edge.edge_deployment import PIPELINE
from factory_constructs.grant_findings import arn_wildcard, bucket_wildcard, resource_wildcard
from factory_constructs.ml.release_handler.component import ARTIFACTS_PREFIX
from factory_constructs.ml.release_handler.records import RECORDS_PREFIX
from factory_constructs.site_bucket import deny_non_kms_writes, site_bucket
from factory_constructs.site_function import FunctionPlacement, SiteFunction
from ml.model_card import COMPONENT_PREFIX
from policies.acknowledge import acknowledge, in_regulatory_packs

RELEASE_HANDLER = Path(__file__).resolve().parent / "release_handler"
MODEL_CARD = Path(__file__).resolve().parents[2] / "ml" / "model_card.py"
EDGE_MODELS = MODEL_CARD.with_name("edge_models.py")
STATE_CHANGE = "SageMaker Model Package State Change"
# SageMaker's pattern for model package group names.
GROUP_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# The site id is the second segment of every tag path (enterprise/site/...), as a model card's machines carry it.
SITE_ID = re.compile(r"[A-Za-z0-9_.\-]+")
# Reading the archive, waiting for Greengrass to check a new version (up to 30 s), revising the deployment.
TIMEOUT = Duration.minutes(2)
# model.tar.gz (at most 256 MiB) and its two files are held in memory at once.
MEMORY_MB = 1024


class ModelRelease(Construct):
    """An EventBridge rule on "SageMaker Model Package State Change" of ``model_package_group`` invokes the
    release function (``release_handler``), which turns an approved version into the Greengrass component
    ``com.dmc.Model.<name>`` and revises ``thing_group``'s deployment to run it in the tag pipeline, and
    takes rejected or deleted versions off again.

    ``artifacts_bucket`` (created here) holds the components' artifacts under ``models/`` and the release
    records under ``releases/``: encrypted with ``key``, TLS only, versioned, access-logged to
    ``access_logs``; no principal but ``token_exchange_role`` (the gateways) and the function may read an
    object in it, and the gateways may read only ``models/``.

    ``model_package_group``: the site's group. Its name must be literal: the rule matches it, and SageMaker
    writes it in lower case into the package ARNs the function may describe.
    ``model_data`` and ``model_data_prefix`` (default ``"ml/"``): where the workspace's training jobs write
    ``model.tar.gz``; the function reads model data nowhere else.
    ``greengrass_root``: the gateways' Greengrass root folder (absolute); the pipeline's ``models``
    configuration names the model artifacts under it (``ml.edge_models``).
    ``bus``: release events go there (source ``dmc.model-release``). ``key`` encrypts the bucket, the
    function's environment and its dead-letter queue; ``logs_key`` its logs.
    ``removal_policy`` (default RETAIN): the bucket, the dead-letter queue and the function's logs.

    The function needs HTTPS to S3, SageMaker, Greengrass, EventBridge, KMS, CloudWatch Logs and X-Ray from
    ``placement``: VPC endpoints or NAT.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site_id: str,
        model_package_group: sagemaker.CfnModelPackageGroup,
        model_data: s3.IBucket,
        thing_group: iot.CfnThingGroup,
        gateways: Sequence[str],
        greengrass_root: str,
        token_exchange_role: iam.IRole,
        bus: events.IEventBus,
        placement: FunctionPlacement,
        key: kms.IKey,
        logs_key: kms.IKey,
        access_logs: s3.IBucket,
        model_data_prefix: str = "ml/",
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        group = model_package_group.model_package_group_name
        problems = []
        if not Token.is_unresolved(site_id) and not SITE_ID.fullmatch(site_id):
            problems.append(
                f"site_id {site_id!r} is not a tag path segment (A-Z a-z 0-9 _ . -); "
                "fix: pass the site's id, e.g. plantA"
            )
        if Token.is_unresolved(greengrass_root) or not greengrass_root.startswith("/"):
            problems.append(
                f"greengrass_root {greengrass_root!r} is not a literal absolute path; "
                "fix: give the gateways' Greengrass root folder, e.g. /greengrass/v2"
            )
        if Token.is_unresolved(group):
            problems.append(
                "model_package_group has no literal name; fix: name the group in the template "
                "(the rule matches the name and the policy names the packages by it)"
            )
        elif not GROUP_NAME.fullmatch(group):
            problems.append(
                f"model_package_group name {group!r} is not 1-63 letters, digits and inner hyphens; "
                "fix: rename the group as SageMaker allows"
            )
        if Token.is_unresolved(model_data_prefix) or not re.fullmatch(r"([A-Za-z0-9_.\-]+/)+", model_data_prefix):
            problems.append(
                f"model_data_prefix {model_data_prefix!r} is not a literal prefix of folders ending in '/'; "
                "fix: give where the training jobs write, e.g. 'ml/'"
            )
        if problems:
            raise ValueError(f"ModelRelease {construct_id}: " + "; ".join(problems))
        stack = Stack.of(self)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        self.artifacts_bucket = self._artifacts_bucket(key, access_logs, removal_policy)
        self.handler = SiteFunction(
            self,
            "Handler",
            handler_package=RELEASE_HANDLER,
            handler="release_handler.handler.handler",
            description="Approved model package versions -> Greengrass model components on the site's gateways",
            placement=placement,
            environment_key=key,
            logs_key=logs_key,
            modules=[MODEL_CARD, EDGE_MODELS],
            removal_policy=removal_policy,
            environment={
                "SITE_ID": site_id,
                "MODEL_PACKAGE_GROUP": group,
                "MODEL_DATA_BUCKET": model_data.bucket_name,
                "MODEL_DATA_PREFIX": model_data_prefix,
                "ARTIFACTS_BUCKET": self.artifacts_bucket.bucket_name,
                "THING_GROUP_ARN": thing_group.attr_arn,
                "PIPELINE_COMPONENT": PIPELINE,
                "GREENGRASS_ROOT": greengrass_root,
                "EVENT_BUS_NAME": bus.event_bus_name,
            },
            # Revising the thing group's one deployment is a read-modify-write: invocations must not overlap.
            reserved_concurrency=1,
            timeout=TIMEOUT,
            memory_mb=MEMORY_MB,
        )
        function = self.handler.function
        cast(
            lambda_.CfnFunction, function.node.default_child
        ).dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=self.dead_letters.queue_arn)
        self.dead_letters.grant_send_messages(function)
        bus.grant_put_events_to(function)
        self._restrict_reads(token_exchange_role)
        self.policy = self._release_policy(
            stack,
            group=group,
            model_data=model_data,
            prefix=model_data_prefix,
            thing_group=thing_group,
            gateways=gateways,
            key=key,
        )
        self.gateway_policy = self._gateway_policy(token_exchange_role, key)
        self.rule = events.Rule(
            self,
            "PackageStateRule",
            description=f"Model package versions of {group}: approved ones go to the site's gateways",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"], detail_type=[STATE_CHANGE], detail={"ModelPackageGroupName": [group]}
            ),
            targets=[targets.LambdaFunction(function)],
        )

    def _artifacts_bucket(self, key: kms.IKey, access_logs: s3.IBucket, removal_policy: RemovalPolicy) -> s3.Bucket:
        bucket = site_bucket(
            self,
            "Artifacts",
            key=key,
            access_logs=access_logs,
            access_log_prefix="model-artifacts/",
            lifecycle_rules=[
                s3.LifecycleRule(id="AbortUploads", abort_incomplete_multipart_upload_after=Duration.days(7))
            ],
            removal_policy=removal_policy,
        )
        deny_non_kms_writes(bucket)
        acknowledge(
            cast(s3.CfnBucket, bucket.node.default_child),
            in_regulatory_packs("S3BucketReplicationEnabled"),
            "The model artifacts stay in the site's home region for residency and can be rebuilt from the model "
            "registry; durability comes from S3's multi-AZ storage, versioning and RETAIN.",
            backed_by=("GxP::GxP-S3Versioned",),
        )
        return bucket

    def _restrict_reads(self, token_exchange_role: iam.IRole) -> None:
        """Only the gateways and the function may read objects, whatever else an IAM policy allows.
        Greengrass checks a new version's artifacts with the function's credentials, so it is admitted too."""
        self.artifacts_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ReadOnlyByGatewaysAndRelease",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.artifacts_bucket.arn_for_objects("*")],
                conditions={
                    "ArnNotEquals": {
                        "aws:PrincipalArn": [token_exchange_role.role_arn, self.handler.role.role_arn],
                    }
                },
            )
        )

    def _release_policy(
        self,
        stack: Stack,
        *,
        group: str,
        model_data: s3.IBucket,
        prefix: str,
        thing_group: iot.CfnThingGroup,
        gateways: Sequence[str],
        key: kms.IKey,
    ) -> iam.ManagedPolicy:
        """What the function may do besides what SiteFunction and the grants give it, statement by statement."""

        def arn(service: str, resource: str, name: str, arn_format: ArnFormat = ArnFormat.SLASH_RESOURCE_NAME) -> str:
            return stack.format_arn(service=service, resource=resource, resource_name=name, arn_format=arn_format)

        # SageMaker writes the group's name in lower case into its package ARNs.
        packages = arn("sagemaker", "model-package", f"{group.lower()}/*")
        components = arn("greengrass", "components", f"{COMPONENT_PREFIX}*", ArnFormat.COLON_RESOURCE_NAME)
        versions = arn("greengrass", "components", f"{COMPONENT_PREFIX}*:versions:*", ArnFormat.COLON_RESOURCE_NAME)
        artifacts = self.artifacts_bucket
        objects = [artifacts.arn_for_objects(f"{ARTIFACTS_PREFIX}/*"), artifacts.arn_for_objects(f"{RECORDS_PREFIX}/*")]
        statements = [
            iam.PolicyStatement(
                sid="DescribeGroupPackages", actions=["sagemaker:DescribeModelPackage"], resources=[packages]
            ),
            iam.PolicyStatement(
                sid="ReadModelData", actions=["s3:GetObject"], resources=[model_data.arn_for_objects(f"{prefix}*")]
            ),
        ]
        if model_data.encryption_key is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="DecryptModelData", actions=["kms:Decrypt"], resources=[model_data.encryption_key.key_arn]
                )
            )
        statements += [
            iam.PolicyStatement(sid="WriteArtifactsAndRecords", actions=["s3:PutObject"], resources=objects),
            # Greengrass reads a new version's artifacts with the caller's credentials to record their digests.
            iam.PolicyStatement(sid="ReadArtifactsAndRecords", actions=["s3:GetObject"], resources=objects),
            # Without it S3 answers a record that does not exist yet with AccessDenied instead of NoSuchKey.
            iam.PolicyStatement(sid="FindRecords", actions=["s3:ListBucket"], resources=[artifacts.bucket_arn]),
            iam.PolicyStatement(
                sid="ArtifactsKey", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn]
            ),
            iam.PolicyStatement(
                sid="CreateModelComponents", actions=["greengrass:CreateComponentVersion"], resources=[components]
            ),
            iam.PolicyStatement(
                sid="DescribeModelComponents", actions=["greengrass:DescribeComponent"], resources=[versions]
            ),
            *deployment_statements(stack, thing_group_arn=thing_group.attr_arn, gateways=gateways),
        ]
        policy = iam.ManagedPolicy(
            self,
            "ReleasePolicy",
            description="Model release: read the site's model packages, publish model components, revise the "
            "site's deployment",
            statements=statements,
            roles=[self.handler.role],
        )
        findings = [
            (
                arn_wildcard(stack, packages),
                "Versions of the one model package group are numbered as they are registered; the wildcard covers "
                "exactly that group's versions, and the function only describes them.",
            ),
            (
                bucket_wildcard(policy, model_data, f"/{prefix}*"),
                f"Training jobs write model.tar.gz under {prefix} with job-generated keys; the function only reads "
                "model data there, and only for a package of the site's group.",
            ),
            (
                resource_wildcard(artifacts, f"/{ARTIFACTS_PREFIX}/*"),
                "Artifact keys are content hashes of each model version, unknown until a model is trained; the "
                "wildcard covers the component artifacts folder of this one bucket.",
            ),
            (
                resource_wildcard(artifacts, f"/{RECORDS_PREFIX}/*"),
                "Release records are keyed by model package version, unknown in advance; the wildcard covers the "
                "records folder of this one bucket.",
            ),
            (
                arn_wildcard(stack, components),
                "Model components are named after the models the site trains; the wildcard admits only components "
                f"named {COMPONENT_PREFIX}, never the edge components or AWS-provided ones.",
            ),
            (
                arn_wildcard(stack, versions),
                "Model component versions are content hashes of the models; the wildcard admits only versions of "
                f"components named {COMPONENT_PREFIX}.",
            ),
            *deployment_findings(stack),
        ]
        for finding, reason in findings:
            acknowledge(cast(IConstruct, policy.node.default_child), finding, reason)
        return policy

    def _gateway_policy(self, token_exchange_role: iam.IRole, key: kms.IKey) -> iam.ManagedPolicy:
        """The gateways download component artifacts with their token exchange role. A managed policy of this
        construct, so the role's own stack does not come to depend on this bucket's."""
        policy = iam.ManagedPolicy(
            self,
            "GatewayArtifactRead",
            description="Greengrass core devices of the site: download model component artifacts",
            statements=[
                iam.PolicyStatement(
                    sid="ReadModelArtifacts",
                    actions=["s3:GetObject"],
                    resources=[self.artifacts_bucket.arn_for_objects(f"{ARTIFACTS_PREFIX}/*")],
                ),
                iam.PolicyStatement(sid="DecryptModelArtifacts", actions=["kms:Decrypt"], resources=[key.key_arn]),
            ],
            roles=[token_exchange_role],
        )
        acknowledge(
            cast(IConstruct, policy.node.default_child),
            resource_wildcard(self.artifacts_bucket, f"/{ARTIFACTS_PREFIX}/*"),
            "Gateways download whichever model versions the deployment names, under content-hash keys; the "
            "wildcard covers only the component artifacts folder of this one bucket, read-only.",
        )
        return policy
