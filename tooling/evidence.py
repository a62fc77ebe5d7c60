"""Per-site compliance evidence from the synth's validation report.

The report is what the gate itself saw: every pack that ran, every finding,
every acknowledgment with its reason. Nothing here re-derives it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies import PACK_NAMES


@dataclass
class StackEvidence:
    stack: str
    packs: dict[str, str] = field(default_factory=dict)  # pack -> conclusion
    findings: list[dict[str, str]] = field(default_factory=list)
    acknowledgments: list[dict[str, str]] = field(default_factory=list)
    resources: int = 0


def collect(assembly: Path) -> dict[str, StackEvidence]:
    """Evidence per top-level stack of a synthesized cloud assembly."""
    report = json.loads((assembly / "validation-report.json").read_text(encoding="utf-8"))
    manifest = json.loads((assembly / "manifest.json").read_text(encoding="utf-8"))
    stacks = {
        name: StackEvidence(
            stack=name, resources=_resource_count(assembly, name), packs=dict.fromkeys(PACK_NAMES, "success")
        )
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    for plugin in report.get("pluginReports", []):
        for evidence in stacks.values():
            evidence.packs[plugin["pluginName"]] = plugin["conclusion"]
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                _owner(stacks, construct["constructPath"]).findings.append(
                    {
                        "pack": plugin["pluginName"],
                        "rule": violation["ruleName"],
                        "path": construct["constructPath"],
                        "description": violation.get("description", ""),
                    }
                )
        for suppressed in plugin.get("suppressedViolations", []):
            for construct in suppressed.get("violatingConstructs", []):
                _owner(stacks, construct["constructPath"]).acknowledgments.append(
                    {
                        "pack": plugin["pluginName"],
                        "rule": suppressed["acknowledgedId"],
                        "path": construct["constructPath"],
                        "reason": suppressed["reason"],
                    }
                )
    return stacks


def _owner(stacks: dict[str, StackEvidence], construct_path: str) -> StackEvidence:
    return stacks[construct_path.split("/", 1)[0]]


def stack_templates(assembly: Path, stack: str) -> list[Path]:
    """The template of a top-level stack, then those of its nested stacks: the nested templates are file assets
    of the stack (a name prefix would also match the nested templates of another stack whose name starts alike)."""
    manifest = assembly / f"{stack}.assets.json"
    assets = _template(manifest).get("files", {}).values() if manifest.exists() else []
    nested = [asset["source"]["path"] for asset in assets if asset["source"]["path"].endswith(".nested.template.json")]
    return [assembly / name for name in [f"{stack}.template.json", *nested]]


def _resource_count(assembly: Path, stack: str) -> int:
    """Resources of a stack and of its nested stacks."""
    return sum(len(_template(path).get("Resources", {})) for path in stack_templates(assembly, stack))


def _template(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write(evidence: StackEvidence, folder: Path) -> Path:
    """Writes compliance/<stack>.json and .md; returns the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{evidence.stack}.json").write_text(json.dumps(evidence.__dict__, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# Compliance evidence: {evidence.stack}",
        "",
        f"Resources: {evidence.resources}. Unacknowledged findings: {len(evidence.findings)}. "
        f"Acknowledgments: {len(evidence.acknowledgments)}.",
        "",
        "## Packs that ran",
        "",
        *[f"- {pack}: {conclusion}" for pack, conclusion in sorted(evidence.packs.items())],
        "",
        "## Acknowledgments",
        "",
        "| rule | resource | reason |",
        "|---|---|---|",
        *[f"| {ack['rule']} | {ack['path']} | {ack['reason']} |" for ack in evidence.acknowledgments],
    ]
    if evidence.findings:
        lines += ["", "## Unacknowledged findings", ""]
        lines += [f"- {item['rule']} at {item['path']}: {item['description']}" for item in evidence.findings]
    target = folder / f"{evidence.stack}.md"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
