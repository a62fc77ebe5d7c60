"""The gate: every example site (and a customised one) synthesizes with zero unacknowledged findings."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

from policies import PACK_NAMES
from policies.gate import PACKS, apply_compliance_gate
from synth_helpers import example_sites, synth, variant

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def every_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("all-sites")
    synth(example_sites(), outdir)  # raises ValidationFailed on any unacknowledged finding
    return outdir


def test_every_example_site_passes_every_pack(every_site: Path) -> None:
    report = json.loads((every_site / "validation-report.json").read_text())
    assert [plugin["violations"] for plugin in report["pluginReports"]] == [[] for _ in report["pluginReports"]]
    assert {plugin["conclusion"] for plugin in report["pluginReports"]} == {"success"}


def test_every_acknowledgment_in_the_report_carries_a_reason(every_site: Path) -> None:
    report = json.loads((every_site / "validation-report.json").read_text())
    suppressed = [item for plugin in report["pluginReports"] for item in plugin["suppressedViolations"]]
    assert suppressed
    assert all(len(item["reason"]) >= 40 for item in suppressed)


def test_cfn_lint_finds_no_error_in_any_template(every_site: Path) -> None:
    templates = sorted(str(path) for path in every_site.glob("*.template.json"))
    assert len(templates) >= 6  # three sites, each with nested stacks
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == []
    assert result.returncode & 2 == 0, result.stdout


def test_customised_site_passes_too(tmp_path: Path) -> None:
    site = variant(
        example_sites()["plantC"],
        account="123456789012",  # a concrete account is named in some findings' ids
        network={"nat_gateways": 0, "az_count": 3},
        features={"ml_workspace": True, "integration_api": False},
    )
    synth({"plantC": site}, tmp_path)


def test_audit_trail_site_that_destroys_data_fails_the_gate(tmp_path: Path) -> None:
    site = variant(example_sites()["plantB"], lake={"retain_data": False})
    with pytest.raises(RuntimeError, match=r"plantB/Foundation/Keys/Data/Resource .*\n.*GxP::GxP-StatefulRetained"):
        synth({"plantB": site}, tmp_path)


def test_gate_fails_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Bare", env={"region": "eu-central-1"})
    s3.Bucket(stack, "Unversioned")
    apply_compliance_gate(app)
    with pytest.raises(RuntimeError, match=r"Acknowledge with 'AwsSolutions::AwsSolutions-S10'"):
        app.synth()


def test_pack_names_match_the_packs() -> None:
    assert tuple(pack().name for pack in PACKS) == PACK_NAMES


def test_the_gate_adds_every_pack_as_a_plugin() -> None:
    assert apply_compliance_gate(App()) == list(PACK_NAMES)
