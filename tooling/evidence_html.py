"""The evidence page a QA person reads and signs: one self-contained HTML file (inline CSS, no script, no
external resource) that prints on A4 landscape with the table header repeated on every page.

It shows, for one site stack: the version (site, commit, synthesis time, template hashes), each pack's
conclusion, the traceability matrix (one row per rule and clause), what changed since the previous change record,
the acknowledgments of findings no clause of the site's regulations traces, and any finding left unacknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from tooling.evidence import StackEvidence
from tooling.evidence_matrix import MatrixRow

STYLE = """
@page { size: A4 landscape; margin: 12mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #111; margin: 16px; }
h1 { font-size: 16pt; margin: 0 0 8px; }
h2 { font-size: 12pt; margin: 18px 0 6px; border-bottom: 1px solid #444; }
table { border-collapse: collapse; width: 100%; }
#matrix { table-layout: fixed; }
th, td { border: 1px solid #777; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #e6e6e6; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
td, li { overflow-wrap: anywhere; }
ul { margin: 0; padding-left: 14px; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
.facts th { width: 16%; }
.requirement, .control, .count { color: #333; font-size: 9pt; }
.result { font-weight: bold; }
.fail { color: #a00000; }
.acknowledged { color: #8a5a00; }
.pass { color: #006400; }
.not-applicable { color: #555; }
"""


def render(
    *,
    evidence: StackEvidence,
    regimes: Sequence[str],
    rows: Sequence[MatrixRow],
    record: dict[str, Any],
    record_file: str | None,
) -> str:
    """The page of one stack. ``record`` is its change record (tooling/evidence_record.py); ``record_file`` its
    file name, or None when no record was written because a check failed."""
    failed = [pack for pack, conclusion in evidence.packs.items() if conclusion != "success"]
    sections = [
        f"<h1>Compliance evidence: {escape(evidence.stack)}</h1>",
        _facts(evidence, regimes, record, record_file, failed),
        "<h2>Packs that ran</h2>",
        _packs(evidence),
        "<h2>Traceability matrix</h2>",
        _matrix(rows, regimes),
        "<h2>Changes since the previous record</h2>",
        _changes(record, record_file),
        "<h2>Acknowledgments no clause of the site's regulations traces</h2>",
        _other_acknowledgments(evidence, rows),
    ]
    if evidence.findings:
        sections += ["<h2>Unacknowledged findings</h2>", _findings(evidence)]
    sections += ["<h2>Templates</h2>", _templates(record)]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Compliance evidence: {escape(evidence.stack)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _facts(
    evidence: StackEvidence,
    regimes: Sequence[str],
    record: dict[str, Any],
    record_file: str | None,
    failed: list[str],
) -> str:
    commit = record["commit"] or "not a git checkout"
    if record["dirty"]:
        commit += " (with uncommitted changes)"
    gate = f"failed: {', '.join(failed)}" if failed else "passed"
    facts = [
        ("Site", record["site"]),
        ("Stack", evidence.stack),
        ("Regimes", ", ".join(regimes)),
        ("Synthesized", record["created"]),
        ("Commit", commit),
        ("Compliance gate", gate),
        ("Resources", str(evidence.resources)),
        ("Change record", record_file or "none written: a check failed"),
    ]
    lines = "\n".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in facts)
    return f'<table class="facts" id="facts">\n{lines}\n</table>'


def _packs(evidence: StackEvidence) -> str:
    findings = {pack: 0 for pack in evidence.packs}
    acknowledged = dict(findings)
    for item in evidence.findings:
        findings[item["pack"]] += 1
    for item in evidence.acknowledgments:
        acknowledged[item["pack"]] += 1
    lines = "\n".join(
        f'<tr><td>{escape(pack)}</td><td class="result {"pass" if conclusion == "success" else "fail"}">'
        f"{escape(conclusion)}</td><td>{findings[pack]}</td><td>{acknowledged[pack]}</td></tr>"
        for pack, conclusion in evidence.packs.items()
    )
    return (
        '<table id="packs">\n<thead><tr><th>pack</th><th>conclusion</th><th>unacknowledged findings</th>'
        f"<th>acknowledged findings</th></tr></thead>\n<tbody>\n{lines}\n</tbody>\n</table>"
    )


def _matrix(rows: Sequence[MatrixRow], regimes: Sequence[str]) -> str:
    if not rows:
        return f"<p>No clause to trace: the site's regimes ({escape(', '.join(regimes))}) name no regulation.</p>"
    lines = "\n".join(_matrix_row(row) for row in rows)
    widths = "".join(f'<col style="width: {width}%">' for width in (16, 23, 22, 10, 17, 12))
    return (
        f'<table id="matrix">\n<colgroup>{widths}</colgroup>\n<thead><tr><th>clause</th><th>rule</th>'
        "<th>resources checked</th><th>result</th><th>acknowledgment and reason</th>"
        "<th>AWS Config rules watching it</th></tr></thead>\n"
        f"<tbody>\n{lines}\n</tbody>\n</table>"
    )


def _matrix_row(row: MatrixRow) -> str:
    checked = [
        f'<li><code>{escape(item.path)}</code> {escape(item.type)}: <span class="{_css(item.result)}">'
        f"{escape(item.result)}</span></li>"
        for item in row.checked
    ]
    if row.not_applicable:
        checked.append(f'<li class="count">{row.not_applicable} more of its types: not applicable</li>')
    acknowledgments = [
        f"<li><code>{escape(item.path)}</code>: {escape(item.reason)}</li>" for item in row.acknowledgments
    ]
    watchers = [f"<li>{escape(rule.name)} <code>{escape(rule.identifier)}</code></li>" for rule in row.config_rules]
    cells = [
        f'<b>{escape(row.clause)}</b><div class="requirement">{escape(row.requirement)}</div>',
        f'<b>{escape(row.pack)}</b> <code>{escape(row.rule)}</code><div class="control">{escape(row.control)}</div>',
        _list(checked, "no resource of its types in this stack"),
        f'<span class="result {_css(row.result)}">{escape(row.result)}</span>',
        _list(acknowledgments, "none"),
        _list(watchers, "none"),
    ]
    tds = "".join(f"<td>{cell}</td>" for cell in cells)
    return f'<tr data-clause="{escape(row.clause)}" data-rule="{escape(row.rule)}">{tds}</tr>'


def _changes(record: dict[str, Any], record_file: str | None) -> str:
    if record_file is None:
        return "<p>No change record was written: versions are recorded only when every check passes.</p>"
    changes = record["changes"]
    if changes["previous"] is None:
        intro = f"<p>{escape(record_file)} is the first record of this site in its folder.</p>"
    else:
        intro = f"<p>{escape(record_file)} against {escape(changes['previous'])}.</p>"
    acknowledgments = [f"<li>added: {_acknowledgment(item)}</li>" for item in changes["acknowledgments_added"]] + [
        f"<li>removed: {_acknowledgment(item)}</li>" for item in changes["acknowledgments_removed"]
    ]
    acknowledgments += [
        f"<li>reworded: {_acknowledgment(item)} (was: {escape(item['previous_reason'])})</li>"
        for item in changes["acknowledgments_reworded"]
    ]
    templates = [
        f"<li>{kind}: <code>{escape(name)}</code></li>"
        for kind in ("added", "removed", "changed")
        for name in changes[f"templates_{kind}"]
    ]
    cells = [("acknowledgments", _list(acknowledgments, "no change")), ("templates", _list(templates, "no change"))]
    lines = "\n".join(f"<tr><th>{name}</th><td>{cell}</td></tr>" for name, cell in cells)
    return f'{intro}\n<table id="changes">\n{lines}\n</table>'


def _other_acknowledgments(evidence: StackEvidence, rows: Sequence[MatrixRow]) -> str:
    traced = {(row.pack, f"{row.pack}::{row.rule}", item.path) for row in rows for item in row.acknowledgments}
    others = [item for item in evidence.acknowledgments if (item["pack"], item["rule"], item["path"]) not in traced]
    if not others:
        return "<p>None.</p>"
    lines = "\n".join(
        f"<tr><td>{escape(item['pack'])}</td><td><code>{escape(item['rule'])}</code></td>"
        f"<td><code>{escape(item['path'])}</code></td><td>{escape(item['reason'])}</td></tr>"
        for item in others
    )
    return (
        '<table id="other-acknowledgments">\n<thead><tr><th>pack</th><th>rule</th><th>resource</th><th>reason</th>'
        f"</tr></thead>\n<tbody>\n{lines}\n</tbody>\n</table>"
    )


def _findings(evidence: StackEvidence) -> str:
    lines = "\n".join(
        f"<tr><td>{escape(item['pack'])}</td><td><code>{escape(item['rule'])}</code></td>"
        f"<td><code>{escape(item['path'])}</code></td><td>{escape(item['description'])}</td></tr>"
        for item in evidence.findings
    )
    return (
        '<table id="findings">\n<thead><tr><th>pack</th><th>rule</th><th>resource</th><th>finding</th></tr></thead>\n'
        f"<tbody>\n{lines}\n</tbody>\n</table>"
    )


def _templates(record: dict[str, Any]) -> str:
    lines = "\n".join(
        f"<tr><td><code>{escape(name)}</code></td><td><code>{escape(digest)}</code></td></tr>"
        for name, digest in record["templates"].items()
    )
    return (
        f'<table id="templates">\n<thead><tr><th>template</th><th>sha256</th></tr></thead>\n<tbody>\n{lines}\n'
        "</tbody>\n</table>"
    )


def _acknowledgment(item: dict[str, str]) -> str:
    return f"<code>{escape(item['rule'])}</code> on <code>{escape(item['path'])}</code>: {escape(item['reason'])}"


def _list(items: Sequence[str], empty: str) -> str:
    return f"<ul>{''.join(items)}</ul>" if items else escape(empty)


def _css(result: str) -> str:
    return result.replace(" ", "-")
