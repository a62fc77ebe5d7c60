"""tooling.evidence_matrix: the traceability matrix from a real synthesized assembly (tests/tooling/conftest.py),
with a failed rule, an acknowledged one, a rule that applied nowhere and a Config rule; then from plantB."""

from __future__ import annotations

import csv
import json
import shutil
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evidence_app import (
    CONFIG_CLAUSES,
    KEY,
    LOG_GROUP,
    RECORDS,
    SCRATCH,
    SCRATCH_REASON,
    STACK,
    VERSIONING_NAME,
    VERSIONING_RULE,
)

from policies import EVALUATIONS_FOLDER, tag_keys
from policies.clauses import CLAUSES
from site_model.model import Regime
from tooling.evidence_matrix import (
    CSV_COLUMNS,
    REGULATION_OF_REGIME,
    Checked,
    ConfigRule,
    EvidenceError,
    MatrixRow,
    stack_regimes,
    traceability,
    write_csv,
)

pytestmark = pytest.mark.synth

PART_11 = "21 CFR Part 11"
WATCHER = ConfigRule(VERSIONING_NAME, VERSIONING_RULE)


def rows_by(rows: list[MatrixRow]) -> dict[tuple[str, str], MatrixRow]:
    return {(row.rule, row.clause): row for row in rows}


def records(assembly: Path, stack: str = STACK) -> list[dict[str, Any]]:
    """What the packs recorded for ``stack``."""
    return [json.loads(path.read_text()) for path in sorted((assembly / EVALUATIONS_FOLDER).glob(f"{stack}.*.json"))]


@pytest.fixture
def copy(traced: Path, tmp_path: Path) -> Path:
    """A copy of the traced assembly to break."""
    return Path(shutil.copytree(traced, tmp_path / "assembly"))


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_one_row_per_rule_and_clause_of_the_site_regulations(traced: Path) -> None:
    rows = traceability(traced, STACK, CONFIG_CLAUSES)
    expected = [
        (record["pack"], rule["rule"], clause)
        for record in records(traced)
        for rule in record["rules"]
        for clause in rule["clauses"]
        if CLAUSES[clause].regulation == PART_11
    ]
    assert sorted((row.pack, row.rule, row.clause) for row in rows) == sorted(expected)
    assert len(rows) == len(set(expected))  # one row per (rule, clause)
    assert {row.regulation for row in rows} == {PART_11}  # no Annex 11 or GDPR clause on a Part 11 site
    order = list(CLAUSES)
    assert [order.index(row.clause) for row in rows] == sorted(order.index(row.clause) for row in rows)


def test_a_rule_that_failed_names_the_resource(traced: Path) -> None:
    row = rows_by(traceability(traced, STACK, CONFIG_CLAUSES))[("GxP-LogRetention", "21 CFR 11.10(e)")]
    assert row.result == "fail"
    assert row.checked == (Checked(LOG_GROUP, "AWS::Logs::LogGroup", "fail"),)  # inside the nested stack
    assert (row.acknowledgments, row.not_applicable) == ((), 0)
    assert row.requirement == CLAUSES["21 CFR 11.10(e)"].requirement
    assert row.control.startswith("Logs are part of the audit trail")


def test_an_acknowledged_rule_lists_every_resource_it_checked_and_the_reason(traced: Path) -> None:
    row = rows_by(traceability(traced, STACK, CONFIG_CLAUSES))[("GxP-S3Versioned", "21 CFR 11.10(c)")]
    assert row.result == "acknowledged"
    assert row.checked == (
        Checked(RECORDS, "AWS::S3::Bucket", "pass"),
        Checked(SCRATCH, "AWS::S3::Bucket", "acknowledged", SCRATCH_REASON),
    )
    assert row.acknowledgments == (row.checked[1],)
    assert (row.pack, row.regulation) == ("GxP", PART_11)


def test_a_passing_rule_and_one_that_applied_nowhere(traced: Path) -> None:
    rows = rows_by(traceability(traced, STACK, CONFIG_CLAUSES))
    rotation = rows[("GxP-KmsRotation", "21 CFR 11.30")]
    assert (rotation.result, rotation.checked) == ("pass", (Checked(KEY, "AWS::KMS::Key", "pass"),))
    raw = rows[("GxP-RawObjectLock", "21 CFR 11.10(c)")]  # neither bucket is the raw zone
    assert (raw.result, raw.checked, raw.not_applicable) == ("not applicable", (), 2)


def test_config_rules_in_the_templates_watch_the_clauses_they_are_mapped_to(traced: Path) -> None:
    rows = traceability(traced, STACK, CONFIG_CLAUSES)
    watched = {row.clause for row in rows if row.config_rules}
    assert watched == {"21 CFR 11.10(c)", "21 CFR 11.10(e)"}
    assert {row.config_rules for row in rows if row.clause in watched} == {(WATCHER,)}
    assert str(WATCHER) == "plantT-s3-bucket-versioning-enabled (S3_BUCKET_VERSIONING_ENABLED)"


def test_a_config_rule_mapped_to_no_clause_is_an_error(traced: Path) -> None:
    with pytest.raises(EvidenceError, match=r"Config rules \['S3_BUCKET_VERSIONING_ENABLED'\] are deployed but"):
        traceability(traced, STACK, {})


def test_regimes_come_from_the_stack_tag_and_each_names_a_known_regulation(traced: Path, copy: Path) -> None:
    assert stack_regimes(traced, STACK) == ["fda-21-cfr-part-11"]
    assert set(REGULATION_OF_REGIME) == set(typing.get_args(Regime))
    assert set(REGULATION_OF_REGIME.values()) - {None} <= {clause.regulation for clause in CLAUSES.values()}

    def retag(manifest: dict[str, Any]) -> None:
        manifest["artifacts"][STACK]["properties"]["tags"][tag_keys.COMPLIANCE] = "none"

    edit(copy / "manifest.json", retag)
    assert traceability(copy, STACK, CONFIG_CLAUSES) == []  # no regulation, nothing to trace

    def strange(manifest: dict[str, Any]) -> None:
        manifest["artifacts"][STACK]["properties"]["tags"][tag_keys.COMPLIANCE] = "iso-9001 gdpr"

    edit(copy / "manifest.json", strange)
    with pytest.raises(EvidenceError, match=r"stack 'plantT': regimes \['iso-9001'\] are not known; fix: use some"):
        traceability(copy, STACK, CONFIG_CLAUSES)


def test_an_untagged_or_unknown_stack_is_an_error(copy: Path) -> None:
    with pytest.raises(EvidenceError, match=r"stack 'plantX' is not in .*manifest.json; fix: synthesize it first"):
        stack_regimes(copy, "plantX")

    def untag(manifest: dict[str, Any]) -> None:
        del manifest["artifacts"][STACK]["properties"]["tags"][tag_keys.COMPLIANCE]

    edit(copy / "manifest.json", untag)
    with pytest.raises(EvidenceError, match=r"stack 'plantT' has no dmc:compliance tag; fix: tag it"):
        stack_regimes(copy, STACK)


def test_without_the_packs_record_there_is_no_matrix(copy: Path) -> None:
    shutil.rmtree(copy / EVALUATIONS_FOLDER)
    with pytest.raises(EvidenceError, match=r"no rule evaluations for stack 'plantT' .*fix: synthesize with the"):
        traceability(copy, STACK, CONFIG_CLAUSES)


def test_a_report_from_another_synth_is_refused(copy: Path) -> None:
    """The record says the scratch bucket is non-compliant; a report without its acknowledgment disagrees."""

    def drop_acknowledgment(report: dict[str, Any]) -> None:
        (gxp,) = [plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "GxP"]
        gxp["suppressedViolations"] = []

    edit(copy / "validation-report.json", drop_acknowledgment)
    with pytest.raises(EvidenceError, match=r"GxP-S3Versioned found plantT/Scratch/Resource non-compliant, but the"):
        traceability(copy, STACK, CONFIG_CLAUSES)


def test_a_finding_no_evaluation_recorded_is_refused(copy: Path) -> None:
    def forget_the_log_group(record: dict[str, Any]) -> None:
        record["evaluations"] = [item for item in record["evaluations"] if item["path"] != LOG_GROUP]

    edit(copy / EVALUATIONS_FOLDER / f"{STACK}.GxP.json", forget_the_log_group)
    with pytest.raises(EvidenceError, match=r"findings no rule evaluation recorded: \[\('GxP-LogRetention', 'plantT/"):
        traceability(copy, STACK, CONFIG_CLAUSES)


def test_csv_has_a_line_per_row_and_every_column(traced: Path, tmp_path: Path) -> None:
    rows = traceability(traced, STACK, CONFIG_CLAUSES)
    path = write_csv(rows, tmp_path / "evidence" / "plantT.matrix.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert tuple(lines[0]) == CSV_COLUMNS
    assert [(line["rule"], line["clause"]) for line in lines] == [(row.rule, row.clause) for row in rows]
    (versioned,) = [line for line in lines if (line["rule"], line["clause"]) == ("GxP-S3Versioned", "21 CFR 11.10(c)")]
    assert versioned == {
        "regulation": PART_11,
        "clause": "21 CFR 11.10(c)",
        "requirement": CLAUSES["21 CFR 11.10(c)"].requirement,
        "pack": "GxP",
        "rule": "GxP-S3Versioned",
        "control": rows_by(rows)[("GxP-S3Versioned", "21 CFR 11.10(c)")].control,
        "result": "acknowledged",
        "resources_checked": "2",
        "resources": f"{RECORDS} (AWS::S3::Bucket): pass\n{SCRATCH} (AWS::S3::Bucket): acknowledged",
        "not_applicable": "0",
        "acknowledgments": f"{SCRATCH}: {SCRATCH_REASON}",
        "config_rules": str(WATCHER),
    }


def test_plant_b_traces_every_part_11_rule_with_no_failure(site_stack: Callable[[str], Any]) -> None:
    """The real site: its packs' record, its report, its templates, D1's Config rule map."""
    from factory_constructs.audit.config_rules import config_rules_for

    assembly = Path(site_stack("plantB").node.root.outdir)
    rows = traceability(assembly, "plantB", config_rules_for(stack_regimes(assembly, "plantB")))
    expected = {
        (rule["rule"], clause)
        for record in records(assembly, "plantB")
        for rule in record["rules"]
        for clause in rule["clauses"]
        if CLAUSES[clause].regulation == PART_11
    }
    assert {(row.rule, row.clause) for row in rows} == expected
    assert [row for row in rows if row.result == "fail"] == []
    versioned = rows_by(rows)[("GxP-S3Versioned", "21 CFR 11.10(c)")]
    assert "plantB/Data/Lake/Raw/Bucket/Resource" in {item.path for item in versioned.checked}
    assert {item.result for item in versioned.checked} == {"pass"}
    watched = {rule.identifier for row in rows for rule in row.config_rules}
    assert watched == set(config_rules_for(["fda-21-cfr-part-11"]))  # every Config rule of the regime is deployed
