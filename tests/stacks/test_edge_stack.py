"""Edge nested stack: component versions from the built artifacts, one deployment to the thing group."""

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from factory_constructs.edge.edge_deployment import DEPLOYMENT_TYPE
from synth_helpers import nested_template, rendered

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def templates(site_stack) -> dict[str, Template]:
    """plantA (MQTT, both components) and plantB (stream manager)."""
    result = {}
    for site in ("plantA", "plantB"):
        result[site] = nested_template(site_stack(site), "Edge")
        result[f"{site}-data"] = nested_template(site_stack(site), "Data")
    return result


def recipe_text(template: Template, component: str) -> str:
    for resource in template.find_resources("AWS::GreengrassV2::ComponentVersion").values():
        text = json.dumps(resource["Properties"]["InlineRecipe"])
        if f'\\"ComponentName\\":\\"{component}\\"' in text:
            return text
    raise AssertionError(f"no recipe of {component}")


def test_each_component_has_a_content_versioned_recipe_scoped_to_its_thing(templates) -> None:
    text = recipe_text(templates["plantA"], "com.dmc.TagPipeline")
    assert '\\"ComponentVersion\\":\\"1.0.' in text
    assert "dmc/plantA/{iot:thingName}/telemetry" in text
    assert "dmc/plantA/+" not in text
    assert "com.dmc.CommandHandler" in recipe_text(templates["plantA"], "com.dmc.CommandHandler")


def deployment(template: Template) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one deployment resource's properties and its ``Deployment`` specification, parsed."""
    (resource,) = template.find_resources(DEPLOYMENT_TYPE).values()
    properties = resource["Properties"]
    return properties, json.loads(rendered(properties["Deployment"]))


def test_one_deployment_targets_the_sites_thing_group_with_rollback(templates) -> None:
    properties, specification = deployment(templates["plantA"])
    # The thing group's ARN, handed over from the Data nested stack.
    assert re.fullmatch(r"referenceto.+DataIotThingGroup[0-9A-F]{8}Arn", properties["TargetArn"]["Ref"])
    assert (properties["PipelineComponent"], properties["GreengrassRoot"]) == ("com.dmc.TagPipeline", "/greengrass/v2")
    assert specification["deploymentName"] == "plantA-edge"
    assert specification["deploymentPolicies"] == {
        "failureHandlingPolicy": "ROLLBACK",
        "componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS", "timeoutInSeconds": 60},
        "configurationValidationPolicy": {"timeoutInSeconds": 60},
    }
    components = specification["components"]
    assert sorted(components) == ["com.dmc.CommandHandler", "com.dmc.TagPipeline"]
    assert components["com.dmc.TagPipeline"]["configurationUpdate"] == {
        "merge": '{"tag_map_path":"/greengrass/v2/dmc/tag-map.yaml"}'
    }
    version = components["com.dmc.CommandHandler"]["componentVersion"]
    assert re.fullmatch(r"<ComponentscomdmcCommandHandler[0-9A-F]{8}\.ComponentVersion>", version)


def test_command_handler_gets_the_sites_allow_list(templates) -> None:
    _, specification = deployment(templates["plantA"])
    merge = json.loads(specification["components"]["com.dmc.CommandHandler"]["configurationUpdate"]["merge"])
    assert merge["opcua"]["endpoint"] == "opc.tcp://filler-plc.planta.local:4840"
    assert merge["opcua"]["server_certificate"] == "/greengrass/v2/dmc/opcua/server.pem"
    assert [point["max"] for point in merge["setpoints"]] == [8.0, 120.0]


def test_stream_manager_site_names_its_stream_and_may_write_to_it(templates) -> None:
    _, specification = deployment(templates["plantB"])
    merge = json.loads(specification["components"]["com.dmc.TagPipeline"]["configurationUpdate"]["merge"])
    assert merge["stream_manager"]["kinesis_stream_name"].startswith("<")  # the stream's name, from the Data stack
    assert "aws.greengrass.StreamManager" in recipe_text(templates["plantB"], "com.dmc.TagPipeline")
    policies = templates["plantB-data"].find_resources("AWS::IAM::Policy")
    token_exchange = [
        policy for name, policy in policies.items() if name.startswith("IotTokenExchangeRoleDefaultPolicy")
    ]
    actions = json.dumps(token_exchange[0]["Properties"]["PolicyDocument"])
    assert "kinesis:PutRecords" in actions and "s3:GetObject*" in actions
