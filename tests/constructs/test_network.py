"""SiteNetwork on a bare stack: subnets with and without NAT, endpoints, security groups, flow logs,
validation, removal policy, the packs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from construct_helpers import CIDR, REGION, bare_stack, keys_of, network, site_keys, unacknowledged_findings
from factory_constructs.foundation.network import SiteNetwork
from policies.acknowledge import in_regulatory_packs

pytestmark = pytest.mark.synth

BASE_SERVICES = {
    f"com.amazonaws.{REGION}.{name}"
    for name in (
        "kinesis-streams",
        "kinesis-firehose",
        "kms",
        "logs",
        "sts",
        "glue",
        "sns",
        "events",
        "xray",
        "greengrass",
    )
}
HTTPS_FROM_CIDR = {"FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}


def build(stack: Stack | None = None, **overrides: Any) -> SiteNetwork:
    """The helper's network (one zone, no NAT, no optional endpoints) with ``overrides``."""
    stack = stack or bare_stack()
    keys = site_keys(stack)
    props: dict[str, Any] = {
        "cidr": CIDR,
        "availability_zones": [f"{REGION}a"],
        "nat_gateways": 0,
        "logs_key": keys.logs,
        "log_retention": logs.RetentionDays.THIRTEEN_MONTHS,
        "removal_policy": RemovalPolicy.RETAIN,
        "ml_endpoints": False,
        "api_endpoints": False,
    }
    props.update(overrides)
    return SiteNetwork(stack, "Network", **props)


def template_of(construct: Any) -> Template:
    return Template.from_stack(Stack.of(construct))


def ref(construct: Any) -> Any:
    """What CloudFormation's Ref of the construct's (or its L1's) resource resolves to."""
    stack = Stack.of(construct)
    element: CfnElement = construct.node.default_child or construct
    return {"Ref": stack.resolve(stack.get_logical_id(element))}


def arn(construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [ref(construct)["Ref"], "Arn"]}


def interface_services(template: Template) -> set[str]:
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    return {endpoint["Properties"]["ServiceName"] for endpoint in endpoints.values()}


# --- defaults (the helper's network: one zone, no NAT) --------------------------------------------------------


def test_vpc_uses_the_cidr_with_dns_and_a_restricted_default_security_group() -> None:
    stack = bare_stack()
    net = network(stack, site_keys(stack))
    template = template_of(net)
    template.has_resource_properties(
        "AWS::EC2::VPC", {"CidrBlock": CIDR, "EnableDnsHostnames": True, "EnableDnsSupport": True}
    )
    template.has_resource_properties(
        "Custom::VpcRestrictDefaultSG",
        {"DefaultSecurityGroupId": {"Fn::GetAtt": [ref(net.vpc)["Ref"], "DefaultSecurityGroup"]}},
    )


def test_without_nat_the_private_subnets_are_isolated_with_no_route_out() -> None:
    net = build()
    template = template_of(net)
    template.has_resource_properties(
        "AWS::EC2::Subnet",
        {
            "AvailabilityZone": f"{REGION}a",
            "CidrBlock": "10.20.0.0/22",
            "MapPublicIpOnLaunch": False,
            "Tags": Match.array_with([{"Key": "aws-cdk:subnet-type", "Value": "Isolated"}]),
        },
    )
    template.resource_count_is("AWS::EC2::Subnet", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::Route", 0)


def test_interface_endpoints_are_the_base_set_with_private_dns_in_the_private_subnets() -> None:
    net = build()
    template = template_of(net)
    assert interface_services(template) == BASE_SERVICES
    (subnet,) = net.vpc.isolated_subnets
    template.all_resources_properties(
        "AWS::EC2::VPCEndpoint",
        Match.object_like({"VpcId": ref(net.vpc)}),
    )
    for service in BASE_SERVICES:
        template.has_resource_properties(
            "AWS::EC2::VPCEndpoint",
            {
                "ServiceName": service,
                "PrivateDnsEnabled": True,
                "SubnetIds": [ref(subnet)],
                "SecurityGroupIds": [{"Fn::GetAtt": [ref(net.endpoint_security_group)["Ref"], "GroupId"]}],
                "PolicyDocument": Match.absent(),
            },
        )


@pytest.mark.parametrize("service", ["s3", "dynamodb"])
def test_s3_and_dynamodb_are_reached_through_gateway_endpoints(service: str) -> None:
    template_of(build()).has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, f".{service}"]]},
        },
    )


def test_endpoint_security_group_admits_https_from_the_site_cidr_only_and_sends_nothing() -> None:
    net = build()
    template_of(net).has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "HTTPS to interface endpoints",
            "SecurityGroupIngress": [{"CidrIp": CIDR, "Description": "HTTPS from the site VPC", **HTTPS_FROM_CIDR}],
            "SecurityGroupEgress": [
                Match.object_like({"CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic"})
            ],
            "VpcId": ref(net.vpc),
        },
    )


def test_function_security_group_sends_https_to_the_site_cidr_only_and_admits_nothing() -> None:
    net = build()
    template_of(net).has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Site Lambda functions: HTTPS out to the VPC endpoints only",
            "SecurityGroupEgress": [
                {"CidrIp": CIDR, "Description": "HTTPS to the interface endpoints", **HTTPS_FROM_CIDR}
            ],
            "SecurityGroupIngress": Match.absent(),
            "VpcId": ref(net.vpc),
        },
    )


def lookups(template: Template) -> dict[str, dict[str, Any]]:
    """The prefix-list lookups (logical id -> their Create call), parsed from the custom resources."""
    return {
        logical_id: json.loads(resource["Properties"]["Create"])
        for logical_id, resource in template.find_resources("Custom::AWS").items()
    }


def test_each_gateway_services_prefix_list_is_looked_up_by_its_regional_name() -> None:
    template = template_of(build())
    found = lookups(template)
    names = {}
    for logical_id, call in found.items():
        assert (call["service"], call["action"], call["outputPaths"]) == (
            "EC2",
            "describeManagedPrefixLists",
            ["PrefixLists.0.PrefixListId"],
        )
        assert call["physicalResourceId"] == {"responsePath": "PrefixLists.0.PrefixListId"}
        (name_filter,) = call["parameters"]["Filters"]
        assert name_filter["Name"] == "prefix-list-name"
        (names[logical_id],) = name_filter["Values"]
    assert sorted(names.values()) == [f"com.amazonaws.{REGION}.dynamodb", f"com.amazonaws.{REGION}.s3"]
    # A changed name (another region) looks the list up again rather than keeping the old id; the SDK is
    # the runtime's own (installing the latest would download it while the stack deploys).
    template.all_resources_properties(
        "Custom::AWS", Match.object_like({"Update": Match.any_value(), "InstallLatestAwsSdk": False})
    )


@pytest.mark.parametrize(("service", "name"), [("s3", "S3"), ("dynamodb", "DynamoDb")])
def test_function_security_group_sends_https_to_each_looked_up_gateway_prefix_list(service: str, name: str) -> None:
    net = build()
    template = template_of(net)
    (lookup,) = [
        logical_id
        for logical_id, call in lookups(template).items()
        if call["parameters"]["Filters"][0]["Values"] == [f"com.amazonaws.{REGION}.{service}"]
    ]
    looked_up = {"Fn::GetAtt": [lookup, "PrefixLists.0.PrefixListId"]}
    assert Stack.of(net).resolve(net.gateway_prefix_lists[service]) == looked_up
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        {
            "GroupId": {"Fn::GetAtt": [ref(net.function_security_group)["Ref"], "GroupId"]},
            "DestinationPrefixListId": looked_up,
            "Description": f"HTTPS to {name} through its gateway endpoint",
            **HTTPS_FROM_CIDR,
        },
    )


def test_the_function_security_groups_only_other_egress_rules_are_the_two_prefix_lists() -> None:
    net = build()
    stack = Stack.of(net)
    group = {"Fn::GetAtt": [ref(net.function_security_group)["Ref"], "GroupId"]}
    destinations = [
        rule["Properties"].get("DestinationPrefixListId")
        for rule in template_of(net).find_resources("AWS::EC2::SecurityGroupEgress").values()
        if rule["Properties"]["GroupId"] == group
    ]
    expected = [stack.resolve(prefix_list) for prefix_list in net.gateway_prefix_lists.values()]
    assert sorted(map(json.dumps, destinations)) == sorted(map(json.dumps, expected))
    assert len(expected) == 2


def test_the_lookup_runs_with_its_own_role_allowed_only_the_lookup_and_its_log_streams() -> None:
    net = build()
    template = template_of(net)
    log_group = net.node.find_child("PrefixListLookupLogs")
    policy = net.node.find_child("PrefixListLookupPolicy")
    role = net.node.find_child("PrefixListLookupRole")
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": [
                    {"Action": "ec2:DescribeManagedPrefixLists", "Effect": "Allow", "Resource": "*"},
                    {
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Effect": "Allow",
                        "Resource": {"Fn::Join": ["", [arn(log_group), ":*"]]},
                    },
                ],
                "Version": "2012-10-17",
            }
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "lambda.amazonaws.com"}})]}
            ),
            "ManagedPolicyArns": [ref(policy)],
            "Policies": Match.absent(),
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "index.handler",
            "Role": arn(role),
            "LoggingConfig": {"LogGroup": ref(log_group)},
            "VpcConfig": Match.absent(),
        },
    )
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"KmsKeyId": arn(keys_of(Stack.of(net)).logs), "RetentionInDays": 400}
    )


def test_function_placement_is_the_isolated_subnets_and_the_function_security_group() -> None:
    net = build()
    placement = net.function_placement
    stack = Stack.of(net)
    assert placement.vpc is net.vpc
    assert placement.security_group is net.function_security_group
    assert placement.subnets.subnet_type == ec2.SubnetType.PRIVATE_ISOLATED
    selected = stack.resolve(net.vpc.select_subnets(subnet_type=placement.subnets.subnet_type).subnet_ids)
    assert selected == [ref(subnet) for subnet in net.vpc.isolated_subnets]
    assert len(selected) == 1


def test_flow_logs_capture_all_traffic_into_the_encrypted_flow_log_group() -> None:
    stack = bare_stack()
    keys = site_keys(stack)
    net = network(stack, keys)
    template = template_of(net)
    (role,) = template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [Match.object_like({"Principal": {"Service": "vpc-flow-logs.amazonaws.com"}})]
                }
            }
        },
    )
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        {
            "ResourceId": ref(net.vpc),
            "ResourceType": "VPC",
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": ref(net.flow_log_group),
            "DeliverLogsPermissionArn": {"Fn::GetAtt": [role, "Arn"]},
        },
    )
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": arn(keys.logs), "RetentionInDays": 400})


def test_flow_log_role_has_only_its_managed_policy_for_the_flow_log_group() -> None:
    net = build()
    template = template_of(net)
    policy = ref(net.node.find_child("FlowLogPolicy"))["Ref"]
    template.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Effect": "Allow",
                        "Resource": [
                            arn(net.flow_log_group),
                            {"Fn::Join": ["", [arn(net.flow_log_group), ":*"]]},
                        ],
                    }
                ],
                "Version": "2012-10-17",
            }
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "vpc-flow-logs.amazonaws.com"}})]}
            ),
            "ManagedPolicyArns": [{"Ref": policy}],
            "Policies": Match.absent(),
        },
    )
    # The flow log's own grants to the role are dropped (the role takes no policy updates): no inline policy.
    template.resource_count_is("AWS::IAM::Policy", 0)


# --- customisation --------------------------------------------------------------------------------------------


def test_nat_gateways_add_public_subnets_without_public_ips_and_route_the_private_ones_through_nat() -> None:
    net = build(availability_zones=[f"{REGION}a", f"{REGION}b"], nat_gateways=1)
    template = template_of(net)
    for zone in ("a", "b"):
        template.has_resource_properties(
            "AWS::EC2::Subnet",
            {
                "AvailabilityZone": f"{REGION}{zone}",
                "MapPublicIpOnLaunch": False,
                "Tags": Match.array_with([{"Key": "aws-cdk:subnet-type", "Value": "Public"}]),
            },
        )
        template.has_resource_properties(
            "AWS::EC2::Subnet",
            {
                "AvailabilityZone": f"{REGION}{zone}",
                "MapPublicIpOnLaunch": False,
                "Tags": Match.array_with([{"Key": "aws-cdk:subnet-type", "Value": "Private"}]),
            },
        )
    template.has_resource_properties(
        "AWS::EC2::Subnet",
        {"CidrBlock": "10.20.0.0/26", "Tags": Match.array_with([{"Key": "aws-cdk:subnet-name", "Value": "Public"}])},
    )
    template.has_resource_properties(
        "AWS::EC2::Route", {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": Match.any_value()}
    )
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    template.resource_count_is("AWS::EC2::Subnet", 4)


def test_with_nat_the_function_placement_is_the_private_subnets_not_the_public_ones() -> None:
    net = build(availability_zones=[f"{REGION}a", f"{REGION}b"], nat_gateways=2)
    stack = Stack.of(net)
    assert net.function_placement.subnets.subnet_type == ec2.SubnetType.PRIVATE_WITH_EGRESS
    selected = stack.resolve(net.vpc.select_subnets(subnet_type=net.function_placement.subnets.subnet_type).subnet_ids)
    assert selected == [ref(subnet) for subnet in net.vpc.private_subnets]
    assert len(selected) == 2
    template_of(net).resource_count_is("AWS::EC2::NatGateway", 2)


def test_ml_endpoints_add_what_a_vpc_only_sagemaker_domain_needs() -> None:
    template = template_of(build(ml_endpoints=True))
    assert interface_services(template) == BASE_SERVICES | {
        f"com.amazonaws.{REGION}.sagemaker.api",
        f"com.amazonaws.{REGION}.sagemaker.runtime",
        f"aws.sagemaker.{REGION}.studio",
        f"com.amazonaws.{REGION}.ecr.api",
        f"com.amazonaws.{REGION}.ecr.dkr",
        f"com.amazonaws.{REGION}.s3",
    }
    # S3's regional names answer with the interface endpoint for the VPC's own resolver too, so HTTPS to the
    # CIDR reaches S3 (a security group cannot name the gateway endpoint's prefix list).
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "ServiceName": f"com.amazonaws.{REGION}.s3",
            "VpcEndpointType": "Interface",
            "PrivateDnsEnabled": True,
            "DnsOptions": {"PrivateDnsOnlyForInboundResolverEndpoint": "AllResolvers"},
        },
    )


def test_api_endpoints_add_athena_and_the_iot_data_plane_but_not_execute_api() -> None:
    services = interface_services(template_of(build(api_endpoints=True)))
    # The site API is public (REGIONAL): its functions call Athena and publish commands, none calls the API.
    assert services == BASE_SERVICES | {f"com.amazonaws.{REGION}.athena", f"com.amazonaws.{REGION}.iot.data"}


def test_the_iot_data_host_resolves_to_its_endpoint_inside_the_vpc() -> None:
    net = build(api_endpoints=True)
    template = template_of(net)
    # IoT Core offers no private DNS: without its own zone, the SDK's host would resolve to the public endpoint.
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"ServiceName": f"com.amazonaws.{REGION}.iot.data", "PrivateDnsEnabled": False},
    )
    (zone_id,) = template.find_resources(
        "AWS::Route53::HostedZone",
        {
            "Properties": {
                "Name": f"data-ats.iot.{REGION}.amazonaws.com.",
                "VPCs": [{"VPCId": ref(net.vpc), "VPCRegion": REGION}],
            }
        },
    )
    (endpoint_id,) = template.find_resources(
        "AWS::EC2::VPCEndpoint", {"Properties": {"ServiceName": f"com.amazonaws.{REGION}.iot.data"}}
    )
    (record,) = template.find_resources("AWS::Route53::RecordSet").values()
    properties = record["Properties"]
    assert (properties["Name"], properties["Type"], properties["HostedZoneId"]) == (
        f"data-ats.iot.{REGION}.amazonaws.com.",
        "A",
        {"Ref": zone_id},
    )
    assert json.dumps(properties["AliasTarget"]).count(endpoint_id) == 2  # its DNS name and its zone


def test_without_api_endpoints_there_is_no_private_zone() -> None:
    template_of(build()).resource_count_is("AWS::Route53::HostedZone", 0)


def test_cidr_is_the_vpc_block_and_the_literal_peer_of_both_security_groups() -> None:
    cidr = "172.16.0.0/20"
    template = template_of(build(cidr=cidr))
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": cidr})
    template.has_resource_properties("AWS::EC2::Subnet", {"CidrBlock": "172.16.0.0/22"})
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup", {"SecurityGroupIngress": [Match.object_like({"CidrIp": cidr, **HTTPS_FROM_CIDR})]}
    )
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup", {"SecurityGroupEgress": [Match.object_like({"CidrIp": cidr, **HTTPS_FROM_CIDR})]}
    )


def test_log_retention_sets_the_flow_log_groups_retention() -> None:
    template_of(build(log_retention=logs.RetentionDays.ONE_YEAR)).has_resource_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": 365}
    )


def test_zone_check_is_skipped_when_the_stacks_region_is_unresolved() -> None:
    agnostic = Stack(bare_stack().node.root, "Agnostic")
    template_of(build(agnostic, availability_zones=["us-east-1a"])).has_resource_properties(
        "AWS::EC2::Subnet", {"AvailabilityZone": "us-east-1a"}
    )


# --- validation -----------------------------------------------------------------------------------------------


def raises(message: str) -> Any:
    return pytest.raises(ValueError, match=re.escape(f"SiteNetwork Network: {message}") + "$")


def test_empty_availability_zones_are_rejected() -> None:
    with raises("availability_zones is empty; fix: name at least one zone of the stack's region"):
        build(availability_zones=[])


@pytest.mark.parametrize("nat_gateways", [-1, 2])
def test_nat_gateways_outside_zero_to_the_zone_count_are_rejected(nat_gateways: int) -> None:
    with raises(f"nat_gateways {nat_gateways} is outside 0-1; fix: use at most one NAT gateway per availability zone"):
        build(nat_gateways=nat_gateways)


def test_zones_of_another_region_are_rejected() -> None:
    with raises(
        f"availability_zones ['us-east-1a', '{REGION}'] are not zones of the stack's region {REGION}; "
        f"fix: name zones such as {REGION}a"
    ):
        build(availability_zones=["us-east-1a", REGION, f"{REGION}b"])


def test_a_zone_named_twice_is_rejected() -> None:
    with raises(f"availability_zones names ['{REGION}a'] more than once; fix: name each zone once"):
        build(availability_zones=[f"{REGION}a", f"{REGION}b", f"{REGION}a"])


@pytest.mark.parametrize("cidr", ["banana", "10.20.0.1/16", "10.20.0.0/33", "fd00::/16"])
def test_a_cidr_that_is_not_an_ipv4_network_address_is_rejected(cidr: str) -> None:
    with raises(f"cidr {cidr!r} is not an IPv4 network address; fix: use a block such as 10.10.0.0/16"):
        build(cidr=cidr)


@pytest.mark.parametrize(("cidr", "prefix"), [("10.0.0.0/12", 12), ("10.20.0.0/24", 24)])
def test_a_cidr_outside_16_to_22_is_rejected(cidr: str, prefix: int) -> None:
    with raises(f"cidr {cidr!r} is a /{prefix}; fix: use a /16 to /22 block"):
        build(cidr=cidr)


def test_every_problem_is_reported_at_once() -> None:
    with raises(
        "cidr '10.0.0.0/12' is a /12; fix: use a /16 to /22 block; "
        "availability_zones is empty; fix: name at least one zone of the stack's region; "
        "nat_gateways 1 is outside 0-0; fix: use at most one NAT gateway per availability zone"
    ):
        build(cidr="10.0.0.0/12", availability_zones=[], nat_gateways=1)


def test_foreign_and_repeated_zones_are_reported_together_with_the_nat_count() -> None:
    with raises(
        f"availability_zones ['us-east-1a', 'us-east-1a'] are not zones of the stack's region {REGION}; "
        f"fix: name zones such as {REGION}a; "
        "availability_zones names ['us-east-1a'] more than once; fix: name each zone once; "
        "nat_gateways 3 is outside 0-2; fix: use at most one NAT gateway per availability zone"
    ):
        build(availability_zones=["us-east-1a", "us-east-1a"], nat_gateways=3)


# --- removal policy (the flow-log group) ----------------------------------------------------------------------


def test_retain_keeps_the_flow_log_group() -> None:
    template_of(build()).has_resource(
        "AWS::Logs::LogGroup", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_destroy_deletes_the_flow_log_group() -> None:
    template_of(build(removal_policy=RemovalPolicy.DESTROY)).has_resource(
        "AWS::Logs::LogGroup", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}
    )


# --- packs ----------------------------------------------------------------------------------------------------


def under_the_packs(**overrides: Any) -> tuple[SiteNetwork, list[str], list[str]]:
    """The network (with its keys) alone on an audit-trail stack: (network, unacknowledged, acknowledged)."""
    stack = bare_stack(audit_trail=True)
    net = build(stack, **overrides)
    unacknowledged = unacknowledged_findings(stack)
    report = json.loads((Path(stack.node.root.outdir) / "validation-report.json").read_text(encoding="utf-8"))
    acknowledged = sorted(
        f"{item['ruleName']} at {construct['constructPath']}"
        for plugin in report["pluginReports"]
        for item in plugin["suppressedViolations"]
        for construct in item["violatingConstructs"]
    )
    return net, unacknowledged, acknowledged


@pytest.fixture(scope="module")
def isolated() -> tuple[SiteNetwork, list[str], list[str]]:
    return under_the_packs()


@pytest.fixture(scope="module")
def with_nat() -> tuple[SiteNetwork, list[str], list[str]]:
    return under_the_packs(availability_zones=[f"{REGION}a", f"{REGION}b"], nat_gateways=2)


def test_isolated_network_has_no_unacknowledged_finding(isolated: tuple[SiteNetwork, list[str], list[str]]) -> None:
    assert isolated[1] == []


# CDK's one AwsCustomResource provider of the stack, which runs the prefix-list lookups.
PROVIDER = "Test/AWS679f53fac002430cb0da5b7982bd2287/Resource"


def lookup_acknowledgments(net: SiteNetwork) -> list[str]:
    """The lookup's: its read-only action on "*", its log streams, and the provider running outside the VPC
    (no dead-letter queue, no reserved concurrency)."""
    log_group = ref(net.node.find_child("PrefixListLookupLogs"))["Ref"]
    policy = "Test/Network/PrefixListLookupPolicy/Resource"
    provider = [
        f"{rule_id.split('::')[1]} at {PROVIDER}"
        for rule_id in [
            *in_regulatory_packs("LambdaInsideVPC"),
            "HIPAA.Security::HIPAA.Security-LambdaDLQ",
            "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ",
            "HIPAA.Security::HIPAA.Security-LambdaConcurrency",
            "NIST.800.53.R5::NIST.800.53.R5-LambdaConcurrency",
        ]
    ]
    return [
        f"AwsSolutions-IAM5[Resource::*] at {policy}",
        f"AwsSolutions-IAM5[Resource::<{log_group}.Arn>:*] at {policy}",
        *provider,
    ]


def test_the_acknowledgments_are_the_flow_log_stream_wildcard_and_the_prefix_list_lookups(
    isolated: tuple[SiteNetwork, list[str], list[str]],
) -> None:
    net, _, acknowledged = isolated
    log_group = ref(net.flow_log_group)["Ref"]
    flow_log = f"AwsSolutions-IAM5[Resource::<{log_group}.Arn>:*] at Test/Network/FlowLogPolicy/Resource"
    assert acknowledged == sorted([flow_log, *lookup_acknowledgments(net)])


def test_network_with_nat_has_no_unacknowledged_finding(with_nat: tuple[SiteNetwork, list[str], list[str]]) -> None:
    assert with_nat[1] == []


def test_with_nat_each_public_subnets_internet_route_is_acknowledged_on_that_route(
    with_nat: tuple[SiteNetwork, list[str], list[str]],
) -> None:
    net, _, acknowledged = with_nat
    routes = [
        f"{rule_id.split('::')[1]} at Test/Network/Vpc/PublicSubnet{n}/DefaultRoute"
        for rule_id in in_regulatory_packs("VPCNoUnrestrictedRouteToIGW")
        for n in (1, 2)
    ]
    log_group = ref(net.flow_log_group)["Ref"]
    flow_log = f"AwsSolutions-IAM5[Resource::<{log_group}.Arn>:*] at Test/Network/FlowLogPolicy/Resource"
    assert acknowledged == sorted([*routes, flow_log, *lookup_acknowledgments(net)])


def test_network_with_the_api_endpoints_and_their_private_zone_has_no_unacknowledged_finding() -> None:
    stack = bare_stack(audit_trail=True)
    build(stack, api_endpoints=True)
    assert unacknowledged_findings(stack) == []
