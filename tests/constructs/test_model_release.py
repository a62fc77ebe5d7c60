"""ModelRelease on a bare stack: the state-change rule, the function, its dead-letter queue, the artifacts bucket
and who may read it, every statement the function and the gateways get, validations, removal policy, nag."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import pytest
from aws_cdk import Aws, NestedStack, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, REGION, access_logs, bare_stack, placement, site_keys, unacknowledged_findings
from factory_constructs.lake.lake_bucket import LakeBucket
from factory_constructs.ml.model_release import ModelRelease

pytestmark = pytest.mark.synth

GROUP = "plantA-models"
GATEWAYS = ["plantA-gw-1", "plantA-gw-2"]


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    lake: s3.IBucket
    group: sagemaker.CfnModelPackageGroup
    thing_group: iot.CfnThingGroup
    gateways: iam.IRole
    bus: events.IEventBus
    release: ModelRelease

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def resolve(self, value: Any) -> Any:
        return self.stack.resolve(value)

    def policy_statements(self, policy: iam.ManagedPolicy) -> list[dict[str, Any]]:
        logical_id = self.stack.get_logical_id(policy.node.default_child)  # type: ignore[arg-type]
        document = self.template().to_json()["Resources"][logical_id]["Properties"]["PolicyDocument"]
        return list(document["Statement"])


def build(*, audit_trail: bool = False, group_name: str = GROUP, **props: Any) -> Built:
    """ModelRelease "Release" of site plantA: its model data in a curated LakeBucket, a thing group, a token
    exchange role and an event bus made right there; only the required props unless ``props`` override them."""
    stack = bare_stack(audit_trail=audit_trail)
    keys = site_keys(stack)
    logs = access_logs(stack)
    lake = LakeBucket(stack, "Curated", zone="curated", key=keys.data, access_logs=logs, expiration_days=None).bucket
    group = sagemaker.CfnModelPackageGroup(stack, "Group", model_package_group_name=group_name)
    thing_group = iot.CfnThingGroup(stack, "ThingGroup", thing_group_name="plantA-gateways")
    gateways = iam.Role(stack, "TokenExchange", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"))
    bus = events.EventBus(stack, "Bus", kms_key=keys.data)
    release = ModelRelease(
        stack,
        "Release",
        **{
            "site_id": "plantA",
            "model_package_group": group,
            "model_data": lake,
            "thing_group": thing_group,
            "gateways": GATEWAYS,
            "greengrass_root": "/greengrass/v2",
            "token_exchange_role": gateways,
            "bus": bus,
            "placement": placement(stack, keys),
            "key": keys.data,
            "logs_key": keys.logs,
            "access_logs": logs,
            **props,
        },
    )
    return Built(stack, keys.data, lake, group, thing_group, gateways, bus, release)


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


def arn(service: str, resource: str) -> dict[str, Any]:
    """An ARN of this account and region as the template spells it."""
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":{service}:{REGION}:{ACCOUNT}:{resource}"]]}


def objects(built: Built, bucket: s3.IBucket, suffix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [built.resolve(bucket.bucket_arn), suffix]]}


# --- defaults ---------------------------------------------------------------------------------------


def test_the_rule_matches_state_changes_of_the_sites_group_and_invokes_the_function(default: Built) -> None:
    template = default.template()
    function_arn = default.resolve(default.release.handler.function.function_arn)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.exact(
                {
                    "source": ["aws.sagemaker"],
                    "detail-type": ["SageMaker Model Package State Change"],
                    "detail": {"ModelPackageGroupName": [GROUP]},
                }
            ),
            "State": "ENABLED",
            "Targets": [{"Arn": function_arn, "Id": "Target0"}],
        },
    )
    # The rule is on the default bus, where AWS services put their events.
    rule = template.find_resources("AWS::Events::Rule")
    assert [properties["Properties"].get("EventBusName") for properties in rule.values()] == [None]
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        Match.exact(
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": function_arn,
                "Principal": "events.amazonaws.com",
                "SourceArn": default.resolve(default.release.rule.rule_arn),
            }
        ),
    )


def test_the_function_runs_one_at_a_time_with_a_dead_letter_queue_and_exactly_the_environment_it_reads(
    default: Built,
) -> None:
    release = default.release
    default.template().has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "release_handler.handler.handler",
            "ReservedConcurrentExecutions": 1,
            "Timeout": 120,
            "MemorySize": 1024,
            "KmsKeyArn": default.resolve(default.key.key_arn),
            "DeadLetterConfig": {"TargetArn": default.resolve(release.dead_letters.queue_arn)},
            "Environment": {
                "Variables": Match.exact(
                    {
                        "SITE_ID": "plantA",
                        "MODEL_PACKAGE_GROUP": GROUP,
                        "MODEL_DATA_BUCKET": default.resolve(default.lake.bucket_name),
                        "MODEL_DATA_PREFIX": "ml/",
                        "ARTIFACTS_BUCKET": default.resolve(release.artifacts_bucket.bucket_name),
                        "THING_GROUP_ARN": default.resolve(default.thing_group.attr_arn),
                        "PIPELINE_COMPONENT": "com.dmc.TagPipeline",
                        "GREENGRASS_ROOT": "/greengrass/v2",
                        "EVENT_BUS_NAME": default.resolve(default.bus.event_bus_name),
                    }
                )
            },
        },
    )


def test_the_dead_letter_queue_is_encrypted_keeps_14_days_and_refuses_plain_http(default: Built) -> None:
    template = default.template()
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"KmsMasterKeyId": default.resolve(default.key.key_arn), "MessageRetentionPeriod": 14 * 24 * 3600},
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.exact(
                        {
                            "Action": "sqs:*",
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": default.resolve(default.release.dead_letters.queue_arn),
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    )
                ]
            }
        },
    )


def test_the_artifacts_bucket_is_encrypted_with_the_site_key_versioned_private_and_access_logged(
    default: Built,
) -> None:
    default.template().has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "KMSMasterKeyID": default.resolve(default.key.key_arn),
                            "SSEAlgorithm": "aws:kms",
                        },
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LoggingConfiguration": {"DestinationBucketName": Match.any_value(), "LogFilePrefix": "model-artifacts/"},
        },
    )


def test_only_the_gateways_and_the_function_may_read_artifacts_and_only_over_tls_with_kms(default: Built) -> None:
    bucket = default.release.artifacts_bucket
    bucket_arn = default.resolve(bucket.bucket_arn)
    every_object = objects(default, bucket, "/*")
    default.template().has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": default.resolve(bucket.bucket_name),
            "PolicyDocument": {
                "Statement": Match.exact(
                    [
                        {
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": [bucket_arn, every_object],
                        },
                        {
                            "Sid": "DenyNonKmsWrites",
                            "Action": "s3:PutObject",
                            "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": every_object,
                        },
                        {
                            "Sid": "ReadOnlyByGatewaysAndRelease",
                            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                            "Condition": {
                                "ArnNotEquals": {
                                    "aws:PrincipalArn": [
                                        default.resolve(default.gateways.role_arn),
                                        default.resolve(default.release.handler.role.role_arn),
                                    ]
                                }
                            },
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": every_object,
                        },
                    ]
                ),
                "Version": "2012-10-17",
            },
        },
    )


# --- permissions ------------------------------------------------------------------------------------


def test_the_release_policy_holds_exactly_the_statements_the_release_needs(default: Built) -> None:
    release = default.release
    artifacts = release.artifacts_bucket
    records_and_models = [objects(default, artifacts, "/models/*"), objects(default, artifacts, "/releases/*")]
    thing_group = default.resolve(default.thing_group.attr_arn)
    assert default.policy_statements(release.policy) == [
        # SageMaker writes the group's name in lower case into the package ARNs.
        {
            "Sid": "DescribeGroupPackages",
            "Action": "sagemaker:DescribeModelPackage",
            "Effect": "Allow",
            "Resource": arn("sagemaker", "model-package/planta-models/*"),
        },
        {
            "Sid": "ReadModelData",
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": objects(default, default.lake, "/ml/*"),
        },
        {
            "Sid": "DecryptModelData",
            "Action": "kms:Decrypt",
            "Effect": "Allow",
            "Resource": default.resolve(default.key.key_arn),
        },
        {
            "Sid": "WriteArtifactsAndRecords",
            "Action": "s3:PutObject",
            "Effect": "Allow",
            "Resource": records_and_models,
        },
        {"Sid": "ReadArtifactsAndRecords", "Action": "s3:GetObject", "Effect": "Allow", "Resource": records_and_models},
        {
            "Sid": "FindRecords",
            "Action": "s3:ListBucket",
            "Effect": "Allow",
            "Resource": default.resolve(artifacts.bucket_arn),
        },
        {
            "Sid": "ArtifactsKey",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Effect": "Allow",
            "Resource": default.resolve(default.key.key_arn),
        },
        {
            "Sid": "CreateModelComponents",
            "Action": "greengrass:CreateComponentVersion",
            "Effect": "Allow",
            "Resource": arn("greengrass", "components:com.dmc.Model.*"),
        },
        {
            "Sid": "DescribeModelComponents",
            "Action": "greengrass:DescribeComponent",
            "Effect": "Allow",
            "Resource": arn("greengrass", "components:com.dmc.Model.*:versions:*"),
        },
        {
            "Sid": "ReadDeployments",
            "Action": "greengrass:GetDeployment",
            "Effect": "Allow",
            "Resource": arn("greengrass", "deployments:*"),
        },
        # Neither action has a resource type in IAM.
        {
            "Sid": "ListAndCreateDeployments",
            "Action": ["greengrass:ListDeployments", "greengrass:CreateDeployment"],
            "Effect": "Allow",
            "Resource": "*",
        },
        # CreateDeployment's dependent IoT actions: the job targets the site's thing group and no other.
        {
            "Sid": "DeployToTheSiteThingGroup",
            "Action": ["iot:CreateJob", "iot:DescribeThingGroup"],
            "Effect": "Allow",
            "Resource": thing_group,
        },
        {
            "Sid": "DeploymentJobs",
            "Action": ["iot:CreateJob", "iot:CancelJob", "iot:DescribeJob", "iot:UpdateJob"],
            "Effect": "Allow",
            "Resource": arn("iot", "job/*"),
        },
        {
            "Sid": "GatewayThings",
            "Action": ["iot:DescribeThing", "iot:GetThingShadow", "iot:UpdateThingShadow", "iot:DeleteThingShadow"],
            "Effect": "Allow",
            "Resource": [arn("iot", f"thing/{gateway}") for gateway in GATEWAYS],
        },
    ]
    default.template().has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {"PolicyDocument": Match.any_value(), "Roles": [default.resolve(release.handler.role.role_name)]},
    )


def test_the_functions_own_policy_has_tracing_its_dead_letters_and_the_bus_only(default: Built) -> None:
    release = default.release
    key_arn = default.resolve(default.key.key_arn)
    default.template().has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [default.resolve(release.handler.role.role_name)],
            "PolicyDocument": {
                "Statement": Match.exact(
                    [
                        {
                            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                            "Effect": "Allow",
                            "Resource": "*",
                        },
                        {
                            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                            "Effect": "Allow",
                            "Resource": default.resolve(release.dead_letters.queue_arn),
                        },
                        {
                            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                            "Effect": "Allow",
                            "Resource": key_arn,
                        },
                        {
                            "Action": "events:PutEvents",
                            "Effect": "Allow",
                            "Resource": default.resolve(default.bus.event_bus_arn),
                        },
                    ]
                )
            },
        },
    )


def test_the_gateways_may_read_component_artifacts_and_nothing_else_of_the_bucket(default: Built) -> None:
    release = default.release
    assert default.policy_statements(release.gateway_policy) == [
        {
            "Sid": "ReadModelArtifacts",
            "Action": "s3:GetObject",
            "Effect": "Allow",
            "Resource": objects(default, release.artifacts_bucket, "/models/*"),
        },
        {
            "Sid": "DecryptModelArtifacts",
            "Action": "kms:Decrypt",
            "Effect": "Allow",
            "Resource": default.resolve(default.key.key_arn),
        },
    ]
    logical_id = default.stack.get_logical_id(release.gateway_policy.node.default_child)  # type: ignore[arg-type]
    properties = default.template().to_json()["Resources"][logical_id]["Properties"]
    assert properties["Roles"] == [default.resolve(default.gateways.role_name)]


# --- customisations ---------------------------------------------------------------------------------


def test_model_data_prefix_scopes_the_model_data_read_and_reaches_the_function() -> None:
    built = build(model_data_prefix="ml/models/")
    statements = built.policy_statements(built.release.policy)
    assert statements[1] == {
        "Sid": "ReadModelData",
        "Action": "s3:GetObject",
        "Effect": "Allow",
        "Resource": objects(built, built.lake, "/ml/models/*"),
    }
    built.template().has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"MODEL_DATA_PREFIX": "ml/models/"})}},
    )


def test_model_data_without_a_key_gets_no_decrypt_statement() -> None:
    stack = bare_stack()
    keys = site_keys(stack)
    release = ModelRelease(
        stack,
        "Release",
        site_id="plantA",
        model_package_group=sagemaker.CfnModelPackageGroup(stack, "Group", model_package_group_name=GROUP),
        model_data=s3.Bucket.from_bucket_name(stack, "Imported", "planta-curated"),
        thing_group=iot.CfnThingGroup(stack, "ThingGroup", thing_group_name="plantA-gateways"),
        gateways=GATEWAYS,
        greengrass_root="/greengrass/v2",
        token_exchange_role=iam.Role(stack, "Tes", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com")),
        bus=events.EventBus(stack, "Bus"),
        placement=placement(stack, keys),
        key=keys.data,
        logs_key=keys.logs,
        access_logs=access_logs(stack),
    )
    document = stack.resolve(release.policy.document)
    assert "DecryptModelData" not in [statement["Sid"] for statement in document["Statement"]]


# --- validations ------------------------------------------------------------------------------------


def test_the_group_needs_a_literal_name() -> None:
    stack = bare_stack()
    group = sagemaker.CfnModelPackageGroup(stack, "Group", model_package_group_name=f"{Aws.STACK_NAME}-models")
    message = (
        "ModelRelease Release: model_package_group has no literal name; fix: name the group in the template "
        "(the rule matches the name and the policy names the packages by it)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _new(stack, model_package_group=group)


@pytest.mark.parametrize("name", ["-models", "plant_A", "a" * 64])
def test_the_group_name_must_be_one_sagemaker_allows(name: str) -> None:
    message = (
        f"ModelRelease Release: model_package_group name {name!r} is not 1-63 letters, digits and inner hyphens; "
        "fix: rename the group as SageMaker allows"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _new(bare_stack(), group_name=name)


@pytest.mark.parametrize("prefix", ["", "ml", "/ml/", "ml/*", "ml//"])
def test_model_data_prefix_must_be_folders_ending_in_a_slash(prefix: str) -> None:
    message = (
        f"ModelRelease Release: model_data_prefix {prefix!r} is not a literal prefix of folders ending in '/'; "
        "fix: give where the training jobs write, e.g. 'ml/'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _new(bare_stack(), model_data_prefix=prefix)


@pytest.mark.parametrize("root", ["greengrass/v2", ""])
def test_the_greengrass_root_must_be_an_absolute_path(root: str) -> None:
    message = (
        f"ModelRelease Release: greengrass_root {root!r} is not a literal absolute path; "
        "fix: give the gateways' Greengrass root folder, e.g. /greengrass/v2"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _new(bare_stack(), greengrass_root=root)


def test_every_problem_is_reported_at_once() -> None:
    message = (
        "ModelRelease Release: site_id 'plant/A' is not a tag path segment (A-Z a-z 0-9 _ . -); "
        "fix: pass the site's id, e.g. plantA; "
        "model_package_group name 'plant_A' is not 1-63 letters, digits and inner hyphens; "
        "fix: rename the group as SageMaker allows; "
        "model_data_prefix 'ml' is not a literal prefix of folders ending in '/'; "
        "fix: give where the training jobs write, e.g. 'ml/'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _new(bare_stack(), site_id="plant/A", group_name="plant_A", model_data_prefix="ml")


def _new(stack: Stack, *, group_name: str = GROUP, **props: Any) -> ModelRelease:
    """Only the constructor (for validation tests): no template is synthesized."""
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Lake")
    return ModelRelease(
        stack,
        "Release",
        **{
            "site_id": "plantA",
            "model_package_group": sagemaker.CfnModelPackageGroup(stack, "G", model_package_group_name=group_name),
            "model_data": bucket,
            "thing_group": iot.CfnThingGroup(stack, "ThingGroup"),
            "gateways": GATEWAYS,
            "greengrass_root": "/greengrass/v2",
            "token_exchange_role": iam.Role(stack, "Tes", assumed_by=iam.ServicePrincipal("iot.amazonaws.com")),
            "bus": events.EventBus(stack, "Bus"),
            "placement": placement(stack, site_keys(stack)),
            "key": key,
            "logs_key": key,
            "access_logs": bucket,
            **props,
        },
    )


# --- removal policy -----------------------------------------------------------------------------------

STATEFUL = ("AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::Logs::LogGroup")


def deletion_policies(built: Built) -> set[tuple[str, str]]:
    """(type, DeletionPolicy) of the construct's stateful resources."""
    resources = built.template().to_json()["Resources"]
    return {
        (resource["Type"], resource.get("DeletionPolicy", "Delete"))
        for logical_id, resource in resources.items()
        if resource["Type"] in STATEFUL and logical_id.startswith("Release")  # the construct's id
    }


def test_stateful_resources_are_retained_by_default(default: Built) -> None:
    assert deletion_policies(default) == {(kind, "Retain") for kind in STATEFUL}


def test_removal_policy_destroy_applies_to_every_stateful_resource() -> None:
    assert deletion_policies(build(removal_policy=RemovalPolicy.DESTROY)) == {(kind, "Delete") for kind in STATEFUL}


# --- nag ----------------------------------------------------------------------------------------------


def test_the_release_alone_has_no_unacknowledged_findings() -> None:
    assert unacknowledged_findings(build().stack) == []


def test_the_release_alone_on_an_audit_trail_stack_has_no_unacknowledged_findings() -> None:
    assert unacknowledged_findings(build(audit_trail=True).stack) == []


def test_the_release_in_a_nested_stack_beside_the_lakes_has_no_unacknowledged_findings() -> None:
    """As in a site: the lake, the gateways' thing group and role and the bus in the data stack, the release in
    a sibling nested stack, so the model data bucket's ARN arrives as a parameter."""
    stack = bare_stack()
    data, ml = NestedStack(stack, "Data"), NestedStack(stack, "Ml")
    keys = site_keys(data)
    logs = access_logs(data)
    ModelRelease(
        ml,
        "Release",
        site_id="plantA",
        model_package_group=sagemaker.CfnModelPackageGroup(ml, "Group", model_package_group_name=GROUP),
        model_data=LakeBucket(
            data, "Curated", zone="curated", key=keys.data, access_logs=logs, expiration_days=None
        ).bucket,
        thing_group=iot.CfnThingGroup(data, "ThingGroup", thing_group_name="plantA-gateways"),
        gateways=GATEWAYS,
        greengrass_root="/greengrass/v2",
        token_exchange_role=iam.Role(data, "Tes", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com")),
        bus=events.EventBus(data, "Bus", kms_key=keys.data),
        placement=placement(data, keys),
        key=keys.data,
        logs_key=keys.logs,
        access_logs=logs,
    )
    assert unacknowledged_findings(stack) == []
