"""Edge capability of a site: Greengrass components deployed to its gateways."""

from __future__ import annotations

from aws_cdk import NestedStack
from constructs import Construct

from factory_constructs.edge.edge_deployment import EdgeDeployment
from site_model import Site
from stacks.data_stack import DataStack


class EdgeStack(NestedStack):
    def __init__(self, scope: Construct, construct_id: str, *, site: Site, data: DataStack) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: Greengrass edge components")
        self.deployment = EdgeDeployment(
            self,
            "Components",
            site_id=site.id,
            edge=site.edge,
            thing_group_name=site.edge.thing_group,
            token_exchange_role=data.iot.token_exchange_role,
            stream=data.stream.stream,
        )
        self.deployment.node.add_dependency(data.iot.thing_group)
