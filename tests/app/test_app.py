"""app.py semantics: what a targeted synth builds, what it refuses."""

import json
from pathlib import Path

import pytest
from aws_cdk import App, CfnResource, Stack

from stacks.site_app import build, new_app
from synth_helpers import example_sites

pytestmark = pytest.mark.synth


def top_level_stacks(assembly_dir: Path) -> list[str]:
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    return [name for name, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"]


def test_targeted_synth_builds_only_that_site_as_one_top_level_stack(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path), context={"site": "plantB"})
    stacks = build(app, example_sites())
    app.synth()
    assert [stack.stack_name for stack in stacks] == ["plantB"]
    assert [child.node.id for child in app.node.children if child.node.id.startswith("plant")] == ["plantB"]
    assert top_level_stacks(tmp_path) == ["plantB"]
    assert stacks[0].region == "us-east-1"


def test_targeted_synth_in_another_allowed_region(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path), context={"site": "plantA", "region": "eu-west-1"})
    (stack,) = build(app, example_sites())
    assert stack.region == "eu-west-1"
    assert stack.foundation.network.vpc.availability_zones == ["eu-west-1a", "eu-west-1b"]


def test_region_outside_residency_stops_the_synth() -> None:
    app = App(context={"site": "plantA", "region": "us-east-1"})
    with pytest.raises(SystemExit) as caught:
        build(app, example_sites())
    assert str(caught.value) == (
        "error: site 'plantA' may not be deployed to us-east-1: its data may reside only in eu-central-1, "
        "eu-west-1; fix: use -c region=<one of those> or extend data_regions in its site file"
    )


def test_unknown_site_stops_the_synth_listing_known_sites() -> None:
    with pytest.raises(SystemExit, match=r"unknown site 'plantQ'; fix: use one of plantA, plantB, plantC"):
        build(App(context={"site": "plantQ"}), example_sites())


def test_no_site_context_builds_every_site(tmp_path: Path) -> None:
    stacks = build(App(outdir=str(tmp_path)), example_sites())
    assert [(stack.stack_name, stack.region) for stack in stacks] == [
        ("plantA", "eu-central-1"),
        ("plantB", "us-east-1"),
        ("plantC", "ap-southeast-1"),
    ]


def test_template_validation_is_left_to_cfn_lint(tmp_path: Path) -> None:
    # CDK's built-in validator would report this property as a warning in validation-report.json.
    app = new_app(outdir=str(tmp_path), context={"@aws-cdk/core:validationReportJson": True})
    CfnResource(Stack(app, "S"), "T", type="AWS::SNS::Topic", properties={"NotAProperty": 1})
    app.synth()
    assert not (tmp_path / "validation-report.json").exists()
