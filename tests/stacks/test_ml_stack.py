"""ML nested stack: the workspace built from the site file, wired to the foundation's network and key and the
data stack's curated zone and catalog; only where features.ml_workspace; the gate on customised sites."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from factory_constructs.etl.glue_jobs.schemas import CURATED_TABLES
from factory_constructs.ml.idle_shutdown import lifecycle_script
from policies import tag_keys
from synth_helpers import example_sites, nested_template, synth, variant

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def plant_a(site_stack) -> Template:
    return nested_template(site_stack("plantA"), "Ml")


def parameter(reference: Any) -> str:
    """The nested stack parameter a property refers to (how a sibling stack's resource arrives)."""
    assert set(reference) == {"Ref"}, reference
    return str(reference["Ref"])


def test_the_domain_is_vpc_only_in_the_sites_private_subnets_on_its_data_key(plant_a: Template) -> None:
    (domain,) = plant_a.find_resources("AWS::SageMaker::Domain").values()
    properties = domain["Properties"]
    assert properties["AppNetworkAccessType"] == "VpcOnly"
    assert properties["AuthMode"] == "IAM"
    assert properties["DomainName"] == "plantA-workspace"
    # plantA spans two zones: one private subnet in each, both from the foundation's VPC.
    subnets = [parameter(subnet) for subnet in properties["SubnetIds"]]
    assert len(subnets) == 2
    assert all("FoundationNetworkVpcPrivateSubnet" in name for name in subnets)
    assert "FoundationNetworkVpc" in parameter(properties["VpcId"])
    assert "FoundationKeysData" in parameter(properties["KmsKeyId"])
    assert domain["DeletionPolicy"] == "Retain"


def test_each_analyst_of_the_site_file_has_a_profile(plant_a: Template) -> None:
    profiles = plant_a.find_resources("AWS::SageMaker::UserProfile")
    found = {profile["Properties"]["UserProfileName"]: profile["Properties"] for profile in profiles.values()}
    analysts = example_sites()["plantA"].ml.analysts
    assert sorted(found) == sorted(analyst.name for analyst in analysts)
    for analyst in analysts:
        assert {"Key": tag_keys.OWNER, "Value": analyst.email} in found[analyst.name]["Tags"]
        assert {"Key": tag_keys.SITE, "Value": "plantA"} in found[analyst.name]["Tags"]
        assert "UserSettings" not in found[analyst.name]


def test_idle_apps_shut_down_after_the_site_files_timeout(plant_a: Template) -> None:
    (config,) = plant_a.find_resources("AWS::SageMaker::StudioLifecycleConfig").values()
    script = base64.b64decode(config["Properties"]["StudioLifecycleConfigContent"]).decode()
    assert script == lifecycle_script(example_sites()["plantA"].ml.idle_shutdown_minutes, "eu-central-1")


def test_the_role_reads_every_curated_table_of_the_catalog_and_writes_under_ml(plant_a: Template) -> None:
    (policy,) = [
        resource
        for logical_id, resource in plant_a.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith("WorkspaceExecutionRole")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (glue,) = [statement for statement in statements if statement["Action"][0].startswith("glue:")]
    tables = sorted(resource["Fn::Join"][1][-1].rsplit("/", 1)[-1] for resource in glue["Resource"][2:])
    assert tables == sorted(CURATED_TABLES)
    assert glue["Resource"][1]["Fn::Join"][1][-1].endswith(":database/planta_curated")
    (write,) = [statement for statement in statements if "s3:PutObject" in statement["Action"]]
    bucket, suffix = write["Resource"]["Fn::Join"][1]
    assert "DataLakeCuratedBucket" in parameter(bucket)
    assert suffix == "/ml/*"


def test_the_model_package_group_is_the_one_the_release_watches(plant_a: Template) -> None:
    plant_a.has_resource_properties("AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": "plantA-models"})
    watched = {"detail": {"ModelPackageGroupName": ["plantA-models"]}}
    plant_a.has_resource_properties("AWS::Events::Rule", {"EventPattern": Match.object_like(watched)})


def test_the_foundation_adds_the_sagemaker_and_s3_endpoints_only_for_the_workspace(site_stack) -> None:
    def services(site_id: str) -> set[str]:
        endpoints = nested_template(site_stack(site_id), "Foundation").find_resources(
            "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
        )
        return {str(endpoint["Properties"]["ServiceName"]) for endpoint in endpoints.values()}

    workspace = {
        "com.amazonaws.eu-central-1.sagemaker.api",
        "com.amazonaws.eu-central-1.sagemaker.runtime",
        "aws.sagemaker.eu-central-1.studio",
        "com.amazonaws.eu-central-1.ecr.api",
        "com.amazonaws.eu-central-1.ecr.dkr",
        "com.amazonaws.eu-central-1.s3",
    }
    assert workspace <= services("plantA")
    assert not any("sagemaker" in service or service.endswith(".s3") for service in services("plantC"))


def test_sites_without_the_workspace_have_no_ml_stack(site_stack) -> None:
    for site_id in ("plantB", "plantC"):
        stack = site_stack(site_id)
        assert stack.ml is None
        assert stack.node.try_find_child("Ml") is None


@pytest.mark.parametrize("site_id", ["plantB", "plantC"])
def test_the_gate_passes_a_site_that_turns_the_workspace_on(tmp_path: Path, site_id: str) -> None:
    """plantB: Part 11, three zones, us-east-1; plantC: no regime, no audit trail."""
    site = variant(
        example_sites()[site_id],
        features={"ml_workspace": True},
        ml={"analysts": [{"name": "data-scientist", "email": "ds@acme.example"}], "idle_shutdown_minutes": 30},
    )
    _, (stack,) = synth({site_id: site}, tmp_path, site=site_id)  # raises on any unacknowledged finding
    template = nested_template(stack, "Ml")
    template.has_resource_properties("AWS::SageMaker::UserProfile", {"UserProfileName": "data-scientist"})
    (domain,) = template.find_resources("AWS::SageMaker::Domain").values()
    assert len(domain["Properties"]["SubnetIds"]) == site.network.az_count
