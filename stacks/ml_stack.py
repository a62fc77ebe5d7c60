"""ML capability of a site: the SageMaker workspace that reads the curated zone and registers the site's models."""

from __future__ import annotations

from aws_cdk import NestedStack
from constructs import Construct

from factory_constructs.ml.ml_workspace import MlWorkspace, WorkspaceUser
from factory_constructs.ml.model_release import ModelRelease
from site_model import Site
from stacks.data_stack import DataStack
from stacks.foundation_stack import FoundationStack, removal_policy


class MlStack(NestedStack):
    def __init__(
        self, scope: Construct, construct_id: str, *, site: Site, foundation: FoundationStack, data: DataStack
    ) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: SageMaker workspace, model registry")
        network, catalog, ml = foundation.network, data.catalog, site.ml
        self.workspace = MlWorkspace(
            self,
            "Workspace",
            site_id=site.id,
            vpc=network.vpc,
            subnets=network.private_subnets,
            key=foundation.keys.data,
            curated=catalog.buckets["curated"],
            curated_database=catalog.database_names["curated"],
            curated_tables=sorted(catalog.curated_tables),
            analysts=[WorkspaceUser(name=analyst.name, email=analyst.email) for analyst in ml.analysts],
            idle_shutdown_minutes=ml.idle_shutdown_minutes,
            instance_type=ml.instance_type,
            removal_policy=removal_policy(site),
        )
        workspace = self.workspace
        # Approved versions of the workspace's models go to the site's gateways as Greengrass components.
        self.release = ModelRelease(
            self,
            "Release",
            site_id=site.id,
            model_package_group=workspace.model_package_group,
            model_data=workspace.model_data_bucket,
            model_data_prefix=workspace.model_data_prefix,
            thing_group=data.iot.thing_group,
            gateways=site.edge.gateways,
            greengrass_root=site.edge.greengrass_root,
            token_exchange_role=data.iot.token_exchange_role,
            bus=data.alerts.bus,
            placement=network.function_placement,
            key=foundation.keys.data,
            logs_key=foundation.keys.logs,
            access_logs=foundation.access_logs.bucket,
            removal_policy=removal_policy(site),
        )
