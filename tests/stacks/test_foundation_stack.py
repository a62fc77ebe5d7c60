"""Foundation nested stack: keys, VPC, flow logs, tags, removal policies."""

from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from policies import tag_keys
from stacks.site_app import build
from synth_helpers import example_sites, nested_template, variant

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def plant_a(site_stack) -> Template:
    return nested_template(site_stack("plantA"), "Foundation")


def test_keys_rotate_and_are_retained(plant_a: Template) -> None:
    plant_a.resource_properties_count_is("AWS::KMS::Key", {"EnableKeyRotation": True, "PendingWindowInDays": 30}, 2)
    plant_a.all_resources("AWS::KMS::Key", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})


def test_logs_key_admits_only_this_regions_logs_service(plant_a: Template) -> None:
    plant_a.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "logs.eu-central-1.amazonaws.com"},
                                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": Match.any_value()}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_vpc_spans_the_models_zones_with_its_nat_count(plant_a: Template) -> None:
    plant_a.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.10.0.0/16"})
    plant_a.resource_count_is("AWS::EC2::NatGateway", 1)
    plant_a.has_resource_properties(
        "AWS::EC2::Subnet", {"AvailabilityZone": "eu-central-1b", "MapPublicIpOnLaunch": False}
    )


def test_flow_logs_go_to_an_encrypted_retained_log_group(plant_a: Template) -> None:
    plant_a.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    plant_a.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {"KmsKeyId": Match.any_value(), "RetentionInDays": 400},
            "DeletionPolicy": "Retain",
        },
    )


def test_endpoints_admit_https_from_the_site_cidr_only(plant_a: Template) -> None:
    plant_a.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupIngress": [
                Match.object_like({"CidrIp": "10.10.0.0/16", "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"})
            ]
        },
    )
    plant_a.has_resource_properties("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Gateway"})
    plant_a.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"ServiceName": "com.amazonaws.eu-central-1.sagemaker.api", "PrivateDnsEnabled": True},
    )


def test_access_log_bucket_is_private_versioned_and_tls_only(plant_a: Template) -> None:
    plant_a.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )
    plant_a.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_every_taggable_resource_carries_the_site_tags(plant_a: Template) -> None:
    for logical_id, resource in plant_a.find_resources("AWS::S3::Bucket").items():
        tags = {tag["Key"]: tag["Value"] for tag in resource["Properties"]["Tags"]}
        assert tags[tag_keys.SITE] == "plantA", logical_id
        assert tags[tag_keys.COMPLIANCE] == "gdpr eu-gmp-annex-11"
        assert tags[tag_keys.DATA_CLASSIFICATION] == "restricted"
        assert tags[tag_keys.COST_CENTRE] == "CC-4711"
        assert tags[tag_keys.ENTERPRISE] == "acme"
    plant_a.has_resource_properties(
        "AWS::EC2::VPC", {"Tags": Match.array_with([{"Key": tag_keys.OWNER, "Value": "ot-platform@acme.example"}])}
    )


def test_site_without_nat_gets_isolated_subnets_and_opting_out_destroys(tmp_path: Path) -> None:
    site = variant(example_sites()["plantC"], network={"nat_gateways": 0}, lake={"retain_data": False})
    app = App(outdir=str(tmp_path), context={"site": "plantC"})
    (stack,) = build(app, {"plantC": site})
    template = nested_template(stack, "Foundation")
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.all_resources("AWS::KMS::Key", {"DeletionPolicy": "Delete"})
    assert stack.termination_protection is False


def test_access_logs_arrive_through_a_bucket_policy_not_an_acl(plant_a: Template) -> None:
    for bucket in plant_a.find_resources("AWS::S3::Bucket").values():
        assert "AccessControl" not in bucket["Properties"]
    plant_a.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject"}
                        )
                    ]
                )
            }
        },
    )
