"""Edge capability of a site: Greengrass components deployed to its gateways."""

from __future__ import annotations

from aws_cdk import NestedStack
from constructs import Construct

from factory_constructs.edge.edge_deployment import CommandWrites, EdgeDeployment, SetpointWrite
from site_model import Site
from site_model.model import Commands
from stacks.data_stack import DataStack
from stacks.foundation_stack import FoundationStack, removal_policy


class EdgeStack(NestedStack):
    def __init__(
        self, scope: Construct, construct_id: str, *, site: Site, foundation: FoundationStack, data: DataStack
    ) -> None:
        super().__init__(scope, construct_id, description=f"{site.display_name}: Greengrass edge components")
        edge = site.edge
        self.deployment = EdgeDeployment(
            self,
            "Components",
            site_id=site.id,
            thing_group=data.iot.thing_group,
            token_exchange_role=data.iot.token_exchange_role,
            stream=data.stream.stream,
            components=edge.components,
            transport=edge.transport,
            canonical_units=edge.canonical_units,
            tag_map_path=edge.tag_map_path,
            gateways=edge.gateways,
            greengrass_root=edge.greengrass_root,
            placement=foundation.network.function_placement,
            key=foundation.keys.data,
            logs_key=foundation.keys.logs,
            commands=command_writes(edge.commands) if edge.commands else None,
            removal_policy=removal_policy(site),
        )


def command_writes(commands: Commands) -> CommandWrites:
    """The site file's command section as the deployment's props."""
    return CommandWrites(
        opcua_endpoint=commands.opcua_endpoint,
        certificate_dir=commands.certificate_dir,
        setpoints=[
            SetpointWrite(path=point.path, node_id=point.node_id, min=point.min, max=point.max)
            for point in commands.setpoints
        ],
    )
