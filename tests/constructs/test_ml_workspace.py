"""MlWorkspace on a bare stack: the VpcOnly domain, its security group, the execution role's exact statements,
the idle-shutdown lifecycle configuration, user profiles, the model package group, validations, removal, nag."""

from __future__ import annotations

import base64
from typing import Any, NamedTuple

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from construct_helpers import (
    ACCOUNT,
    CIDR,
    REGION,
    access_logs,
    bare_stack,
    network,
    role_statements,
    site_keys,
    unacknowledged_findings,
)
from factory_constructs.foundation.network import SiteNetwork
from factory_constructs.lake.lake_bucket import LakeBucket
from factory_constructs.ml.idle_shutdown import lifecycle_script
from factory_constructs.ml.ml_workspace import MlWorkspace, WorkspaceUser
from policies import tag_keys

pytestmark = pytest.mark.synth

TABLES = ["tag_hour", "tag_minute"]
ANALYSTS = [WorkspaceUser("anna-keller", "anna.keller@acme.example"), WorkspaceUser("jonas", "jonas@acme.example")]


class Built(NamedTuple):
    stack: Stack
    key: kms.IKey
    curated: s3.IBucket
    net: SiteNetwork
    workspace: MlWorkspace

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def ref(self, construct: Any) -> Any:
        element = construct.node.default_child or construct
        return {"Ref": self.stack.get_logical_id(element)}

    def att(self, construct: Any, attribute: str) -> Any:
        element = construct.node.default_child or construct
        return {"Fn::GetAtt": [self.stack.get_logical_id(element), attribute]}


def build(**props: Any) -> Built:
    """MlWorkspace "Workspace" of site plantA: the helper's network, the site keys and a curated LakeBucket made
    right there; only the required props unless ``props`` override them."""
    stack = bare_stack()
    keys = site_keys(stack)
    net = network(stack, keys)
    curated = LakeBucket(
        stack, "Curated", zone="curated", key=keys.data, access_logs=access_logs(stack), expiration_days=None
    ).bucket
    workspace = MlWorkspace(
        stack,
        "Workspace",
        **{
            "site_id": "plantA",
            "vpc": net.vpc,
            "subnets": net.private_subnets,
            "key": keys.data,
            "curated": curated,
            "curated_database": "planta_curated",
            "curated_tables": TABLES,
            **props,
        },
    )
    return Built(stack, keys.data, curated, net, workspace)


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


def glue_arn(resource: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":glue:{REGION}:{ACCOUNT}:{resource}"]]}


# --- defaults -------------------------------------------------------------------------------------------------


def test_the_domain_is_vpc_only_in_the_private_subnets_on_the_site_key_with_iam_auth(default: Built) -> None:
    subnets = [default.ref(subnet) for subnet in default.net.vpc.isolated_subnets]
    assert len(subnets) == 1
    default.template().has_resource(
        "AWS::SageMaker::Domain",
        {
            "Properties": {
                "DomainName": "plantA-workspace",
                "AuthMode": "IAM",
                "AppNetworkAccessType": "VpcOnly",
                "VpcId": default.ref(default.net.vpc),
                "SubnetIds": subnets,
                "KmsKeyId": default.att(default.key, "Arn"),
                "TagPropagation": "ENABLED",
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_users_and_spaces_run_as_the_execution_role_in_the_workspace_security_group(default: Built) -> None:
    workspace = default.workspace
    role = default.att(workspace.execution_role, "Arn")
    groups = [default.att(workspace.security_group, "GroupId")]
    lifecycle = {"Fn::GetAtt": [default.stack.get_logical_id(workspace.lifecycle_config), "StudioLifecycleConfigArn"]}
    jupyter_lab = {
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium", "LifecycleConfigArn": lifecycle},
        "LifecycleConfigArns": [lifecycle],
    }
    storage = {"DefaultEbsStorageSettings": {"DefaultEbsVolumeSizeInGb": 5, "MaximumEbsVolumeSizeInGb": 100}}
    default.template().has_resource_properties(
        "AWS::SageMaker::Domain",
        {
            "DefaultUserSettings": Match.exact(
                {
                    "ExecutionRole": role,
                    "SecurityGroups": groups,
                    "StudioWebPortal": "ENABLED",
                    "DefaultLandingUri": "studio::",
                    "JupyterLabAppSettings": jupyter_lab,
                    "SpaceStorageSettings": storage,
                    "SharingSettings": {"NotebookOutputOption": "Disabled"},
                }
            ),
            "DefaultSpaceSettings": Match.exact(
                {
                    "ExecutionRole": role,
                    "SecurityGroups": groups,
                    "JupyterLabAppSettings": jupyter_lab,
                    "SpaceStorageSettings": storage,
                }
            ),
        },
    )


def test_the_security_group_allows_https_into_the_vpc_and_app_traffic_among_its_members_only(default: Built) -> None:
    template = default.template()
    group_id = default.att(default.workspace.security_group, "GroupId")
    (group,) = [
        resource
        for resource in template.find_resources("AWS::EC2::SecurityGroup").values()
        if resource["Properties"]["GroupDescription"].startswith("SageMaker workspace apps")
    ]
    assert "SecurityGroupIngress" not in group["Properties"]
    # A self-referencing rule is a resource of its own; the HTTPS rule sits on the group.
    assert group["Properties"]["SecurityGroupEgress"] == [
        {
            "CidrIp": default.att(default.net.vpc, "CidrBlock"),
            "Description": "HTTPS to the VPC endpoints",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    for kind, peer in (("Ingress", "SourceSecurityGroupId"), ("Egress", "DestinationSecurityGroupId")):
        rules = template.find_resources(f"AWS::EC2::SecurityGroup{kind}", {"Properties": {peer: group_id}})
        ports = sorted((rule["Properties"]["FromPort"], rule["Properties"]["ToPort"]) for rule in rules.values())
        assert ports == [(2049, 2049), (8192, 65535)], kind
        assert all(rule["Properties"]["GroupId"] == group_id for rule in rules.values())


def test_the_execution_role_reads_the_curated_zone_and_catalog_and_writes_only_under_ml(default: Built) -> None:
    bucket, key = default.att(default.curated, "Arn"), default.att(default.key, "Arn")
    domain_id = {"Fn::GetAtt": [default.stack.get_logical_id(default.workspace.domain), "DomainId"]}
    default.template().has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                    }
                ]
            }
        },
    )
    role_statements(
        default.stack,
        default.workspace.execution_role,
        [
            {
                "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                "Effect": "Allow",
                "Resource": [bucket, {"Fn::Join": ["", [bucket, "/*"]]}],
            },
            {"Action": ["kms:Decrypt", "kms:DescribeKey"], "Effect": "Allow", "Resource": key},
            {
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
                "Effect": "Allow",
                "Resource": {"Fn::Join": ["", [bucket, "/ml/*"]]},
            },
            {"Action": "kms:GenerateDataKey", "Effect": "Allow", "Resource": key},
            {
                "Action": [
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                ],
                "Effect": "Allow",
                "Resource": [
                    glue_arn("catalog"),
                    glue_arn("database/planta_curated"),
                    glue_arn("table/planta_curated/tag_hour"),
                    glue_arn("table/planta_curated/tag_minute"),
                ],
            },
            {
                "Action": "sagemaker:DeleteApp",
                "Effect": "Allow",
                "Resource": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            f":sagemaker:{REGION}:{ACCOUNT}:app/",
                            domain_id,
                            "/*/jupyterlab/*",
                        ],
                    ]
                },
            },
        ],
    )
    # Nothing else: no managed policy on the role.
    role = default.template().to_json()["Resources"][default.ref(default.workspace.execution_role)["Ref"]]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_lifecycle_configuration_is_the_idle_shutdown_script_for_jupyterlab(default: Built) -> None:
    (config,) = default.template().find_resources("AWS::SageMaker::StudioLifecycleConfig").values()
    properties = config["Properties"]
    assert properties["StudioLifecycleConfigAppType"] == "JupyterLab"
    script = base64.b64decode(properties["StudioLifecycleConfigContent"]).decode()
    assert script == lifecycle_script(60, REGION)
    assert "--idle-minutes 60 --region eu-central-1" in script
    assert properties["StudioLifecycleConfigName"].startswith("plantA-idle-shutdown-")


def test_no_analysts_no_profiles(default: Built) -> None:
    default.template().resource_count_is("AWS::SageMaker::UserProfile", 0)
    assert default.workspace.user_profiles == {}


def test_the_model_package_group_is_named_after_the_site_and_retained(default: Built) -> None:
    default.template().has_resource(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "Properties": {
                "ModelPackageGroupName": "plantA-models",
                "ModelPackageGroupDescription": "Models of site plantA: an approved version is released to the "
                "site's gateways",
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_what_the_model_release_needs_is_exposed(default: Built) -> None:
    workspace = default.workspace
    assert workspace.model_package_group.model_package_group_name == "plantA-models"
    assert workspace.model_data_bucket is default.curated
    assert workspace.model_data_prefix == "ml/"
    assert workspace.key is default.key


# --- customisations -------------------------------------------------------------------------------------------


def test_each_analyst_gets_a_profile_that_inherits_the_domain_settings_and_names_its_owner() -> None:
    built = build(analysts=ANALYSTS)
    profiles = built.template().find_resources("AWS::SageMaker::UserProfile")
    domain_id = {"Fn::GetAtt": [built.stack.get_logical_id(built.workspace.domain), "DomainId"]}
    found = {profile["Properties"]["UserProfileName"]: profile["Properties"] for profile in profiles.values()}
    assert sorted(found) == ["anna-keller", "jonas"]
    for analyst in ANALYSTS:
        properties = found[analyst.name]
        assert properties["DomainId"] == domain_id
        assert "UserSettings" not in properties  # the domain's role, network and idle shutdown
        assert {"Key": tag_keys.OWNER, "Value": analyst.email} in properties["Tags"]
    assert sorted(built.workspace.user_profiles) == ["anna-keller", "jonas"]


def test_the_idle_timeout_goes_into_a_new_lifecycle_configuration() -> None:
    def config(minutes: int) -> dict[str, Any]:
        (found,) = (
            build(idle_shutdown_minutes=minutes)
            .template()
            .find_resources("AWS::SageMaker::StudioLifecycleConfig")
            .values()
        )
        return dict(found["Properties"])

    thirty, sixty = config(30), config(60)
    assert base64.b64decode(thirty["StudioLifecycleConfigContent"]).decode() == lifecycle_script(30, REGION)
    # A lifecycle configuration cannot be updated: another script is another configuration, with another name.
    assert thirty["StudioLifecycleConfigName"] != sixty["StudioLifecycleConfigName"]


def test_instance_type_and_prefix() -> None:
    built = build(instance_type="ml.m5.large", model_data_prefix="models/anomaly/")
    template = built.template()
    template.has_resource_properties(
        "AWS::SageMaker::Domain",
        {"DefaultUserSettings": {"JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.m5.large"}}}},
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
                                "Resource": {"Fn::Join": ["", [built.att(built.curated, "Arn"), "/models/anomaly/*"]]},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_removal_policy_destroy_deletes_the_domain_and_the_group() -> None:
    template = build(removal_policy=RemovalPolicy.DESTROY).template()
    for kind in ("AWS::SageMaker::Domain", "AWS::SageMaker::ModelPackageGroup"):
        template.has_resource(kind, {"DeletionPolicy": "Delete"})


# --- validation -----------------------------------------------------------------------------------------------


def test_bad_and_repeated_profile_names_are_refused() -> None:
    analysts = [
        WorkspaceUser("anna_keller", "a@acme.example"),
        WorkspaceUser("Jonas", "j@acme.example"),
        WorkspaceUser("jonas", "j2@acme.example"),
    ]
    with pytest.raises(ValueError) as caught:
        build(analysts=analysts)
    assert str(caught.value) == (
        "MlWorkspace Workspace: analysts ['anna_keller'] are not SageMaker user profile names; fix: use 1-63 "
        "letters, digits and hyphens, starting and ending with a letter or digit; analysts name ['jonas'] more "
        "than once (ignoring case: SageMaker lower-cases profile ARNs); fix: give each analyst one profile"
    )


def test_every_other_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        build(
            site_id="plant_A",
            curated_tables=[],
            idle_shutdown_minutes=0,
            instance_type="t3.medium",
            model_data_prefix="/ml",
        )
    message = str(caught.value)
    assert message.startswith("MlWorkspace Workspace: site_id 'plant_A' gives the SageMaker name(s) ")
    for problem in (
        "which must be 1-63 letters, digits and inner hyphens; fix: use a site id of letters and digits of at most "
        "40 characters",
        "curated_tables is empty; fix: name the curated tables the workspace reads",
        "idle_shutdown_minutes 0 is below 1; fix: give at least 1 minute",
        "instance_type 't3.medium' is not a SageMaker instance type; fix: use e.g. ml.t3.medium",
        "model_data_prefix '/ml' is not a literal prefix of folders ending in '/'; fix: give a folder such as 'ml/'",
    ):
        assert problem in message


# --- nag ------------------------------------------------------------------------------------------------------


def test_no_unacknowledged_findings_with_analysts_in_a_vpc_with_the_ml_endpoints() -> None:
    stack = bare_stack(audit_trail=True)
    keys = site_keys(stack)
    net = SiteNetwork(
        stack,
        "Network",
        cidr=CIDR,
        availability_zones=[f"{REGION}a"],
        nat_gateways=0,
        logs_key=keys.logs,
        log_retention=logs.RetentionDays.THIRTEEN_MONTHS,
        removal_policy=RemovalPolicy.RETAIN,
        ml_endpoints=True,
        api_endpoints=False,
    )
    curated = LakeBucket(
        stack, "Curated", zone="curated", key=keys.data, access_logs=access_logs(stack), expiration_days=None
    ).bucket
    MlWorkspace(
        stack,
        "Workspace",
        site_id="plantA",
        vpc=net.vpc,
        subnets=net.private_subnets,
        key=keys.data,
        curated=curated,
        curated_database="planta_curated",
        curated_tables=TABLES,
        analysts=ANALYSTS,
    )
    assert unacknowledged_findings(stack) == []
