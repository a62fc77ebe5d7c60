"""Integration capability of a site: its REST APIs and their functions, tables, user pool, firewall and
query workgroup, and the site bus's archive and KPI forwarding."""

from __future__ import annotations

from aws_cdk import NestedStack
from aws_cdk import aws_events as events
from constructs import Construct

from factory_constructs.api.api_functions import ApiFunctions, CommandRange
from factory_constructs.api.api_handler.contract import GROUPS, load_contract
from factory_constructs.api.api_tables import ApiTables
from factory_constructs.api.query_workgroup import QueryWorkgroup
from factory_constructs.api.site_api import SiteApi
from factory_constructs.api.site_events import SiteEvents
from factory_constructs.api.user_pool import ApiUserPool
from factory_constructs.api.waf import ApiFirewall
from site_model import Site
from stacks.data_stack import DataStack
from stacks.foundation_stack import FoundationStack, removal_policy

# Events are replayable for the site's audit window, or a year where it has none.
DEFAULT_ARCHIVE_DAYS = 365
GIB = 1024**3


class IntegrationStack(NestedStack):
    def __init__(
        self, scope: Construct, construct_id: str, *, site: Site, foundation: FoundationStack, data: DataStack
    ) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: site API, events")
        keys = foundation.keys
        removal = removal_policy(site)
        limits = site.integration
        self.tables = ApiTables(self, "Tables", key=keys.data, removal_policy=removal)
        self.workgroup = QueryWorkgroup(
            self,
            "Queries",
            name=f"{site.id}-api",
            key=keys.data,
            access_logs=foundation.access_logs.bucket,
            scan_limit_bytes=limits.query_scan_limit_gb * GIB,
            removal_policy=removal,
        )
        commands = site.edge.commands
        self.functions = ApiFunctions(
            self,
            "Functions",
            site_id=site.id,
            enterprise=site.enterprise,
            placement=foundation.network.function_placement,
            key=keys.data,
            logs_key=keys.logs,
            tables=self.tables,
            catalog=data.catalog,
            workgroup=self.workgroup,
            stream=data.stream.stream,
            alerts_bus=data.alerts.bus,
            lines=[f"{line.area}/{line.line}" for line in site.lines],
            gateways=site.edge.gateways,
            command_ranges=[
                CommandRange(path=point.path, min=point.min, max=point.max)
                for point in (commands.setpoints if commands else [])
            ],
            max_range_days=limits.max_range_days,
            page_limit_max=limits.page_limit_max,
            removal_policy=removal,
        )
        self.users = ApiUserPool(self, "Users", groups=GROUPS, removal_policy=removal)
        self.firewall = ApiFirewall(
            self,
            "Firewall",
            name=f"{site.id}-api",
            logs_key=keys.logs,
            requests_per_ip=limits.waf_requests_per_ip,
            removal_policy=removal,
        )
        self.api = SiteApi(
            self,
            "Api",
            site_id=site.id,
            document=load_contract(),
            functions=self.functions.route_handlers,
            user_pool=self.users.pool,
            firewall=self.firewall,
            logs_key=keys.logs,
            rate_limit_per_s=limits.rate_limit_per_s,
            burst_limit=limits.burst_limit,
            removal_policy=removal,
        )
        destination = limits.kpi_destination_bus_arn
        self.events = SiteEvents(
            self,
            "Events",
            site_id=site.id,
            bus=data.alerts.bus,
            key=keys.data,
            archive_days=site.lake.object_lock_days or DEFAULT_ARCHIVE_DAYS,
            kpi_destination=events.EventBus.from_event_bus_arn(self, "KpiDestination", destination)
            if destination
            else None,
        )
