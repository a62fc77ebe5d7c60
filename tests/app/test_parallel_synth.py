"""`cdk synth` of every site: worker processes, one merged cloud assembly that the CDK CLI reads."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from aws_cdk import App

from stacks.site_app import build
from synth_helpers import example_sites
from tooling.parallel_synth import shares

pytestmark = pytest.mark.synth

ROOT = Path(__file__).resolve().parents[2]


def run_app(outdir: Path, context: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python app.py` as the CDK CLI runs it: context and output folder in the environment."""
    env = {**os.environ, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600
    )


@pytest.fixture(scope="module")
def every_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("every-site")
    result = run_app(outdir, {})
    assert result.returncode == 0, result.stderr[-3000:]
    return outdir


def test_the_merged_assembly_holds_every_site_and_the_cli_reads_it(every_site: Path) -> None:
    manifest = json.loads((every_site / "manifest.json").read_text())
    stacks = sorted(name for name, artifact in manifest["artifacts"].items() if artifact["type"].endswith("stack"))
    assert stacks == ["plantA", "plantB", "plantC"]
    tree = json.loads((every_site / "tree.json").read_text())
    assert {"plantA", "plantB", "plantC"} <= set(tree["tree"]["children"])
    listed = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "cdk"), "ls", "--app", str(every_site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert sorted(listed.stdout.split()) == ["plantA", "plantB", "plantC"]


def test_the_merged_report_carries_every_sites_acknowledgments(every_site: Path) -> None:
    report = json.loads((every_site / "validation-report.json").read_text())
    paths = {
        construct["constructPath"].split("/")[0]
        for plugin in report["pluginReports"]
        for suppressed in plugin["suppressedViolations"]
        for construct in suppressed["violatingConstructs"]
    }
    assert paths == {"plantA", "plantB", "plantC"}
    assert len({plugin["pluginName"] for plugin in report["pluginReports"]}) == len(report["pluginReports"])


def test_a_site_synthesized_by_a_worker_matches_its_targeted_synth(every_site: Path, tmp_path: Path) -> None:
    result = run_app(tmp_path, {"site": "plantB"})
    assert result.returncode == 0, result.stderr[-3000:]
    for template in sorted(tmp_path.glob("plantB*.template.json")):
        assert (every_site / template.name).read_text() == template.read_text(), template.name


def test_a_failing_site_fails_the_synth_and_nothing_is_merged(tmp_path: Path) -> None:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    for site in ("plantB", "plantC"):
        data = yaml.safe_load((ROOT / "tenants" / f"{site}.yaml").read_text())
        if site == "plantB":
            data["lake"]["retain_data"] = False  # a Part 11 site that would delete its records
        (tenants / f"{site}.yaml").write_text(yaml.safe_dump(data))
    outdir = tmp_path / "out"
    result = run_app(outdir, {"tenants": str(tenants)})
    assert result.returncode != 0
    assert "GxP::GxP-StatefulRetained" in result.stderr + result.stdout
    assert not (outdir / "manifest.json").exists()


def test_sites_are_dealt_round_robin() -> None:
    assert shares(["a", "b", "c"], 2) == [["a", "c"], ["b"]]
    assert shares(["a"], 2) == [["a"]]


def test_a_share_naming_an_unknown_site_stops_the_synth() -> None:
    with pytest.raises(SystemExit, match=r"unknown site\(s\) plantQ in -c sites; fix: use ids of plantA, plantB"):
        build(App(context={"sites": "plantA,plantQ"}), example_sites())
