"""The isolation proof over the example sites, over two sites in one account and region, and over broken
copies of those two that it must catch."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies.isolation import Breach, assembly_sites, isolation_breaches, main
from site_model import Site
from site_model.loader import baseline_problems
from synth_helpers import example_sites, variant

ACCOUNT = "111111111111"
REGION = "eu-central-1"


def two_sites() -> dict[str, Site]:
    """plantA's site file twice in one account and region, as plantX and plantY; plantX provides the region
    baseline (management trail, Config recorder), plantY only its own data trail (site_model.loader)."""
    base = example_sites()["plantA"]
    sites = {}
    for number, site_id in enumerate(("plantX", "plantY")):
        commands = base.edge.commands.model_dump() if base.edge.commands else None
        if commands:
            for setpoint in commands["setpoints"]:
                setpoint["path"] = setpoint["path"].replace(f"/{base.id}/", f"/{site_id}/")
        sites[site_id] = variant(
            base,
            id=site_id,
            account=ACCOUNT,
            home_region=REGION,
            network={"cidr": f"10.{20 + number}.0.0/16"},
            edge={
                "thing_group": f"{site_id}-gateways",
                "gateways": [f"{site_id}-gw-1", f"{site_id}-gw-2"],
                "commands": commands,
            },
            audit={"region_baseline": base.audit.region_baseline if number == 0 else []},
        )
    return sites


@pytest.fixture(scope="module")
def shared_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cloud assembly of both sites, synthesized together under the gate."""
    from stacks.site_app import build, new_app

    outdir = tmp_path_factory.mktemp("two-sites")
    app = new_app(outdir=str(outdir))
    stacks = build(app, two_sites())
    assert sorted(stack.stack_name for stack in stacks) == ["plantX", "plantY"]
    app.synth()
    return outdir


def test_every_example_site_is_isolated_from_the_others(site_stack: Callable[[str], Any]) -> None:
    sites = example_sites()
    estate = [
        templates
        for site_id in sites
        for templates in assembly_sites(Path(site_stack(site_id).node.root.outdir), sites)
    ]
    assert sorted(templates.site for templates in estate) == sorted(sites)
    assert isolation_breaches(estate) == []


def test_two_sites_in_one_account_and_region_are_isolated(shared_region: Path) -> None:
    estate = assembly_sites(shared_region, two_sites())
    assert {(templates.site, templates.account, templates.region) for templates in estate} == {
        ("plantX", ACCOUNT, REGION),
        ("plantY", ACCOUNT, REGION),
    }
    assert all(len(templates.templates) > 1 for templates in estate), "nested templates are read too"
    assert isolation_breaches(estate) == []


def _resources(templates: Any, kind: str) -> list[dict[str, Any]]:
    return [
        resource
        for template in templates.templates.values()
        for resource in template["Resources"].values()
        if resource["Type"] == kind
    ]


def test_two_sites_in_one_region_make_one_management_trail_and_one_config_recorder(shared_region: Path) -> None:
    assert baseline_problems(two_sites()) == [], "the fixture is an estate the loader accepts"
    estate = {templates.site: templates for templates in assembly_sites(shared_region, two_sites())}
    management = {
        site: [
            trail
            for trail in _resources(templates, "AWS::CloudTrail::Trail")
            if any(selector.get("IncludeManagementEvents") for selector in trail["Properties"]["EventSelectors"])
        ]
        for site, templates in estate.items()
    }
    assert {site: len(trails) for site, trails in management.items()} == {"plantX": 1, "plantY": 0}
    for kind in ("AWS::Config::ConfigurationRecorder", "AWS::Config::DeliveryChannel"):
        assert {site: len(_resources(templates, kind)) for site, templates in estate.items()} == {
            "plantX": 1,
            "plantY": 0,
        }, kind
    for site, templates in estate.items():
        (trail,) = _resources(templates, "AWS::CloudTrail::Trail")  # each site records its own data events
        assert trail["Properties"]["TrailName"] == f"{site}-audit"
        assert trail["Properties"]["EventSelectors"][-1]["DataResources"][0]["Type"] == "AWS::S3::Object"
        rules = {rule["Properties"]["ConfigRuleName"] for rule in _resources(templates, "AWS::Config::ConfigRule")}
        assert rules and all(name.startswith(f"{site}-") for name in rules)
        assert {
            rule["Properties"]["Scope"]["TagValue"] for rule in _resources(templates, "AWS::Config::ConfigRule")
        } == {site}


def test_the_command_line_reads_an_assembly(shared_region: Path, tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    for site in two_sites().values():
        (tenants / f"{site.id}.yaml").write_text(json.dumps(site.model_dump(mode="json", exclude_none=True)))
    assert main([str(shared_region), "--tenants", str(tenants)]) == 0


# --- broken copies: each must be caught, with a message naming what is wrong ---


def _policy_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The statement list of the first IAM policy resource of ``template``."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            statements: list[dict[str, Any]] = resource["Properties"]["PolicyDocument"]["Statement"]
            return statements
    raise AssertionError("no IAM policy in the template")


def _first(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(resource for resource in template["Resources"].values() if resource["Type"] == kind)


def _grant_other_sites_topic(template: dict[str, Any]) -> None:
    _policy_statements(template).append(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"arn:aws:iot:{REGION}:{ACCOUNT}:topic/dmc/plantY/*"}
    )


def _grant_every_object(template: dict[str, Any]) -> None:
    _policy_statements(template).append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})


def _grant_every_sites_topics(template: dict[str, Any]) -> None:
    _policy_statements(template).append(
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"arn:aws:iot:{REGION}:{ACCOUNT}:topic/dmc/*"}
    )


def _import_a_value(template: dict[str, Any]) -> None:
    _policy_statements(template).append(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::ImportValue": "plantY-raw-bucket-arn"}}
    )


def _key_for_another_account(template: dict[str, Any]) -> None:
    statements = _first(template, "AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]
    statements.append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )


def _read_every_sites_telemetry(template: dict[str, Any]) -> None:
    _first(template, "AWS::IoT::TopicRule")["Properties"]["TopicRulePayload"]["Sql"] = (
        "SELECT * FROM 'dmc/+/+/telemetry'"
    )


def _share_a_database_name(template: dict[str, Any]) -> None:
    _first(template, "AWS::Glue::Database")["Properties"]["DatabaseInput"]["Name"] = "plantx_conformed"


BROKEN: dict[str, tuple[str, str, Callable[[dict[str, Any]], None], str]] = {
    # name: (site changed, a resource type the changed template holds, the change, words of the breach)
    "another site's topic": ("plantX", "AWS::IAM::Policy", _grant_other_sites_topic, "names site plantY"),
    "every object": ("plantX", "AWS::IAM::Policy", _grant_every_object, "grants ['s3:GetObject'] on every resource"),
    "every site's topics": ("plantX", "AWS::IAM::Policy", _grant_every_sites_topics, "is not scoped to the site's"),
    "an imported value": ("plantX", "AWS::IAM::Policy", _import_a_value, "imports a value exported by another stack"),
    "another account": ("plantX", "AWS::KMS::Key", _key_for_another_account, "is in account 222222222222"),
    "every site's telemetry": (
        "plantX",
        "AWS::IoT::TopicRule",
        _read_every_sites_telemetry,
        "reads topic filter 'dmc/+/+/telemetry'",
    ),
    "a shared name": ("plantY", "AWS::Glue::Database", _share_a_database_name, "physical name 'plantx_conformed'"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_estate_is_caught(shared_region: Path, tmp_path: Path, name: str) -> None:
    site, holds, change, words = BROKEN[name]
    broken = tmp_path / "broken"
    shutil.copytree(shared_region, broken, ignore=shutil.ignore_patterns("asset.*"))
    (templates,) = (each for each in assembly_sites(broken, two_sites()) if each.site == site)
    file = next(
        file
        for file, template in templates.templates.items()
        if any(resource["Type"] == holds for resource in template["Resources"].values())
    )
    template = copy.deepcopy(dict(templates.templates[file]))
    change(template)
    (broken / file).write_text(json.dumps(template))

    breaches = isolation_breaches(assembly_sites(broken, two_sites()))

    assert breaches, f"{name} was not caught"
    assert all(isinstance(breach, Breach) and breach.site == site and breach.template == file for breach in breaches)
    assert any(words in breach.problem for breach in breaches), [str(breach) for breach in breaches]
    assert all("fix:" in breach.problem for breach in breaches)
