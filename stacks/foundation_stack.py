"""Foundation capability of a site: keys, network, access logs."""

from __future__ import annotations

from aws_cdk import NestedStack, RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from factory_constructs.foundation.access_logs import AccessLogBucket
from factory_constructs.foundation.keys import SiteKeys
from factory_constructs.foundation.network import SiteNetwork
from site_model import Site

ACCESS_LOG_RETENTION_DAYS = 400
# Flow logs are security evidence: kept a year and more (NIST AU-11, PCI 10.7).
FLOW_LOG_RETENTION = logs.RetentionDays.THIRTEEN_MONTHS


class FoundationStack(NestedStack):
    def __init__(self, scope: Construct, construct_id: str, *, site: Site, region: str) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: keys, network, access logs")
        removal = removal_policy(site)
        self.keys = SiteKeys(self, "Keys", removal_policy=removal)
        self.access_logs = AccessLogBucket(
            self, "AccessLogs", retention_days=ACCESS_LOG_RETENTION_DAYS, removal_policy=removal
        )
        self.network = SiteNetwork(
            self,
            "Network",
            cidr=site.network.cidr,
            availability_zones=site.availability_zones(region),
            nat_gateways=site.network.nat_gateways,
            logs_key=self.keys.logs,
            log_retention=FLOW_LOG_RETENTION,
            removal_policy=removal,
            ml_endpoints=site.features.ml_workspace,
            api_endpoints=site.features.integration_api,
        )


def removal_policy(site: Site) -> RemovalPolicy:
    """RETAIN unless the site file explicitly sets lake.retain_data: false."""
    return RemovalPolicy.RETAIN if site.lake.retain_data else RemovalPolicy.DESTROY
