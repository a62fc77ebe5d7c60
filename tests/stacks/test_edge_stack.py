"""Edge nested stack: component versions from the built artifacts, one deployment to the thing group."""

import json

import pytest
from aws_cdk.assertions import Match, Template

from synth_helpers import nested_template

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


def test_one_deployment_targets_the_sites_thing_group_with_rollback(templates) -> None:
    templates["plantA"].has_resource_properties(
        "AWS::GreengrassV2::Deployment",
        {
            # The thing group's ARN, handed over from the Data nested stack.
            "TargetArn": {"Ref": Match.string_like_regexp("IotThingGroup[0-9A-F]{8}Arn$")},
            "DeploymentPolicies": Match.object_like(
                {
                    "FailureHandlingPolicy": "ROLLBACK",
                    "ConfigurationValidationPolicy": {"TimeoutInSeconds": 60},
                }
            ),
            "Components": {
                "com.dmc.TagPipeline": Match.object_like(
                    {"ConfigurationUpdate": {"Merge": '{"tag_map_path":"/greengrass/v2/dmc/tag-map.yaml"}'}}
                ),
                "com.dmc.CommandHandler": Match.object_like({"ComponentVersion": Match.any_value()}),
            },
        },
    )


def test_command_handler_gets_the_sites_allow_list(templates) -> None:
    (deployment,) = templates["plantA"].find_resources("AWS::GreengrassV2::Deployment").values()
    merge = json.loads(deployment["Properties"]["Components"]["com.dmc.CommandHandler"]["ConfigurationUpdate"]["Merge"])
    assert merge["opcua"]["endpoint"] == "opc.tcp://filler-plc.planta.local:4840"
    assert merge["opcua"]["server_certificate"] == "/greengrass/v2/dmc/opcua/server.pem"
    assert [point["max"] for point in merge["setpoints"]] == [8.0, 120.0]


def test_stream_manager_site_names_its_stream_and_may_write_to_it(templates) -> None:
    (deployment,) = templates["plantB"].find_resources("AWS::GreengrassV2::Deployment").values()
    merge = json.dumps(deployment["Properties"]["Components"]["com.dmc.TagPipeline"]["ConfigurationUpdate"]["Merge"])
    assert "kinesis_stream_name" in merge
    assert "aws.greengrass.StreamManager" in recipe_text(templates["plantB"], "com.dmc.TagPipeline")
    policies = templates["plantB-data"].find_resources("AWS::IAM::Policy")
    token_exchange = [
        policy for name, policy in policies.items() if name.startswith("IotTokenExchangeRoleDefaultPolicy")
    ]
    actions = json.dumps(token_exchange[0]["Properties"]["PolicyDocument"])
    assert "kinesis:PutRecords" in actions and "s3:GetObject*" in actions
