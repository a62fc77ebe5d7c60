"""EdgeDeployment on a bare stack: component versions, the deployment resource and its handler, its
configuration merges, grants, validation (its own and the artifact build's), nag."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aws_cdk import CfnElement, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as assets
from aws_cdk.assertions import Match, Template

from construct_helpers import ACCOUNT, REGION, bare_stack, placement, site_keys, unacknowledged_findings
from edge.greengrass.build_artifacts import build as build_artifacts
from factory_constructs.edge.edge_deployment import DEPLOYMENT_TYPE, CommandWrites, EdgeDeployment, SetpointWrite
from factory_constructs.ingestion.tag_stream import TagStream
from synth_helpers import rendered

pytestmark = pytest.mark.synth

PIPELINE = "com.dmc.TagPipeline"
COMMANDS = "com.dmc.CommandHandler"
UNITS = {"temperature": "degC", "pressure": "bar"}
TAG_MAP = "/greengrass/v2/dmc/tag-map.yaml"
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
WRITES = CommandWrites(
    opcua_endpoint="opc.tcp://filler-plc.planta.local:4840",
    certificate_dir="/greengrass/v2/dmc/opcua",
    setpoints=[
        SetpointWrite(
            path="acme/plantA/packaging/line1/filler/temp_setpoint", node_id="ns=2;s=Filler.Temp", min=0, max=8
        ),
        SetpointWrite(path="acme/plantA/packaging/line1/filler/speed", node_id="ns=2;i=1042", min=10.5, max=120),
    ],
)
GATEWAYS = ["plantA-gw-01", "plantA-gw-02"]
REQUIRED: dict[str, Any] = {
    "site_id": "plantA",
    "components": ["tag-pipeline"],
    "transport": "mqtt",
    "canonical_units": UNITS,
    "tag_map_path": TAG_MAP,
    "gateways": GATEWAYS,
}


def handler_props(stack: Stack) -> dict[str, Any]:
    """Where the deployment handler runs and its keys, as the site's foundation gives them."""
    keys = site_keys(stack)
    return {"placement": placement(stack, keys), "key": keys.data, "logs_key": keys.logs}


class Built(NamedTuple):
    stack: Stack
    group: iot.CfnThingGroup
    role: iam.IRole
    key: kms.IKey
    stream: kinesis.IStream
    edge: EdgeDeployment

    def template(self) -> Template:
        return Template.from_stack(self.stack)

    def ref(self, resource: Any) -> str:
        cfn = resource if isinstance(resource, CfnElement) else resource.node.default_child
        return self.stack.get_logical_id(cfn)

    def artifact(self, component: str) -> assets.Asset:
        asset = self.edge.node.find_child(f"{component}Artifact")
        assert isinstance(asset, assets.Asset)
        return asset


def build(*, audit_trail: bool = False, **props: Any) -> Built:
    """The thing group and token-exchange role as SiteIot makes them, a TagStream, and an EdgeDeployment "Edge"
    with only the required props unless ``props`` override them."""
    stack = bare_stack(audit_trail=audit_trail)
    group = iot.CfnThingGroup(stack, "ThingGroup", thing_group_name="plantA-gateways")
    role = iam.Role(stack, "TokenExchangeRole", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"))
    collaborators = handler_props(stack)
    key = collaborators["key"]
    stream = TagStream(
        stack, "TagStream", key=key, retention_hours=72, shards=None, removal_policy=RemovalPolicy.RETAIN
    )
    edge = EdgeDeployment(
        stack,
        "Edge",
        thing_group=group,
        token_exchange_role=role,
        stream=stream.stream,
        **{**REQUIRED, **collaborators, **props},
    )
    return Built(stack, group, role, key, stream.stream, edge)


@pytest.fixture(scope="module")
def defaults() -> Built:
    return build()


@pytest.fixture(scope="module")
def template(defaults: Built) -> Template:
    return defaults.template()


def recipes(template: Template) -> dict[str, dict[str, Any]]:
    """Component name -> its recipe (inline, plain JSON: the bare stack's asset bucket is no token)."""
    found = {}
    for version in template.find_resources("AWS::GreengrassV2::ComponentVersion").values():
        recipe = json.loads(version["Properties"]["InlineRecipe"])
        found[recipe["ComponentName"]] = recipe
    return found


def deployment_resource(template: Template) -> dict[str, Any]:
    (resource,) = template.find_resources(DEPLOYMENT_TYPE).values()
    return resource["Properties"]


def deployment(template: Template) -> dict[str, Any]:
    """The deployment resource's ``Deployment`` specification, parsed (references as ``<Id.Attribute>``)."""
    return json.loads(rendered(deployment_resource(template)["Deployment"]))


def merge(template: Template, component: str) -> str:
    return deployment(template)["components"][component]["configurationUpdate"]["merge"]


# --- defaults -----------------------------------------------------------------------------------------


def test_one_component_version_per_chosen_component(template: Template) -> None:
    assert list(recipes(template)) == [PIPELINE]
    assert list(deployment(template)["components"]) == [PIPELINE]


def test_component_version_is_the_content_hash_the_artifact_build_gives(template: Template, tmp_path: Path) -> None:
    (expected,) = build_artifacts(
        tmp_path, site_id="plantA", transport="mqtt", canonical_units=UNITS, components=["tag-pipeline"]
    )
    version = recipes(template)[PIPELINE]["ComponentVersion"]
    assert re.fullmatch(r"1\.0\.\d+", version)
    assert version == expected.version


def test_recipe_downloads_the_artifact_asset_and_runs_from_its_unpacked_folder(
    defaults: Built, template: Template
) -> None:
    asset_hash = defaults.artifact(PIPELINE).asset_hash
    (manifest,) = recipes(template)[PIPELINE]["Manifests"]
    assert manifest["Artifacts"] == [{"Uri": f"s3://{ASSETS_BUCKET}/{asset_hash}.zip", "Unarchive": "ZIP"}]
    assert manifest["Lifecycle"]["Setenv"] == {"PYTHONPATH": "{artifacts:decompressedPath}/" + asset_hash}
    assert "dmc-artifact-placeholder" not in json.dumps(manifest)


def test_recipe_is_the_sites_with_its_units_and_transport(template: Template) -> None:
    configuration = recipes(template)[PIPELINE]["ComponentConfiguration"]["DefaultConfiguration"]
    assert configuration["site_id"] == "plantA"
    assert configuration["transport"] == "mqtt"
    assert configuration["canonical_units"] == {"pressure": "bar", "temperature": "degC"}


def test_deployment_targets_the_thing_groups_arn_and_deploys_the_versions_built(
    defaults: Built, template: Template
) -> None:
    version = defaults.ref(defaults.edge.versions[PIPELINE])
    resource = deployment_resource(template)
    assert resource["TargetArn"] == {"Fn::GetAtt": [defaults.ref(defaults.group), "Arn"]}
    assert resource["ServiceToken"] == {"Fn::GetAtt": [defaults.ref(defaults.edge.handler.function), "Arn"]}
    assert (resource["PipelineComponent"], resource["GreengrassRoot"]) == (PIPELINE, "/greengrass/v2")
    specification = deployment(template)
    assert specification["deploymentName"] == "plantA-edge"
    assert specification["components"][PIPELINE]["componentVersion"] == f"<{version}.ComponentVersion>"


def test_deployment_rolls_back_on_failure_and_bounds_update_and_validation_waits(template: Template) -> None:
    assert deployment(template)["deploymentPolicies"] == {
        "failureHandlingPolicy": "ROLLBACK",
        "componentUpdatePolicy": {"action": "NOTIFY_COMPONENTS", "timeoutInSeconds": 60},
        "configurationValidationPolicy": {"timeoutInSeconds": 60},
    }


def test_the_handler_runs_in_the_vpc_one_at_a_time(defaults: Built, template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "deployment_handler.handler.handler",
            "ReservedConcurrentExecutions": 1,
            "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
        },
    )


def test_the_handler_may_revise_only_the_site_thing_groups_deployment(defaults: Built, template: Template) -> None:
    (policy,) = [
        resource["Properties"]
        for resource in template.find_resources("AWS::IAM::ManagedPolicy").values()
        if resource["Properties"].get("Roles") == [{"Ref": defaults.ref(defaults.edge.handler.role)}]
    ]
    statements = {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}
    assert sorted(statements) == [
        "DeployToTheSiteThingGroup",
        "DeploymentJobs",
        "GatewayThings",
        "ListAndCreateDeployments",
        "ReadDeployments",
    ]
    assert statements["DeployToTheSiteThingGroup"]["Resource"] == {"Fn::GetAtt": [defaults.ref(defaults.group), "Arn"]}
    things = [rendered(resource) for resource in statements["GatewayThings"]["Resource"]]
    assert things == [f"arn:<AWS::Partition>:iot:{REGION}:{ACCOUNT}:thing/{gateway}" for gateway in GATEWAYS]
    assert statements["ListAndCreateDeployments"]["Resource"] == "*"


def test_greengrass_root_is_handed_to_the_handler() -> None:
    assert deployment_resource(build(greengrass_root="/opt/gg").template())["GreengrassRoot"] == "/opt/gg"


def test_mqtt_pipeline_merge_sets_only_the_tag_map_path(template: Template) -> None:
    assert merge(template, PIPELINE) == '{"tag_map_path":"/greengrass/v2/dmc/tag-map.yaml"}'


# --- customisation ------------------------------------------------------------------------------------


def test_tag_map_path_is_merged_as_given() -> None:
    template = build(tag_map_path="/opt/dmc/maps/line1.yaml").template()
    assert json.loads(merge(template, PIPELINE)) == {"tag_map_path": "/opt/dmc/maps/line1.yaml"}


def test_stream_manager_pipeline_merge_names_the_sites_stream() -> None:
    built = build(transport="stream-manager")
    template = built.template()
    assert json.loads(merge(template, PIPELINE)) == {
        "tag_map_path": "/greengrass/v2/dmc/tag-map.yaml",
        "stream_manager": {"kinesis_stream_name": f"<{built.ref(built.stream)}>"},
    }
    recipe = recipes(template)[PIPELINE]
    assert recipe["ComponentConfiguration"]["DefaultConfiguration"]["transport"] == "stream-manager"
    assert recipe["ComponentDependencies"]["aws.greengrass.StreamManager"]["DependencyType"] == "HARD"


@pytest.mark.parametrize("certificate_dir", ["/greengrass/v2/dmc/opcua", "/greengrass/v2/dmc/opcua/"])
def test_command_handler_merge_has_the_opcua_server_its_certificates_and_the_allow_list(certificate_dir: str) -> None:
    writes = CommandWrites(
        opcua_endpoint=WRITES.opcua_endpoint, certificate_dir=certificate_dir, setpoints=WRITES.setpoints
    )
    template = build(components=["tag-pipeline", "command-handler"], commands=writes).template()
    assert sorted(recipes(template)) == [COMMANDS, PIPELINE]
    assert json.loads(merge(template, COMMANDS)) == {
        "opcua": {
            "endpoint": "opc.tcp://filler-plc.planta.local:4840",
            "certificate": "/greengrass/v2/dmc/opcua/client.pem",
            "private_key": "/greengrass/v2/dmc/opcua/client.key",
            "server_certificate": "/greengrass/v2/dmc/opcua/server.pem",
        },
        "setpoints": [
            {
                "path": "acme/plantA/packaging/line1/filler/temp_setpoint",
                "node_id": "ns=2;s=Filler.Temp",
                "min": 0,
                "max": 8,
            },
            {"path": "acme/plantA/packaging/line1/filler/speed", "node_id": "ns=2;i=1042", "min": 10.5, "max": 120},
        ],
    }
    assert json.loads(merge(template, PIPELINE)) == {"tag_map_path": TAG_MAP}


def test_command_handler_alone_deploys_only_its_version() -> None:
    built = build(components=["command-handler"], commands=WRITES)
    template = built.template()
    assert list(recipes(template)) == [COMMANDS]
    assert list(deployment(template)["components"]) == [COMMANDS]
    assert list(built.edge.versions) == [COMMANDS]


# --- grants -------------------------------------------------------------------------------------------


def asset_read() -> dict[str, Any]:
    """What ``Asset.grant_read`` gives: the bootstrap bucket, and its objects (the keys are content hashes)."""

    def bucket(suffix: str) -> dict[str, Any]:
        return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{ASSETS_BUCKET}{suffix}"]]}

    return {
        "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
        "Effect": "Allow",
        "Resource": [bucket(""), bucket("/*")],
    }


def token_exchange_statements(built: Built, template: Template) -> list[dict[str, Any]]:
    (policy,) = [
        policy
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if policy["Properties"]["Roles"] == [{"Ref": built.ref(built.role)}]
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_mqtt_gateways_may_only_read_the_artifacts(defaults: Built, template: Template) -> None:
    assert token_exchange_statements(defaults, template) == [asset_read()]


def test_stream_manager_gateways_may_also_put_records_into_the_stream() -> None:
    built = build(transport="stream-manager")
    assert token_exchange_statements(built, built.template()) == [
        asset_read(),
        {
            "Action": ["kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [built.ref(built.stream), "Arn"]},
        },
        {
            "Action": ["kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [built.ref(built.key), "Arn"]},
        },
    ]


# --- validation ---------------------------------------------------------------------------------------

RELATIVE_TAG_MAP = "tag_map_path 'dmc/tag-map.yaml' is not absolute; fix: give the full path on the gateway"
NO_COMMANDS = "components has command-handler but commands is None; fix: pass its CommandWrites"
RELATIVE_CERTIFICATES = (
    "commands.certificate_dir 'opcua/' is not absolute; "
    "fix: give the full path of the certificates folder on the gateway"
)
# From edge/greengrass/build_artifacts.py's check, reported with the construct's own problems.
UNKNOWN_TRANSPORT = "transport 'kinesis' is not mqtt or stream-manager; fix: pass site.edge.transport"
UNKNOWN_COMPONENT = "components ['historian'] are unknown; fix: use ['command-handler', 'tag-pipeline']"
RELATIVE_ROOT = (
    "greengrass_root 'greengrass/v2' is not a literal absolute path; "
    "fix: give the gateways' Greengrass root folder, e.g. /greengrass/v2"
)
NO_GATEWAYS = "gateways is empty; fix: name the thing of each Greengrass core of the site"
BAD_SITE_ID = "site_id 'plant-A' is not a site id; fix: pass the site model's Site.id, e.g. plantA"
NO_UNITS = "canonical_units is empty; fix: pass site.edge.canonical_units"


@pytest.mark.parametrize(
    ("props", "problem"),
    [
        ({"tag_map_path": "dmc/tag-map.yaml"}, RELATIVE_TAG_MAP),
        ({"components": ["tag-pipeline", "command-handler"]}, NO_COMMANDS),
        (
            {
                "components": ["tag-pipeline", "command-handler"],
                "commands": CommandWrites(
                    opcua_endpoint=WRITES.opcua_endpoint, certificate_dir="opcua/", setpoints=WRITES.setpoints
                ),
            },
            RELATIVE_CERTIFICATES,
        ),
        ({"transport": "kinesis"}, UNKNOWN_TRANSPORT),
        ({"components": ["tag-pipeline", "historian"]}, UNKNOWN_COMPONENT),
        ({"site_id": "plant-A"}, BAD_SITE_ID),
        ({"canonical_units": {}}, NO_UNITS),
        ({"greengrass_root": "greengrass/v2"}, RELATIVE_ROOT),
        ({"gateways": []}, NO_GATEWAYS),
    ],
    ids=[
        "relative-tag-map",
        "command-handler-without-commands",
        "relative-certificates",
        "transport",
        "component",
        "site-id",
        "units",
        "relative-root",
        "no-gateways",
    ],
)
def test_a_deployment_the_gateway_would_reject_is_refused(props: dict[str, Any], problem: str) -> None:
    stack = bare_stack()
    group = iot.CfnThingGroup(stack, "ThingGroup", thing_group_name="plantA-gateways")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"))
    stream = kinesis.Stream(stack, "Stream")
    with pytest.raises(ValueError, match=re.escape(f"EdgeDeployment Edge: {problem}") + "$"):
        EdgeDeployment(
            stack,
            "Edge",
            thing_group=group,
            token_exchange_role=role,
            stream=stream,
            **{**REQUIRED, **handler_props(stack), **props},
        )


def test_every_problem_is_reported_at_once() -> None:
    stack = bare_stack()
    group = iot.CfnThingGroup(stack, "ThingGroup", thing_group_name="plantA-gateways")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"))
    props = {
        **REQUIRED,
        **handler_props(stack),
        "tag_map_path": "dmc/tag-map.yaml",
        "transport": "kinesis",
        "components": ["command-handler", "historian"],
    }
    expected = f"EdgeDeployment Edge: {RELATIVE_TAG_MAP}; {NO_COMMANDS}; {UNKNOWN_TRANSPORT}; {UNKNOWN_COMPONENT}"
    with pytest.raises(ValueError, match=re.escape(expected) + "$"):
        EdgeDeployment(
            stack, "Edge", thing_group=group, token_exchange_role=role, stream=kinesis.Stream(stack, "Stream"), **props
        )


# --- nag ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["mqtt", "stream-manager"])
def test_alone_under_the_packs_leaves_no_finding_unacknowledged(transport: str) -> None:
    built = build(
        audit_trail=True, transport=transport, components=["tag-pipeline", "command-handler"], commands=WRITES
    )
    assert unacknowledged_findings(built.stack) == []
