"""The site VPC: private subnets, NAT from the model, flow logs, endpoints."""

from __future__ import annotations

import ipaddress
from typing import cast

from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from factory_constructs.grant_findings import resource_wildcard
from factory_constructs.site_function import FunctionPlacement
from policies.acknowledge import acknowledge, in_regulatory_packs

# Interface endpoints every site uses: streaming, keys, logs, STS for IoT role
# aliases, Glue, what the in-VPC alert function calls (SNS, EventBridge, X-Ray) and Greengrass.
BASE_INTERFACE_ENDPOINTS = (
    ("Kinesis", ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS),
    ("Firehose", ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE),
    ("Kms", ec2.InterfaceVpcEndpointAwsService.KMS),
    ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
    ("Sts", ec2.InterfaceVpcEndpointAwsService.STS),
    ("Glue", ec2.InterfaceVpcEndpointAwsService.GLUE),
    ("Sns", ec2.InterfaceVpcEndpointAwsService.SNS),
    ("Events", ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE),
    ("XRay", ec2.InterfaceVpcEndpointAwsService.XRAY),
    # The edge deployment's handler (and the model release) revise the gateways' deployment through Greengrass.
    ("Greengrass", ec2.InterfaceVpcEndpointAwsService.IOT_GREENGRASS),
)
# What a VpcOnly SageMaker domain's apps need besides the base set (STS, Logs, KMS): the SageMaker API,
# runtime and Studio, ECR for the app images, and S3 (see ML_S3_INTERFACE_ENDPOINT).
ML_INTERFACE_ENDPOINTS = (
    ("SageMakerApi", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API),
    ("SageMakerRuntime", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME),
    ("SageMakerStudio", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_STUDIO),
    ("Ecr", ec2.InterfaceVpcEndpointAwsService.ECR),
    ("EcrDocker", ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER),
)
# The workspace's apps may send HTTPS only into the VPC (no internet path), and no security group rule can
# name the S3 gateway endpoint's prefix list: CloudFormation does not return its id. An S3 interface
# endpoint that answers S3's regional names for every resolver of the VPC keeps S3 traffic inside the CIDR.
ML_S3_INTERFACE_ENDPOINT = ("S3Interface", ec2.InterfaceVpcEndpointAwsService.S3)
# What the site API's functions call besides the base set (DynamoDB has a gateway endpoint): Athena for
# history and OEE. The API itself is public (REGIONAL), so no execute-api endpoint is needed.
API_INTERFACE_ENDPOINTS = (("Athena", ec2.InterfaceVpcEndpointAwsService.ATHENA),)
# The services of the gateway endpoints (construct id, service name). Their traffic goes to the services' public
# ranges, which a security group rule names by the AWS-managed prefix list com.amazonaws.<region>.<service>.
GATEWAY_SERVICES = (("S3", "s3"), ("DynamoDb", "dynamodb"))
# Where the lookup's response holds the one prefix list its name filter matches.
PREFIX_LIST_ID = "PrefixLists.0.PrefixListId"
# The IoT data plane's ATS host (without region and domain), as the SDKs' iot-data client addresses it.
IOT_DATA_HOST = "data-ats.iot"


class SiteNetwork(Construct):
    """A VPC over explicit availability zones (synthesizes offline, no account lookup), its flow
    logs, the interface endpoints and the security group of the site's Lambda functions.

    With ``nat_gateways=0`` the private subnets are isolated and reach AWS only
    through the endpoints. ``ml_endpoints`` adds what a VpcOnly SageMaker domain needs (SageMaker, ECR, and S3
    through an interface endpoint, so S3 traffic from the VPC stays inside its CIDR), ``api_endpoints`` what the
    site API's functions call: Athena, and the IoT data plane (commands are published there), whose
    endpoint offers no private DNS: a private hosted zone answers its public name
    (``data-ats.iot.<region>.amazonaws.com``, what the SDK calls) with the endpoint inside the VPC.
    ``removal_policy`` applies to the flow-log group.
    ``function_placement`` is where the site's functions run: private subnets, HTTPS out
    to the VPC and to the S3 and DynamoDB prefix lists (what their gateway endpoints carry) only.
    ``gateway_prefix_lists`` holds those prefix lists' ids (service name -> id, looked up at deploy time).

    ``cidr`` is a /16 to /22 network address (each zone gets a /22 private subnet);
    ``availability_zones`` are distinct zones of the stack's region (an interface endpoint
    takes one subnet per zone).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        availability_zones: list[str],
        nat_gateways: int,
        logs_key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        ml_endpoints: bool,
        api_endpoints: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = _cidr_problems(cidr)
        if not availability_zones:
            problems.append("availability_zones is empty; fix: name at least one zone of the stack's region")
        problems += _zone_problems(availability_zones, Stack.of(self).region)
        if not Token.is_unresolved(nat_gateways) and not 0 <= nat_gateways <= len(availability_zones):
            problems.append(
                f"nat_gateways {nat_gateways} is outside 0-{len(availability_zones)}; "
                "fix: use at most one NAT gateway per availability zone"
            )
        if problems:
            raise ValueError(f"SiteNetwork {construct_id}: " + "; ".join(problems))
        private_type = ec2.SubnetType.PRIVATE_WITH_EGRESS if nat_gateways > 0 else ec2.SubnetType.PRIVATE_ISOLATED
        subnets = [ec2.SubnetConfiguration(name="Private", subnet_type=private_type, cidr_mask=22)]
        if nat_gateways > 0:
            # Public subnets hold only the NAT gateways; nothing launched there gets a public IP.
            subnets.insert(
                0,
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26, map_public_ip_on_launch=False
                ),
            )
        self.flow_log_group = logs.LogGroup(
            self, "FlowLogs", encryption_key=logs_key, retention=log_retention, removal_policy=removal_policy
        )
        flow_log_role = self._flow_log_role(self.flow_log_group)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=availability_zones,
            nat_gateways=nat_gateways,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
            flow_logs={
                "All": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group, flow_log_role),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDb": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=private_type)
        endpoints = list(BASE_INTERFACE_ENDPOINTS)
        if ml_endpoints:
            endpoints += ML_INTERFACE_ENDPOINTS
        if api_endpoints:
            endpoints += API_INTERFACE_ENDPOINTS
        # The ingress rule names the site CIDR literally (not the VPC's CidrBlock
        # attribute) so that the packs can evaluate it: HTTPS from inside the VPC only.
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="HTTPS to interface endpoints",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), "HTTPS from the site VPC")
        for name, service in endpoints:
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.private_subnets,
                private_dns_enabled=True,
                security_groups=[self.endpoint_security_group],
                open=False,
            )
        if ml_endpoints:
            name, service = ML_S3_INTERFACE_ENDPOINT
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.private_subnets,
                private_dns_enabled=True,
                private_dns_only_for_inbound_resolver_endpoint=(
                    ec2.VpcEndpointPrivateDnsOnlyForInboundResolverEndpoint.ALL_RESOLVERS
                ),
                security_groups=[self.endpoint_security_group],
                open=False,
            )
        if api_endpoints:
            self._iot_data_endpoint(Stack.of(self).region)
        self.function_security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=self.vpc,
            description="Site Lambda functions: HTTPS out to the VPC endpoints only",
            allow_all_outbound=False,
        )
        self.function_security_group.add_egress_rule(
            ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), "HTTPS to the interface endpoints"
        )
        self.gateway_prefix_lists = self._gateway_prefix_lists(logs_key, log_retention, removal_policy)
        for gateway, service_name in GATEWAY_SERVICES:
            self.function_security_group.add_egress_rule(
                ec2.Peer.prefix_list(self.gateway_prefix_lists[service_name]),
                ec2.Port.tcp(443),
                f"HTTPS to {gateway} through its gateway endpoint",
            )
        self.function_placement = FunctionPlacement(
            vpc=self.vpc, subnets=self.private_subnets, security_group=self.function_security_group
        )
        if nat_gateways > 0:
            for subnet in self.vpc.public_subnets:
                acknowledge(
                    subnet.node.find_child("DefaultRoute"),
                    in_regulatory_packs("VPCNoUnrestrictedRouteToIGW"),
                    "The public subnets hold only the NAT gateways (no instance gets a public IP); their default "
                    "route to the internet gateway is what NAT egress for the private subnets requires.",
                )

    def _gateway_prefix_lists(
        self, logs_key: kms.IKey, log_retention: logs.RetentionDays, removal_policy: RemovalPolicy
    ) -> dict[str, str]:
        """The ids of the gateway services' AWS-managed prefix lists, service name -> id. CloudFormation's
        gateway endpoint does not return its prefix list, and the ids differ per region: each is looked up by
        name while the stack deploys (ec2:DescribeManagedPrefixLists, an ``AwsCustomResource``).

        CDK runs every ``AwsCustomResource`` of a stack in one provider function, outside the VPC as CDK's other
        custom-resource providers run; this gives it its own log group and a role whose managed policy holds the
        lookup (another ``AwsCustomResource`` in the stack adds its own statements to that role)."""
        log_group = logs.LogGroup(
            self,
            "PrefixListLookupLogs",
            encryption_key=logs_key,
            retention=log_retention,
            removal_policy=removal_policy,
        )
        policy = iam.ManagedPolicy(
            self,
            "PrefixListLookupPolicy",
            statements=[
                iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"]),
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[f"{log_group.log_group_arn}:*"]
                ),
            ],
        )
        acknowledge(
            policy,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "IAM defines no resource type for ec2:DescribeManagedPrefixLists, so it can be granted only on every "
            "resource; the action is read-only and the statement allows nothing else.",
        )
        acknowledge(
            policy,
            resource_wildcard(log_group, ":*"),
            "The lookup function's runtime creates its own log streams, whose names are not known in advance; "
            "the wildcard covers only the streams of the lookup's one log group.",
        )
        role = iam.Role(
            self,
            "PrefixListLookupRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            managed_policies=[policy],
        )
        ids = {}
        for name, service in GATEWAY_SERVICES:
            call = cr.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={
                    "Filters": [
                        {"Name": "prefix-list-name", "Values": [f"com.amazonaws.{Stack.of(self).region}.{service}"]}
                    ]
                },
                physical_resource_id=cr.PhysicalResourceId.from_response(PREFIX_LIST_ID),
                output_paths=[PREFIX_LIST_ID],
            )
            lookup = cr.AwsCustomResource(
                self,
                f"{name}PrefixList",
                on_create=call,
                on_update=call,
                role=role,
                log_group=log_group,
                install_latest_aws_sdk=False,
            )
            ids[service] = lookup.get_response_field(PREFIX_LIST_ID)
        provider = Stack.of(self).node.find_child("AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", ""))
        function = cast(IConstruct, provider.node.default_child)
        acknowledge(
            function,
            in_regulatory_packs("LambdaInsideVPC"),
            "CDK's custom-resource provider only reads public metadata from the EC2 API (the managed prefix lists' "
            "ids) while the stack deploys; it touches no plant data, and inside the VPC it would need the very "
            "egress rules it looks up.",
        )
        acknowledge(
            function,
            ["HIPAA.Security::HIPAA.Security-LambdaDLQ", "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ"],
            "Only CloudFormation invokes the provider, once per custom-resource operation, and reports a failed "
            "lookup as a failed stack operation, so a dead-letter queue would never receive anything.",
        )
        acknowledge(
            function,
            ["HIPAA.Security::HIPAA.Security-LambdaConcurrency", "NIST.800.53.R5::NIST.800.53.R5-LambdaConcurrency"],
            "Only CloudFormation invokes the provider, once per custom-resource operation of a deployment, so its "
            "concurrency is bounded by the stack's custom resources; CDK shares it among them and offers no "
            "reserved-concurrency setting for it.",
        )
        return ids

    def _iot_data_endpoint(self, region: str) -> None:
        """The IoT data plane inside the VPC. AWS IoT Core turns off private DNS for its endpoints, so a private
        hosted zone named after the one host the SDK calls points that name at the endpoint (a zone of the
        whole ``iot.<region>`` domain would also capture the IoT control plane, which has no endpoint here)."""
        endpoint = self.vpc.add_interface_endpoint(
            "IotData",
            service=ec2.InterfaceVpcEndpointAwsService.IOT_CORE,
            subnets=self.private_subnets,
            private_dns_enabled=False,
            security_groups=[self.endpoint_security_group],
            open=False,
        )
        zone = route53.PrivateHostedZone(
            self, "IotDataZone", zone_name=f"{IOT_DATA_HOST}.{region}.amazonaws.com", vpc=self.vpc
        )
        route53.ARecord(
            self,
            "IotDataRecord",
            zone=zone,
            target=route53.RecordTarget.from_alias(route53_targets.InterfaceVpcEndpointTarget(endpoint)),
        )

    def _flow_log_role(self, log_group: logs.ILogGroup) -> iam.IRole:
        """A role with a managed policy only; grants must not add an inline policy to it."""
        policy = iam.ManagedPolicy(
            self,
            "FlowLogPolicy",
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    resources=[log_group.log_group_arn, f"{log_group.log_group_arn}:*"],
                )
            ],
        )
        acknowledge(
            policy,
            resource_wildcard(log_group, ":*"),
            "Flow logs create their own log streams, whose names are not known in advance; the wildcard covers only "
            "the streams of the one flow-log group.",
        )
        role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com"),
            managed_policies=[policy],
        )
        return role.without_policy_updates()


def _cidr_problems(cidr: str) -> list[str]:
    """A VPC takes at most a /16, and every zone's private subnet is a /22."""
    if Token.is_unresolved(cidr):
        return []
    try:
        block = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        return [f"cidr {cidr!r} is not an IPv4 network address; fix: use a block such as 10.10.0.0/16"]
    if not 16 <= block.prefixlen <= 22:
        return [f"cidr {cidr!r} is a /{block.prefixlen}; fix: use a /16 to /22 block"]
    return []


def _zone_problems(zones: list[str], region: str) -> list[str]:
    """Both fail only at deploy time: a subnet in another region's zone, and an interface endpoint
    given two subnets of one zone."""
    problems = []
    resolved = [zone for zone in zones if not Token.is_unresolved(zone)]
    if not Token.is_unresolved(region):
        foreign = [zone for zone in resolved if not (zone.startswith(region) and len(zone) > len(region))]
        if foreign:
            problems.append(
                f"availability_zones {foreign} are not zones of the stack's region {region}; "
                f"fix: name zones such as {region}a"
            )
    repeated = sorted({zone for zone in resolved if resolved.count(zone) > 1})
    if repeated:
        problems.append(f"availability_zones names {repeated} more than once; fix: name each zone once")
    return problems
