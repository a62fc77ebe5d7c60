"""The site VPC: private subnets, NAT from the model, flow logs, endpoints."""

from __future__ import annotations

import ipaddress

from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from factory_constructs.grant_findings import resource_wildcard
from factory_constructs.site_function import FunctionPlacement
from policies.acknowledge import acknowledge, in_regulatory_packs

# Interface endpoints every site uses: streaming, keys, logs, STS for IoT role
# aliases, Glue, and what the in-VPC alert function calls (SNS, EventBridge, X-Ray).
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
)
ML_INTERFACE_ENDPOINTS = (
    ("SageMakerApi", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API),
    ("SageMakerRuntime", ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME),
)
API_INTERFACE_ENDPOINTS = (("ExecuteApi", ec2.InterfaceVpcEndpointAwsService.APIGATEWAY),)


class SiteNetwork(Construct):
    """A VPC over explicit availability zones (synthesizes offline, no account lookup), its flow
    logs, the interface endpoints and the security group of the site's Lambda functions.

    With ``nat_gateways=0`` the private subnets are isolated and reach AWS only
    through the endpoints. ``ml_endpoints`` adds the SageMaker endpoints,
    ``api_endpoints`` the API Gateway one. ``removal_policy`` applies to the flow-log group.
    ``function_placement`` is where the site's functions run: private subnets, HTTPS out
    to the VPC only.

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
