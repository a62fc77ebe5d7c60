"""`make evidence`: the traceability matrix (CSV and HTML) and the change record of each synthesized site stack.

Written beside the per-stack evidence of tooling/evidence.py, in cdk.out/compliance/: ``<stack>.matrix.csv``
and ``<stack>.html``; the change record goes into ``records`` (default ``compliance/records/<site>/``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tooling import evidence_record
from tooling.evidence import StackEvidence
from tooling.evidence_html import render
from tooling.evidence_matrix import stack_regimes, stack_site, traceability, write_csv

ROOT = Path(__file__).resolve().parent.parent


def write_site_evidence(
    assembly: Path,
    evidence: StackEvidence,
    *,
    folder: Path,
    records: Path | None,
    passed: bool,
) -> list[str]:
    """Writes the matrix and the page of one stack into ``folder``, and its change record when every check
    ``passed`` (records are versions that can be deployed). Returns a line per file, for the console."""
    # The Config rule map lives beside the construct that deploys the rules; the CDK loads here.
    from factory_constructs.audit.config_rules import config_rules_for

    regimes = stack_regimes(assembly, evidence.stack)
    rows = traceability(assembly, evidence.stack, config_rules_for(regimes))
    site = stack_site(assembly, evidence.stack)
    commit, dirty = evidence_record.git_state(ROOT)
    record = evidence_record.build(evidence, assembly, site=site, commit=commit, dirty=dirty, created=datetime.now(UTC))
    record_path, record_line = None, "no change record: a check failed"
    if passed:
        record_path, new = evidence_record.write(records or folder / "records" / site, record)
        record = evidence_record.read(record_path)
        record_line = f"{record_path}" + ("" if new else " (unchanged: this version is recorded there)")
    csv_path = write_csv(rows, folder / f"{evidence.stack}.matrix.csv")
    page = folder / f"{evidence.stack}.html"
    page.write_text(
        render(
            evidence=evidence,
            regimes=regimes,
            rows=rows,
            record=record,
            record_file=record_path.name if record_path else None,
        ),
        encoding="utf-8",
    )
    return [str(csv_path), str(page), record_line]
