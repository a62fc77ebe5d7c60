"""The traceability matrix of one site stack: regulation clause -> rule -> resources checked -> result ->
acknowledgment and its reason, plus the AWS Config rules that watch the clause in the account.

Every column is read from the synthesized cloud assembly, nothing is re-derived:

* the clauses: those of the regulations the stack's ``dmc:compliance`` tag names (the manifest), with their
  requirement from policies/clauses.py;
* the rule and the resources it checked: the record our packs write while they evaluate
  (``EVALUATIONS_FOLDER``/<stack>.<pack>.json, policies/packs.py): every resource of the rule's types with the
  rule's result. Resources where the rule does not apply (RawObjectLock on a curated bucket) are counted, not
  listed;
* fail or acknowledged, and the reason: the synth's validation report, i.e. what the gate decided. The record
  and the report are checked against each other, so a matrix cannot mix two synths;
* the Config rules: the ``AWS::Config::ConfigRule`` resources in the stack's templates, each under the clauses
  its managed rule is mapped to (``config_clauses``: managed rule identifier -> clause ids, from
  factory_constructs/audit/config_rules.py).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies import EVALUATIONS_FOLDER, PACK_NAMES, tag_keys
from policies.clauses import CLAUSES
from tooling.evidence import stack_templates

# The site file's regimes (site_model.model.Regime) and the regulation of policies/clauses.py each one names.
REGULATION_OF_REGIME: dict[str, str | None] = {
    "fda-21-cfr-part-11": "21 CFR Part 11",
    "eu-gmp-annex-11": "EU GMP Annex 11",
    "gdpr": "GDPR",
    "none": None,
}
PASS, FAIL, ACKNOWLEDGED, NOT_APPLICABLE = "pass", "fail", "acknowledged", "not applicable"
CSV_COLUMNS = (
    "regulation",
    "clause",
    "requirement",
    "pack",
    "rule",
    "control",
    "result",
    "resources_checked",
    "resources",
    "not_applicable",
    "acknowledgments",
    "config_rules",
)


class EvidenceError(ValueError):
    """The assembly cannot give a true matrix (missing or inconsistent parts)."""


@dataclass(frozen=True)
class Checked:
    """One resource a rule evaluated and found applicable: its result and, when acknowledged, the reason."""

    path: str
    type: str
    result: str  # PASS, FAIL or ACKNOWLEDGED
    reason: str = ""


@dataclass(frozen=True)
class ConfigRule:
    """An AWS Config rule of the stack: its name in the account and the managed rule it runs."""

    name: str
    identifier: str

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier})"


@dataclass(frozen=True)
class MatrixRow:
    regulation: str
    clause: str
    requirement: str
    pack: str
    rule: str  # as the report names it, e.g. GxP-S3Versioned
    control: str  # what the rule asks for, and why
    checked: tuple[Checked, ...]
    not_applicable: int  # resources of the rule's types it did not apply to
    config_rules: tuple[ConfigRule, ...]

    @property
    def result(self) -> str:
        """fail if any resource fails, else acknowledged if any is, else pass; not applicable without any."""
        results = {item.result for item in self.checked}
        for result in (FAIL, ACKNOWLEDGED, PASS):
            if result in results:
                return result
        return NOT_APPLICABLE

    @property
    def acknowledgments(self) -> tuple[Checked, ...]:
        return tuple(item for item in self.checked if item.result == ACKNOWLEDGED)


def stack_tag(assembly: Path, stack: str, key: str) -> str:
    """A tag of a synthesized stack, as the manifest records it (the site tags of stacks/site_stack.py)."""
    artifact = _read(assembly / "manifest.json").get("artifacts", {}).get(stack)
    if artifact is None:
        raise EvidenceError(f"stack {stack!r} is not in {assembly}/manifest.json; fix: synthesize it first")
    value = artifact.get("properties", {}).get("tags", {}).get(key)
    if value is None:
        raise EvidenceError(f"stack {stack!r} has no {key} tag; fix: tag it (stacks/site_stack.py site_tags)")
    return str(value)


def stack_site(assembly: Path, stack: str) -> str:
    return stack_tag(assembly, stack, tag_keys.SITE)


def stack_regimes(assembly: Path, stack: str) -> list[str]:
    """The regimes of a synthesized stack: its ``dmc:compliance`` tag."""
    regimes = stack_tag(assembly, stack, tag_keys.COMPLIANCE).split()
    strange = [regime for regime in regimes if regime not in REGULATION_OF_REGIME]
    if strange:
        raise EvidenceError(
            f"stack {stack!r}: regimes {strange} are not known; fix: use some of {sorted(REGULATION_OF_REGIME)}"
        )
    return regimes


def deployed_config_rules(templates: Sequence[Path]) -> list[ConfigRule]:
    """The Config rules in ``templates``; a rule without a literal name is named by its logical id."""
    found = []
    for template in templates:
        for logical_id, resource in _read(template).get("Resources", {}).items():
            if resource.get("Type") != "AWS::Config::ConfigRule":
                continue
            properties = resource.get("Properties", {})
            identifier = properties.get("Source", {}).get("SourceIdentifier")
            if not isinstance(identifier, str):
                raise EvidenceError(
                    f"{template.name}: Config rule {logical_id} has no literal SourceIdentifier ({identifier!r}); "
                    "fix: use an AWS managed rule (aws_config.ManagedRule)"
                )
            name = properties.get("ConfigRuleName")
            found.append(ConfigRule(name if isinstance(name, str) else logical_id, identifier))
    return found


def traceability(assembly: Path, stack: str, config_clauses: Mapping[str, Sequence[str]]) -> list[MatrixRow]:
    """One row per (rule, clause) of the clauses of the stack's regulations, in the order of policies/clauses.py,
    then pack, then the rule's place in its pack."""
    regulations = {REGULATION_OF_REGIME[regime] for regime in stack_regimes(assembly, stack)} - {None}
    records = _evaluation_records(assembly, stack)
    decided = _decisions(assembly, stack, {record["pack"] for record in records})
    watchers = _watchers(deployed_config_rules(stack_templates(assembly, stack)), config_clauses)
    rows = []
    for record in records:
        by_rule: dict[str, list[dict[str, str]]] = {rule["rule"]: [] for rule in record["rules"]}
        for evaluation in record["evaluations"]:
            by_rule[evaluation["rule"]].append(evaluation)
        for rule in record["rules"]:
            checked = [_checked(evaluation, decided) for evaluation in by_rule[rule["rule"]]]
            for clause_id in rule["clauses"]:
                clause = CLAUSES.get(clause_id)
                if clause is None:
                    raise EvidenceError(
                        f"{rule['rule']} names clause {clause_id!r}; fix: define it in policies/clauses.py"
                    )
                if clause.regulation not in regulations:
                    continue
                rows.append(
                    MatrixRow(
                        regulation=clause.regulation,
                        clause=clause.id,
                        requirement=clause.requirement,
                        pack=record["pack"],
                        rule=rule["rule"],
                        control=rule["explanation"],
                        checked=tuple(item for item in checked if item is not None),
                        not_applicable=checked.count(None),
                        config_rules=tuple(watchers.get(clause.id, ())),
                    )
                )
    leftover = set(decided) - {(item["rule"], item["path"]) for record in records for item in record["evaluations"]}
    if leftover:
        raise EvidenceError(
            f"the validation report has findings no rule evaluation recorded: {sorted(leftover)}; "
            "fix: synthesize again (report and record must come from the same synth)"
        )
    order = {clause: index for index, clause in enumerate(CLAUSES)}
    return sorted(rows, key=lambda row: (order[row.clause], PACK_NAMES.index(row.pack)))


def write_csv(rows: Sequence[MatrixRow], path: Path) -> Path:
    """The matrix as CSV, one line per (rule, clause); a cell with several values holds one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row.regulation,
                    row.clause,
                    row.requirement,
                    row.pack,
                    row.rule,
                    row.control,
                    row.result,
                    len(row.checked),
                    "\n".join(f"{item.path} ({item.type}): {item.result}" for item in row.checked),
                    row.not_applicable,
                    "\n".join(f"{item.path}: {item.reason}" for item in row.acknowledgments),
                    "\n".join(str(rule) for rule in row.config_rules),
                ]
            )
    return path


def _evaluation_records(assembly: Path, stack: str) -> list[dict[str, Any]]:
    """The packs' records for ``stack``, in the order of ``PACK_NAMES``."""
    paths = [assembly / EVALUATIONS_FOLDER / f"{stack}.{pack}.json" for pack in PACK_NAMES]
    records = [_read(path) for path in paths if path.exists()]
    if not records:
        raise EvidenceError(
            f"no rule evaluations for stack {stack!r} in {assembly / EVALUATIONS_FOLDER}; "
            "fix: synthesize with the compliance gate (policies/gate.py), whose GxP and Residency packs record them"
        )
    return records


def _decisions(assembly: Path, stack: str, packs: set[str]) -> dict[tuple[str, str], str | None]:
    """(rule, construct path) -> None for an unacknowledged finding of ``packs`` in ``stack``, else the
    acknowledgment's reason."""
    report = _read(assembly / "validation-report.json")
    decided: dict[tuple[str, str], str | None] = {}
    for plugin in report.get("pluginReports", []):
        if plugin["pluginName"] not in packs:
            continue
        entries = [(item, None) for item in plugin.get("violations", [])]
        entries += [(item, item["reason"]) for item in plugin.get("suppressedViolations", [])]
        for entry, reason in entries:
            for construct in entry.get("violatingConstructs", []):
                if construct["constructPath"].split("/", 1)[0] == stack:
                    decided[(entry["ruleName"], construct["constructPath"])] = reason
    return decided


def _checked(evaluation: dict[str, str], decided: dict[tuple[str, str], str | None]) -> Checked | None:
    """The resource's line in the matrix; None where the rule did not apply."""
    result, key = evaluation["result"], (evaluation["rule"], evaluation["path"])
    if result == "not-applicable":
        return None
    if result == "compliant":
        return Checked(evaluation["path"], evaluation["type"], PASS)
    if key not in decided:  # non-compliant or error: the gate must have failed or acknowledged it
        raise EvidenceError(
            f"{evaluation['rule']} found {evaluation['path']} {result}, but the validation report neither fails nor "
            "acknowledges it; fix: synthesize again (report and record must come from the same synth)"
        )
    reason = decided[key]
    if reason is None:
        return Checked(evaluation["path"], evaluation["type"], FAIL)
    return Checked(evaluation["path"], evaluation["type"], ACKNOWLEDGED, reason)


def _watchers(rules: Sequence[ConfigRule], config_clauses: Mapping[str, Sequence[str]]) -> dict[str, list[ConfigRule]]:
    """clause -> the deployed Config rules that watch it."""
    unmapped = sorted({rule.identifier for rule in rules} - set(config_clauses))
    if unmapped:
        raise EvidenceError(
            f"Config rules {unmapped} are deployed but mapped to no clause; fix: map each to its clauses "
            "(factory_constructs/audit/config_rules.py CONFIG_RULES)"
        )
    watchers: dict[str, list[ConfigRule]] = {}
    for rule in rules:
        for clause in config_clauses[rule.identifier]:
            watchers.setdefault(clause, []).append(rule)
    return watchers


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
