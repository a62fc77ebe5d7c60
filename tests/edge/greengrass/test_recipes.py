"""Recipes as the build fills them: Greengrass recipe format, least-privilege topics, the artifact and its lifecycle."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from component_configs import UNITS

from edge.greengrass.build_artifacts import ARTIFACT_NAME, PLACEHOLDER_URI, build, recipe_with_artifact_uri
from edge.greengrass.config import MQTT_PROXY, THING_NAME

# Top-level keys of the recipe format 2020-01-25 (Greengrass v2 developer guide, "Component recipe reference").
RECIPE_KEYS = {
    "RecipeFormatVersion",
    "ComponentName",
    "ComponentVersion",
    "ComponentDescription",
    "ComponentPublisher",
    "ComponentConfiguration",
    "ComponentDependencies",
    "ComponentType",
    "ComponentSource",
    "Manifests",
    "Lifecycle",
}
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
URI = "s3://${Token[TOKEN.42]}/3f2a9c.zip"  # what a CDK file asset's s3_object_url looks like at synth time


@pytest.fixture(scope="module")
def recipes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    built = build(tmp_path_factory.mktemp("artifacts"), site_id="plantA", canonical_units=UNITS)
    return {component.component_name: recipe_with_artifact_uri(component.recipe, URI) for component in built}


def policies(recipe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return recipe["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"].get(MQTT_PROXY, {})


def test_recipes_have_the_greengrass_recipe_structure(recipes: dict[str, dict[str, Any]]) -> None:
    assert sorted(recipes) == ["com.dmc.CommandHandler", "com.dmc.TagPipeline"]
    for name, recipe in recipes.items():
        assert set(recipe) <= RECIPE_KEYS
        assert recipe["RecipeFormatVersion"] == "2020-01-25"
        assert recipe["ComponentName"] == name
        assert SEMVER.match(recipe["ComponentVersion"]), recipe["ComponentVersion"]
        (manifest,) = recipe["Manifests"]
        assert manifest["Platform"] == {"os": "linux"}
        assert manifest["Artifacts"] == [{"Uri": URI, "Unarchive": "ZIP"}]
        assert recipe["ComponentDependencies"]["aws.greengrass.Nucleus"] == {
            "VersionRequirement": ">=2.6.0 <3.0.0",
            "DependencyType": "SOFT",
        }


def test_lifecycle_runs_from_the_unpacked_artifact(recipes: dict[str, dict[str, Any]]) -> None:
    modules = {
        "com.dmc.TagPipeline": "edge.greengrass.tag_pipeline",
        "com.dmc.CommandHandler": "edge.greengrass.command_handler",
    }
    for name, recipe in recipes.items():
        lifecycle = recipe["Manifests"][0]["Lifecycle"]
        # The nucleus unpacks 3f2a9c.zip into {artifacts:decompressedPath}/3f2a9c/.
        assert lifecycle["Setenv"] == {"PYTHONPATH": "{artifacts:decompressedPath}/3f2a9c"}
        assert lifecycle["Install"]["Script"].endswith(
            "--requirement {artifacts:decompressedPath}/3f2a9c/edge/requirements.txt"
        )
        assert lifecycle["Run"] == f"{{work:path}}/venv/bin/python -m {modules[name]} --work-dir {{work:path}}"
        assert "dmc_edge" not in str(lifecycle)


def test_topics_are_scoped_to_the_gateways_own_thing_name(recipes: dict[str, dict[str, Any]]) -> None:
    granted = {
        (name, operation, resource)
        for name, recipe in recipes.items()
        for policy in policies(recipe).values()
        for operation in policy["operations"]
        for resource in policy["resources"]
    }
    own = f"dmc/plantA/{THING_NAME}"
    assert granted == {
        ("com.dmc.TagPipeline", "aws.greengrass#PublishToIoTCore", f"{own}/telemetry"),
        ("com.dmc.TagPipeline", "aws.greengrass#PublishToIoTCore", f"{own}/health"),
        ("com.dmc.CommandHandler", "aws.greengrass#SubscribeToIoTCore", f"{own}/commands"),
        ("com.dmc.CommandHandler", "aws.greengrass#PublishToIoTCore", f"{own}/commands/audit"),
    }
    for recipe in recipes.values():
        assert set(recipe["ComponentConfiguration"]["DefaultConfiguration"]["accessControl"]) == {MQTT_PROXY}


def test_site_values_are_the_configuration_defaults(recipes: dict[str, dict[str, Any]]) -> None:
    pipeline = recipes["com.dmc.TagPipeline"]["ComponentConfiguration"]["DefaultConfiguration"]
    assert (pipeline["site_id"], pipeline["transport"], pipeline["canonical_units"]) == ("plantA", "mqtt", UNITS)
    handler = recipes["com.dmc.CommandHandler"]["ComponentConfiguration"]["DefaultConfiguration"]
    assert handler["site_id"] == "plantA"
    assert "@SITE@" not in str(recipes)


def test_stream_manager_sites_depend_on_it_and_publish_no_mqtt(tmp_path: Path) -> None:
    (pipeline,) = build(
        tmp_path, site_id="plantB", transport="stream-manager", canonical_units=UNITS, components=["tag-pipeline"]
    )
    assert pipeline.recipe["ComponentDependencies"]["aws.greengrass.StreamManager"] == {
        "VersionRequirement": ">=2.0.0 <3.0.0",
        "DependencyType": "HARD",
    }
    defaults = pipeline.recipe["ComponentConfiguration"]["DefaultConfiguration"]
    assert (defaults["transport"], defaults["accessControl"]) == ("stream-manager", {})
    (mqtt,) = build(tmp_path, site_id="plantB", canonical_units=UNITS, components=["tag-pipeline"])
    assert "aws.greengrass.StreamManager" not in mqtt.recipe["ComponentDependencies"]


def test_built_recipes_carry_the_placeholder_until_the_uri_is_set(tmp_path: Path) -> None:
    for component in build(tmp_path, site_id="plantA", canonical_units=UNITS):
        manifest = component.recipe["Manifests"][0]
        assert manifest["Artifacts"][0]["Uri"] == PLACEHOLDER_URI
        assert manifest["Lifecycle"]["Setenv"] == {"PYTHONPATH": "{artifacts:decompressedPath}/dmc_edge"}
        before = copy.deepcopy(component.recipe)
        recipe_with_artifact_uri(component.recipe, URI)
        assert component.recipe == before  # the helper returns a copy


@pytest.mark.parametrize(
    "uri",
    ["https://bucket/a.zip", "s3://bucket/artifact.tar.gz", "s3://bucket/${Token[TOKEN.1]}.zip"],
)
def test_artifact_uri_must_name_a_zip(uri: str) -> None:
    recipe = {"Manifests": [{"Artifacts": [{"Uri": ARTIFACT_NAME}], "Lifecycle": {}}]}
    with pytest.raises(ValueError) as caught:
        recipe_with_artifact_uri(recipe, uri)
    assert str(caught.value) == (
        f"artifact URI {uri!r} must be s3://<bucket>/<key> with a key ending in a literal <name>.zip; "
        "fix: pass the zip asset's s3_object_url"
    )
